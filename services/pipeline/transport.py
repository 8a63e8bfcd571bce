"""Faust's aiokafka transport: a configurable fetch wait, skipped offsets fetched again, and no
commit after a failed send.

faust-streaming 0.15 builds its worker consumer with ``fetch_max_wait_ms=1500``, a constant. A
broker holds an empty fetch open for up to that long. Apache Kafka answers it as soon as a record
arrives; the embedded broker (Tansu 0.6) answers only when the wait is over, so every hop of the
pipeline (raw → head agent → staged → dedup agent) added up to 1.5 s to an article's latency, and
p99 at 50 articles/s was ~1.6 s. ``AKHBAR_FETCH_MAX_WAIT_MS`` sets it; the cost of a short wait is
one more empty fetch round trip per wait while the worker is idle.

The embedded broker can also skip a record in a fetch: with several producers writing to one
partition (two workers' head agents both feed the single staged partition), a consumer tailing it
was handed offset N+1 before N was readable (1 record in 3,000-12,000, more often on a loaded
machine), and it never saw N, while N was there when read again. Faust takes a jump in offsets for
compaction or transaction markers and commits past it, so that article was lost. On the topics the
agents consume, whose offsets are dense, ``OffsetGaps`` fetches a skipped offset again instead
(``_ConsumerThread._fetch_records``).

The consumer commits nothing once a message the worker sent was not delivered (``Deliveries``),
and stops the worker instead. The consumer thread also turns an aiokafka failure on a stop during
start-up (closing a connection still being opened) into one log line instead of a thread
traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import aiokafka
import faust
from faust.transport.drivers import aiokafka as driver

from akhbar.pipeline.outbox import Deliveries

log = logging.getLogger(__name__)


# Fetches of one skipped offset before it counts as a real gap (on Apache Kafka: a compacted
# record or a transaction marker, which our topics do not have): ~1 s at a 50 ms fetch wait.
REFETCH_LIMIT = 20


class OffsetGaps:
    """Keeps the records of ``topics`` dense: a fetch that jumps past an offset is cut there,
    and the partition is sought back to fetch the skipped offset again.

    ``check`` takes a fetch (``{tp: [records]}``, records in offset order) and a ``seek``
    function, and returns the fetch without the records after a gap. A partition sought back by
    its owner (a rewind) or newly assigned (``forget``) starts afresh. A gap still there after
    ``REFETCH_LIMIT`` fetches is accepted, with a warning.
    """

    def __init__(self, topics: Iterable[str], refetch_limit: int = REFETCH_LIMIT) -> None:
        self.topics = frozenset(topics)
        self.refetch_limit = refetch_limit
        self.next_offset: dict[Any, int] = {}
        self.refetches: dict[tuple[Any, int], int] = {}
        self.refetched = 0  # skipped offsets fetched again (found or not)

    def forget(self, tps: Iterable[Any]) -> None:
        for tp in tps:
            self.next_offset.pop(tp, None)

    def check(
        self, records: Mapping[Any, list[Any]], seek: Callable[[Any, int], None]
    ) -> dict[Any, list[Any]]:
        checked = dict(records)
        for tp, batch in records.items():
            if tp.topic not in self.topics or not batch:
                continue
            expected = self.next_offset.get(tp, batch[0].offset)
            for index, record in enumerate(batch):
                if record.offset > expected and self._refetch(tp, expected):
                    seek(tp, expected)
                    checked[tp] = batch[:index]
                    break
                expected = record.offset + 1  # also after a rewind: its owner sought back
            self.next_offset[tp] = expected
        return checked

    def _refetch(self, tp: Any, offset: int) -> bool:
        key = (tp, offset)
        tries = self.refetches.get(key, 0)
        if tries >= self.refetch_limit:
            log.warning(
                "offset %d of %s/%d was still missing after %d fetches: taken as a real gap",
                offset,
                tp.topic,
                tp.partition,
                tries,
            )
            del self.refetches[key]
            return False
        if not tries:
            log.warning(
                "the broker skipped offset %d of %s/%d in a fetch; fetching it again",
                offset,
                tp.topic,
                tp.partition,
            )
        if len(self.refetches) > 1000:  # gaps found long ago, never to be asked for again
            self.refetches.clear()
        self.refetches[key] = tries + 1
        self.refetched += 1
        return True


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: Any,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        records = await super()._fetch_records(
            consumer, active_partitions, timeout=timeout, max_records=max_records
        )
        if not records:
            return records
        return self._offset_gaps.check(records, consumer.seek)

    async def on_partitions_assigned(self, assigned: Any, generation_id: int = 0) -> None:
        self._offset_gaps.forget(assigned)
        await super().on_partitions_assigned(assigned, generation_id)

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._offset_gaps.forget(revoked)
        await super().on_partitions_revoked(revoked)

    @property
    def _offset_gaps(self) -> OffsetGaps:
        gaps: OffsetGaps = self.transport.offset_gaps  # type: ignore[attr-defined]
        return gaps

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher (consumer not started yet).
        consumer._fetch_max_wait_ms = transport.fetch_max_wait_ms
        return consumer

    async def on_thread_stop(self) -> None:
        try:
            await super().on_thread_stop()
        except AttributeError as exc:
            # aiokafka 0.14: closing a connection it is still setting up (a SIGTERM while the
            # consumer starts) fails in AIOKafkaConnection.close (``_read_task`` is None) and
            # the consumer thread died with a traceback. The process is stopping anyway: say so
            # in one line.
            log.warning("the Kafka consumer stopped while still connecting (%s)", exc)


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit(self, offsets: Any) -> bool:
        # Called after Faust flushed the producer: every send before this commit has ended.
        deliveries: Deliveries = self.transport.deliveries  # type: ignore[attr-defined]
        failure = await deliveries.check()
        if failure is not None:
            # Commit nothing: what was not delivered is re-processed by the next worker.
            await self.crash(failure)
            return False
        ok: bool = await super()._commit(offsets)
        return ok


class Transport(driver.Transport):
    """The aiokafka transport whose worker consumer waits at most ``fetch_max_wait_ms``, fetches
    again what the broker skipped (``offset_gaps``) and commits only while ``deliveries`` saw no
    failed send."""

    Consumer: ClassVar[Any] = _Consumer
    fetch_max_wait_ms: int = 1500  # Faust's own value
    deliveries: Deliveries
    offset_gaps: OffsetGaps


def use_transport(
    app: faust.App, fetch_max_wait_ms: int, deliveries: Deliveries, offset_gaps: OffsetGaps
) -> None:
    """Give ``app`` this transport (before anything has started, or it has no effect)."""
    transport = Transport(app.conf.broker_consumer, app)
    transport.fetch_max_wait_ms = fetch_max_wait_ms
    transport.deliveries = deliveries
    transport.offset_gaps = offset_gaps
    app.transport = transport
