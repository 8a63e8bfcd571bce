"""The baseline processors, each run as its own process: ``python -m akhbar.bench.passthrough``.

``raw``: one aiokafka consumer and one producer; each ``getmany`` batch is re-sent without waiting
on each message, then flushed before the next poll. ``faust``: a minimal Faust app with one agent
that awaits ``topic.send`` per event and does nothing else, configured like the akhbar worker
(same acks, linger, commit and group timings), so the gap to it is Faust's own per-event cost.
Both copy key and value unchanged from the source topic to the sink topic.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


async def raw_passthrough(bootstrap: str, source: str, sink: str) -> None:
    """Copy ``source`` to ``sink`` until SIGTERM, a batch at a time."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4_194_304,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks=-1,
        linger_ms=2,
        max_batch_size=1_048_576,
        max_request_size=10_485_760,
    )
    await consumer.start()
    await producer.start()
    try:
        partitions = [
            TopicPartition(source, p) for p in sorted(consumer.partitions_for_topic(source) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    await producer.send(sink, record.value, key=record.key)
            if batches:
                await producer.flush()
    finally:
        await producer.stop()
        await consumer.stop()


def faust_passthrough(
    bootstrap: str, source: str, sink: str, app_id: str, web_port: int, datadir: str
) -> None:
    """Run a one-agent Faust worker that re-sends each event, until SIGTERM."""
    import faust

    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=datadir,
        web_host="127.0.0.1",
        web_port=web_port,
        web_bind="127.0.0.1",
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        producer_acks=-1,
        producer_linger_ms=2,
        stream_recovery_delay=0.0,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=10.0,
        broker_commit_interval=1.0,
    )
    options: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    source_topic = app.topic(source, **options)
    sink_topic = app.topic(sink, **options)

    @app.agent(source_topic, name="bench.passthrough")
    async def passthrough(stream: Any) -> None:
        async for event in stream.events():
            await sink_topic.send(key=event.key, value=event.value)

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m akhbar.bench.passthrough")
    parser.add_argument("kind", choices=["raw", "faust"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--app-id", default="bench-passthrough")
    parser.add_argument("--web-port", type=int, default=6067)
    parser.add_argument("--datadir", default="var/bench")
    args = parser.parse_args(argv)
    if args.kind == "raw":
        asyncio.run(raw_passthrough(args.bootstrap, args.source, args.sink))
    else:
        faust_passthrough(
            args.bootstrap, args.source, args.sink, args.app_id, args.web_port, args.datadir
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
