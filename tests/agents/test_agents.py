"""Agent tests with Faust's test_context(): routing to the staged, enriched and DLQ topics."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from akhbar.common import events
from akhbar.common.settings import Settings
from akhbar.pipeline.agents import (
    HeadFeed,
    StagedBundler,
    guarded,
    handle_bundle,
    handle_staged,
    send_bundle,
)
from akhbar.pipeline.app import Pipeline, build_app
from akhbar.pipeline.chain import Chain
from akhbar.pipeline.head import InProcessHead, Outcome
from akhbar.pipeline.records import decode_staged, encode_bundle, encode_staged, split_bundle
from akhbar.pipeline.stages.article import Article, DedupResult
from akhbar.pipeline.stages.errors import RejectedArticle


class RecordingTopic:
    """Stands in for one outbound topic: remembers what the agent sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []

    async def send(self, *, key: bytes | None, value: bytes) -> None:
        self.sent.append((key, value))

    def values(self) -> list[dict[str, Any]]:
        return [orjson.loads(v) for _, v in self.sent]


def normalize(article: Article) -> Article:
    if "English" in article.body:
        raise RejectedArticle("not_arabic", "mostly Latin letters")
    article.text = article.body
    article.match_text = article.body
    article.language = "ar"
    return article


def dedup(article: Article) -> Article:
    article.dedup = (
        DedupResult("duplicate", "first", 1.0, "exact")
        if article.id == "copy"
        else DedupResult("unique")
    )
    return article


@pytest.fixture()
def pipeline(tmp_path: Any) -> Pipeline:
    settings = Settings(store="memory://", data_dir=tmp_path, app_id=f"agents-{time.time_ns()}")
    chain = Chain([("normalize", normalize), ("dedup", dedup)], frozenset({"dedup"}))
    pipeline = build_app(settings, chain=chain)
    pipeline.staged = RecordingTopic()
    pipeline.enriched = RecordingTopic()
    pipeline.duplicates = RecordingTopic()
    pipeline.dlq = RecordingTopic()
    return pipeline


def raw(article_id: str, body: str) -> bytes:
    return events.dumps(events.raw_event(article_id, "عنوان", body, "test", time.time()))


def agent(pipeline: Pipeline, name: str) -> Any:
    return next(a for a in pipeline.app.agents.values() if a.name.endswith(name))


async def test_head_agent_forwards_a_normalised_article_to_the_staged_topic(
    pipeline: Pipeline,
) -> None:
    async with agent(pipeline, "enrich-head").test_context() as head:
        await head.put(raw("a1", "نص المقال"))
    assert len(pipeline.staged.sent) == 1
    key, value = pipeline.staged.sent[0]
    record = decode_staged(value)
    assert key == b"a1" and record.article.match_text == "نص المقال"
    assert orjson.loads(record.enriched_value(time.time()))["text"] == "نص المقال"
    assert pipeline.dlq.sent == []


async def test_head_agent_sends_malformed_json_to_the_dlq(pipeline: Pipeline) -> None:
    async with agent(pipeline, "enrich-head").test_context() as head:
        await head.put(b"{oops")
    [letter] = pipeline.dlq.values()
    events.validate(letter)
    assert (letter["stage"], letter["reason"]) == ("decode", "malformed_json")
    assert pipeline.staged.sent == []


async def test_head_agent_sends_a_rejected_article_to_the_dlq_with_its_stage(
    pipeline: Pipeline,
) -> None:
    async with agent(pipeline, "enrich-head").test_context() as head:
        await head.put(raw("en1", "English text only"))
    [letter] = pipeline.dlq.values()
    assert (letter["stage"], letter["reason"], letter["id"]) == ("normalize", "not_arabic", "en1")


async def test_dedup_agent_publishes_a_schema_valid_enriched_event(pipeline: Pipeline) -> None:
    article = Article(id="a2", title="عنوان", body="نص", text="نص", ingested_at=time.time())
    async with agent(pipeline, "dedup").test_context() as tail:
        await tail.put(encode_staged(article, time.time()))
    [event] = pipeline.enriched.values()
    events.validate(event)
    assert event["id"] == "a2" and event["dedup"]["status"] == "unique"


async def test_duplicates_go_to_their_own_topic_when_configured(tmp_path: Any) -> None:
    settings = Settings(
        store="memory://",
        data_dir=tmp_path,
        duplicates_policy="topic",
        app_id=f"agents-{time.time_ns()}",
    )
    chain = Chain([("dedup", dedup)], frozenset({"dedup"}))
    pipeline = build_app(settings, chain=chain)
    pipeline.enriched, pipeline.duplicates = RecordingTopic(), RecordingTopic()
    copy = Article(id="copy", title="t", body="b", text="b", ingested_at=time.time())
    async with agent(pipeline, "dedup").test_context() as tail:
        await tail.put(encode_staged(copy, time.time()))
    assert pipeline.enriched.sent == []
    [event] = pipeline.duplicates.values()
    assert event["dedup"]["duplicate_of"] == "first"


class FailingTopic(RecordingTopic):
    """An outbound topic whose producer refuses the send with ``cause``, as Faust wraps it."""

    def __init__(self, cause: Exception) -> None:
        super().__init__()
        self.cause = cause

    async def send(self, *, key: bytes | None, value: bytes) -> None:
        raise ProducerSendError(f"Error while sending: {self.cause!r}") from self.cause


async def test_an_output_too_large_for_the_producer_is_a_too_large_dead_letter(
    pipeline: Pipeline,
) -> None:
    pipeline.enriched = FailingTopic(MessageSizeTooLargeError("The message is 2000000 bytes"))
    article = Article(id="big", title="عنوان", body="نص", text="نص", ingested_at=time.time())
    async with agent(pipeline, "dedup").test_context() as tail:
        await tail.put(encode_staged(article, time.time()), key=b"big")
    [letter] = pipeline.dlq.values()
    events.validate(letter)
    assert (letter["stage"], letter["reason"], letter["id"]) == ("dedup", "too_large", "big")
    assert pipeline.deliveries.failure is None


async def test_a_send_the_producer_gave_up_on_is_a_failed_delivery_not_a_dead_letter(
    pipeline: Pipeline,
) -> None:
    """A broker that does not answer is not the article's fault: no dead letter; the failure
    is recorded so nothing more is committed, and the error reaches the agent (which crashes)."""
    pipeline.enriched = FailingTopic(KafkaTimeoutError())
    message = SimpleNamespace(topic="staged", partition=0, offset=7, key=b"a3", value=b"{}")
    article = Article(id="a3", title="عنوان", body="نص", text="نص", ingested_at=time.time())
    handling = handle_staged(pipeline, encode_staged(article, time.time()), "staged/0/7")
    with pytest.raises(ProducerSendError):
        await guarded(pipeline, "dedup", message, handling)
    assert pipeline.dlq.sent == []
    assert "KafkaTimeoutError" in repr(pipeline.deliveries.failure)


async def test_the_head_sends_a_batch_of_staged_records_as_one_bundle(
    pipeline: Pipeline,
) -> None:
    async with agent(pipeline, "enrich-head").test_context() as head:
        for n in range(5):
            await head.put(raw(f"b{n}", f"نص المقال رقم {n}"), key=f"b{n}".encode())
    sent = pipeline.staged.sent
    records = [record for _, value in sent for record in split_bundle(value)]
    assert [decode_staged(r).article.id for r in records] == [f"b{n}" for n in range(5)]
    assert len(sent) < 5, "a batch of staged records should share messages"
    assert all(key is None for key, value in sent if value[:1] == b"3")


def staged_message(value: bytes, offset: int = 7) -> SimpleNamespace:
    return SimpleNamespace(topic="staged", partition=0, offset=offset, key=None, value=value)


def fake_raw(n: int) -> SimpleNamespace:
    return SimpleNamespace(topic="raw", partition=0, offset=n, key=f"r{n}".encode(), value=b"raw")


def staged_record(article_id: str) -> bytes:
    """A staged record whose size depends only on the id (fixed times)."""
    article = Article(id=article_id, title="t", body="نص", text="نص", ingested_at=1.76e9)
    return encode_staged(article, 1.76e9 + 0.5)


async def test_the_bundler_sends_full_bundles_and_keeps_each_under_its_limit(
    pipeline: Pipeline,
) -> None:
    records = [staged_record(f"s{n}") for n in range(10)]
    bundler = StagedBundler(pipeline, limit=3 * len(records[0]))
    for n, record in enumerate(records):
        await bundler.add(record, f"s{n}".encode(), fake_raw(n))
    await bundler.flush()
    sizes = [len(split_bundle(value)) for _, value in pipeline.staged.sent]
    assert sizes == [3, 3, 3, 1]
    assert pipeline.staged.sent[-1][0] == b"s9", "a lone record keeps its article id as key"
    assert [r for _, v in pipeline.staged.sent for r in split_bundle(v)] == records


class SizeLimitedTopic(RecordingTopic):
    """A staged topic whose producer refuses messages over ``limit`` bytes as too large."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    async def send(self, *, key: bytes | None, value: bytes) -> None:
        if len(value) > self.limit:
            cause = MessageSizeTooLargeError(f"The message is {len(value)} bytes")
            raise ProducerSendError(f"Error while sending: {cause!r}") from cause
        await super().send(key=key, value=value)


async def test_a_bundle_too_large_for_the_broker_is_sent_in_smaller_parts(
    pipeline: Pipeline,
) -> None:
    records = [staged_record(f"s{n}") for n in range(8)] + [staged_record("huge" + "x" * 3000)]
    pipeline.staged = SizeLimitedTopic(limit=3 * len(records[0]))
    await send_bundle(pipeline, [(r, f"k{n}".encode(), fake_raw(n)) for n, r in enumerate(records)])
    sent = [r for _, v in pipeline.staged.sent for r in split_bundle(v)]
    assert sent == records[:8]
    assert all(len(v) <= pipeline.staged.limit for _, v in pipeline.staged.sent)
    [letter] = pipeline.dlq.values()
    assert (letter["stage"], letter["reason"], letter["id"]) == ("decode", "too_large", "r8")
    assert pipeline.deliveries.failure is None


async def test_a_bundle_the_producer_gave_up_on_fails_the_delivery(pipeline: Pipeline) -> None:
    pipeline.staged = FailingTopic(KafkaTimeoutError())
    records = [(staged_record(f"s{n}"), b"k", fake_raw(n)) for n in range(3)]
    with pytest.raises(ProducerSendError):
        await send_bundle(pipeline, records)
    assert pipeline.dlq.sent == []
    assert "KafkaTimeoutError" in repr(pipeline.deliveries.failure)


def dedup_or_fail(article: Article) -> Article:
    if article.id == "boom":
        raise RuntimeError("a bug in dedup")
    return dedup(article)


async def test_the_dedup_agent_handles_every_record_of_a_bundle_on_its_own(
    tmp_path: Any,
) -> None:
    """One record that fails is a dead letter of that record alone; the others are published."""
    settings = Settings(store="memory://", data_dir=tmp_path, app_id=f"agents-{time.time_ns()}")
    chain = Chain([("dedup", dedup_or_fail)], frozenset({"dedup"}))
    pipeline = build_app(settings, chain=chain)
    pipeline.enriched, pipeline.dlq = RecordingTopic(), RecordingTopic()
    records = [staged_record(i) for i in ("x1", "boom", "x2")]
    async with agent(pipeline, "dedup").test_context() as tail:
        await tail.put(encode_bundle(records))
    assert [e["id"] for e in pipeline.enriched.values()] == ["x1", "x2"]
    [letter] = pipeline.dlq.values()
    events.validate(letter)
    assert (letter["stage"], letter["reason"], letter["id"]) == ("dedup", "internal_error", "boom")
    assert letter["source"].endswith("#1")
    assert base64.b64decode(letter["original"]) == records[1]


async def test_a_corrupt_bundle_is_one_dead_letter_with_the_whole_message(
    pipeline: Pipeline,
) -> None:
    payload = b"3[5,5]\nabc"
    await guarded(
        pipeline, "dedup", staged_message(payload), handle_bundle(pipeline, staged_message(payload))
    )
    [letter] = pipeline.dlq.values()
    assert (letter["stage"], letter["reason"]) == ("dedup", "internal_error")
    assert base64.b64decode(letter["original"]) == payload
    assert pipeline.enriched.sent == []


class SessionDedup:
    """A dedup stage that records which articles it decided inside which session."""

    def __init__(self) -> None:
        self.sessions: list[list[str]] = []
        self.open: list[str] | None = None

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        self.open = []
        try:
            yield
        finally:
            self.sessions.append(self.open)
            self.open = None

    def __call__(self, article: Article) -> Article:
        assert self.open is not None, "decided outside a session"
        self.open.append(article.id)
        return dedup(article)


async def test_the_records_of_a_bundle_share_one_dedup_session(tmp_path: Any) -> None:
    settings = Settings(store="memory://", data_dir=tmp_path, app_id=f"agents-{time.time_ns()}")
    stage = SessionDedup()
    pipeline = build_app(settings, chain=Chain([("dedup", stage)], frozenset({"dedup"})))
    pipeline.enriched = RecordingTopic()
    async with agent(pipeline, "dedup").test_context() as tail:
        await tail.put(encode_bundle([staged_record(i) for i in ("x1", "x2", "x3")]))
        await tail.put(staged_record("x4"))
    assert stage.sessions == [["x1", "x2", "x3"], ["x4"]]
    assert [e["id"] for e in pipeline.enriched.values()] == ["x1", "x2", "x3", "x4"]


class GatedHead:
    """The in-loop head, but its outcomes wait for ``gate``: a slow stage process."""

    def __init__(self, chain: Chain) -> None:
        self.inner = InProcessHead(chain, 1 << 20)
        self.gate = asyncio.Event()
        self.started: list[int] = []

    def run(self, items: Sequence[tuple[bytes, float]]) -> AsyncIterator[list[Outcome]]:
        self.started.append(len(items))
        return self._outcomes(items)

    async def _outcomes(self, items: Sequence[tuple[bytes, float]]) -> AsyncIterator[list[Outcome]]:
        await self.gate.wait()
        async for chunk in self.inner.run(items):
            yield chunk


class AckingStream:
    """The agent's stream as HeadFeed uses it: records each ack with the ids sent by then."""

    def __init__(self, staged: RecordingTopic) -> None:
        self.staged = staged
        self.acked: list[tuple[int, set[str]]] = []

    async def ack(self, event: Any) -> bool:
        sent = {
            decode_staged(record).article.id
            for _, value in self.staged.sent
            for record in split_bundle(value)
        }
        self.acked.append((event.message.offset, sent))
        return True


def raw_events(offsets: range) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(
            value=raw(f"h{n}", f"نص المقال رقم {n}"),
            message=SimpleNamespace(
                topic="raw", partition=0, offset=n, key=f"h{n}".encode(), timestamp=time.time()
            ),
        )
        for n in offsets
    ]


async def test_the_head_reads_on_while_a_batch_is_worked_on_and_acks_only_what_it_sent(
    pipeline: Pipeline,
) -> None:
    head = GatedHead(pipeline.chain)
    pipeline.head = head
    stream = AckingStream(pipeline.staged)
    feed = HeadFeed(pipeline, stream)
    # Two batches handed over while the first is still being worked on: neither waits for it.
    await asyncio.wait_for(feed.put(raw_events(range(0, 3))), 5)
    await asyncio.wait_for(feed.put(raw_events(range(3, 6))), 5)
    assert head.started == [3, 3]
    assert stream.acked == [] and pipeline.staged.sent == []
    # A third waits: one batch is being worked on and one is queued (depth 1).
    third = asyncio.ensure_future(feed.put(raw_events(range(6, 8))))
    await asyncio.sleep(0.05)
    assert not third.done()
    head.gate.set()
    await asyncio.wait_for(third, 5)
    await feed.close(drain=True)
    assert [offset for offset, _ in stream.acked] == list(range(8))
    for offset, sent in stream.acked:
        assert f"h{offset}" in sent, f"event {offset} was acked before its record was sent"


async def test_a_head_batch_whose_send_failed_is_not_acked_and_fails_the_agent(
    pipeline: Pipeline,
) -> None:
    pipeline.staged = FailingTopic(KafkaTimeoutError())
    stream = AckingStream(pipeline.staged)
    feed = HeadFeed(pipeline, stream)
    await feed.put(raw_events(range(0, 2)))
    with pytest.raises(ProducerSendError):
        for _ in range(50):  # the failure reaches the agent at its next batch
            await asyncio.sleep(0.01)
            await feed.put(raw_events(range(2, 3)))
    assert stream.acked == []
    assert "KafkaTimeoutError" in repr(pipeline.deliveries.failure)
    await feed.close(drain=False)  # already raised: not again
