"""Two workers in one consumer group share a run: every article comes out once, none is lost.

The raw topic's four partitions are split between two ``akhbar worker`` processes with one app id;
the single-partition staged topic (and so dedup) belongs to one of them. The group is left to
settle (both joined, each owning raw partitions, no rebalance for a few seconds) before the run,
as ``akhbar bench --workers 2`` does, so no at-least-once re-delivery should double an output.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from akhbar.bench import corpus
from akhbar.bench.group import WorkerGroup
from akhbar.bench.measure import Probe
from akhbar.bench.pipeline_run import counted, run_settings, settle
from akhbar.common.settings import Settings
from akhbar.common.topics import ensure_topics
from tests.integration.kafka_helpers import akhbar_env, read_topic

pytestmark = pytest.mark.integration

ARTICLES = 300
WORKERS = 2


Records = list[ConsumerRecord[bytes, bytes]]


async def scale_out_run(bootstrap: str, workdir: Path) -> tuple[Records, int, list[int]]:
    """Run ``ARTICLES`` through two settled workers.

    Returns the run's output records, the rebalances during the run, and the raw events each
    worker consumed.
    """
    config = run_settings(Settings(), bootstrap, workdir)
    await ensure_topics(config)
    env = akhbar_env(
        bootstrap,
        app_id=config.app_id,
        topic_raw=config.topic_raw,
        topic_enriched=config.topic_enriched,
        topic_dlq=config.topic_dlq,
        topic_duplicates=config.topic_duplicates,
        topic_staged=config.topic_staged,
        web_host=config.web_host,
    )
    outputs = [config.topic_enriched, config.topic_duplicates, config.topic_dlq]
    articles = corpus.generate(ARTICLES, prefix="scale")
    group = WorkerGroup.start(config, WORKERS, workdir, env)
    try:
        async with Probe(bootstrap, config.topic_raw, outputs, group.check_alive) as probe:
            await group.wait_joined(90)
            await settle(probe, group, corpus.generate(20, seed=7, prefix="warm"), 90)
            before = await group.states()
            await probe.burst(articles, 90)
            after = await group.states()
        records = [r for topic in outputs for r in await read_topic(bootstrap, topic)]
    finally:
        group.stop()
    pairs = list(zip(before, after, strict=True))
    rebalances = sum(b.rebalances_done - a.rebalances_done for a, b in pairs)
    consumed = [counted(a, b, "consume/ok") for a, b in pairs]
    return [r for r in records if r.key and r.key.startswith(b"scale-")], rebalances, consumed


def test_two_workers_output_every_article_exactly_once(tmp_path: Path, broker: str) -> None:
    """Every id of the run is on the enriched or dead-letter topic once, with one decision."""
    records, rebalances, consumed = asyncio.run(scale_out_run(broker, tmp_path))
    counts = Counter(r.key.decode() for r in records if r.key)
    expected = {f"scale-{n:07d}" for n in range(ARTICLES)}
    assert set(counts) == expected, f"lost: {sorted(expected - set(counts))[:10]}"
    assert all(n > 0 for n in consumed), f"a worker consumed nothing from the raw topic: {consumed}"
    doubled = {key: n for key, n in counts.items() if n > 1}
    decisions: dict[str, set[bytes]] = {}
    for record in records:
        event = orjson.loads(record.value or b"{}")
        decisions.setdefault(event["id"], set()).add(orjson.dumps(event.get("dedup")))
    assert all(len(d) == 1 for d in decisions.values()), "an id got two different decisions"
    if rebalances:
        # A rebalance despite the settled start (a missed heartbeat on a starved machine) may
        # legitimately re-deliver: then only collapsing by key gives exactly once.
        print(f"{rebalances} rebalances during the run; {len(doubled)} ids came out twice")
    else:
        assert not doubled, f"{len(doubled)} ids came out more than once: {list(doubled)[:10]}"
