"""Create akhbar's topics on the broker (idempotent), with the configured partition counts."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from akhbar.common.settings import Settings


def topic_layout(settings: Settings) -> dict[str, int]:
    """Topic name -> partitions. The staged topic has one partition: dedup needs one global view."""
    return {
        settings.topic_raw: settings.partitions,
        settings.topic_enriched: settings.partitions,
        settings.topic_dlq: settings.partitions,
        settings.topic_duplicates: settings.partitions,
        settings.topic_staged: 1,
    }


async def ensure_topics(settings: Settings) -> list[str]:
    """Create every missing topic; return the names that were created."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, partitions, settings.replication_factor)
            for name, partitions in topic_layout(settings).items()
            if name not in existing
        ]
        if missing:
            # Another process may create them between our list and create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()
