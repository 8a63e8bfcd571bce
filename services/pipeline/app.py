"""Faust wiring: the app, its topics and dedup table, built in one place from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import REGISTRY, CollectorRegistry

from akhbar.common.settings import Settings
from akhbar.pipeline.chain import Chain, ChainConfig, build_chain
from akhbar.pipeline.head import HeadRunner, InProcessHead, ProcessHead
from akhbar.pipeline.outbox import Deliveries, ProducerTopic
from akhbar.pipeline.sensors import setup_sensors
from akhbar.pipeline.transport import OffsetGaps, use_transport


@dataclass
class Pipeline:
    """Everything the agents need: the app, its topics, the dedup table and the chain.

    ``raw`` and ``staged_source`` are the Faust topics the agents consume; ``staged``,
    ``enriched``, ``duplicates`` and ``dlq`` are where they send (anything with an async
    ``send(key=, value=)``; tests put recorders there). ``head`` runs the chain's stateless
    stages for the head agent, in the event loop or in stage processes. ``deliveries`` watches
    every send: once one has failed, nothing more is committed.
    """

    settings: Settings
    app: faust.App
    raw: Any
    staged_source: Any
    staged: Any
    enriched: Any
    duplicates: Any
    dlq: Any
    dedup_table: Any
    chain: Chain
    head: HeadRunner
    deliveries: Deliveries


def chain_config(settings: Settings) -> ChainConfig:
    """The part of Settings the stages see (stages never import settings themselves)."""
    return ChainConfig(
        boilerplate_rules=settings.boilerplate_rules,
        min_article_chars=settings.min_article_chars,
        min_arabic_ratio=settings.min_arabic_ratio,
        dedup_max_entries=settings.dedup_max_entries,
        dedup_max_age_seconds=settings.dedup_max_age_days * 86400.0,
    )


def broker_credentials(settings: Settings) -> Any:
    """Faust credentials object for SASL and/or TLS, or None for PLAINTEXT.

    Built from ``Settings.kafka_client_options()``, the options every aiokafka client of ours
    gets, so the worker cannot connect differently from the producer, the tail or the admin.
    """
    options = settings.kafka_client_options()
    context = options.get("ssl_context")
    if settings.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"] or "",
            mechanism=options["sasl_mechanism"],
            ssl_context=context,
        )
    return context


class ProcessMetrics:
    """A collector that forwards the process-wide registry (the akhbar_* metrics)."""

    def collect(self) -> Any:
        return REGISTRY.collect()


def metrics_registry() -> CollectorRegistry:
    """A registry for one app: Faust's sensors, plus everything in the process-wide registry.

    Faust registers its sensors once per app; a registry of their own lets several apps live in
    one process (tests) while /metrics still serves the akhbar_* metrics too.
    """
    registry = CollectorRegistry()
    registry.register(ProcessMetrics())
    return registry


def build_app(settings: Settings, *, chain: Chain | None = None) -> Pipeline:
    """Create the Faust app, declare topics and table, load the chain, attach the agents."""
    from akhbar.pipeline.agents import attach_agents

    datadir = settings.data_dir / "worker"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap_servers}",
        broker_credentials=broker_credentials(settings),
        store=settings.store,
        datadir=str(datadir),
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        producer_acks=-1,
        producer_linger_ms=2,
        producer_max_batch_size=settings.producer_max_batch_bytes,
        # How long a send may go unacknowledged (retried meanwhile) before it fails for good;
        # a failed send stops the worker before its article's offset is committed.
        producer_request_timeout=settings.producer_timeout_seconds,
        # Start-up speed: no artificial wait before streams resume after a rebalance, and
        # short group timings (the embedded broker's group join is the slow step).
        stream_recovery_delay=0.0,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=10.0,
        broker_commit_interval=1.0,
        table_standby_replicas=0,
        web_enabled=True,
    )
    deliveries = Deliveries()
    # The topics the agents consume have dense offsets (not compacted, no transactions).
    dense = OffsetGaps({settings.topic_raw, settings.topic_staged})
    use_transport(app, settings.fetch_max_wait_ms, deliveries, dense)
    setup_sensors(app, metrics_registry(), deliveries)

    def source(name: str, partitions: int) -> Any:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=partitions,
            replicas=settings.replication_factor,
        )

    # One partition: the dedup index is one global view (see README, "Dedup state").
    # Keys are str and values JSON-able; Faust's table default serializer is json.
    # The dedup agent iterates event by event: Faust's rocksdb store takes the partition of
    # every write from the current event, which batch iteration (take_events) does not set.
    dedup_table = app.Table("dedup-index", partitions=1, key_type=str)
    head: HeadRunner
    config = chain_config(settings)
    if chain is not None:  # a caller's own chain (tests) runs in the event loop
        head = InProcessHead(chain, settings.max_article_bytes)
    elif settings.stage_processes > 0:
        head = ProcessHead(config, settings.max_article_bytes, settings.stage_processes)
        chain = build_chain(config, dedup_table, parts="stateful")
    else:
        chain = build_chain(config, dedup_table)
        head = InProcessHead(chain, settings.max_article_bytes)
    pipeline = Pipeline(
        settings=settings,
        app=app,
        raw=source(settings.topic_raw, settings.partitions),
        staged_source=source(settings.topic_staged, 1),
        staged=ProducerTopic(app, settings.topic_staged, deliveries),
        enriched=ProducerTopic(app, settings.topic_enriched, deliveries),
        duplicates=ProducerTopic(app, settings.topic_duplicates, deliveries),
        dlq=ProducerTopic(app, settings.topic_dlq, deliveries),
        dedup_table=dedup_table,
        chain=chain,
        head=head,
        deliveries=deliveries,
    )
    attach_agents(pipeline)
    return pipeline
