"""Pure helpers of the bench: percentiles, run statistics and the worker's stage histogram."""

from __future__ import annotations

import pytest

from akhbar.bench.group import stage_totals
from akhbar.bench.measure import RunStats, latency_ms, percentile
from akhbar.bench.pipeline_run import stage_delta


@pytest.mark.parametrize(("share", "expected"), [(50, 50.0), (95, 95.0), (99, 99.0), (100, 100.0)])
def test_percentile_is_nearest_rank(share: float, expected: float) -> None:
    """On 1..100 the nearest-rank percentile p is the value p."""
    assert percentile([float(v) for v in range(100, 0, -1)], share) == expected


def test_latency_is_reported_in_milliseconds() -> None:
    assert latency_ms([0.010, 0.020, 0.030]) == {"p50": 20.0, "p95": 30.0, "p99": 30.0}
    assert latency_ms([]) == {"p50": 0.0, "p95": 0.0, "p99": 0.0}


def test_run_stats_counts_losses_and_rate() -> None:
    stats = RunStats(sent=10, received=8, seconds=2.0, latency_ms=latency_ms([0.1]))
    assert stats.lost == 2 and stats.throughput_aps == 4.0


METRICS_BEFORE = """\
# TYPE akhbar_stage_seconds histogram
akhbar_stage_seconds_bucket{le="+Inf",stage="normalize"} 2.0
akhbar_stage_seconds_count{stage="normalize"} 2.0
akhbar_stage_seconds_sum{stage="normalize"} 0.002
akhbar_stage_seconds_count{stage="entities"} 2.0
akhbar_stage_seconds_sum{stage="entities"} 0.02
"""
METRICS_AFTER = """\
akhbar_stage_seconds_count{stage="normalize"} 12.0
akhbar_stage_seconds_sum{stage="normalize"} 0.012
akhbar_stage_seconds_count{stage="entities"} 2.0
akhbar_stage_seconds_sum{stage="entities"} 0.02
"""


def test_stage_delta_gives_microseconds_per_article_between_scrapes() -> None:
    """10 more normalize observations taking 10 ms in all: 1000 µs each; idle stages report 0."""
    before, after = stage_totals(METRICS_BEFORE), stage_totals(METRICS_AFTER)
    per_article, seconds = stage_delta(before, after)
    assert per_article == {"normalize": 1000.0, "entities": 0.0, "fingerprint": 0.0, "dedup": 0.0}
    assert seconds == pytest.approx(0.010)
