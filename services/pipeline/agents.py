"""The thin Faust agents: decode, run the chain, publish, and route every failure to the DLQ."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from aiokafka.errors import MessageSizeTooLargeError

from akhbar.common import events, metrics
from akhbar.pipeline.records import decode_staged, encode_staged
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


def observe_enrichment(article: Article) -> None:
    """Count what the stages found: boilerplate, language outcome, entities and their links."""
    metrics.BOILERPLATE_CHARS.inc(article.boilerplate_chars)
    metrics.LANGUAGE.labels("accepted").inc()
    # One labels() lookup per label value, not two per entity (~19 entities per article).
    for kind, count in Counter(entity.type for entity in article.entities).items():
        metrics.ENTITIES.labels(kind).inc(count)
    for kb, count in Counter(entity.kb for entity in article.entities).items():
        metrics.ENTITY_LINKS.labels("true" if kb else "false").inc(count)


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


# A raw event holds the article (up to max_article_bytes) plus a small JSON envelope; anything
# much larger was not sent by our producer and would not fit the staged record either.
RAW_ENVELOPE_BYTES = 64 * 1024


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


async def handle_raw(pipeline: Pipeline, payload: bytes, sent_at: float, origin: str) -> None:
    """Decode one raw event, run the stateless stages, and forward it to the staged topic."""
    metrics.ARTICLES.labels("consume", "ok").inc()
    limit = pipeline.settings.max_article_bytes + RAW_ENVELOPE_BYTES
    if len(payload) > limit:
        detail = f"{len(payload)} bytes, over the {limit}-byte limit for a raw event"
        await send_dead_letter(
            pipeline, "decode", "too_large", detail, payload, article_id=None, source=origin
        )
        return
    try:
        article = events.decode_raw(payload)
    except events.EventError as exc:
        await send_dead_letter(
            pipeline, "decode", exc.reason, exc.detail, payload, article_id=None, source=origin
        )
        return
    stages = pipeline.chain.stateless_names
    if (enriched := await run_stages(pipeline, article, stages, payload, origin)) is None:
        return
    article = enriched
    observe_enrichment(article)
    article.body = ""  # the cleaned text replaces it; halves the staged record
    await pipeline.staged.send(key=article.id.encode(), value=encode_staged(article, sent_at))


async def handle_staged(pipeline: Pipeline, payload: bytes, origin: str) -> None:
    """Run the stateful stages (dedup) on one staged article and publish the enriched event."""
    staged, sent_at = decode_staged(payload)
    stages = pipeline.chain.stateful_names
    if (article := await run_stages(pipeline, staged, stages, payload, origin)) is None:
        return
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
    value = events.dumps(events.enriched_event(article, now))
    await topic.send(key=article.id.encode(), value=value)
    metrics.ARTICLES.labels("publish", "duplicate" if duplicate else "unique").inc()
    observe_published(pipeline, article)
    if sent_at > 0:
        metrics.END_TO_END_SECONDS.observe(max(0.0, now - sent_at))


async def guarded(pipeline: Pipeline, stage: str, message: Any, handling: Awaitable[None]) -> None:
    """Await one event's handling; an unexpected error becomes a dead letter, not a lost event.

    Faust acks an event (and a take_events batch) even when the agent body raises, so an
    exception escaping here would let its offset be committed with nothing published. Bad
    input is handled inside the handlers; what arrives here is a bug (logged with its
    traceback and counted as ``internal_error``) or an output too large for the broker. A
    failing producer still crashes the agent: its dead letter cannot be sent either, and the
    commit, which flushes the producer first, fails with it.
    """
    try:
        await handling
    except MessageSizeTooLargeError as exc:
        await send_dead_letter(
            pipeline,
            stage,
            "too_large",
            str(exc),
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
            for event in batch:
                message = event.message
                handling = handle_raw(
                    pipeline, event.value, message.timestamp or 0.0, where(message)
                )
                await guarded(pipeline, "decode", message, handling)
                # The stages are synchronous CPU work: let the dedup agent (and Faust's own
                # tasks) run between articles, not only between batches, to keep latency low.
                await asyncio.sleep(0)

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
