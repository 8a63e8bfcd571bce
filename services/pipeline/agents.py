"""The thin Faust agents: decode, run the chain, publish, and route every failure to the DLQ."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka.errors import MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from akhbar.common import events, metrics
from akhbar.pipeline.head import Outcome, Refused, Staged
from akhbar.pipeline.records import decode_staged, encode_bundle, split_bundle, staged_id
from akhbar.pipeline.stages.article import Article
from akhbar.pipeline.stages.errors import StageError
from akhbar.pipeline.top_entities import attach_top_entities, observe_published

if TYPE_CHECKING:
    from akhbar.pipeline.app import Pipeline

log = logging.getLogger(__name__)


def observe_stages(article: Article, names: tuple[str, ...]) -> None:
    """Record per-stage latency and outcome counters for the stages just run."""
    for name in names:
        if name in article.timings:
            metrics.STAGE_SECONDS.labels(name).observe(article.timings[name])
            metrics.ARTICLES.labels(name, "ok").inc()


def observe_staged(staged: Staged) -> None:
    """Count what the stateless stages did and found: stage latency, boilerplate, language
    outcome, entities and their links."""
    for name, seconds in staged.timings.items():
        metrics.STAGE_SECONDS.labels(name).observe(seconds)
        metrics.ARTICLES.labels(name, "ok").inc()
    metrics.BOILERPLATE_CHARS.inc(staged.boilerplate_chars)
    metrics.LANGUAGE.labels("accepted").inc()
    for kind, count in staged.entity_types.items():
        metrics.ENTITIES.labels(kind).inc(count)
    for linked, count in staged.entity_links.items():
        metrics.ENTITY_LINKS.labels(linked).inc(count)


async def send_dead_letter(
    pipeline: Pipeline,
    stage: str,
    reason: str,
    detail: str,
    original: bytes,
    *,
    article_id: str | None,
    source: str,
) -> None:
    """Publish one dead-letter event and count it."""
    event = events.dead_letter_event(
        stage, reason, detail, original, article_id=article_id, source=source, failed_at=time.time()
    )
    key = article_id.encode() if article_id else None
    await pipeline.dlq.send(key=key, value=events.dumps(event))
    metrics.DEAD_LETTERS.labels(stage, reason).inc()
    metrics.ARTICLES.labels(stage, "dead_letter").inc()
    if stage == "normalize":
        metrics.LANGUAGE.labels(reason).inc()
    log.warning(
        "dead letter: stage=%s reason=%s id=%s source=%s", stage, reason, article_id, source
    )


def where(message: Any) -> str:
    """topic/partition/offset of a consumed message, for dead letters and logs."""
    return f"{message.topic}/{message.partition}/{message.offset}"


async def run_stages(
    pipeline: Pipeline, article: Article, names: tuple[str, ...], payload: bytes, origin: str
) -> Article | None:
    """Run ``names`` of the chain; the enriched article, or None once a refusal is dead-lettered."""
    try:
        article = pipeline.chain.run(article, names)
    except StageError as exc:
        await send_dead_letter(
            pipeline,
            exc.stage,
            exc.reason,
            exc.detail,
            payload,
            article_id=article.id,
            source=origin,
        )
        return None
    observe_stages(article, names)
    return article


async def apply_head(
    pipeline: Pipeline, outcome: Outcome, message: Any, bundler: StagedBundler
) -> None:
    """What the stateless stages made of one raw event: a staged record for the bundle (sent by
    ``bundler``), or a dead letter."""
    metrics.ARTICLES.labels("consume", "ok").inc()
    if isinstance(outcome, Staged):
        observe_staged(outcome)
        await bundler.add(outcome.value, outcome.article_id.encode(), message)
        return
    article_id = outcome.article_id
    if isinstance(outcome, Refused):
        stage, reason, detail = outcome.stage, outcome.reason, outcome.detail
    else:
        log.error(
            "unexpected failure in %s at %s: %s", outcome.stage, where(message), outcome.trace
        )
        stage, reason, detail = outcome.stage, "internal_error", outcome.error
        article_id = article_id or key_of(message)
    await send_dead_letter(
        pipeline, stage, reason, detail, message.value, article_id=article_id, source=where(message)
    )


class StagedBundler:
    """Sends a head batch's staged records to the staged topic several to a message (a bundle,
    ``records.encode_bundle``) of at most ``limit`` bytes of records.

    The staged hop then costs one produce, one broker append and one Faust event per bundle
    instead of per article. The head agent flushes it at the end of every batch, before Faust
    acks the batch's offsets, so at-least-once holds as before; a bundle is also sent as soon as
    it is full, so the dedup agent starts on a large batch before the head has finished it.
    """

    def __init__(self, pipeline: Pipeline, limit: int) -> None:
        self.pipeline = pipeline
        self.limit = limit
        self._records: list[tuple[bytes, bytes, Any]] = []  # (staged record, key, raw message)
        self._size = 0

    async def add(self, record: bytes, key: bytes, message: Any) -> None:
        if self._records and self._size + len(record) > self.limit:
            await self.flush()
        self._records.append((record, key, message))
        self._size += len(record)
        if self._size >= self.limit:
            await self.flush()

    async def flush(self) -> None:
        records, self._records, self._size = self._records, [], 0
        if records:
            await send_bundle(self.pipeline, records)


class HeadFeed:
    """The head agent's batches, from read to ack, with the next batch read meanwhile.

    ``put`` starts the stateless stages on a batch (with a stage process they run at once, on
    another core) and returns, so Faust reads the next batch while this one is worked on; it
    waits only while ``depth`` batches are already queued. A task applies the outcomes batch by
    batch, in order: it sends the staged records (bundled) and dead letters, flushes the bundle,
    and only then acks the batch's events. Faust commits no offset past an unacked event, so
    at-least-once holds as before; what a crash or a stop leaves unacked is read again.

    Before, the agent read a batch only after the last one was sent, and the stage process sat
    idle while the event loop read the next 500 events through Faust.
    """

    def __init__(self, pipeline: Pipeline, stream: Any, depth: int = 1) -> None:
        self.pipeline = pipeline
        self.stream = stream
        self.bundler = StagedBundler(pipeline, pipeline.settings.staged_bundle_bytes)
        self._queue: asyncio.Queue[tuple[list[Any], AsyncIterator[list[Outcome]]]]
        self._queue = asyncio.Queue(depth)
        self._task: asyncio.Task[None] | None = None

    async def put(self, batch: list[Any]) -> None:
        """Start the head on ``batch``; raises what stopped the task that applies outcomes."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._apply_all())
            self._task.add_done_callback(_log_failure)
        items = [(event.value, event.message.timestamp or 0.0) for event in batch]
        queued = asyncio.ensure_future(self._queue.put((batch, self.pipeline.head.run(items))))
        await asyncio.wait({queued, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            queued.cancel()
            self._task.result()  # raises its error
            raise RuntimeError("the head's outcome task ended")

    async def close(self, *, drain: bool) -> None:
        """Stop applying outcomes, after the batches already read if ``drain`` (the stream
        ended); what is not acked by then is read again by whoever reads next."""
        if self._task is None:
            return
        if drain and not self._task.done():
            drained = asyncio.ensure_future(self._queue.join())
            await asyncio.wait({drained, self._task}, return_when=asyncio.FIRST_COMPLETED)
            drained.cancel()
        self._task.cancel()
        # A failure of the task was raised by ``put`` or logged as it happened.
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    async def _apply_all(self) -> None:
        while True:
            batch, outcomes = await self._queue.get()
            await self._apply(batch, outcomes)
            self._queue.task_done()

    async def _apply(self, batch: list[Any], outcomes: AsyncIterator[list[Outcome]]) -> None:
        events_left = iter(batch)
        async for chunk in outcomes:
            for outcome in chunk:
                message = next(events_left).message
                handling = apply_head(self.pipeline, outcome, message, self.bundler)
                await guarded(self.pipeline, "decode", message, handling)
        await self.bundler.flush()
        for event in batch:
            await self.stream.ack(event)


def _log_failure(task: asyncio.Task[None]) -> None:
    # At once, not at the next batch: the stream may be idle.
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("the head agent stopped applying outcomes: %r", error)


async def send_bundle(pipeline: Pipeline, records: list[tuple[bytes, bytes, Any]]) -> None:
    """Send staged records (with their keys and raw messages) as one message; a single record
    goes as itself, keyed by its article id, as before bundles.

    A bundle the producer refuses as too large (a broker with a smaller message limit than
    ``AKHBAR_STAGED_BUNDLE_BYTES``), or that fails with a bug, is sent again in halves, down to
    single records; a single record fails as it did before bundles (``guarded``: a ``too_large``
    or ``internal_error`` dead letter of its raw event). A producer that gave up on a send
    (timeout) fails the delivery and the agent, so nothing is committed past it.
    """
    if len(records) == 1:
        record, key, message = records[0]
        sending = pipeline.staged.send(key=key, value=record)
        await guarded(pipeline, "decode", message, sending)
        return
    try:
        await pipeline.staged.send(key=None, value=encode_bundle([r for r, _, _ in records]))
        return
    except ProducerSendError as exc:
        fail_unless_too_large(pipeline, "decode", exc)
    except Exception:
        log.exception("a bundle of %d staged records was not sent; trying halves", len(records))
    half = len(records) // 2
    await send_bundle(pipeline, records[:half])
    await send_bundle(pipeline, records[half:])


async def handle_staged(pipeline: Pipeline, payload: bytes, origin: str) -> None:
    """Run the stateful stages (dedup) on one staged article and publish the enriched event."""
    record = decode_staged(payload)
    stages = pipeline.chain.stateful_names
    if (article := await run_stages(pipeline, record.article, stages, payload, origin)) is None:
        return
    record.article = article  # what the stages made of it, for the event's finishing fields
    dedup = article.dedup
    duplicate = dedup is not None and dedup.status == "duplicate"
    if duplicate and dedup is not None:
        metrics.DUPLICATES.labels(dedup.method or "exact").inc()
    topic = (
        pipeline.duplicates
        if duplicate and pipeline.settings.duplicates_policy == "topic"
        else pipeline.enriched
    )
    now = time.time()
    await topic.send(key=article.id.encode(), value=record.enriched_value(now))
    metrics.ARTICLES.labels("publish", "duplicate" if duplicate else "unique").inc()
    observe_published(pipeline, article)
    if record.sent_at > 0:
        metrics.END_TO_END_SECONDS.observe(max(0.0, now - record.sent_at))


async def handle_bundle(pipeline: Pipeline, message: Any) -> None:
    """Run dedup on every staged record of one message (a bundle, or a single record), each
    guarded on its own: a record that fails is a dead letter of that record alone. The records
    share one chain session: dedup reads its ``meta`` once, and writes its answers (one table
    record) and ``meta`` once, per bundle."""
    records = split_bundle(message.value)
    with pipeline.chain.session(pipeline.chain.stateful_names):
        if len(records) == 1:
            await handle_staged(pipeline, records[0], where(message))
            return
        source = where(message)
        for index, record in enumerate(records):
            handling = handle_staged(pipeline, record, f"{source}#{index}")
            await guarded(pipeline, "dedup", message, handling, part=Part(record, index))


@dataclass(frozen=True, slots=True)
class Part:
    """One record of a bundle: what its dead letter keeps instead of the whole message."""

    value: bytes
    index: int


def origin_of(message: Any, part: Part | None) -> tuple[bytes, str | None, str]:
    """Original bytes, article id and source of a failed event (or of one record of it)."""
    if part is None:
        return message.value, key_of(message), where(message)
    return part.value, staged_id(part.value), f"{where(message)}#{part.index}"


async def guarded(
    pipeline: Pipeline,
    stage: str,
    message: Any,
    handling: Awaitable[None],
    *,
    part: Part | None = None,
) -> None:
    """Await one event's handling; an unexpected error becomes a dead letter, not a lost event.

    Faust acks an event (and a take_events batch) even when the agent body raises, so an
    exception escaping here would let its offset be committed with nothing published. Bad
    input is handled inside the handlers; what arrives here is a bug (logged with its
    traceback and counted as ``internal_error``) or an output too large for the broker.

    A send the producer refused for any other reason (its buffer stayed full for the whole
    producer timeout: the broker is not answering) is not the article's fault, so it is no dead
    letter: it counts as a failed delivery, which stops every later commit and the worker
    (``outbox.Deliveries``), and the article is processed again after a restart.
    """
    try:
        await handling
    except ProducerSendError as exc:
        fail_unless_too_large(pipeline, stage, exc)
        original, article_id, source = origin_of(message, part)
        await send_dead_letter(
            pipeline,
            stage,
            "too_large",
            str(exc.__cause__),
            original,
            article_id=article_id,
            source=source,
        )
    except Exception as exc:
        original, article_id, source = origin_of(message, part)
        log.exception("unexpected failure in %s at %s", stage, source)
        await send_dead_letter(
            pipeline,
            getattr(exc, "akhbar_stage", stage),
            "internal_error",
            repr(exc),
            original,
            article_id=article_id,
            source=source,
        )


def fail_unless_too_large(pipeline: Pipeline, stage: str, exc: ProducerSendError) -> None:
    """Return if the producer refused a send as too large (the caller handles that); otherwise
    the producer gave up on it: record a failed delivery, so nothing is committed past it, and
    raise ``exc`` again."""
    if not isinstance(exc.__cause__, MessageSizeTooLargeError):
        pipeline.deliveries.failed_send(f"the {stage} stage's output", exc)
        raise exc


def key_of(message: Any) -> str | None:
    """The article id a message is keyed by, when it is a readable one."""
    key = message.key
    if isinstance(key, bytes):
        with contextlib.suppress(UnicodeDecodeError):
            return key.decode()
    return None


async def update_lag(pipeline: Pipeline) -> None:
    """Set the consumer-lag gauge for every assigned partition."""
    consumer = pipeline.app.consumer
    # Only the topics the agents consume: Faust pauses the table changelog once it has
    # recovered, so its "lag" grows with every table write and means nothing.
    consumed = {pipeline.settings.topic_raw, pipeline.settings.topic_staged}
    for tp in consumer.assignment():
        if tp.topic not in consumed:
            continue
        highwater = consumer.highwater(tp)
        position = await consumer.position(tp)
        if highwater is None or highwater < 0 or position is None:
            continue
        metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))


class DedupGauges:
    """Exports the dedup stage's own counters (index size, evictions) as metrics."""

    def __init__(self) -> None:
        self.evictions_seen: int | None = None

    def update(self, pipeline: Pipeline) -> None:
        stage = dict(pipeline.chain.stages).get("dedup")
        stats = getattr(stage, "stats", None)
        if stats is None:
            return
        current = stats()
        metrics.DEDUP_INDEX_SIZE.set(current.index_size)
        # The eviction total lives in the table; count only what this process saw it grow by.
        if self.evictions_seen is not None and current.evictions > self.evictions_seen:
            metrics.DEDUP_EVICTIONS.inc(current.evictions - self.evictions_seen)
        self.evictions_seen = current.evictions


def attach_agents(pipeline: Pipeline) -> None:
    """Declare the two agents and the lag timer on the pipeline's app."""
    app = pipeline.app

    size = pipeline.settings.batch_size
    within = pipeline.settings.batch_within_seconds

    # The head reads batches without acking them (noack_take) and hands each to a HeadFeed,
    # which acks a batch's events once its outputs are sent; Faust commits only acked offsets,
    # and only after the producer has flushed.
    @app.agent(pipeline.raw, name="akhbar.enrich-head")
    async def enrich_head(stream: Any) -> None:
        feed = HeadFeed(pipeline, stream)
        ended = False
        try:
            async for batch in stream.noack_take(size, within):
                await feed.put(batch)
            ended = True
        finally:
            await feed.close(drain=ended)

    # Faust's commit first flushes the producer buffer and waits until it is *empty*; every
    # dedup event adds table changelog writes to that buffer, so under a steady backlog the
    # commit never finished and a crash re-processed everything since the worker last went
    # idle. Draining the buffer here once per commit interval lets the pending commit through.
    drain_every = float(app.conf.broker_commit_interval)

    @app.agent(pipeline.staged_source, name="akhbar.dedup")
    async def dedup(stream: Any) -> None:
        drained = time.monotonic()
        async for event in stream.events():  # one by one: table writes need the current event
            await guarded(pipeline, "dedup", event.message, handle_bundle(pipeline, event.message))
            if time.monotonic() - drained >= drain_every:
                await app.producer.flush()
                drained = time.monotonic()

    dedup_gauges = DedupGauges()

    @app.timer(interval=5.0)
    async def gauges_timer() -> None:
        await update_lag(pipeline)
        dedup_gauges.update(pipeline)

    attach_top_entities(pipeline)
