"""The worker's lean Faust monitor: the faust_* series kept are fed, the per-event ones are gone."""

from __future__ import annotations

import time

import faust
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest

from akhbar.pipeline.outbox import Deliveries
from akhbar.pipeline.sensors import UNFED, LeanPrometheusMonitor, setup_sensors


def test_messages_are_counted_per_topic_and_the_last_offset_per_partition() -> None:
    registry = CollectorRegistry()
    app = faust.App(f"sensors-{time.time_ns()}", web_enabled=False)
    deliveries = Deliveries()
    setup_sensors(app, registry, deliveries)
    monitor = app.monitor
    assert isinstance(monitor, LeanPrometheusMonitor)
    for offset in (40, 41, 42):
        monitor.on_message_in(TP("raw", 2), offset, None)
    monitor.on_message_in(TP("staged", 0), 7, None)
    monitor.on_send_error(None, RuntimeError("refused"), None)
    text = generate_latest(registry).decode()
    assert "faust_messages_received_total 4.0" in text
    assert 'faust_messages_received_per_topic_total{topic="raw"} 3.0' in text
    assert 'faust_messages_received_per_topics_partition{partition="2",topic="raw"} 42.0' in text
    assert "faust_total_error_messages_sent_total 1.0" in text
    assert "faust_total_rebalances" in text and "faust_consumer_commit_latency" in text
    for gone in ("faust_total_events", "faust_table_operations", "faust_producer_send_latency"):
        assert gone not in text
    assert all(hasattr(monitor._metrics, name) for name in UNFED)  # no typo hides a series
    assert deliveries.failure is not None  # a failed Faust send stops later commits too
