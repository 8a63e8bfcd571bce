"""Kafka I/O of the benchmark: publish articles with their send times, collect outputs by key.

Every measurement works the same way whatever processes the topic (raw aiokafka, naive Faust or
the akhbar worker): the bench process publishes raw events keyed by article id, remembers when
it sent each one, and a collector reading the output topics remembers when each key came out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from akhbar.bench.corpus import BenchArticle
from akhbar.common import events

# The collector polls often so a consumed time is within a few milliseconds of arrival.
COLLECT_WAIT_MS = 10


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int) -> None:
    """Create fresh topics, each with ``partitions`` partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    finally:
        await admin.close()


def encode(article: BenchArticle, sent_at: float) -> bytes:
    """The raw event the producer would publish for this article."""
    return events.dumps(
        events.raw_event(article.id, article.title, article.body, article.source, sent_at)
    )


def prepare(articles: Sequence[BenchArticle]) -> list[tuple[str, bytes]]:
    """(id, raw-event bytes) for each article, stamped as ingested now."""
    now = time.time()
    return [(article.id, encode(article, now)) for article in articles]


class Feeder:
    """A producer that records the wall-clock send time of every article id."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            linger_ms=5,
            max_batch_size=1_048_576,
            max_request_size=10_485_760,
        )
        self.sent_at: dict[str, float] = {}

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def burst(self, articles: Sequence[BenchArticle]) -> None:
        """Send every article without waiting on each, then wait until all are acknowledged.

        Events are encoded before the first send, so the clock measures Kafka, not the encoder.
        """
        ready = prepare(articles)
        futures = [await self._send(article_id, value) for article_id, value in ready]
        await asyncio.gather(*futures)

    async def steady(self, articles: Sequence[BenchArticle], rate: float) -> None:
        """Send at ``rate`` articles/s on a fixed schedule (no drift, no catch-up burst)."""
        ready = prepare(articles)
        started = time.perf_counter()
        futures = []
        for number, (article_id, value) in enumerate(ready):
            delay = started + number / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            futures.append(await self._send(article_id, value))
        await asyncio.gather(*futures)

    async def _send(self, article_id: str, value: bytes) -> asyncio.Future[object]:
        now = time.time()
        self.sent_at[article_id] = now
        return await self.producer.send(
            self.topic, value, key=article_id.encode(), timestamp_ms=int(now * 1000)
        )


@dataclass
class Collector:
    """Reads output topics from their start, without a consumer group, noting when keys arrive."""

    bootstrap: str
    topics: Sequence[str]
    seen_at: dict[str, float] = field(default_factory=dict)
    # Outputs per key: more than one means an id came out twice (a re-delivery).
    counts: Counter[str] = field(default_factory=Counter)
    per_topic: dict[str, int] = field(default_factory=dict)
    outputs: int = 0
    _task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=COLLECT_WAIT_MS,
            max_partition_fetch_bytes=4_194_304,
        )
        await consumer.start()
        partitions: list[TopicPartition] = []
        for topic in self.topics:
            ids = consumer.partitions_for_topic(topic)
            if not ids:
                await consumer.stop()
                raise RuntimeError(f"output topic {topic} does not exist")
            partitions.extend(TopicPartition(topic, p) for p in sorted(ids))
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._task = asyncio.create_task(self._run(consumer))

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=COLLECT_WAIT_MS)
                now = time.time()
                for tp, records in batches.items():
                    self.per_topic[tp.topic] = self.per_topic.get(tp.topic, 0) + len(records)
                    self.outputs += len(records)
                    for record in records:
                        if record.key is not None:
                            key = record.key.decode()
                            self.seen_at.setdefault(key, now)
                            self.counts[key] += 1
                if batches:
                    self._changed.set()
        finally:
            await consumer.stop()

    async def wait_for(self, ids: Iterable[str], timeout: float) -> bool:
        """Wait until every id has come out; False when ``timeout`` seconds pass first."""
        missing = set(ids) - self.seen_at.keys()
        deadline = time.monotonic() + timeout
        while missing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
            missing -= self.seen_at.keys()
        return True

    def doubled(self, ids: Iterable[str]) -> tuple[int, int]:
        """(ids of ``ids`` that came out more than once, extra outputs they made)."""
        extra = [self.counts[key] - 1 for key in ids if self.counts[key] > 1]
        return len(extra), sum(extra)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
