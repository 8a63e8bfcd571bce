"""Security settings reach every Kafka client, and the SASL password never shows.

Covers: what ``Settings.kafka_client_options()`` carries for each security protocol; that the
producer, the tail, the topic admin and the Faust worker are all built from it; that the password
is masked in ``repr`` and absent from ``--help`` and from the logs of a worker, ``topics``,
``produce`` and ``tail`` that fail to connect; and the loopback defaults of the HTTP endpoints.
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from akhbar.cli import build_parser, main
from akhbar.common.broker import free_port
from akhbar.common.settings import Settings

PASSWORD = "Zq8-not-for-your-eyes-5e1d"
SASL = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "akhbar-worker",
    "sasl_password": PASSWORD,
}
SECRET_ENV = {
    "AKHBAR_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "AKHBAR_SASL_MECHANISM": "SCRAM-SHA-256",
    "AKHBAR_SASL_USERNAME": "akhbar-worker",
    "AKHBAR_SASL_PASSWORD": PASSWORD,
}


class Refused(Exception):
    """Raised by the fake clients once they have recorded how they were built."""


def fake_client(record: list[dict[str, Any]]) -> type:
    class FakeClient:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            record.append(kwargs)

        async def start(self) -> None:
            raise Refused

        async def stop(self) -> None:
            pass

        async def close(self) -> None:
            pass

    return FakeClient


def comparable(options: dict[str, Any]) -> dict[str, Any]:
    """Options without the SSL context, which is a new object on every call."""
    return {k: v for k, v in options.items() if k != "ssl_context"}


# --- kafka_client_options ----------------------------------------------------------------------


def test_plaintext_options_carry_no_credentials() -> None:
    assert Settings(bootstrap_servers="kafka:9092").kafka_client_options() == {
        "bootstrap_servers": "kafka:9092",
        "security_protocol": "PLAINTEXT",
    }


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_options_carry_mechanism_username_and_the_real_password(
    protocol: str, mechanism: str
) -> None:
    options = Settings(
        **{**SASL, "security_protocol": protocol, "sasl_mechanism": mechanism}
    ).kafka_client_options()
    assert options["security_protocol"] == protocol
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "akhbar-worker"
    assert options["sasl_plain_password"] == PASSWORD  # the value, not a SecretStr
    assert ("ssl_context" in options) == (protocol == "SASL_SSL")


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
def test_tls_options_carry_a_verifying_context(protocol: str) -> None:
    options = Settings(**{**SASL, "security_protocol": protocol}).kafka_client_options()
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


def test_tls_options_load_the_configured_ca_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    with pytest.raises(ssl.SSLError):  # proof the file is read, not ignored
        Settings(security_protocol="SSL", ssl_cafile=ca).kafka_client_options()


def test_security_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    options = Settings().kafka_client_options()
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_plain_password"] == PASSWORD


# --- every client is built from kafka_client_options -------------------------------------------


def test_producer_is_built_from_kafka_client_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from akhbar.producer import publisher

    built: list[dict[str, Any]] = []
    monkeypatch.setattr(publisher, "AIOKafkaProducer", fake_client(built))
    settings = Settings(**SASL)
    publisher.Publisher(settings)
    (options,) = built
    assert comparable(settings.kafka_client_options()).items() <= options.items()
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_tail_consumer_is_built_from_kafka_client_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from akhbar.consumer import tail

    built: list[dict[str, Any]] = []
    monkeypatch.setattr(tail, "AIOKafkaConsumer", fake_client(built))
    settings = Settings(**SASL)
    with pytest.raises(Refused):
        asyncio.run(tail.follow(settings, from_beginning=True, as_json=True))
    (options,) = built
    assert comparable(settings.kafka_client_options()).items() <= options.items()
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_topic_admin_is_built_from_kafka_client_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from akhbar.common import topics

    built: list[dict[str, Any]] = []
    monkeypatch.setattr(topics, "AIOKafkaAdminClient", fake_client(built))
    settings = Settings(**SASL)
    with pytest.raises(Refused):
        asyncio.run(topics.ensure_topics(settings))
    (options,) = built
    assert comparable(settings.kafka_client_options()).items() <= options.items()
    assert isinstance(options["ssl_context"], ssl.SSLContext)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        SASL,
        {**SASL, "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"},
        {"security_protocol": "SSL"},
    ],
    ids=["plaintext", "sasl-ssl-scram", "sasl-plaintext-plain", "ssl"],
)
def test_worker_credentials_give_faust_the_kafka_client_options(
    overrides: dict[str, str], tmp_path: Path
) -> None:
    """What Faust's aiokafka driver derives from the app's credentials equals our options."""
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from akhbar.pipeline.app import build_app

    settings = Settings(**overrides, data_dir=tmp_path, store="memory://")
    pipeline = build_app(settings, chain=NoChain())
    faust_options = dict(credentials_to_aiokafka_auth(pipeline.app.conf.broker_credentials))
    ours = settings.kafka_client_options()
    expected = {k: v for k, v in comparable(ours).items() if k != "bootstrap_servers"}
    assert comparable(faust_options) == expected
    assert ("ssl_context" in ours) == isinstance(faust_options.get("ssl_context"), ssl.SSLContext)
    assert [str(url) for url in pipeline.app.conf.broker] == [
        f"kafka://{settings.bootstrap_servers}"
    ]


class NoChain:
    """Stands in for the stage chain: building the app must not need the NER model."""

    stateless_names: tuple[str, ...] = ()
    stateful_names: tuple[str, ...] = ()
    stages: tuple[tuple[str, object], ...] = ()


# --- the password never shows ------------------------------------------------------------------


def test_repr_and_str_of_settings_mask_the_password() -> None:
    settings = Settings(**SASL)
    for text in (repr(settings), str(settings), repr(settings.model_dump())):
        assert PASSWORD not in text
    assert "**********" in repr(settings)
    assert PASSWORD not in settings.model_dump_json()


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_every_subcommand_is_checked() -> None:
    assert {"broker", "topics", "worker", "produce", "tail", "run"} <= set(subcommands())


@pytest.mark.parametrize("argv", [[], *[[name] for name in subcommands()]], ids=str)
def test_help_never_shows_the_password(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    out, err = capsys.readouterr()
    assert "usage: akhbar" in out
    assert PASSWORD not in out + err


def akhbar(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        **SECRET_ENV,
        "AKHBAR_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nobody listens there
    }
    return subprocess.Popen(
        [sys.executable, "-m", "akhbar.cli", *args],
        env={k: v for k, v in env.items() if k != "AKHBAR_SSL_CAFILE"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_worker_logs_never_show_the_password(tmp_path: Path) -> None:
    """A worker retrying an unreachable broker at debug level: its logs hold no password."""
    worker = akhbar(["worker", "--loglevel", "debug"], cwd=tmp_path)
    try:
        output, _ = worker.communicate(timeout=4)
    except subprocess.TimeoutExpired:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=15)
    assert "unreachable" in output, output[-2000:]  # the logs were captured, and say why
    assert PASSWORD not in output


@pytest.mark.parametrize(
    "args", [["topics"], ["produce", "README.md"], ["tail"]], ids=["topics", "produce", "tail"]
)
def test_a_failed_connection_never_shows_the_password(args: list[str], tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("عنوان\nنص\n", encoding="utf-8")
    process = akhbar(args, cwd=tmp_path)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 3, output[-2000:]
    assert "akhbar: " in output
    assert PASSWORD not in output


# --- HTTP endpoints bind loopback by default ---------------------------------------------------


def test_http_endpoints_default_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AKHBAR_WEB_HOST", "AKHBAR_METRICS_HOST"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.web_host, settings.metrics_host) == ("127.0.0.1", "127.0.0.1")


def test_worker_web_server_binds_the_configured_host(tmp_path: Path) -> None:
    from akhbar.pipeline.app import build_app

    pipeline = build_app(Settings(data_dir=tmp_path, store="memory://"), chain=NoChain())
    assert pipeline.app.conf.web_bind == "127.0.0.1"
    assert pipeline.app.conf.web_host == "127.0.0.1"
