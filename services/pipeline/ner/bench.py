"""Throughput of the entity stage: ``python -m akhbar.pipeline.ner.bench [texts...]``."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from akhbar.pipeline.ner.text import tokenize
from akhbar.pipeline.stages.article import Article
from akhbar.pipeline.stages.entities import EntityTagger

SEEDS = Path("/work/shared/seeds")


def tokens_per_second(tagger: EntityTagger, texts: Sequence[str], repeat: int = 20) -> float:
    """Tokens the stage tags per second over ``repeat`` passes, after one warm-up pass.

    The warm-up fills the per-form caches, which is the steady state of a long-running stream.
    Time is this process's CPU time, so other load on a shared machine does not count.
    """
    articles = [Article(id=str(i), title="", body="", text=t) for i, t in enumerate(texts)]
    n_tokens = sum(len(tokenize(t)) for t in texts)
    for article in articles:
        tagger(article)
    started = time.process_time()
    for _ in range(repeat):
        for article in articles:
            tagger(article)
    return n_tokens * repeat / (time.process_time() - started)


def main(argv: Sequence[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        paths = sorted(SEEDS.glob("*.txt"))
    texts = [p.read_text(encoding="utf-8") for p in paths]
    rate = tokens_per_second(EntityTagger.load_default(), texts)
    print(f"{rate:,.0f} tokens/s over {len(texts)} texts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
