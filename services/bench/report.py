"""The bench report: one JSON document, printed to stdout and written to ``--output``."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson

from akhbar.bench.baselines import BaselineResult
from akhbar.bench.pipeline_run import PipelineResult

# What the notes say about the method; run-specific findings are appended after these.
METHOD_NOTES = [
    "throughput_aps = articles / (last output consumed - first article sent), with the processor "
    "already started and warmed up (start-up and consumer-group join excluded); burst feed: every "
    "article is sent at once, raw events encoded before the clock starts.",
    "latency_ms: per article, output consumed by the bench minus its send time, during that burst "
    "(so it is mostly queueing: p50 is about half the burst). latency_at_rate_ms: the same at a "
    "steady feed of `rate` articles/s.",
    "Outputs are matched by key on the enriched, duplicates and dead-letter topics; lost = sent - "
    "matched. Baselines copy key and value unchanged to a fresh output topic.",
    "All three processors run as their own process on the same embedded broker (Tansu, memory "
    "storage), fresh topics with the same partition count; the bench process (feeder, collector) "
    "and the broker share the same cores, so absolute numbers are lower than on a dedicated Kafka.",
    "stage_us: from the worker's akhbar_stage_seconds histogram, difference of two scrapes around "
    "the burst. stage_share: stage seconds / burst seconds. *_cpu_share: CPU seconds the process "
    "and its stage processes used during the burst / burst seconds (1.0 = one core saturated); "
    "peak_*rss_mb sums their peaks (with AKHBAR_STAGE_PROCESSES > 0). machine_busy_cores: the "
    "same for every process on the machine (broker, bench and anything else running), out of "
    "cpu_count: a value near cpu_count means the numbers are CPU-starved.",
    "The generated corpus only uses the seed articles' vocabulary (a few thousand words), so "
    "per-word caches in the entity tagger stay hot: entities timings are optimistic next to a "
    "real feed, dedup timings pessimistic (see akhbar.bench.corpus). --corpus takes real text.",
]


def machine() -> dict[str, Any]:
    """What the numbers depend on: cores, Python, library versions, load when measured."""
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "faust_streaming": version("faust-streaming"),
        "aiokafka": version("aiokafka"),
        "loadavg_1m_start": round(os.getloadavg()[0], 2),
    }


@dataclass
class BenchReport:
    """Every field of the bench JSON; ``to_dict`` gives the documented layout."""

    articles: int
    corpus: str
    workers: int = 1
    pipeline: PipelineResult | None = None
    raw: BaselineResult | None = None
    naive_faust: BaselineResult | None = None
    offline: dict[str, Any] | None = None
    machine: dict[str, Any] = field(default_factory=machine)
    notes: list[str] = field(default_factory=lambda: list(METHOD_NOTES))

    @property
    def lost(self) -> int:
        runs = [r.run for r in (self.raw, self.naive_faust) if r]
        if self.pipeline:
            runs += [self.pipeline.burst, self.pipeline.steady]
        return sum(run.lost for run in runs)

    def to_dict(self) -> dict[str, Any]:
        p, raw, naive = self.pipeline, self.raw, self.naive_faust
        throughput = p.burst.throughput_aps if p else 0.0
        naive_aps = naive.run.throughput_aps if naive else 0.0
        self.machine["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
        report: dict[str, Any] = {"articles": self.articles, "corpus": self.corpus}
        if p:
            report |= {
                "workers": self.workers,
                "throughput_aps": throughput,
                "baseline_raw_aps": raw.run.throughput_aps if raw else 0.0,
                "baseline_naive_faust_aps": naive_aps,
                "ratio_vs_naive_faust": round(throughput / naive_aps, 3) if naive_aps else 0.0,
                "latency_ms": p.burst.latency_ms,
                "latency_at_rate_ms": {"rate": p.rate, **p.steady.latency_ms},
                "stage_us": p.stage_us,
                "peak_worker_rss_mb": p.peak_rss_mb,
                "pipeline": {
                    "outputs": p.outputs,
                    "lost": p.burst.lost,
                    "lost_at_rate": p.steady.lost,
                    "duplicated_outputs": p.duplicated_outputs,
                    "extra_outputs": p.extra_outputs,
                    "rebalances_during_run": p.rebalances_during_run,
                    "burst_seconds": round(p.burst.seconds, 3),
                    "at_rate_articles": p.steady.sent,
                    "warm_up_seconds": p.warm_up_seconds,
                    "warm_up_rounds": p.warm_up_rounds,
                    "stage_share": p.stage_share,
                    "worker_cpu_share": p.worker_cpu_share,
                    "machine_busy_cores": p.machine_busy_cores,
                    "per_worker": [asdict(w) for w in p.workers],
                },
                "baselines": {b.kind: baseline_dict(b) for b in (raw, naive) if b},
            }
        notes = self.notes + findings(p, throughput, self.machine)
        report |= {"offline": self.offline, "machine": self.machine, "notes": notes}
        return report


def findings(pipeline: PipelineResult | None, throughput: float, host: dict[str, Any]) -> list[str]:
    """Warnings about this run that change how its numbers should be read."""
    notes = []
    cores = float(host.get("cpu_count") or 1)
    if pipeline and pipeline.machine_busy_cores >= 0.9 * cores:
        notes.append(
            f"CPU-starved: the machine was {pipeline.machine_busy_cores:.2f} of {cores:.0f} cores "
            f"busy during the pipeline burst while the worker got {pipeline.worker_cpu_share:.2f}; "
            "other processes were competing, so throughput is lower and stage times higher than "
            "on an idle machine."
        )
    if pipeline and len(pipeline.workers) > 1:
        dedup = max(pipeline.workers, key=lambda w: w.published)
        notes.append(
            f"{len(pipeline.workers)} workers in one group: throughput_aps is their combined rate. "
            f"They used {pipeline.worker_cpu_share:.2f} cores between them and the machine "
            f"{pipeline.machine_busy_cores:.2f} of {cores:.0f} (broker and bench included); the "
            f"worker that owns the staged topic ran dedup and published every article "
            f"({dedup.cpu_share:.2f} cores)."
            + (
                " The machine was saturated: its cores, not the partitions, bound the scale-out."
                if pipeline.machine_busy_cores >= 0.9 * cores
                else ""
            )
        )
    if pipeline and (pipeline.duplicated_outputs or pipeline.rebalances_during_run):
        notes.append(
            f"{pipeline.duplicated_outputs} ids came out more than once "
            f"({pipeline.extra_outputs} extra messages) with {pipeline.rebalances_during_run} "
            "rebalances during the timed runs: at-least-once re-deliveries carry the same key "
            "and decision, so collapsing by key gives each article once."
        )
    if pipeline and pipeline.rate > throughput > 0:
        notes.append(
            f"The steady rate ({pipeline.rate:g}/s) is above the measured throughput "
            f"({throughput:g}/s): latency_at_rate_ms measures a growing backlog, not a live feed "
            "the worker keeps up with; rerun with a lower --rate for that."
        )
    return notes


def baseline_dict(result: BaselineResult) -> dict[str, Any]:
    run = asdict(result.run)
    return {
        "throughput_aps": result.run.throughput_aps,
        "latency_ms": run["latency_ms"],
        "lost": result.run.lost,
        "burst_seconds": round(result.run.seconds, 3),
        "warm_up_seconds": result.warm_up_seconds,
        "cpu_share": result.cpu_share,
        "machine_busy_cores": result.machine_busy_cores,
        "peak_rss_mb": result.peak_rss_mb,
    }


def write(report: dict[str, Any], output: Path) -> None:
    """Print the report and write it to ``output`` (folders created as needed)."""
    text = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(text + b"\n")
    sys.stdout.write(text.decode() + "\n")
    sys.stdout.flush()
