"""Turn read files into raw and dead-letter messages, send them, and report each file's fate."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from akhbar.common.events import dead_letter_event, dumps
from akhbar.common.metrics import PRODUCER_FILES, PRODUCER_REJECTED
from akhbar.common.settings import Settings
from akhbar.producer.documents import Outcome, RawDocument, Rejection
from akhbar.producer.files import FileRead
from akhbar.producer.publisher import Message, Sender, describe


@dataclass(slots=True)
class Delivery:
    """What became of one file: its rejections, and the first send error if any message failed."""

    read: FileRead
    sent: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def acknowledged(self) -> bool:
        """Every message of the file was acked: the file may go into the ledger."""
        return self.error is None


def where(read: FileRead, outcome: Outcome) -> str:
    """The path (and line, for JSONL) that a stderr line or dead letter names."""
    path = str(read.file.path)
    return f"{path}:{outcome.line}" if outcome.line is not None else path


def message(settings: Settings, read: FileRead, outcome: Outcome, now: float) -> Message:
    """The Kafka record for one outcome: a raw event keyed by id, or a dead letter."""
    if isinstance(outcome, RawDocument):
        return Message(settings.topic_raw, outcome.article_id.encode(), dumps(outcome.event))
    letter = dead_letter_event(
        "producer",
        outcome.reason,
        outcome.detail,
        outcome.original,
        article_id=outcome.article_id,
        source=where(read, outcome),
        failed_at=now,
    )
    if outcome.original_size is not None and outcome.original_size > len(outcome.original):
        # We read only a prefix; say how large the document really was and that it was cut.
        letter["original_size"] = outcome.original_size
        letter["original_truncated"] = True
    key = outcome.article_id.encode() if outcome.article_id else None
    return Message(settings.topic_dlq, key, dumps(letter))


async def deliver(settings: Settings, sender: Sender, reads: Sequence[FileRead]) -> list[Delivery]:
    """Send every outcome of ``reads`` as one batch; count the acknowledged ones in the metrics."""
    now = time.time()
    batch = [(read, outcome) for read in reads for outcome in read.outcomes]
    errors = await sender.send_all([message(settings, read, o, now) for read, o in batch])
    deliveries = {id(read): Delivery(read) for read in reads}
    for (read, outcome), error in zip(batch, errors, strict=True):
        delivery = deliveries[id(read)]
        PRODUCER_FILES.labels("seen").inc()
        if error is not None:
            delivery.error = delivery.error or error
        elif isinstance(outcome, Rejection):
            delivery.rejections.append(outcome)
            PRODUCER_FILES.labels("rejected").inc()
            PRODUCER_REJECTED.labels(outcome.reason).inc()
        else:
            delivery.sent += 1
            PRODUCER_FILES.labels("sent").inc()
    return list(deliveries.values())


def rejection_line(read: FileRead, rejection: Rejection) -> str:
    """The one stderr line for a refused document."""
    return f"akhbar: rejected {where(read, rejection)}: {rejection.reason} ({rejection.detail})"


def failure_line(delivery: Delivery) -> str:
    """The one stderr line for a file whose messages the broker did not acknowledge."""
    reason = describe(delivery.error) if delivery.error else "unknown error"
    return f"akhbar: could not publish {delivery.read.file.path}: {reason}"
