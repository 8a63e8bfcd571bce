"""Faust's aiokafka transport with a configurable consumer fetch wait.

faust-streaming 0.15 builds its worker consumer with ``fetch_max_wait_ms=1500``, a constant. A
broker holds an empty fetch open for up to that long. Apache Kafka answers it as soon as a record
arrives; the embedded broker (Tansu 0.6) answers only when the wait is over, so every hop of the
pipeline (raw → head agent → staged → dedup agent) added up to 1.5 s to an article's latency, and
p99 at 50 articles/s was ~1.6 s. ``AKHBAR_FETCH_MAX_WAIT_MS`` sets it; the cost of a short wait is
one more empty fetch round trip per wait while the worker is idle.

The consumer commits nothing once a message the worker sent was not delivered (``Deliveries``),
and stops the worker instead. The consumer thread also turns an aiokafka failure on a stop during
start-up (closing a connection still being opened) into one log line instead of a thread
traceback.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import aiokafka
import faust
from faust.transport.drivers import aiokafka as driver

from akhbar.pipeline.outbox import Deliveries

log = logging.getLogger(__name__)


class _ConsumerThread(driver.AIOKafkaConsumerThread):
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
    """The aiokafka transport whose worker consumer waits at most ``fetch_max_wait_ms`` and
    commits only while ``deliveries`` saw no failed send."""

    Consumer: ClassVar[Any] = _Consumer
    fetch_max_wait_ms: int = 1500  # Faust's own value
    deliveries: Deliveries


def use_transport(app: faust.App, fetch_max_wait_ms: int, deliveries: Deliveries) -> None:
    """Give ``app`` this transport (before anything has started, or it has no effect)."""
    transport = Transport(app.conf.broker_consumer, app)
    transport.fetch_max_wait_ms = fetch_max_wait_ms
    transport.deliveries = deliveries
    app.transport = transport
