"""Dedup on the real broker: copies across raw partitions, replays, and worker restarts."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from akhbar.common import events
from akhbar.common.broker import free_port
from tests.integration.kafka_helpers import (
    AkhbarProcess,
    akhbar_env,
    read_topic,
    run_akhbar,
    start_akhbar,
)

pytestmark = pytest.mark.integration


def wire_copy(body: str, seed: int) -> str:
    """Another outlet's copy: its own header, ~2 % of the words replaced, last paragraph cut."""
    rng = random.Random(seed)
    paragraphs = [p for p in body.split("\n") if p.strip()][:-1]
    edited = [
        " ".join("تعديل" if rng.random() < 0.02 else word for word in p.split(" "))
        for p in paragraphs
    ]
    return "\n".join(["بيروت - الميادين نت", *edited])


class DedupStack:
    """Unique topics and app id; one worker at a time, restartable over the same or a new dir."""

    def __init__(self, bootstrap: str, tmp: Path) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.bootstrap = bootstrap
        self.tmp = tmp
        self.raw = f"d{suffix}.raw"
        self.enriched = f"d{suffix}.enriched"
        self.settings: dict[str, str | int | Path] = {
            "app_id": f"akhbar-dedup-test-{suffix}",
            "topic_raw": self.raw,
            "topic_enriched": self.enriched,
            "topic_dlq": f"d{suffix}.dlq",
            "topic_duplicates": f"d{suffix}.duplicates",
            "topic_staged": f"d{suffix}.staged",
        }
        self.worker: AkhbarProcess | None = None
        self.starts = 0

    def env(self, data_dir: Path) -> dict[str, str]:
        return akhbar_env(self.bootstrap, **self.settings, data_dir=data_dir, web_port=free_port())

    def start_worker(self, data_dir: Path) -> None:
        self.starts += 1
        log = self.tmp / f"worker-{self.starts}.log"
        self.worker = start_akhbar(["worker"], self.env(data_dir), log)

    def stop_worker(self) -> None:
        """SIGTERM, and a clean exit expected (Faust flushes the changelog and commits)."""
        assert self.worker is not None
        code = self.worker.stop(timeout=30.0)
        log = self.worker.log.read_text(errors="replace")
        self.worker = None
        assert code == 0, f"worker exited with {code}:\n{log[-3000:]}"

    def send(self, article_id: str, title: str, body: str, partition: int) -> None:
        """One raw event, to an explicit raw partition."""
        event = events.raw_event(article_id, title, body, "dedup-test", time.time())

        async def produce() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
            await producer.start()
            try:
                await producer.send_and_wait(
                    self.raw, events.dumps(event), key=article_id.encode(), partition=partition
                )
            finally:
                await producer.stop()

        asyncio.run(produce())

    def decision(self, article_id: str) -> dict[str, Any]:
        """The decision for ``article_id``. At-least-once: a rebalance before the commit can
        publish it again (seen once after a restart), but every copy must say the same."""
        found = self.decisions(article_id)
        assert all(other == found[0] for other in found), found
        return found[0]

    def decisions(self, article_id: str, count: int = 1) -> list[dict[str, Any]]:
        """The dedup decisions published for ``article_id``, once at least ``count`` are out.

        Fails at once, with the worker's log, if the worker died instead of answering.
        """
        deadline = time.monotonic() + 60.0
        while True:
            events = [
                orjson.loads(r.value)
                for r in asyncio.run(read_topic(self.bootstrap, self.enriched))
            ]
            found = [e["dedup"] for e in events if e["id"] == article_id]
            if len(found) >= count:
                return found
            worker = self.worker
            if worker is not None and worker.process.poll() is not None:
                log = worker.log.read_text(errors="replace")
                raise AssertionError(
                    f"worker exited with {worker.process.returncode}:\n{log[-3000:]}"
                )
            assert time.monotonic() < deadline, f"no decision for {article_id} after 60 s"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def seeds(seed_paths: list[Path]) -> list[tuple[str, str]]:
    """(headline, body) of each seed article."""
    pairs = []
    for path in seed_paths:
        headline, _, body = path.read_text(encoding="utf-8").partition("\n")
        pairs.append((headline.strip(), body.strip()))
    return pairs


@pytest.fixture(scope="module")
def stack(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DedupStack]:
    """Topics created and a worker running over data dir ``state-1``."""
    tmp = tmp_path_factory.mktemp("dedup")
    stack = DedupStack(broker, tmp)
    created = run_akhbar(["topics"], stack.env(tmp / "state-1"))
    assert created.returncode == 0, created.stderr
    stack.start_worker(tmp / "state-1")
    yield stack
    if stack.worker is not None:
        stack.stop_worker()


def test_copy_on_another_raw_partition_is_a_near_duplicate(
    stack: DedupStack, seeds: list[tuple[str, str]]
) -> None:
    """Original on raw partition 0, a wire copy under a new id on partition 3: they still meet."""
    title, body = seeds[0]
    stack.send("orig-0", title, body, partition=0)
    first = stack.decision("orig-0")
    assert first["status"] == "unique"
    stack.send("copy-0", title, wire_copy(body, seed=1), partition=3)
    copy = stack.decision("copy-0")
    assert copy["status"] == "duplicate"
    assert copy["duplicate_of"] == "orig-0"
    assert copy["method"] == "near"
    assert 0.25 <= copy["similarity"] < 1.0


def test_replay_repeats_the_first_decision(stack: DedupStack, seeds: list[tuple[str, str]]) -> None:
    """The same ids again: the original stays unique (not its own copy), the copy still points."""
    title, body = seeds[0]
    stack.decisions("copy-0")  # the previous test's events are out
    stack.send("orig-0", title, body, partition=2)
    stack.send("copy-0", title, wire_copy(body, seed=1), partition=1)
    originals = stack.decisions("orig-0", count=2)
    copies = stack.decisions("copy-0", count=2)
    assert originals[0] == originals[1]
    assert originals[1]["status"] == "unique" and originals[1]["duplicate_of"] is None
    assert copies[0] == copies[1]
    assert copies[1]["duplicate_of"] == "orig-0"


# Observed on the embedded Tansu (memory storage): ListOffsets(latest) answers the base offset
# of the last record batch + 1, not the last offset + 1 (9 changelog records, end offset 7). When
# the last batch holds several writes, Faust recovers only up to that short "end": over a fresh
# data dir it loses the last article before the restart; over the same rocksdb dir it refuses to
# start (ConsistencyError, persisted offset > highwater). The tests' workers therefore run with
# AKHBAR_PRODUCER_MAX_BATCH_BYTES=1 (one record per batch), as `akhbar run` does; without it these
# two tests fail whenever the last batch before the restart held several records. Apache Kafka
# reports the end offset correctly.


def test_copy_seen_before_a_restart_over_a_fresh_data_dir(
    stack: DedupStack, seeds: list[tuple[str, str]]
) -> None:
    """SIGTERM mid-stream, then a worker with an empty data dir: the state comes from the
    changelog topic alone, and copies of articles seen before the restart are still found."""
    title, body = seeds[3]
    stack.send("orig-3", title, body, partition=1)
    before = stack.decision("orig-3")
    assert before["status"] == "unique"

    stack.stop_worker()
    stack.start_worker(stack.tmp / "state-2")
    stack.send("copy-3a", title, wire_copy(body, seed=2), partition=2)
    stack.send("copy-0a", seeds[0][0], wire_copy(seeds[0][1], seed=4), partition=0)
    fresh_dir = stack.decision("copy-3a")
    assert fresh_dir["duplicate_of"] == "orig-3"
    assert fresh_dir["method"] == "near"
    older = stack.decision("copy-0a")
    assert older["duplicate_of"] == "orig-0"  # seen in the first test, two workers ago


def test_copy_seen_before_a_restart_over_the_same_data_dir(
    stack: DedupStack, seeds: list[tuple[str, str]]
) -> None:
    """SIGTERM, then a worker over the same rocksdb dir and app id: copies are still found."""
    title, body = seeds[4]
    stack.send("orig-4", title, body, partition=3)
    before = stack.decision("orig-4")
    assert before["status"] == "unique"

    stack.stop_worker()
    stack.start_worker(stack.tmp / "state-2")
    stack.send("copy-4a", title, wire_copy(body, seed=5), partition=0)
    same_dir = stack.decision("copy-4a")
    assert same_dir["duplicate_of"] == "orig-4"
    assert same_dir["method"] == "near"
