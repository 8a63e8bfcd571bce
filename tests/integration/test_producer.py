"""Integration tests of the producer on the embedded broker: batch, dead letters, watch mode."""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition

from akhbar.common.broker import free_port
from akhbar.common.events import validate
from akhbar.common.settings import Settings
from akhbar.common.topics import ensure_topics
from akhbar.producer.documents import article_id
from akhbar.producer.run import produce, watch_async

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

HEADLINE = "انطلاق الجولة الثانية عشرة من محادثات أستانا"
BODY = "انطلقت في العاصمة الكازاخية نور سلطان، أمس، الجولة الثانية عشرة من المحادثات.\n"
WAIT_SECONDS = 15.0
# After the records we wait for, this long without a new one means there are no more.
QUIET_SECONDS = 0.5


def topic_settings(broker: str, **overrides: Any) -> Settings:
    """Settings with topics of their own, so tests sharing the session broker never interfere."""
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        bootstrap_servers=broker,
        topic_raw=f"test.raw.{suffix}",
        topic_dlq=f"test.dlq.{suffix}",
        topic_enriched=f"test.enriched.{suffix}",
        topic_duplicates=f"test.duplicates.{suffix}",
        topic_staged=f"test.staged.{suffix}",
        partitions=2,
        **overrides,
    )
    asyncio.run(ensure_topics(settings))
    return settings


async def read_topic(settings: Settings, topic: str, at_least: int = 0) -> list[ConsumerRecord]:
    """Every record on ``topic``: at least ``at_least``, then until nothing new came for a while.

    Reading to a quiet spell, not to the end offsets: Tansu reports the end offset of a partition
    as one past the first record of its last batch, so it undercounts batched sends.
    """
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_options(), group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord] = []
        deadline = last_new = time.monotonic()
        deadline += WAIT_SECONDS
        while len(records) < at_least or time.monotonic() - last_new < QUIET_SECONDS:
            assert time.monotonic() < deadline, f"{topic} held {len(records)} of {at_least} records"
            batches = await consumer.getmany(timeout_ms=100)
            if batches:
                records.extend(record for batch in batches.values() for record in batch)
                last_new = time.monotonic()
        return records
    finally:
        await consumer.stop()


def records(settings: Settings, topic: str, at_least: int = 0) -> list[ConsumerRecord]:
    return asyncio.run(read_topic(settings, topic, at_least))


def write_article(path: Path, title: str = HEADLINE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{title}\n{BODY}", encoding="utf-8")


def test_batch_produce_of_the_seeds_lands_one_message_per_seed_keyed_by_id(
    broker: str, seed_paths: list[Path]
) -> None:
    settings = topic_settings(broker)
    assert produce(settings, seed_paths, source="seeds", progress=False) == 0
    sent = records(settings, settings.topic_raw, at_least=5)
    events = [orjson.loads(r.value) for r in sent]
    for event in events:
        validate(event)
    assert sorted(r.key for r in sent) == sorted(
        article_id("seeds", p.name).encode() for p in seed_paths
    )
    assert [r.key.decode() for r in sent] == [e["id"] for e in events]


def test_resending_a_file_replays_the_same_id(broker: str, tmp_path: Path) -> None:
    settings = topic_settings(broker)
    write_article(tmp_path / "wire" / "a.txt")
    write_article(tmp_path / "wire" / "b.txt")  # same text, another file: another id
    assert produce(settings, [tmp_path / "wire"], source=None, progress=False) == 0
    assert produce(settings, [tmp_path / "wire" / "a.txt"], source=None, progress=False) == 0
    keys = Counter(r.key for r in records(settings, settings.topic_raw, at_least=3))
    assert keys == {
        article_id("wire", "a.txt").encode(): 2,
        article_id("wire", "b.txt").encode(): 1,
    }


def test_bad_file_goes_to_the_dead_letter_topic_and_exits_1(
    broker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = topic_settings(broker)
    write_article(tmp_path / "in" / "good.txt")
    (tmp_path / "in" / "bad.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    assert produce(settings, [tmp_path / "in"], source="wire", progress=False) == 1
    (letter,) = [orjson.loads(r.value) for r in records(settings, settings.topic_dlq, 1)]
    validate(letter)
    assert (letter["stage"], letter["reason"]) == ("producer", "binary")
    assert letter["source"] == str(tmp_path / "in" / "bad.txt")
    assert base64.b64decode(letter["original"]) == b"\x7fELF\x02\x01\x01\x00\x00\x00"
    assert len(records(settings, settings.topic_raw, 1)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"akhbar: rejected {tmp_path / 'in' / 'bad.txt'}: binary (NUL byte at offset 7)"]


def test_missing_path_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    assert produce(settings, [tmp_path / "nope"], source=None, progress=False) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_unreachable_broker_exits_3_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_article(tmp_path / "a.txt")
    settings = Settings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    assert produce(settings, [tmp_path / "a.txt"], source=None, progress=False) == 3
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("akhbar: cannot reach the broker at 127.0.0.1:")


class Watching:
    """``watch_async`` running in a background event loop task, stopped on exit."""

    def __init__(self, settings: Settings, folder: Path, ledger: Path, **kw: Any) -> None:
        self.args = (settings, folder)
        self.kw = {"source": None, "ledger_path": ledger, **kw}

    async def __aenter__(self) -> Watching:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(watch_async(*self.args, stop=self.stop, **self.kw))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.exit_code = await asyncio.wait_for(self.task, WAIT_SECONDS)


def test_watch_sends_every_file_exactly_once_across_a_restart(broker: str, tmp_path: Path) -> None:
    port = free_port()
    settings = topic_settings(
        broker, watch_interval_seconds=0.05, settle_seconds=0.4, producer_metrics_port=port
    )
    folder, ledger = tmp_path / "inbox", tmp_path / "state" / "ledger.sqlite"
    folder.mkdir()
    write_article(folder / "early.txt")  # there before the watcher starts

    async def first_run() -> str:
        async with Watching(settings, folder, ledger) as watching:
            slow = folder / "2024" / "slow.txt"
            slow.parent.mkdir()
            with slow.open("w", encoding="utf-8") as handle:
                handle.write(f"{HEADLINE}\n")  # a headline alone would be rejected as no_body
                handle.flush()
                await asyncio.sleep(0.2)  # under settle_seconds: not yet complete
                handle.write(BODY)
            write_article(folder / "renamed.txt.part")
            await asyncio.sleep(0.6)  # a .part file is ignored however long it sits
            (folder / "renamed.txt.part").rename(folder / "renamed.txt")
            await read_topic(settings, settings.topic_raw, at_least=3)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
                metrics = response.read().decode()
        assert watching.exit_code == 0
        return metrics

    metrics = asyncio.run(first_run())
    assert 'akhbar_producer_files_total{outcome="sent"}' in metrics

    async def second_run() -> None:
        async with Watching(settings, folder, ledger) as watching:
            write_article(folder / "late.txt")
            await read_topic(settings, settings.topic_raw, at_least=4)
            await asyncio.sleep(1.0)  # room for a wrongful re-send of the first run's files
        assert watching.exit_code == 0

    asyncio.run(second_run())
    sent = records(settings, settings.topic_raw, at_least=4)
    expected = {
        article_id("inbox", "early.txt"),
        article_id("2024", "2024/slow.txt"),
        article_id("inbox", "renamed.txt"),
        article_id("inbox", "late.txt"),
    }
    assert Counter(r.key.decode() for r in sent) == dict.fromkeys(expected, 1)
    bodies = {orjson.loads(r.value)["id"]: orjson.loads(r.value)["body"] for r in sent}
    assert bodies[article_id("2024", "2024/slow.txt")] == BODY.strip()
    assert records(settings, settings.topic_dlq) == []


def test_watch_refuses_a_symlink_leading_outside(
    broker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = topic_settings(broker, watch_interval_seconds=0.05, settle_seconds=0.1)
    folder, outside = tmp_path / "inbox", tmp_path / "private" / "secret.txt"
    write_article(outside, title="سري")
    write_article(folder / "inside.txt")
    (folder / "leak.txt").symlink_to(outside)
    (folder / "alias.txt").symlink_to(folder / "inside.txt")  # inside: the same file, sent once

    async def run() -> list[ConsumerRecord]:
        async with Watching(settings, folder, tmp_path / "ledger.sqlite", serve_metrics=False):
            return await read_topic(settings, settings.topic_dlq, at_least=1)

    (letter,) = [orjson.loads(r.value) for r in asyncio.run(run())]
    assert (letter["reason"], letter["source"]) == ("symlink_outside", str(folder / "leak.txt"))
    assert base64.b64decode(letter["original"]) == str(outside).encode()  # the target's name only
    assert [r.key for r in records(settings, settings.topic_raw, 1)] == [
        article_id("inbox", "inside.txt").encode()
    ]
    assert f"akhbar: rejected {folder / 'leak.txt'}: symlink_outside" in capsys.readouterr().err
