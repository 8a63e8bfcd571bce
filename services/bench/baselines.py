"""The two baselines, on the same broker and corpus as the pipeline: raw aiokafka and naive Faust.

Each baseline gets fresh topics (same partition count as the pipeline's raw topic), runs as its
own process like the real worker, handles a warm-up batch, then a timed burst of the corpus.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from akhbar.bench.corpus import BenchArticle
from akhbar.bench.feed import create_topics
from akhbar.bench.measure import Probe, RunStats
from akhbar.bench.process import CpuWatch, Subprocess
from akhbar.common.broker import free_port

PASSTHROUGH = "akhbar.bench.passthrough"


@dataclass(frozen=True)
class BaselineResult:
    """One baseline's timed burst and the memory its process peaked at."""

    kind: str
    run: RunStats
    warm_up_seconds: float
    cpu_share: float
    machine_busy_cores: float
    peak_rss_mb: float | None


async def run_baseline(
    kind: str,
    bootstrap: str,
    warm_up: Sequence[BenchArticle],
    articles: Sequence[BenchArticle],
    *,
    partitions: int,
    workdir: Path,
    timeout: float,
) -> BaselineResult:
    """Start the ``raw`` or ``faust`` pass-through, warm it up, and time one burst through it."""
    suffix = uuid.uuid4().hex[:8]
    source, sink = f"bench.{kind}.{suffix}.in", f"bench.{kind}.{suffix}.out"
    await create_topics(bootstrap, [source, sink], partitions)
    datadir = workdir / f"{kind}-{suffix}"
    datadir.mkdir(parents=True, exist_ok=True)
    args = [
        kind,
        "--bootstrap",
        bootstrap,
        "--source",
        source,
        "--sink",
        sink,
        "--app-id",
        f"bench-{kind}-{suffix}",
        "--web-port",
        str(free_port()),
        "--datadir",
        str(datadir),
    ]
    process = Subprocess.start(
        f"{kind} pass-through",
        PASSTHROUGH,
        args,
        dict(os.environ),
        workdir / f"{kind}-{suffix}.log",
    )
    try:
        async with Probe(bootstrap, source, [sink], process.check_alive) as probe:
            warm_up_seconds = await probe.warm_up(warm_up)
            watch = CpuWatch(process.pid)
            run = await probe.burst(articles, timeout)
            cpu_share, busy = watch.shares(run.seconds)
        return BaselineResult(
            kind, run, round(warm_up_seconds, 2), cpu_share, busy, process.peak_rss_mb()
        )
    finally:
        process.stop()
