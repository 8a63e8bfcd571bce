"""`akhbar bench --quick` runs end to end on its own embedded broker and reports valid JSON.

Only structure and completeness are checked here; speed is for the benchmark itself.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from akhbar.common.processes import descendants, status_field

pytestmark = pytest.mark.integration

LATENCY_KEYS = ("p50", "p95", "p99")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("bench") / "x.json"
    done = subprocess.run(
        [sys.executable, "-m", "akhbar.cli", "bench", "--quick", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    written = json.loads(output.read_text())
    assert json.loads(done.stdout) == written, "stdout and --output differ"
    return written


def check_latency(latency: dict[str, Any]) -> None:
    assert all(isinstance(latency[k], float) and latency[k] > 0 for k in LATENCY_KEYS)
    assert latency["p50"] <= latency["p95"] <= latency["p99"]


def test_bench_reports_every_headline_field(report: dict[str, Any]) -> None:
    """Throughputs and ratio are positive numbers, and the articles count is the quick size."""
    assert report["articles"] == 50
    for key in (
        "throughput_aps",
        "baseline_raw_aps",
        "baseline_naive_faust_aps",
        "ratio_vs_naive_faust",
    ):
        assert isinstance(report[key], float) and report[key] > 0, key
    expected = round(report["throughput_aps"] / report["baseline_naive_faust_aps"], 3)
    assert report["ratio_vs_naive_faust"] == pytest.approx(expected, abs=0.002)


def test_bench_latencies_are_ordered_percentiles(report: dict[str, Any]) -> None:
    """Burst and steady-rate latencies have p50 <= p95 <= p99; the rate is the default 50/s."""
    check_latency(report["latency_ms"])
    check_latency(report["latency_at_rate_ms"])
    assert report["latency_at_rate_ms"]["rate"] == 50.0
    for baseline in report["baselines"].values():
        check_latency(baseline["latency_ms"])


def test_bench_loses_nothing(report: dict[str, Any]) -> None:
    """Every article sent came out (enriched, duplicates or dead letters), in every run."""
    pipeline = report["pipeline"]
    assert pipeline["lost"] == 0 and pipeline["lost_at_rate"] == 0
    assert all(b["lost"] == 0 for b in report["baselines"].values())
    warm_up = sum(pipeline["outputs"].values()) - 50 - pipeline["at_rate_articles"]
    assert warm_up >= 0, pipeline["outputs"]
    assert pipeline["duplicated_outputs"] == 0 and pipeline["rebalances_during_run"] == 0


def test_bench_reports_its_one_worker(report: dict[str, Any]) -> None:
    """The default is one worker, which owns every raw partition and publishes every article."""
    assert report["workers"] == 1
    (worker,) = report["pipeline"]["per_worker"]
    assert worker["raw_partitions"] == [0, 1, 2, 3]
    assert worker["consumed"] == worker["published"] == 50
    assert worker["cpu_share"] > 0 and worker["peak_rss_mb"] == report["peak_worker_rss_mb"]


def test_bench_reports_stages_memory_and_offline_chain(report: dict[str, Any]) -> None:
    """Per-stage µs from the worker, its peak RSS, and the offline chain's rates are present."""
    assert set(report["stage_us"]) == {"normalize", "entities", "fingerprint", "dedup"}
    assert all(v > 0 for v in report["stage_us"].values())
    assert report["peak_worker_rss_mb"] > 0
    offline = report["offline"]
    assert offline["articles"] == 50 and offline["refused"] == 0
    assert offline["chain"]["aps"] > 0
    assert set(offline["stages"]) == {"normalize", "entities", "fingerprint", "dedup"}
    assert offline["stages"]["entities"]["tokens_per_s"] > 0
    assert report["machine"]["cpu_count"] >= 1 and report["machine"]["python"]
    assert report["notes"]


def test_bench_offline_needs_no_broker(tmp_path: Path) -> None:
    """`--offline` times the chain alone and reports only the offline block."""
    output = tmp_path / "offline.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "akhbar.cli",
            "bench",
            "--offline",
            "--articles",
            "20",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["articles"] == 20 and report["offline"]["chain"]["aps"] > 0
    assert "throughput_aps" not in report


def test_a_bench_stopped_by_sigterm_leaves_no_process_behind(tmp_path: Path) -> None:
    """SIGTERM in the middle of a run (the naive Faust baseline) stops the bench with 143, and
    the broker and the processes it started stop with it instead of running on."""
    output, log = tmp_path / "x.json", tmp_path / "bench.log"
    with log.open("wb") as handle:
        bench = subprocess.Popen(
            [sys.executable, "-m", "akhbar.cli", "bench", "--quick", "--output", str(output)],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "naive Faust" not in log.read_text(errors="replace"):
            assert bench.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(1.0)  # its Faust worker is starting
        started = descendants(bench.pid)
        assert len(started) >= 2, "expected the broker and the baseline worker"
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(60) == 143, log.read_text()[-3000:]
    finally:
        if bench.poll() is None:
            bench.kill()
    left = [pid for pid in started if (state := status_field(pid, "State")) and state[0] != "Z"]
    assert not left, f"still running after the bench stopped: {left}"
    assert not output.exists()
