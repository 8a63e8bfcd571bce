"""Publish messages to Kafka with aiokafka: sends batched, each acknowledgement reported."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from akhbar.common.events import DEAD_LETTER_ORIGINAL_LIMIT
from akhbar.common.settings import Settings
from akhbar.producer.exceptions import BrokerUnavailable

# A short linger lets a batch of sends share requests without delaying a lone file noticeably.
LINGER_MS = 5
# JSON escaping can double an article at worst, and a dead letter is its original in base64:
# leave room for both over the article limit, plus the envelope.
ENVELOPE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka record to send."""

    topic: str
    key: bytes | None
    value: bytes


class Sender(Protocol):
    """What the delivery loop needs from a publisher (a fake in unit tests)."""

    async def send_all(self, messages: Sequence[Message]) -> list[BaseException | None]: ...


def max_request_bytes(settings: Settings) -> int:
    """The largest record we may need to send, for ``max_request_size``."""
    largest = max(2 * settings.max_article_bytes, DEAD_LETTER_ORIGINAL_LIMIT * 4 // 3)
    return max(1 << 20, largest + ENVELOPE_BYTES)


def producer_options(settings: Settings) -> dict[str, Any]:
    """aiokafka producer options: acknowledged by all replicas, no idempotence (Tansu lacks it)."""
    return {
        **settings.kafka_client_options(),
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": LINGER_MS,
        "max_request_size": max_request_bytes(settings),
    }


class Publisher:
    """An aiokafka producer that sends a batch at once and says which messages were acked."""

    def __init__(self, settings: Settings) -> None:
        self._producer = AIOKafkaProducer(**producer_options(settings))

    async def start(self) -> None:
        """Connect; raise ``BrokerUnavailable`` with one readable line when that fails."""
        # Without this, aiokafka's connection errors reach stderr through logging's last-resort
        # handler as extra lines; a configured root logger still receives them.
        logging.getLogger("aiokafka").addHandler(logging.NullHandler())
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise BrokerUnavailable(describe(exc)) from None

    async def send_all(self, messages: Sequence[Message]) -> list[BaseException | None]:
        """Send every message, then await all acks: ``None`` or the error per message, in order."""
        pending: list[asyncio.Future[Any] | BaseException] = []
        for message in messages:
            try:
                pending.append(await self._producer.send(message.topic, message.value, message.key))
            except KafkaError as exc:  # refused before sending, e.g. a record over the size limit
                pending.append(exc)
        futures = [p for p in pending if isinstance(p, asyncio.Future)]
        results = iter(await asyncio.gather(*futures, return_exceptions=True))
        return [
            p if isinstance(p, BaseException) else _error_or_none(next(results)) for p in pending
        ]

    async def stop(self) -> None:
        """Flush what is in flight and close the connection."""
        await self._producer.stop()

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def describe(exc: BaseException) -> str:
    """One line about a Kafka error, without a traceback."""
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


def _error_or_none(result: object) -> BaseException | None:
    return result if isinstance(result, BaseException) else None
