"""One measurement protocol for every processor: warm up, then a timed burst or a steady feed.

Throughput is articles / (last output consumed − first article sent): the processor is already
running and has handled a warm-up batch, so Faust's start-up and group join are not counted.
Latency of one article is the time its output was consumed minus the time it was sent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from akhbar.bench.corpus import BenchArticle
from akhbar.bench.feed import Collector, Feeder

WARM_UP_TIMEOUT = 120.0


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_ms(latencies: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 in milliseconds (zeros when nothing came out)."""
    if not latencies:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    return {f"p{p}": round(percentile(latencies, p) * 1000, 1) for p in (50, 95, 99)}


@dataclass(frozen=True)
class RunStats:
    """What came out of one timed feed."""

    sent: int
    received: int
    seconds: float
    latency_ms: dict[str, float]

    @property
    def lost(self) -> int:
        return self.sent - self.received

    @property
    def throughput_aps(self) -> float:
        return round(self.received / self.seconds, 1) if self.seconds > 0 else 0.0


class Probe:
    """Feeds one processor's input topic and watches its output topics."""

    def __init__(
        self, bootstrap: str, source: str, outputs: Sequence[str], alive: Callable[[], None]
    ) -> None:
        self.feeder = Feeder(bootstrap, source)
        self.collector = Collector(bootstrap, outputs)
        self.alive = alive

    async def __aenter__(self) -> Probe:
        await self.feeder.start()
        await self.collector.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.collector.stop()
        await self.feeder.stop()

    async def warm_up(
        self, articles: Sequence[BenchArticle], timeout: float = WARM_UP_TIMEOUT
    ) -> float:
        """Send ``articles`` and wait for all of them; returns the seconds it took."""
        started = time.monotonic()
        await self.feeder.burst(articles)
        await self.wait(articles, timeout, "warm-up")
        return time.monotonic() - started

    async def burst(self, articles: Sequence[BenchArticle], timeout: float) -> RunStats:
        """Send everything at once; the clock runs from the first send to the last output."""
        await self.feeder.burst(articles)
        await self.wait(articles, timeout, "burst")
        return self.stats(articles)

    async def steady(
        self, articles: Sequence[BenchArticle], rate: float, timeout: float
    ) -> RunStats:
        """Send at ``rate`` articles/s; latency is what a live feed at that rate sees."""
        await self.feeder.steady(articles, rate)
        await self.wait(articles, timeout, "steady feed")
        return self.stats(articles)

    async def wait(self, articles: Sequence[BenchArticle], timeout: float, what: str) -> None:
        """Wait for every article's output, checking the processor stays up; gives up quietly."""
        ids = [a.id for a in articles]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.alive()
            if await self.collector.wait_for(ids, min(5.0, deadline - time.monotonic())):
                return
        if what == "warm-up":
            self.alive()
            raise TimeoutError(f"no output for the warm-up articles within {timeout:.0f}s")

    def stats(self, articles: Sequence[BenchArticle]) -> RunStats:
        sent = [self.feeder.sent_at[a.id] for a in articles]
        seen = self.collector.seen_at
        latencies = [seen[a.id] - self.feeder.sent_at[a.id] for a in articles if a.id in seen]
        outputs = [seen[a.id] for a in articles if a.id in seen]
        seconds = (max(outputs) - min(sent)) if outputs else 0.0
        return RunStats(len(articles), len(latencies), seconds, latency_ms(latencies))
