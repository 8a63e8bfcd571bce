"""Bad input on every way in ends as a dead letter with a reason, and the worker keeps running.

One ``akhbar worker`` serves the whole module. Producer-side cases run ``akhbar produce`` as a
subprocess; raw-topic cases write straight to the raw topic with aiokafka, as a buggy or hostile
producer would. The cases already covered elsewhere are not repeated here: a non-UTF-8 file and
malformed JSON on the raw topic (test_pipeline.py), a binary file and the in-process watch symlink
(test_producer.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
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
    run_akhbar,
    start_akhbar,
    wait_for_records,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

# Small, so that an over-long file needs no megabytes; the seed articles (under 10 KB) still fit.
MAX_ARTICLE_BYTES = 16_384
HEADLINE = "انطلاق الجولة الثانية عشرة من محادثات أستانا حول سوريا"
BODY = (
    "انطلقت في العاصمة الكازاخية نور سلطان، أمس، الجولة الثانية عشرة من المحادثات حول سوريا "
    "بمشاركة وفود الدول الضامنة، وبحث المشاركون تشكيل اللجنة الدستورية وملف المعتقلين.\n"
)
ENGLISH = (
    "Talks resume in the Kazakh capital\n"
    "The twelfth round of talks on Syria opened yesterday in the Kazakh capital, with the "
    "delegations of the guarantor states discussing the constitutional committee and detainees.\n"
)
# A raw event just under the 1 MB default message limit: the body alone is about 900 KB.
HUGE_BODY_BYTES = 900_000


class Stack:
    """The module's topics, its worker environment and a scratch folder."""

    def __init__(self, bootstrap: str, tmp: Path) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.bootstrap = bootstrap
        self.tmp = tmp
        self.raw = f"bad{suffix}.raw"
        self.enriched = f"bad{suffix}.enriched"
        self.dlq = f"bad{suffix}.dlq"
        self.env = akhbar_env(
            bootstrap,
            app_id=f"akhbar-bad-{suffix}",
            topic_raw=self.raw,
            topic_enriched=self.enriched,
            topic_dlq=self.dlq,
            topic_duplicates=f"bad{suffix}.duplicates",
            topic_staged=f"bad{suffix}.staged",
            data_dir=tmp / "state",
            web_port=free_port(),
            producer_metrics_port=free_port(),
            max_article_bytes=MAX_ARTICLE_BYTES,
            watch_interval_seconds=0.05,
            settle_seconds=0.1,
        )
        self.worker: AkhbarProcess | None = None

    def produce(self, *paths: Path) -> Any:
        return run_akhbar(["produce", *map(str, paths)], self.env)

    def send_raw(self, value: bytes, key: bytes | None = None, partition: int = 0) -> None:
        asyncio.run(send_raw(self.bootstrap, self.raw, value, key, partition))

    def dead_letter(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        """The one dead letter that ``match`` picks out (waits up to ``timeout`` for it)."""
        found = wait_for_records(
            self.bootstrap, self.dlq, lambda evs: any(map(match, evs)), timeout=timeout
        )
        (letter,) = [e for e in found if match(e)]
        return letter

    def enriched_ids(self, want: set[str]) -> set[str]:
        found = wait_for_records(
            self.bootstrap, self.enriched, lambda evs: want <= {e["id"] for e in evs}, timeout=45
        )
        return {e["id"] for e in found}

    def crashes(self) -> int:
        """How many times a Faust agent has crashed so far, from the worker's log."""
        assert self.worker is not None
        return self.worker.log.read_text(errors="replace").count("Crashed reason=")

    def wait_until_handled(self, payload: bytes, crashes_before: int, timeout: float = 30) -> None:
        """Wait for a dead letter of ``payload`` or for a new agent crash in the worker's log."""
        digest = sha256(payload)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.crashes() > crashes_before:
                return
            letters = [orjson.loads(v) for v in asyncio.run(read_all(self.bootstrap, self.dlq))]
            if any(e["original_sha256"] == digest for e in letters):
                return
            time.sleep(0.3)
        raise AssertionError(f"the worker did nothing visible with {payload[:80]!r}")

    def worker_alive(self) -> bool:
        return self.worker is not None and self.worker.process.poll() is None


async def send_raw(
    bootstrap: str, topic: str, value: bytes, key: bytes | None, partition: int
) -> None:
    # A producer that accepts records up to 2 MB, so the broker and the worker see the big one.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2_000_000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, partition=partition)
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def stack(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Topics and one running worker for the module; its log is printed at the end."""
    stack = Stack(broker, tmp_path_factory.mktemp("bad-input"))
    created = run_akhbar(["topics"], stack.env)
    assert created.returncode == 0, created.stderr
    stack.worker = start_akhbar(["worker"], stack.env, stack.tmp / "worker.log")
    yield stack
    code = stack.worker.stop()
    print(stack.worker.log.read_text(errors="replace")[-4000:])
    assert code == 0, f"worker exited with {code}"


def good_event(article_id: str) -> dict[str, Any]:
    return events.raw_event(article_id, HEADLINE, BODY * 2, "bad-input", time.time())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def original_of(letter: dict[str, Any]) -> bytes:
    """The payload a dead letter keeps, after checking it against the size and hash it claims."""
    events.validate(letter)
    original = base64.b64decode(letter["original"], validate=True)
    if not letter["original_truncated"]:
        assert len(original) == letter["original_size"]
        assert hashlib.sha256(original).hexdigest() == letter["original_sha256"]
    return original


# --- at the producer -------------------------------------------------------------------------


def rejected_by_producer(stack: Stack, path: Path, reason: str) -> dict[str, Any]:
    """Run ``akhbar produce PATH``; check exit 1 and the stderr line; return the dead letter."""
    result = stack.produce(path)
    assert result.returncode == 1, result.stderr
    assert f"akhbar: rejected {path}: {reason} (" in result.stderr
    letter = stack.dead_letter(lambda e: e["source"] == str(path))
    assert (letter["stage"], letter["reason"]) == ("producer", reason)
    return letter


@pytest.mark.parametrize(
    ("name", "content"),
    [("empty.txt", b""), ("blank.txt", b" \n\t\r\n   \n")],
    ids=["empty", "whitespace-only"],
)
def test_empty_file_is_dead_lettered_by_the_producer(
    stack: Stack, name: str, content: bytes
) -> None:
    """An empty or whitespace-only file: exit 1, one stderr line, dead letter ``empty``."""
    path = stack.tmp / name
    path.write_bytes(content)
    letter = rejected_by_producer(stack, path, "empty")
    assert original_of(letter) == content
    assert letter["original_truncated"] is False


def test_file_over_the_size_limit_is_dead_lettered_with_a_prefix(stack: Stack) -> None:
    """Over AKHBAR_MAX_ARTICLE_BYTES: ``too_large``, the real size, and only a prefix kept."""
    path = stack.tmp / "long.txt"
    data = f"{HEADLINE}\n{BODY * 300}".encode()
    assert len(data) > 4 * MAX_ARTICLE_BYTES
    path.write_bytes(data)
    letter = rejected_by_producer(stack, path, "too_large")
    original = original_of(letter)
    assert letter["original_truncated"] is True
    assert letter["original_size"] == len(data)
    assert letter["original_sha256"] == hashlib.sha256(original).hexdigest()  # of what is kept
    assert data.startswith(original) and MAX_ARTICLE_BYTES < len(original) < len(data)


def test_non_arabic_file_is_sent_and_dead_lettered_by_the_normalise_stage(stack: Stack) -> None:
    """The producer sends any UTF-8 article; the worker's language gate refuses English."""
    path = stack.tmp / "english.txt"
    path.write_text(ENGLISH, encoding="utf-8")
    result = stack.produce(path)
    assert result.returncode == 0, result.stderr  # not the producer's call to make
    letter = stack.dead_letter(lambda e: e["reason"] == "not_arabic")
    assert letter["stage"] == "normalize"
    raw = orjson.loads(original_of(letter))
    events.validate(raw)  # the original is the raw event the producer sent, intact
    assert raw["id"] == letter["id"]
    assert raw["body"] in ENGLISH
    assert letter["source"].startswith(f"{stack.raw}/")  # topic/partition/offset


def test_watch_refuses_a_symlink_leading_outside_the_folder(stack: Stack) -> None:
    """``akhbar produce --watch DIR``: a link out of DIR is refused, its target never read."""
    inbox = stack.tmp / "inbox"
    inbox.mkdir()
    secret = stack.tmp / "private" / "credentials.txt"
    secret.parent.mkdir()
    secret_text = f"{HEADLINE}\nسر-لا-يغادر-الجهاز {uuid.uuid4().hex}\n"
    secret.write_text(secret_text, encoding="utf-8")
    link = inbox / "leak.txt"
    link.symlink_to(secret)
    watcher = start_akhbar(["produce", "--watch", str(inbox)], stack.env, stack.tmp / "watch.log")
    try:
        letter = stack.dead_letter(lambda e: e["source"] == str(link))
    finally:
        code = watcher.stop()
    log = watcher.log.read_text(errors="replace")
    assert code == 0, log
    assert (letter["stage"], letter["reason"]) == ("producer", "symlink_outside")
    assert original_of(letter) == str(secret).encode()  # the target's name, not its content
    assert f"akhbar: rejected {link}: symlink_outside" in log
    # The secret's text is on no topic the module uses.
    marker = secret_text.split()[-1].encode()
    for topic in (stack.raw, stack.dlq, stack.enriched):
        records = asyncio.run(read_all(stack.bootstrap, topic))
        assert not any(marker in r for r in records), topic


async def read_all(bootstrap: str, topic: str) -> list[bytes]:
    from tests.integration.kafka_helpers import read_topic

    return [r.value for r in await read_topic(bootstrap, topic)]


# --- on the raw topic ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_cases(stack: Stack) -> dict[str, bytes]:
    """Bad payloads written straight to partition 0 of the raw topic, one at a time.

    Each is sent only once the worker has dealt with the one before (a dead letter for it, or
    a crash in the worker's log), so that one case's failure cannot hide another's.
    """
    schema_violation = good_event("bad-schema-1")
    del schema_violation["body"]
    schema_violation["id"] = "has spaces, not an id"
    future_version = {**good_event("bad-version-1"), "schema": "akhbar.raw-article/v2"}
    # RFC 3339 (and the schema's date-time format) allows a leap second; Python's datetime not.
    leap_second = {**good_event("leap-second-1"), "ingested_at": "2016-12-31T23:59:60Z"}
    huge = good_event("huge-1")
    huge["body"] = BODY * (HUGE_BODY_BYTES // len(BODY.encode()))
    huge["content_hash"] = events.content_hash(huge["title"], huge["body"])
    cases = {
        "schema_violation": orjson.dumps(schema_violation),
        "unknown_schema_version": orjson.dumps(future_version),
        "leap_second": orjson.dumps(leap_second),
        "huge": orjson.dumps(huge),
    }
    assert 850_000 < len(cases["huge"]) < 1_000_000
    for value in cases.values():
        crashes = stack.crashes()
        stack.send_raw(value)
        stack.wait_until_handled(value, crashes)
    return cases


def test_valid_json_that_violates_the_schema_is_dead_lettered(
    stack: Stack, raw_cases: dict[str, bytes]
) -> None:
    payload = raw_cases["schema_violation"]
    letter = stack.dead_letter(lambda e: e["original_sha256"] == sha256(payload))
    assert (letter["stage"], letter["reason"]) == ("decode", "schema_violation")
    assert letter["detail"]
    assert original_of(letter) == payload


def test_unknown_schema_version_is_dead_lettered(stack: Stack, raw_cases: dict[str, bytes]) -> None:
    letter = stack.dead_letter(lambda e: e["reason"] == "unknown_schema_version")
    assert letter["stage"] == "decode"
    assert "akhbar.raw-article/v2" in letter["detail"]
    assert original_of(letter) == raw_cases["unknown_schema_version"]


def test_schema_valid_timestamp_python_cannot_parse_is_dead_lettered(
    stack: Stack, raw_cases: dict[str, bytes]
) -> None:
    letter = stack.dead_letter(
        lambda e: e["original_sha256"] == sha256(raw_cases["leap_second"]), 3
    )
    assert (letter["stage"], letter["reason"]) == ("decode", "schema_violation")
    assert original_of(letter) == raw_cases["leap_second"]


def test_huge_raw_event_is_dead_lettered_under_the_message_limit(
    stack: Stack, raw_cases: dict[str, bytes]
) -> None:
    """A ~900 KB event is far over what the producer would send (AKHBAR_MAX_ARTICLE_BYTES).

    Its enriched form (text, match text, entities) would not fit Kafka's default 1 MB message,
    so the right outcome is a dead letter with a reason whose kept original is cut to
    DEAD_LETTER_ORIGINAL_LIMIT, keeping the dead letter itself under 1 MB.
    """
    payload = raw_cases["huge"]
    letter = stack.dead_letter(lambda e: e["original_sha256"] == sha256(payload), 3)
    assert (letter["stage"], letter["reason"]) == ("decode", "too_large")
    assert letter["original_size"] == len(payload)
    assert letter["original_truncated"] is True
    assert payload.startswith(original_of(letter))
    assert len(events.dumps(letter)) < 1_000_000


def test_worker_keeps_running_and_enriches_good_articles_after_bad_input(
    stack: Stack, raw_cases: dict[str, bytes]
) -> None:
    """After every bad payload above, good articles on every partition still come out enriched.

    The bad payloads all went to partition 0, so the good article there comes after them in the
    partition's order: the worker did not stall on them.
    """
    suffix = uuid.uuid4().hex[:8]
    ids = {f"good-after-bad-{partition}-{suffix}": partition for partition in range(4)}
    for article_id, partition in ids.items():
        stack.send_raw(orjson.dumps(good_event(article_id)), article_id.encode(), partition)
    assert set(ids) <= stack.enriched_ids(set(ids))
    assert stack.worker_alive()


def test_seed_file_is_enriched_through_the_producer(stack: Stack, seed_paths: list[Path]) -> None:
    """The producer path still works end to end after the bad files."""
    folder = stack.tmp / "seeds"
    folder.mkdir()
    copy = folder / "seed.txt"
    shutil.copyfile(seed_paths[0], copy)
    result = stack.produce(copy)
    assert result.returncode == 0, result.stderr
    from akhbar.producer.documents import article_id

    expected = article_id("seeds", "seed.txt")
    assert expected in stack.enriched_ids({expected})
    assert stack.worker_alive()
