"""The stage chain alone, no broker: articles/s of the whole chain and of each stage, one thread.

The chain is the one the worker runs (``build_chain(chain_config(settings), {})``, dedup state in a
dict). Each measurement first runs warm-up articles through the same objects, then times every
article with ``perf_counter``. Per-event codec costs that the agents pay outside the stages
(decode and schema check of the raw event, the staged record round trip, the enriched event) are
timed too, because they count against the worker's throughput as much as any stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from akhbar.bench.corpus import BenchArticle
from akhbar.bench.feed import encode
from akhbar.common import events
from akhbar.common.settings import Settings
from akhbar.pipeline.app import chain_config
from akhbar.pipeline.chain import Chain, build_chain
from akhbar.pipeline.records import decode_staged, encode_staged
from akhbar.pipeline.stages.article import Article
from akhbar.pipeline.stages.errors import StageError

STAGES = ("normalize", "entities", "fingerprint", "dedup")


def decoded(articles: Sequence[BenchArticle]) -> list[Article]:
    """Fresh ``Article`` records, decoded from raw-event bytes exactly as the worker does."""
    now = time.time()
    return [events.decode_raw(encode(article, now)) for article in articles]


def timed(step: Callable[[Article], Any], articles: Sequence[Article]) -> tuple[float, list[Any]]:
    """Seconds spent in ``step`` over all articles, and the results of the ones it accepted."""
    spent = 0.0
    results = []
    for article in articles:
        started = time.perf_counter()
        try:
            result = step(article)
        except StageError:
            spent += time.perf_counter() - started
            continue
        spent += time.perf_counter() - started
        results.append(result)
    return spent, results


def rate(count: int, seconds: float) -> dict[str, float]:
    return {
        "aps": round(count / seconds, 1) if seconds else 0.0,
        "us_per_article": round(seconds / count * 1e6, 1) if count else 0.0,
    }


def time_stages(chain: Chain, warm: list[Article], articles: list[Article]) -> dict[str, Any]:
    """Each stage alone, in chain order, on the previous stage's output."""
    normalize, entities, fingerprint, dedup = (chain.stage(n) for n in STAGES)
    timed(lambda a: dedup(fingerprint(entities(normalize(a)))), warm)
    seconds, normalized = timed(normalize, articles)
    stages: dict[str, Any] = {"normalize": rate(len(articles), seconds)}
    tokens = sum(len(article.text.split()) for article in normalized)
    seconds, _ = timed(entities, normalized)
    stages["entities"] = {
        **rate(len(normalized), seconds),
        "tokens_per_s": round(tokens / seconds) if seconds else 0,
        "tokens_per_article": round(tokens / len(normalized), 1) if normalized else 0.0,
    }
    seconds, _ = timed(fingerprint, normalized)
    stages["fingerprint"] = rate(len(normalized), seconds)
    seconds, _ = timed(dedup, normalized)
    stages["dedup"] = rate(len(normalized), seconds)
    return stages


def time_codecs(articles: Sequence[BenchArticle], enriched: list[Article]) -> dict[str, float]:
    """µs per article of the agents' codecs: the head's raw decode and staged encode, the dedup
    agent's staged decode plus its enriched event, and a whole enriched event built from an
    article (``akhbar enrich``; what the dedup agent did before staged records version 2)."""
    now = time.time()
    raw = [encode(article, now) for article in articles]
    count = max(1, len(enriched))

    def per_article(run: Callable[[], object], items: int) -> float:
        started = time.perf_counter()
        run()
        return round((time.perf_counter() - started) / max(1, items) * 1e6, 1)

    staged = [encode_staged(article, now) for article in enriched]
    return {
        "decode_raw": per_article(lambda: [events.decode_raw(p) for p in raw], len(raw)),
        "staged_encode": per_article(lambda: [encode_staged(a, now) for a in enriched], count),
        "staged_decode_and_enriched": per_article(
            lambda: [decode_staged(p).enriched_value(now) for p in staged], count
        ),
        "enriched_from_article": per_article(
            lambda: [events.dumps(events.enriched_event(a, now)) for a in enriched], count
        ),
    }


def run_offline(
    settings: Settings, warm_up: Sequence[BenchArticle], articles: Sequence[BenchArticle]
) -> dict[str, Any]:
    """The ``offline`` block of the bench report."""
    started = time.perf_counter()
    chain = build_chain(chain_config(settings), {})
    load_seconds = time.perf_counter() - started
    timed(chain.run, decoded(warm_up))
    seconds, enriched = timed(chain.run, decoded(articles))
    stages = time_stages(
        build_chain(chain_config(settings), {}), decoded(warm_up), decoded(articles)
    )
    return {
        "articles": len(articles),
        "refused": len(articles) - len(enriched),
        "threads": 1,
        "chain_load_seconds": round(load_seconds, 2),
        "chain": rate(len(articles), seconds),
        "stages": stages,
        "codec_us": time_codecs(articles, enriched),
    }
