"""The most-mentioned entities over a sliding window, in bounded memory, for /metrics and the web.

Per-entity labels on the unbounded ``akhbar_*`` counters would give Prometheus one series per
entity ever seen. Instead ``TopEntities`` counts articles per entity in time buckets (by default
the last 15 minutes in 1-minute buckets, plus the 15 minutes before for the surge ratio), keeps
at most ``max_entities`` distinct ids, and exposes only the top 10 as a gauge (at most 10 series
at any time) and the top N as JSON on the worker's web server (``GET /entities/top?n=20``).

Counts are approximate once more than ``max_entities`` distinct ids are seen within two windows:
the ids with the fewest mentions are then forgotten, and a forgotten id that comes back starts
again from zero. An entity that is really in the top 10 is never among the least mentioned of
thousands, so the top of the list is exact in practice.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from prometheus_client import Gauge

from akhbar.common.metrics import TOP_ENTITY_ARTICLES
from akhbar.pipeline.stages.article import Article

if TYPE_CHECKING:
    from akhbar.pipeline.app import Pipeline

WINDOW_SECONDS = 15 * 60.0
BUCKET_SECONDS = 60.0
MAX_ENTITIES = 5000
# After a prune, a quarter of the capacity is free again, so pruning is rare (amortised O(1)).
PRUNE_TO = 0.75
GAUGE_RANKS = 10
GAUGE_REFRESH_SECONDS = 5.0
DEFAULT_REQUESTED = 20
MAX_REQUESTED = 100


@dataclass(frozen=True, slots=True)
class EntityCount:
    """One entity's article count in the current window and in the window before it."""

    id: str
    name: str
    type: str
    articles: int
    previous: int

    @property
    def surge(self) -> float | None:
        """Current over previous window; None when the entity was absent from the previous one."""
        return self.articles / self.previous if self.previous else None

    def as_json(self) -> dict[str, Any]:
        surge = None if self.surge is None else round(self.surge, 3)
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "articles": self.articles,
            "surge": surge,
        }


@dataclass(slots=True)
class _Seen:
    """What is remembered of an id besides its counts: its latest name and type, and when."""

    name: str
    type: str
    last_seen: int  # observation sequence number: a finer recency than the bucket


class TopEntities:
    """Articles per entity over a sliding window of time buckets, at most ``max_entities`` ids."""

    def __init__(
        self,
        *,
        window_seconds: float = WINDOW_SECONDS,
        bucket_seconds: float = BUCKET_SECONDS,
        max_entities: int = MAX_ENTITIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if bucket_seconds <= 0 or window_seconds < bucket_seconds or max_entities < 1:
            raise ValueError("need 0 < bucket_seconds <= window_seconds and max_entities >= 1")
        self.bucket_seconds = bucket_seconds
        self.window_buckets = math.ceil(window_seconds / bucket_seconds)
        self.max_entities = max_entities
        self._clock = clock
        # bucket index -> entity id -> articles; the current window and the one before it.
        self._buckets: dict[int, Counter[str]] = {}
        self._seen: dict[str, _Seen] = {}
        self._observed = 0

    @property
    def window_seconds(self) -> float:
        return self.window_buckets * self.bucket_seconds

    def __len__(self) -> int:
        """Distinct entity ids remembered (never more than ``max_entities``)."""
        return len(self._seen)

    def observe(self, article: Article) -> None:
        """Count one article for every distinct entity it mentions."""
        now = self._advance()
        bucket = self._buckets.setdefault(now, Counter())
        self._observed += 1
        for entity in {e.id: e for e in article.entities}.values():
            if entity.id not in self._seen and len(self._seen) >= self.max_entities:
                self._prune(now)
            self._seen[entity.id] = _Seen(entity.name, entity.type, self._observed)
            bucket[entity.id] += 1

    def top(self, n: int) -> list[EntityCount]:
        """The ``n`` entities in most articles in the current window, most first (ties by id)."""
        now = self._advance()
        current, previous = self._totals(now)
        ranked = sorted(current.items(), key=lambda item: (-item[1], item[0]))[: max(0, n)]
        return [
            EntityCount(eid, self._seen[eid].name, self._seen[eid].type, count, previous[eid])
            for eid, count in ranked
        ]

    def as_json(self, n: int) -> dict[str, Any]:
        """The body of ``GET /entities/top?n=N``."""
        return {
            "window_seconds": self.window_seconds,
            "entities": [entry.as_json() for entry in self.top(n)],
        }

    def _advance(self) -> int:
        """The current bucket index, after forgetting buckets older than two windows."""
        now = int(self._clock() // self.bucket_seconds)
        oldest = now - 2 * self.window_buckets + 1
        expired = [index for index in self._buckets if index < oldest]
        if expired:
            for index in expired:
                del self._buckets[index]
            remaining = {eid for bucket in self._buckets.values() for eid in bucket}
            self._seen = {eid: seen for eid, seen in self._seen.items() if eid in remaining}
        return now

    def _totals(self, now: int) -> tuple[Counter[str], Counter[str]]:
        """Articles per id in the current window and in the previous one."""
        current: Counter[str] = Counter()
        previous: Counter[str] = Counter()
        for index, bucket in self._buckets.items():
            (current if index > now - self.window_buckets else previous).update(bucket)
        return current, previous

    def _prune(self, now: int) -> None:
        """Forget the least-mentioned ids (current window first, then previous, then recency)."""
        current, previous = self._totals(now)
        keep = max(0, int(self.max_entities * PRUNE_TO))
        ranked = sorted(
            self._seen,
            key=lambda eid: (current[eid], previous[eid], self._seen[eid].last_seen),
            reverse=True,
        )
        for eid in ranked[keep:]:
            del self._seen[eid]
            for bucket in self._buckets.values():
                bucket.pop(eid, None)


def publish_gauge(top: TopEntities, gauge: Gauge = TOP_ENTITY_ARTICLES) -> None:
    """Replace the gauge's series with the current top 10, so old label sets disappear."""
    gauge.clear()
    for rank, entry in enumerate(top.top(GAUGE_RANKS), start=1):
        gauge.labels(str(rank), entry.id, entry.name, entry.type).set(entry.articles)


def requested_count(value: str | None) -> int:
    """The ``n`` query parameter of /entities/top: 1..MAX_REQUESTED, DEFAULT_REQUESTED if absent."""
    if value is None or value == "":
        return DEFAULT_REQUESTED
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"n must be an integer, not {value!r}") from None
    if not 1 <= n <= MAX_REQUESTED:
        raise ValueError(f"n must be between 1 and {MAX_REQUESTED}, not {n}")
    return n


# The TopEntities of each app, so that the agents find it without a field on Pipeline.
_BY_APP: WeakKeyDictionary[Any, TopEntities] = WeakKeyDictionary()


def observe_published(pipeline: Pipeline, article: Article) -> None:
    """Count one published article in the pipeline's top entities (no-op if none attached)."""
    top = _BY_APP.get(pipeline.app)
    if top is not None:
        top.observe(article)


def attach_top_entities(pipeline: Pipeline) -> TopEntities:
    """Give the pipeline's app a TopEntities, its /entities/top page and the gauge timer."""
    from faust import web

    app = pipeline.app
    top = TopEntities()
    _BY_APP[app] = top

    @app.page("/entities/top", name="akhbar.entities-top")
    async def entities_top(view: web.View, request: web.Request) -> web.Response:
        try:
            n = requested_count(request.query.get("n"))
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        return view.json(top.as_json(n))

    @app.timer(interval=GAUGE_REFRESH_SECONDS, name="akhbar.top-entities-gauge")
    async def top_entities_gauge() -> None:
        publish_gauge(top)

    return top
