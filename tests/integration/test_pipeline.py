"""End to end on the embedded broker: files -> producer -> Faust worker -> enriched topic."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from akhbar.common.broker import free_port
from akhbar.common.events import validate
from tests.integration.kafka_helpers import (
    akhbar_env,
    metric_value,
    run_akhbar,
    scrape,
    start_akhbar,
    wait_for_records,
)

pytestmark = pytest.mark.integration


class Stack:
    """Topic names, environment and metrics URL of one worker under test."""

    def __init__(self, bootstrap: str, tmp: Path) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.bootstrap = bootstrap
        self.raw = f"t{suffix}.raw"
        self.enriched = f"t{suffix}.enriched"
        self.dlq = f"t{suffix}.dlq"
        self.web_port = free_port()
        self.env = akhbar_env(
            bootstrap,
            app_id=f"akhbar-test-{suffix}",
            topic_raw=self.raw,
            topic_enriched=self.enriched,
            topic_dlq=self.dlq,
            topic_duplicates=f"t{suffix}.duplicates",
            topic_staged=f"t{suffix}.staged",
            data_dir=tmp / "state",
            web_port=self.web_port,
        )
        self.tmp = tmp

    def produce(self, *paths: Path) -> Any:
        return run_akhbar(["produce", *map(str, paths)], self.env)

    def enriched_events(self, predicate: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
        return wait_for_records(self.bootstrap, self.enriched, predicate, timeout)

    def dead_letters(self, predicate: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
        return wait_for_records(self.bootstrap, self.dlq, predicate, timeout)


@pytest.fixture(scope="module", params=["1", "0"], ids=["stage-process", "in-loop"])
def stack(
    request: pytest.FixtureRequest,
    broker: str,
    tmp_path_factory: pytest.TempPathFactory,
    seed_paths: list[Path],
) -> Iterator[Stack]:
    """Topics, one running ``akhbar worker`` for this module's tests, and the seeds produced;
    once with the default stage process and once with the stages in the event loop."""
    tmp = tmp_path_factory.mktemp("pipeline")
    stack = Stack(broker, tmp)
    stack.env["AKHBAR_STAGE_PROCESSES"] = request.param
    created = run_akhbar(["topics"], stack.env)
    assert created.returncode == 0, created.stderr
    worker = start_akhbar(["worker"], stack.env, tmp / "worker.log")
    produced = stack.produce(*seed_paths)
    assert produced.returncode == 0, produced.stderr
    yield stack
    code = worker.stop()
    print(worker.log.read_text(errors="replace")[-3000:])
    assert code == 0, f"worker exited with {code}"


def by_id(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        grouped.setdefault(event["id"], []).append(event)
    return grouped


def test_seed_files_come_out_enriched(stack: Stack) -> None:
    """Five seed files in -> five schema-valid enriched events, boilerplate gone, people tagged."""
    events = stack.enriched_events(lambda evs: len(by_id(evs)) >= 5)
    assert len(by_id(events)) == 5
    for event in events:
        validate(event)
        assert "اترك تعليقاً" not in event["text"]
        assert "زر الذهاب إلى الأعلى" not in event["text"]
        assert "telegram.me" not in event["text"]
        for entity in event["entities"]:
            for mention in entity["mentions"]:
                assert event["text"][mention["start"] : mention["end"]] == mention["text"]
    assert all(e["dedup"]["status"] == "unique" for e in events), [e["dedup"] for e in events]
    people = {e["name"] for ev in events for e in ev["entities"] if e["type"] == "PER"}
    assert len(people) >= 5, people


def test_same_file_twice_is_a_replay(stack: Stack, seed_paths: list[Path]) -> None:
    """Re-sending a file publishes the same id again with the same dedup decision."""
    seed = seed_paths[1]
    first = stack.enriched_events(lambda evs: len(by_id(evs)) >= 5)
    seed_ids = {e["id"] for e in first}
    result = stack.produce(seed)
    assert result.returncode == 0, result.stderr
    events = stack.enriched_events(lambda evs: max(len(v) for v in by_id(evs).values()) >= 2)
    replayed = [v for v in by_id(events).values() if len(v) >= 2]
    assert len(replayed) == 1
    assert replayed[0][0]["id"] in seed_ids
    assert {orjson_dedup(e) for e in replayed[0]} == {orjson_dedup(replayed[0][0])}
    assert replayed[0][-1]["dedup"]["duplicate_of"] != replayed[0][-1]["id"]


def orjson_dedup(event: dict[str, Any]) -> tuple[Any, ...]:
    dedup = event["dedup"]
    return (dedup["status"], dedup["duplicate_of"], dedup["method"])


def test_copy_under_another_name_is_a_duplicate(stack: Stack, seed_paths: list[Path]) -> None:
    """The same text in a different file gets its own id and points at the first one seen."""
    events = stack.enriched_events(lambda evs: len(by_id(evs)) >= 5)
    original = next(e for e in events if e["title"].startswith("لافروف: لتشكيل"))
    copy_dir = stack.tmp / "copies"
    copy_dir.mkdir()
    copy = copy_dir / "republished.txt"
    shutil.copyfile(seed_paths[2], copy)
    result = stack.produce(copy)
    assert result.returncode == 0, result.stderr
    events = stack.enriched_events(
        lambda evs: any(e["dedup"]["status"] == "duplicate" for e in evs)
    )
    duplicates = [e for e in events if e["dedup"]["status"] == "duplicate"]
    assert len(duplicates) == 1
    assert duplicates[0]["id"] != original["id"]
    assert duplicates[0]["dedup"]["duplicate_of"] == original["id"]
    assert duplicates[0]["dedup"]["method"] == "exact"


def test_bad_file_goes_to_the_dead_letter_topic(stack: Stack) -> None:
    """A non-UTF-8 file: one stderr line, exit code 1, and a dead letter with the original bytes."""
    bad = stack.tmp / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00broken \x80\x81 headline\nbody")
    result = stack.produce(bad)
    assert result.returncode == 1
    assert "bad.txt" in result.stderr and "not_utf8" in result.stderr
    letters = stack.dead_letters(lambda evs: any(e["reason"] == "not_utf8" for e in evs))
    letter = next(e for e in letters if e["reason"] == "not_utf8")
    validate(letter)
    assert letter["stage"] == "producer"
    import base64

    assert base64.b64decode(letter["original"]) == bad.read_bytes()


def test_malformed_raw_event_goes_to_the_dead_letter_topic(stack: Stack) -> None:
    """Garbage on the raw topic reaches the DLQ from the worker, which keeps running."""
    import asyncio

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(stack.raw, b"{not json", key=b"garbage")
        finally:
            await producer.stop()

    asyncio.run(send())
    letters = stack.dead_letters(lambda evs: any(e["reason"] == "malformed_json" for e in evs))
    letter = next(e for e in letters if e["reason"] == "malformed_json")
    validate(letter)
    assert letter["stage"] == "decode"


def test_metrics_endpoint_counts_the_articles(stack: Stack) -> None:
    """GET /metrics on the worker: akhbar_* counters moved, and Faust's own sensors are there."""
    stack.enriched_events(lambda evs: len(by_id(evs)) >= 5)
    text = scrape(f"http://127.0.0.1:{stack.web_port}/metrics")
    assert metric_value(text, "akhbar_articles_total", {"stage": "consume"}) >= 5
    assert metric_value(text, "akhbar_articles_total", {"stage": "publish"}) >= 5
    assert metric_value(text, "akhbar_entities_total", {"type": "PER"}) >= 5
    assert metric_value(text, "akhbar_end_to_end_seconds_count") >= 5
    assert "faust_messages_received" in text
