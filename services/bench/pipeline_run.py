"""The full pipeline under load: ``akhbar worker`` subprocesses (one or more) on fresh topics.

The workers are started, joined into one consumer group and warmed up first (see
``akhbar.bench.group``); then the corpus goes in as one burst (throughput and
latency under backlog), then a steady feed at ``--rate`` (latency of a live feed). Outputs are
counted on the enriched, duplicates and dead-letter topics, so nothing that came out is missed.
Per-stage time comes from the workers' own ``akhbar_stage_seconds`` histograms, scraped before and
after the burst. Outputs are also counted per key, so an id that came out twice (an at-least-once
re-delivery) is reported.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from akhbar.bench.corpus import BenchArticle
from akhbar.bench.group import (
    SETTLE_SECONDS,
    WorkerGroup,
    WorkerState,
    settled,
    total_stages,
)
from akhbar.bench.measure import WARM_UP_TIMEOUT, Probe, RunStats
from akhbar.bench.process import CpuWatch
from akhbar.common.broker import free_port
from akhbar.common.settings import Settings
from akhbar.common.topics import ensure_topics

STAGES = ("normalize", "entities", "fingerprint", "dedup")


@dataclass(frozen=True)
class WorkerShare:
    """One worker's part of the burst: CPU, memory, and the articles it handled."""

    cpu_share: float
    peak_rss_mb: float | None
    raw_partitions: list[int]
    consumed: int
    published: int


@dataclass(frozen=True)
class PipelineResult:
    """The burst, the steady feed, and what the worker reported about itself."""

    burst: RunStats
    steady: RunStats
    rate: float
    warm_up_seconds: float
    stage_us: dict[str, float]
    stage_share: float
    worker_cpu_share: float
    machine_busy_cores: float
    outputs: dict[str, int]
    peak_rss_mb: float | None
    workers: list[WorkerShare] = field(default_factory=list)
    warm_up_rounds: int = 1
    rebalances_during_run: int = 0
    # ids of the burst and steady feed that came out more than once, and the extra messages
    duplicated_outputs: int = 0
    extra_outputs: int = 0


def run_settings(settings: Settings, bootstrap: str, workdir: Path) -> Settings:
    """``settings`` with a fresh app id, fresh topics, a temporary data dir and a free web port."""
    suffix = uuid.uuid4().hex[:8]
    return settings.model_copy(
        update={
            "bootstrap_servers": bootstrap,
            "app_id": f"akhbar-bench-{suffix}",
            "topic_raw": f"bench.{suffix}.raw",
            "topic_enriched": f"bench.{suffix}.enriched",
            "topic_dlq": f"bench.{suffix}.dlq",
            "topic_duplicates": f"bench.{suffix}.duplicates",
            "topic_staged": f"bench.{suffix}.staged",
            "data_dir": workdir / f"worker-{suffix}",
            "web_host": "127.0.0.1",
            "web_port": free_port(),
        }
    )


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``akhbar worker`` use exactly these settings' run fields."""
    fields = (
        "bootstrap_servers",
        "app_id",
        "topic_raw",
        "topic_enriched",
        "topic_dlq",
        "topic_duplicates",
        "topic_staged",
        "data_dir",
        "web_host",
        "web_port",
        "partitions",
    )
    env = dict(os.environ)
    env.update({f"AKHBAR_{name.upper()}": str(getattr(settings, name)) for name in fields})
    return env


def stage_delta(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> tuple[dict[str, float], float]:
    """µs per article per stage between two scrapes, and the total stage seconds."""
    per_article: dict[str, float] = {}
    seconds = 0.0
    for stage in STAGES:
        sum0, count0 = before.get(stage, (0.0, 0.0))
        sum1, count1 = after.get(stage, (0.0, 0.0))
        count = count1 - count0
        per_article[stage] = round((sum1 - sum0) / count * 1e6, 1) if count > 0 else 0.0
        seconds += sum1 - sum0
    return per_article, seconds


async def settle(
    probe: Probe, group: WorkerGroup, warm_up: Sequence[BenchArticle], timeout: float
) -> tuple[float, int]:
    """Warm the workers up until the group is settled; (seconds it took, warm-up rounds).

    Each round sends the warm-up articles (under new ids after the first) and waits for all of
    them, then checks the group stayed put for ``SETTLE_SECONDS`` with every worker owning raw
    partitions. One round is enough unless a worker joined late.
    """
    started = time.monotonic()
    for round_number in itertools.count():
        probe.alive()
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"the worker group did not settle within {timeout:.0f}s")
        articles = [
            BenchArticle(f"{a.id}-r{round_number}", a.title, a.body, a.source)
            if round_number
            else a
            for a in warm_up
        ]
        await probe.warm_up(articles)
        before = await group.states()
        await asyncio.sleep(SETTLE_SECONDS)
        if settled(before, await group.states()):
            return time.monotonic() - started, round_number + 1
    raise AssertionError("unreachable")


def counted(before: WorkerState, after: WorkerState, *keys: str) -> int:
    """How much the ``stage/outcome`` counters ``keys`` grew between two scrapes."""
    return round(sum(after.counters.get(k, 0.0) - before.counters.get(k, 0.0) for k in keys))


def per_worker(
    group: WorkerGroup,
    watches: Sequence[CpuWatch],
    before: Sequence[WorkerState],
    after: Sequence[WorkerState],
    seconds: float,
) -> list[WorkerShare]:
    """What each worker did during the burst."""
    shares = []
    for process, watch, old, new in zip(group.processes, watches, before, after, strict=True):
        shares.append(
            WorkerShare(
                cpu_share=watch.shares(seconds)[0],
                peak_rss_mb=process.peak_rss_mb(),
                raw_partitions=sorted(new.raw_partitions),
                consumed=counted(old, new, "consume/ok"),
                published=counted(old, new, "publish/unique", "publish/duplicate"),
            )
        )
    return shares


async def run_pipeline(
    settings: Settings,
    bootstrap: str,
    warm_up: Sequence[BenchArticle],
    burst: Sequence[BenchArticle],
    steady: Sequence[BenchArticle],
    *,
    rate: float,
    workdir: Path,
    timeout: float,
    workers: int = 1,
) -> PipelineResult:
    """Run ``workers`` workers through warm-up, burst and steady feed; stop them and report."""
    config = run_settings(settings, bootstrap, workdir)
    await ensure_topics(config)
    outputs = [config.topic_enriched, config.topic_duplicates, config.topic_dlq]
    group = WorkerGroup.start(config, workers, workdir, worker_env(config))
    try:
        async with Probe(bootstrap, config.topic_raw, outputs, group.check_alive) as probe:
            await group.wait_joined(WARM_UP_TIMEOUT)
            warm_up_seconds, rounds = await settle(probe, group, warm_up, WARM_UP_TIMEOUT)
            before = await group.states()
            watches = [CpuWatch(pid) for pid in group.pids]
            machine = CpuWatch(group.pids[0])
            burst_stats = await probe.burst(burst, timeout)
            after = await group.states()
            workers_done = per_worker(group, watches, before, after, burst_stats.seconds)
            machine_cores = machine.shares(burst_stats.seconds)[1]
            stage_us, stage_seconds = stage_delta(total_stages(before), total_stages(after))
            steady_stats = await probe.steady(steady, rate, len(steady) / rate + timeout)
            final = await group.states()
            per_topic = dict(probe.collector.per_topic)
            doubled, extra = probe.collector.doubled(a.id for a in (*burst, *steady))
        wall = burst_stats.seconds
        return PipelineResult(
            burst=burst_stats,
            steady=steady_stats,
            rate=rate,
            warm_up_seconds=round(warm_up_seconds, 2),
            stage_us=stage_us,
            stage_share=round(stage_seconds / wall, 3) if wall else 0.0,
            worker_cpu_share=round(sum(w.cpu_share for w in workers_done), 3),
            machine_busy_cores=machine_cores,
            outputs={topic.rsplit(".", 1)[1]: per_topic.get(topic, 0) for topic in outputs},
            peak_rss_mb=max((w.peak_rss_mb or 0.0 for w in workers_done), default=None) or None,
            workers=workers_done,
            warm_up_rounds=rounds,
            rebalances_during_run=sum(
                new.rebalances_done - old.rebalances_done
                for old, new in zip(before, final, strict=True)
            ),
            duplicated_outputs=doubled,
            extra_outputs=extra,
        )
    finally:
        group.stop()
