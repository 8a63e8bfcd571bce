"""Where agents send: a topic name bound to Faust's producer, sent without waiting per message,
and the watch over every send's delivery that keeps a failed one from being committed past."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


class DeliveryFailedError(Exception):
    """A message the worker sent was not delivered; its input must not be committed past."""


class Deliveries:
    """Remembers the first message the broker did not take, so no offset is committed after it.

    Faust flushes the producer before every commit, but a flush waits for the sends to end, not
    for them to succeed: a send that failed for good (the broker refused it, or it timed out after
    the producer's request timeout) used to be dropped in silence and the offset of the article
    behind it committed. The consumer (``transport._Consumer``) asks :meth:`check` before every
    commit; once anything failed it commits nothing more and stops the worker, so a restarted
    worker sends the article again (at-least-once). Our own sends are watched through their
    delivery future; everything Faust sends itself (table changelog writes) through the worker's
    Faust monitor (``sensors.LeanPrometheusMonitor``).
    """

    def __init__(self) -> None:
        self.failure: BaseException | None = None
        self.failed = 0

    def watch(self, delivery: asyncio.Future[Any], topic: str) -> None:
        delivery.add_done_callback(lambda done: self._done(done, topic))

    def _done(self, delivery: asyncio.Future[Any], topic: str) -> None:
        if delivery.cancelled():
            self.failed_send(topic, asyncio.CancelledError("the send was cancelled"))
        elif (exc := delivery.exception()) is not None:
            self.failed_send(topic, exc)

    def failed_send(self, topic: str, exc: BaseException) -> None:
        self.failed += 1
        if self.failure is None:
            self.failure = DeliveryFailedError(f"a message to {topic} was not delivered: {exc!r}")
            log.error(
                "a message to %s was not delivered (%r): nothing more is committed and the "
                "worker stops; a restarted worker processes the uncommitted articles again",
                topic,
                exc,
            )

    async def check(self) -> BaseException | None:
        """The first delivery failure, if any; call it after the producer flush."""
        await asyncio.sleep(0)  # let done-callbacks queued by the flush's last batches run
        return self.failure


class ProducerTopic:
    """Send to one topic through the app's producer, returning as soon as the message is queued.

    Faust's ``Topic.send`` adds a declare check, serialiser calls and a FutureMessage per event;
    our keys and values are already bytes, so the producer's own ``send`` is enough. Delivery is
    still confirmed before any offset is committed: Faust flushes the producer before every
    commit, and ``deliveries`` stops that commit if any send failed.
    """

    def __init__(self, app: Any, name: str, deliveries: Deliveries) -> None:
        self.app = app
        self.name = name
        self.deliveries = deliveries

    async def send(self, *, key: bytes | None, value: bytes) -> None:
        delivery = await self.app.producer.send(self.name, key, value, None, None, None)
        self.deliveries.watch(delivery, self.name)
