"""Agent tests with Faust's test_context(): routing to the staged, enriched and DLQ topics."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from akhbar.common import events
from akhbar.common.settings import Settings
from akhbar.pipeline.agents import guarded, handle_staged
from akhbar.pipeline.app import Pipeline, build_app
from akhbar.pipeline.chain import Chain
from akhbar.pipeline.records import decode_staged, encode_staged
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
