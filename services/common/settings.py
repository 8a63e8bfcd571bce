"""One frozen settings object for every akhbar process, read from ``AKHBAR_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of the producer, the worker, the tail and the benchmark.

    Built once at the entrypoint (``Settings()``) and passed down; nothing else reads the
    environment. Every field can be set as ``AKHBAR_<FIELD>`` (for example
    ``AKHBAR_BOOTSTRAP_SERVERS=kafka:9092``).
    """

    model_config = SettingsConfigDict(env_prefix="AKHBAR_", frozen=True, extra="ignore")

    # Broker connection
    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-256"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    # Topics
    topic_raw: str = "akhbar.articles.raw"
    topic_enriched: str = "akhbar.articles.enriched"
    topic_dlq: str = "akhbar.articles.dlq"
    topic_duplicates: str = "akhbar.articles.duplicates"
    topic_staged: str = "akhbar.articles.staged"
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)

    # Worker
    app_id: str = "akhbar"
    data_dir: Path = Path("var")
    store: str = "rocksdb://"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    duplicates_policy: Literal["flag", "topic"] = "flag"
    boilerplate_rules: Path | None = None
    min_article_chars: int = Field(default=80, ge=0)
    min_arabic_ratio: float = Field(default=0.6, ge=0.0, le=1.0)
    # About 14 KB of worker memory per remembered article (README, "Dedup state").
    dedup_max_entries: int = Field(default=200_000, ge=1)
    dedup_max_age_days: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=500, ge=1)
    # Processes that run the stateless stages (normalise, entities, fingerprint) beside the
    # worker's event loop, which keeps Kafka, Faust and dedup; 0 runs them in the event loop
    # (one core per worker, ~60 MB less memory).
    stage_processes: int = Field(default=1, ge=0, le=64)
    # Upper bound of one producer record batch, per partition. aiokafka's 16 KiB holds two or
    # three articles, so a backlog became one produce request per couple of records: 512 KiB
    # measured 367 -> 442 articles/s in `make bench` (415 -> 586 with a stage process), and
    # stays under Kafka's 1 MB default message.max.bytes. The embedded broker (Tansu 0.6)
    # reports a partition's end offset as the first offset of its last batch + 1, so Faust's
    # table recovery stops short of the last batch's other records; 1 byte makes every record a
    # batch of its own, which `akhbar run` and the tests use. Apache Kafka needs no such thing.
    producer_max_batch_bytes: int = Field(default=524_288, ge=1)
    # Bytes of staged records the head sends in one message to the dedup agent (a bundle); one
    # Kafka record per bundle instead of per article. Keep it under the broker's message limit
    # (Kafka's default message.max.bytes is ~1 MB); 1 sends every record alone.
    staged_bundle_bytes: int = Field(default=262_144, ge=1, le=16_777_216)
    batch_within_seconds: float = Field(default=0.05, gt=0)
    # How long a consumer fetch may wait for records. Faust's fixed 1500 ms is fine on Apache
    # Kafka (which answers on arrival) but is added to every hop's latency on the embedded broker.
    fetch_max_wait_ms: int = Field(default=50, ge=1, le=10_000)
    # How long the worker's producer retries a send the broker does not acknowledge before the
    # send fails; a failed send stops the worker with nothing committed past it. Faust's default.
    producer_timeout_seconds: float = Field(default=1200.0, gt=0)
    # Longest a worker may take to stop once it got SIGTERM or SIGINT. Past it, it writes every
    # thread's stack to stderr and exits with code 1: a stuck shutdown is reported, not left to
    # an orchestrator's SIGKILL (docker-compose.yml gives it 30 s). Nothing is lost either way:
    # what was not committed is processed again.
    shutdown_timeout_seconds: float = Field(default=25.0, gt=0)

    # Producer
    max_article_bytes: int = Field(default=262_144, ge=1)
    producer_metrics_port: int = 9309
    metrics_host: str = "127.0.0.1"
    watch_interval_seconds: float = Field(default=0.5, gt=0)
    settle_seconds: float = Field(default=1.0, ge=0)

    def kafka_client_options(self) -> dict[str, object]:
        """Connection options shared by every aiokafka client (producer, consumer, admin)."""
        options: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        if self.security_protocol.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None,
                certfile=str(self.ssl_certfile) if self.ssl_certfile else None,
                keyfile=str(self.ssl_keyfile) if self.ssl_keyfile else None,
            )
        return options
