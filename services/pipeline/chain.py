"""The stage chain, declared once, and run by both the Faust agents and ``akhbar enrich``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from akhbar.pipeline.stages.article import Article

Stage = Callable[[Article], Article]


@dataclass(frozen=True)
class ChainConfig:
    """What the stages need from configuration; built from Settings by the entrypoints."""

    boilerplate_rules: Path | None = None
    min_article_chars: int = 80
    min_arabic_ratio: float = 0.6
    dedup_max_entries: int = 200_000
    dedup_max_age_seconds: float = 30 * 86400.0


@dataclass
class Chain:
    """Stages in their declared order; ``stateful`` names the ones that need one global view.

    Order: normalise, then entities, then dedup. Entities and dedup are independent of each
    other (both read the normalised article), so the stateless stages come first: the Faust
    driver runs them in parallel across the raw topic's partitions, and only dedup, which must
    see every article, runs on the single-partition staged topic. Dedup's own stateless half,
    ``fingerprint`` (body hash and shingle ids), runs with the stateless stages.
    """

    stages: list[tuple[str, Stage]]
    stateful: frozenset[str] = frozenset()

    def run(self, article: Article, names: tuple[str, ...] | None = None) -> Article:
        """Run every stage (or only ``names``) in order, recording seconds per stage."""
        for name, stage in self.stages:
            if names is not None and name not in names:
                continue
            started = time.perf_counter()
            try:
                article = stage(article)
            except Exception as exc:
                exc.akhbar_stage = name  # type: ignore[attr-defined]  # where a bug struck, for the DLQ
                raise
            article.timings[name] = time.perf_counter() - started
        return article

    @property
    def stateless_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.stages if name not in self.stateful)

    @property
    def stateful_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.stages if name in self.stateful)

    def stage(self, name: str) -> Stage:
        return dict(self.stages)[name]

    @contextmanager
    def session(self, names: tuple[str, ...]) -> Iterator[None]:
        """Enter the ``session()`` of every stage in ``names`` that has one (dedup: one read of
        ``meta``, one write of the answers and of ``meta``, for the articles of a staged bundle)."""
        with ExitStack() as stack:
            for name, stage in self.stages:
                session = getattr(stage, "session", None)
                if name in names and session is not None:
                    stack.enter_context(session())
            yield


def build_chain(
    config: ChainConfig,
    dedup_state: MutableMapping[str, Any],
    *,
    tagger: Stage | None = None,
    parts: Literal["all", "stateless", "stateful"] = "all",
) -> Chain:
    """Load models and rules (start-up work, never at import) and declare the chain.

    ``tagger`` lets a caller that already loaded the entity model reuse it (tests, benchmarks).
    ``parts`` loads only the stateless stages (a stage process) or only the stateful one (a
    worker whose stage processes run the others), so neither loads what it never runs.
    """
    from akhbar.pipeline.stages.dedup import DedupConfig, Deduplicator

    stages: list[tuple[str, Stage]] = []
    if parts != "stateful":
        # Imported here: the entity tagger and the fingerprint kernel load numba (~125 MB with
        # the compiled kernels), which a worker whose stage processes run them never needs.
        from akhbar.pipeline.stages.boilerplate import BoilerplateRules
        from akhbar.pipeline.stages.entities import EntityTagger
        from akhbar.pipeline.stages.fingerprint import Fingerprinter
        from akhbar.pipeline.stages.normalize import Normalizer

        rules = BoilerplateRules.load(config.boilerplate_rules)
        normalizer = Normalizer(
            rules, min_chars=config.min_article_chars, min_arabic_ratio=config.min_arabic_ratio
        )
        stages.append(("normalize", normalizer))
        stages.append(("entities", tagger if tagger is not None else EntityTagger.load_default()))
        stages.append(("fingerprint", Fingerprinter(DedupConfig().shingle_size)))
    if parts != "stateless":
        deduplicator = Deduplicator(
            dedup_state,
            config=DedupConfig(
                max_entries=config.dedup_max_entries, max_age_seconds=config.dedup_max_age_seconds
            ),
        )
        stages.append(("dedup", deduplicator))
    return Chain(stages=stages, stateful=frozenset({"dedup"}))
