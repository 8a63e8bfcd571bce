"""How the bench reads a worker's place in its group from /metrics, and when the group settled."""

from __future__ import annotations

from akhbar.bench.group import WorkerState, joined, parse_state, settled

METRICS = """\
# TYPE faust_total_rebalances gauge
faust_total_rebalances 0.0
# TYPE faust_total_rebalances_recovering gauge
faust_total_rebalances_recovering 0.0
# TYPE faust_rebalance_done_latency histogram
faust_rebalance_done_latency_bucket{le="+Inf"} 2.0
faust_rebalance_done_latency_count 2.0
faust_rebalance_done_latency_sum 40.0
# TYPE faust_messages_received_per_topics_partition gauge
faust_messages_received_per_topics_partition{partition="1",topic="run.raw"} 7.0
faust_messages_received_per_topics_partition{partition="3",topic="run.raw"} 4.0
faust_messages_received_per_topics_partition{partition="0",topic="run.staged"} 9.0
# TYPE akhbar_articles_total counter
akhbar_articles_total{outcome="ok",stage="consume"} 12.0
# TYPE akhbar_stage_seconds histogram
akhbar_stage_seconds_count{stage="dedup"} 10.0
akhbar_stage_seconds_sum{stage="dedup"} 0.5
"""


def state(done: int, partitions: set[int], rebalancing: bool = False) -> WorkerState:
    return WorkerState(rebalancing, done, frozenset(partitions))


def test_parse_state_reads_rebalances_raw_partitions_counters_and_stages() -> None:
    parsed = parse_state(METRICS, "run.raw")
    assert not parsed.rebalancing and parsed.rebalances_done == 2
    assert parsed.raw_partitions == {1, 3}  # the staged topic's partition is not a raw one
    assert parsed.counters == {"consume/ok": 12.0}
    assert parsed.stages == {"dedup": (0.5, 10.0)}


def test_a_rebalance_under_way_is_read_from_either_gauge() -> None:
    text = METRICS.replace(
        "faust_total_rebalances_recovering 0.0", "faust_total_rebalances_recovering 1.0"
    )
    assert parse_state(text, "run.raw").rebalancing


def test_settled_when_counts_hold_and_each_worker_owns_its_own_raw_partitions() -> None:
    group = [state(2, {0, 2}), state(2, {1, 3})]
    assert settled(group, group)


def test_not_settled_while_a_worker_has_no_raw_partition() -> None:
    """A worker that joined late has not received raw events since its last rebalance."""
    assert not settled(
        [state(1, {0, 1, 2, 3}), state(1, set())], [state(1, {0, 1, 2, 3}), state(1, set())]
    )


def test_not_settled_when_a_rebalance_finished_or_runs_in_between() -> None:
    after = [state(2, {0, 2}), state(2, {1, 3})]
    assert not settled([state(1, {0, 2}), state(2, {1, 3})], after)
    assert not settled([state(2, {0, 2}, rebalancing=True), state(2, {1, 3})], after)


def test_not_settled_when_two_workers_claim_one_partition() -> None:
    group = [state(2, {0, 1}), state(2, {1, 3})]
    assert not settled(group, group)


def test_joined_needs_a_finished_rebalance_on_every_worker() -> None:
    assert joined([state(1, set()), state(1, set())], [state(1, set()), state(1, set())])
    assert not joined([state(1, set()), state(0, set())], [state(1, set()), state(0, set())])
    assert not joined([state(1, set()), state(1, set())], [state(2, set()), state(1, set())])
