"""The full pipeline under load: ``akhbar worker`` as a subprocess on fresh topics.

The worker is started and warmed up first; then the corpus goes in as one burst (throughput and
latency under backlog), then a steady feed at ``--rate`` (latency of a live feed). Outputs are
counted on the enriched, duplicates and dead-letter topics, so nothing that came out is missed.
Per-stage time comes from the worker's own ``akhbar_stage_seconds`` histogram, scraped before and
after the burst.
"""

from __future__ import annotations

import asyncio
import os
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from akhbar.bench.corpus import BenchArticle
from akhbar.bench.measure import Probe, RunStats
from akhbar.bench.process import CpuWatch, Subprocess
from akhbar.common.broker import free_port
from akhbar.common.settings import Settings
from akhbar.common.topics import ensure_topics

STAGES = ("normalize", "entities", "dedup")


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


def stage_totals(metrics_text: str) -> dict[str, tuple[float, float]]:
    """stage -> (seconds, count) from ``akhbar_stage_seconds_sum`` and ``_count``."""
    totals: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            stage = sample.labels.get("stage")
            if stage is None or not sample.name.startswith("akhbar_stage_seconds_"):
                continue
            pair = totals.setdefault(stage, [0.0, 0.0])
            if sample.name.endswith("_sum"):
                pair[0] += sample.value
            elif sample.name.endswith("_count"):
                pair[1] += sample.value
    return {stage: (pair[0], pair[1]) for stage, pair in totals.items()}


async def scrape_stages(settings: Settings) -> dict[str, tuple[float, float]]:
    url = f"http://{settings.web_host}:{settings.web_port}/metrics"

    def get() -> str:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    return stage_totals(await asyncio.to_thread(get))


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
) -> PipelineResult:
    """Run the worker through warm-up, burst and steady feed; stop it and report."""
    config = run_settings(settings, bootstrap, workdir)
    await ensure_topics(config)
    outputs = [config.topic_enriched, config.topic_duplicates, config.topic_dlq]
    worker = Subprocess.start(
        "akhbar worker", "akhbar.cli", ["worker"], worker_env(config), workdir / "worker.log"
    )
    try:
        async with Probe(bootstrap, config.topic_raw, outputs, worker.check_alive) as probe:
            warm_up_seconds = await probe.warm_up(warm_up)
            before, watch = await scrape_stages(config), CpuWatch(worker.pid)
            burst_stats = await probe.burst(burst, timeout)
            worker_cores, machine_cores = watch.shares(burst_stats.seconds)
            stage_us, stage_seconds = stage_delta(before, await scrape_stages(config))
            steady_stats = await probe.steady(steady, rate, len(steady) / rate + timeout)
            per_topic = dict(probe.collector.per_topic)
        wall = burst_stats.seconds
        return PipelineResult(
            burst=burst_stats,
            steady=steady_stats,
            rate=rate,
            warm_up_seconds=round(warm_up_seconds, 2),
            stage_us=stage_us,
            stage_share=round(stage_seconds / wall, 3) if wall else 0.0,
            worker_cpu_share=worker_cores,
            machine_busy_cores=machine_cores,
            outputs={topic.rsplit(".", 1)[1]: per_topic.get(topic, 0) for topic in outputs},
            peak_rss_mb=worker.peak_rss_mb(),
        )
    finally:
        worker.stop()
