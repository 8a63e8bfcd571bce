"""Helpers for integration tests: read whole topics, run akhbar processes against the broker."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from akhbar.common.processes import stop_process


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every message currently in ``topic`` (all partitions), read without a consumer group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= ends[tp] for tp in tps):
                break
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


def wait_for_records(
    bootstrap: str,
    topic: str,
    predicate: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """Poll ``topic`` until ``predicate(events)`` holds; fail the test with what was seen if not."""
    deadline = time.monotonic() + timeout
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = [orjson.loads(r.value) for r in asyncio.run(read_topic(bootstrap, topic))]
        if predicate(events):
            return events
        time.sleep(0.5)
    raise AssertionError(
        f"timed out after {timeout}s waiting on {topic}; saw {len(events)} events: "
        f"{[(e.get('id'), e.get('reason')) for e in events][:20]}"
    )


@dataclass
class AkhbarProcess:
    """An ``akhbar`` subprocess with its environment; stopped by the fixture that started it."""

    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 15.0) -> int:
        return stop_process(self.process, timeout)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port`` right now."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def akhbar_env(bootstrap: str, **settings: str | int | Path) -> dict[str, str]:
    """The environment for an akhbar process: bootstrap plus AKHBAR_<NAME> overrides."""
    # One record per producer batch: works around the embedded broker's end-offset report
    # (see Settings.producer_max_batch_bytes), which otherwise cuts table recovery short.
    env = {
        **os.environ,
        "AKHBAR_BOOTSTRAP_SERVERS": bootstrap,
        "AKHBAR_PRODUCER_MAX_BATCH_BYTES": "1",
    }
    env.update({f"AKHBAR_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def start_akhbar(args: list[str], env: dict[str, str], log: Path) -> AkhbarProcess:
    """Start ``akhbar ARGS`` in the background with stdout and stderr going to ``log``."""
    handle = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "akhbar.cli", *args],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    return AkhbarProcess(process, log)


def run_akhbar(
    args: list[str], env: dict[str, str], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``akhbar ARGS`` to completion and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "akhbar.cli", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def scrape(url: str) -> str:
    """GET a metrics endpoint and return its text."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels`` (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(
                sample.labels.get(k) == v for k, v in (labels or {}).items()
            ):
                total += sample.value
    return total
