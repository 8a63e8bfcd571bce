"""Broker security on the embedded Tansu 0.6, and where akhbar's HTTP endpoints listen.

What Tansu 0.6 does, as observed (see each test): ``--authentication`` refuses every client
that does not authenticate, but with in-memory storage no SCRAM user can be created, because
``tansu user create`` is itself refused (NotAuthenticated) and users do not survive a restart.
``--cert`` with ``--key`` is refused by Tansu's command line, and ``--cert`` alone still serves
plaintext Kafka. So the round trips with credentials and over TLS skip, saying why; they run
unchanged once a Tansu can do them.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from akhbar.common.broker import (
    BrokerError,
    EmbeddedBroker,
    create_scram_user,
    free_port,
    start_broker,
)
from akhbar.common.settings import Settings
from tests.integration.kafka_helpers import akhbar_env, run_akhbar, start_akhbar

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

USER, PASSWORD = "akhbar-test", "s3cret-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def auth_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("auth-broker") / "tansu.log"


@pytest.fixture(scope="module")
def auth_broker(auth_log: Path) -> Iterator[EmbeddedBroker]:
    """A dedicated Tansu that requires SASL authentication from every client."""
    broker = start_broker(None, authentication=True, log_path=auth_log)
    yield broker
    broker.stop()


def sasl_settings(bootstrap: str, password: str = PASSWORD) -> Settings:
    return Settings(
        bootstrap_servers=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username=USER,
        sasl_password=password,
    )


async def round_trip(settings: Settings, topic: str) -> bytes:
    """Produce one message with ``settings``' client options and read it back."""
    value = uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(**settings.kafka_client_options(), request_timeout_ms=5000)
    await asyncio.wait_for(producer.start(), 15)
    try:
        await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), group_id=None)
    await asyncio.wait_for(consumer.start(), 15)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        batches = await consumer.getmany(partition, timeout_ms=5000)
        return batches[partition][0].value
    finally:
        await consumer.stop()


async def connects(settings: Settings) -> bool:
    producer = AIOKafkaProducer(**settings.kafka_client_options(), request_timeout_ms=3000)
    try:
        await asyncio.wait_for(producer.start(), 10)
    except (KafkaError, TimeoutError, KeyError):
        # KeyError: aiokafka's SCRAM client expects the server's final message to hold "v=";
        # Tansu answers an unknown user with an error message instead.
        return False
    finally:
        await producer.stop()
    return True


# --- SASL / SCRAM ------------------------------------------------------------------------------


def test_client_without_credentials_is_refused(auth_broker: EmbeddedBroker) -> None:
    assert not asyncio.run(connects(Settings(bootstrap_servers=auth_broker.bootstrap)))


def test_client_with_an_unknown_scram_user_is_refused(auth_broker: EmbeddedBroker) -> None:
    assert not asyncio.run(connects(sasl_settings(auth_broker.bootstrap)))


def test_producer_refused_by_the_broker_does_not_show_the_password(
    auth_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    article = tmp_path / "a.txt"
    article.write_text("عنوان\nنص المقال\n", encoding="utf-8")
    env = akhbar_env(
        auth_broker.bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username=USER,
        sasl_password=PASSWORD,
    )
    result = run_akhbar(["produce", str(article)], env)
    assert result.returncode != 0
    assert PASSWORD not in result.stdout + result.stderr


def test_scram_user_is_served(auth_broker: EmbeddedBroker, auth_log: Path) -> None:
    """A user created with ``tansu user create`` produces and consumes with akhbar's settings."""
    try:
        create_scram_user(auth_broker, USER, PASSWORD, "SCRAM-SHA-256")
    except BrokerError as exc:
        assert PASSWORD not in str(exc)
        refused = "NotAuthenticated" in auth_log.read_text(errors="replace")
        pytest.skip(
            "Tansu 0.6 with --authentication and memory storage refuses `tansu user create` "
            f"itself{' (NotAuthenticated in its log)' if refused else ''}, so no user can "
            f"ever log in: {exc}"
        )
    topic = f"secure.{uuid.uuid4().hex[:8]}"
    sent = asyncio.run(round_trip(sasl_settings(auth_broker.bootstrap), topic))
    assert sent
    assert not asyncio.run(connects(sasl_settings(auth_broker.bootstrap, "wrong-password")))


# --- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def tls_settings(bootstrap: str, cert: Path) -> Settings:
    return Settings(bootstrap_servers=bootstrap, security_protocol="SSL", ssl_cafile=cert)


def test_tls_listener_serves_a_verifying_client(
    self_signed: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = self_signed
    log = tmp_path / "tansu.log"
    try:
        broker = start_broker(None, cert=cert, key=key, log_path=log, timeout=5)
    except BrokerError as exc:
        said = next((line for line in log.read_text().splitlines() if "error" in line), "")
        pytest.skip(f"Tansu 0.6 will not start with --cert and --key ({exc}): {said.strip()}")
    try:
        topic = f"tls.{uuid.uuid4().hex[:8]}"
        assert asyncio.run(round_trip(tls_settings(broker.bootstrap, cert), topic))
        assert not asyncio.run(connects(Settings(bootstrap_servers=broker.bootstrap)))
    finally:
        broker.stop()


def test_cert_without_key_is_not_tls(self_signed: tuple[Path, Path]) -> None:
    """A trap worth knowing: Tansu 0.6 with ``--cert`` alone serves plaintext Kafka, not TLS."""
    cert, _ = self_signed
    broker = start_broker(None, cert=cert)
    try:
        assert asyncio.run(connects(Settings(bootstrap_servers=broker.bootstrap)))
        assert not asyncio.run(connects(tls_settings(broker.bootstrap, cert)))
    finally:
        broker.stop()


# --- HTTP endpoints listen on loopback only ----------------------------------------------------


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a socket listening on TCP ``port``, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


LOOPBACK_V4 = "0100007F"  # 127.0.0.1, as /proc/net/tcp writes it (little-endian hex)


def non_loopback_address() -> str | None:
    """An address of this machine other than loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent for a UDP connect
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def wait_listening(port: int, timeout: float = 40) -> set[str]:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := listening_addresses(port):
            return found
        time.sleep(0.2)
    raise AssertionError(f"nothing listened on port {port} within {timeout:.0f}s")


def test_worker_web_and_producer_metrics_listen_on_loopback_only(
    broker: str, tmp_path: Path
) -> None:
    """With default hosts, the worker's web server and the watch-mode metrics bind 127.0.0.1."""
    suffix = uuid.uuid4().hex[:8]
    web_port, metrics_port = free_port(), free_port()
    env = akhbar_env(
        broker,
        app_id=f"akhbar-sec-{suffix}",
        topic_raw=f"sec{suffix}.raw",
        topic_enriched=f"sec{suffix}.enriched",
        topic_dlq=f"sec{suffix}.dlq",
        topic_duplicates=f"sec{suffix}.duplicates",
        topic_staged=f"sec{suffix}.staged",
        data_dir=tmp_path / "state",
        web_port=web_port,
        producer_metrics_port=metrics_port,
    )
    for name in ("AKHBAR_WEB_HOST", "AKHBAR_METRICS_HOST"):
        env.pop(name, None)
    (tmp_path / "inbox").mkdir()
    worker = start_akhbar(["worker"], env, tmp_path / "worker.log")
    watcher = start_akhbar(["produce", "--watch", str(tmp_path / "inbox")], env, tmp_path / "w.log")
    try:
        assert wait_listening(metrics_port) == {LOOPBACK_V4}
        assert wait_listening(web_port) == {LOOPBACK_V4}
        if (address := non_loopback_address()) is not None:
            for port in (web_port, metrics_port):
                with pytest.raises(OSError):
                    socket.create_connection((address, port), timeout=2).close()
    finally:
        assert watcher.stop() == 0, watcher.log.read_text(errors="replace")[-2000:]
        assert worker.stop() == 0, worker.log.read_text(errors="replace")[-2000:]
