"""``akhbar tail``: follow the enriched topic and print one readable line per article."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any, TextIO

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from akhbar.common.settings import Settings

TOP_ENTITIES = 4


def summary_line(event: dict[str, Any]) -> str:
    """One line for a person: dedup status, title, and the most-mentioned entities."""
    dedup = event.get("dedup") or {}
    status = dedup.get("status", "?")
    if status == "duplicate":
        status = f"duplicate of {dedup.get('duplicate_of')} ({dedup.get('method')}"
        similarity = dedup.get("similarity")
        status += f", {similarity:.2f})" if isinstance(similarity, float) else ")"
    entities = sorted(event.get("entities", []), key=lambda e: -len(e.get("mentions", [])))
    names = ", ".join(f"{e['name']} [{e['type']}]" for e in entities[:TOP_ENTITIES])
    title = event.get("title") or event.get("text", "")[:60]
    return f"{event.get('id')} | {status} | {title} | {names or '-'}"


async def follow(
    settings: Settings,
    *,
    from_beginning: bool,
    as_json: bool,
    out: TextIO = sys.stdout,
    stop: asyncio.Event | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Print enriched events until ``stop`` is set (or forever). No consumer group: read-only."""
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_options(),
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    await consumer.start()
    try:
        partitions = await wait_for_partitions(consumer, settings.topic_enriched, stop)
        tps = [TopicPartition(settings.topic_enriched, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        while stop is None or not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for messages in batches.values():
                for message in messages:
                    if as_json:
                        print(message.value.decode(), file=out, flush=True)
                        continue
                    event = orjson.loads(message.value)
                    print(summary_line(event), file=out, flush=True)
                    if on_event is not None:
                        on_event(event)
    finally:
        await consumer.stop()


async def wait_for_partitions(
    consumer: AIOKafkaConsumer, topic: str, stop: asyncio.Event | None
) -> set[int]:
    """The topic's partitions, waiting for the topic to exist (the worker may create it later)."""
    while True:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return set(partitions)
        if stop is not None and stop.is_set():
            return set()
        await consumer.force_metadata_update()
        await asyncio.sleep(0.5)
