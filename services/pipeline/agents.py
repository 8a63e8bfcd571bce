"""The thin Faust agents: decode, run the chain, publish, and route every failure to the DLQ."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from aiokafka.errors import MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from akhbar.common import events, metrics
from akhbar.pipeline.head import Outcome, Refused, Staged
from akhbar.pipeline.records import decode_staged
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


async def apply_head(pipeline: Pipeline, outcome: Outcome, message: Any) -> None:
    """Publish what the stateless stages made of one raw event: staged record or dead letter."""
    metrics.ARTICLES.labels("consume", "ok").inc()
    if isinstance(outcome, Staged):
        observe_staged(outcome)
        await pipeline.staged.send(key=outcome.article_id.encode(), value=outcome.value)
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


async def guarded(pipeline: Pipeline, stage: str, message: Any, handling: Awaitable[None]) -> None:
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
        if not isinstance(exc.__cause__, MessageSizeTooLargeError):
            pipeline.deliveries.failed_send(f"the {stage} stage's output", exc)
            raise
        await send_dead_letter(
            pipeline,
            stage,
            "too_large",
            str(exc.__cause__),
            message.value,
            article_id=key_of(message),
            source=where(message),
        )
    except Exception as exc:
        log.exception("unexpected failure in %s at %s", stage, where(message))
        await send_dead_letter(
            pipeline,
            getattr(exc, "akhbar_stage", stage),
            "internal_error",
            repr(exc),
            message.value,
            article_id=key_of(message),
            source=where(message),
        )


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

    # The head reads batches (take_events): Faust acks a batch's offsets only after the loop
    # body has run for all of it, and commits only after the producer has flushed.
    @app.agent(pipeline.raw, name="akhbar.enrich-head")
    async def enrich_head(stream: Any) -> None:
        async for batch in stream.take_events(size, within):
            items = [(event.value, event.message.timestamp or 0.0) for event in batch]
            events_left = iter(batch)
            async for outcomes in pipeline.head.run(items):
                for outcome in outcomes:
                    message = next(events_left).message
                    await guarded(
                        pipeline, "decode", message, apply_head(pipeline, outcome, message)
                    )

    # Faust's commit first flushes the producer buffer and waits until it is *empty*; every
    # dedup event adds table changelog writes to that buffer, so under a steady backlog the
    # commit never finished and a crash re-processed everything since the worker last went
    # idle. Draining the buffer here once per commit interval lets the pending commit through.
    drain_every = float(app.conf.broker_commit_interval)

    @app.agent(pipeline.staged_source, name="akhbar.dedup")
    async def dedup(stream: Any) -> None:
        drained = time.monotonic()
        async for event in stream.events():  # one by one: table writes need the current event
            handling = handle_staged(pipeline, event.value, where(event.message))
            await guarded(pipeline, "dedup", event.message, handling)
            if time.monotonic() - drained >= drain_every:
                await app.producer.flush()
                drained = time.monotonic()

    dedup_gauges = DedupGauges()

    @app.timer(interval=5.0)
    async def gauges_timer() -> None:
        await update_lag(pipeline)
        dedup_gauges.update(pipeline)

    attach_top_entities(pipeline)
