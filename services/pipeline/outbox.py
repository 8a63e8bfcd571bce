"""Where agents send: a topic name bound to Faust's producer, sent without waiting per message."""

from __future__ import annotations

from typing import Any


class ProducerTopic:
    """Send to one topic through the app's producer, returning as soon as the message is queued.

    Faust's ``Topic.send`` adds a declare check, serialiser calls and a FutureMessage per event;
    our keys and values are already bytes, so the producer's own ``send`` is enough. Delivery is
    still confirmed before any offset is committed: Faust flushes the producer before every
    commit, which is what makes the pipeline at-least-once.
    """

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.name = name

    async def send(self, *, key: bytes | None, value: bytes) -> None:
        await self.app.producer.send(self.name, key, value, None, None, None)
