"""``akhbar broker``: serves the Kafka protocol on the port asked for and stops cleanly."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from akhbar.common.broker import free_port
from tests.integration.kafka_helpers import port_open

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_broker_command_serves_kafka_and_stops_on_signal(signum: int) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "akhbar.cli", "broker", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert f"127.0.0.1:{port}" in first

        async def list_topics() -> list[str]:
            admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
            await admin.start()
            try:
                return list(await admin.list_topics())
            finally:
                await admin.close()

        assert isinstance(asyncio.run(list_topics()), list)
        process.send_signal(signum)
        assert process.wait(15) == 0
        deadline = time.monotonic() + 5
        while port_open(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not port_open(port), "the Tansu child kept serving after akhbar broker exited"
    finally:
        if process.poll() is None:
            process.kill()


def test_broker_on_a_busy_port_is_one_clear_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "akhbar.cli", "broker", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0]
