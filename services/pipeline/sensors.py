"""Faust's Prometheus sensor (``faust_*`` metrics) without its per-event bookkeeping.

Faust's ``PrometheusMonitor`` runs Python on every message, every stream event (in and out),
every table read, write and delete, and every send. With two hops and three table writes per
article, those hooks were ~8 % of the worker's main thread in a py-spy profile, for metrics that
``akhbar_*`` already covers per stage (articles, stage latency, end-to-end latency) or that
nothing reads. This monitor keeps what the dashboard, the bench and an operator use:

- ``faust_messages_received_total``, ``..._per_topic_total`` and ``..._per_topics_partition``
  (the offset last read), label children looked up once per topic and partition;
- send errors (``faust_total_error_messages_sent``), which also stop every later commit
  (``outbox.Deliveries``);
- rebalances (``faust_total_rebalances*``, ``faust_rebalance_done_*``), assignments, commit
  latency, committed and end offsets, web requests: all per-rebalance, per-commit or
  per-request, so they stay as Faust has them.

The per-event series it does not feed are unregistered, so ``/metrics`` does not show them
stuck at zero: ``faust_active_messages``, ``faust_events_runtime_ms``, ``faust_total_events``,
``faust_total_active_events``, ``faust_total_events_per_stream``, ``faust_table_operations``,
``faust_topic_messages_sent``, ``faust_total_sent_messages``, ``faust_producer_send_latency`` and
``faust_producer_error_send_latency``.
"""

from __future__ import annotations

from typing import Any

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from akhbar.pipeline.outbox import Deliveries

NAME_PREFIX = "faust"

UNFED = (
    "active_messages",
    "events_runtime_latency",
    "total_events",
    "total_active_events",
    "total_events_per_stream",
    "table_operations",
    "topic_messages_sent",
    "total_sent_messages",
    "producer_send_latency",
    "producer_error_send_latency",
)


class LeanPrometheusMonitor(PrometheusMonitor):
    """``PrometheusMonitor`` whose per-event hooks do only what the kept metrics need.

    It also tells ``deliveries`` of a send Faust made itself (table changelog writes) that
    failed: one sensor instead of two, since Faust calls every sensor on every event.
    """

    def __init__(self, metrics: FaustMetrics, deliveries: Deliveries, **kwargs: Any) -> None:
        super().__init__(metrics, **kwargs)
        self.deliveries = deliveries
        self._by_topic: dict[str, Any] = {}
        self._by_tp: dict[Any, Any] = {}

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self._metrics.messages_received.inc()
        per_topic = self._by_topic.get(tp.topic)
        if per_topic is None:
            per_topic = self._metrics.messages_received_per_topics.labels(topic=tp.topic)
            self._by_topic[tp.topic] = per_topic
        per_topic.inc()
        per_tp = self._by_tp.get(tp)
        if per_tp is None:
            per_tp = self._metrics.messages_received_per_topics_partition.labels(
                topic=tp.topic, partition=tp.partition
            )
            self._by_tp[tp] = per_tp
        per_tp.set(offset)

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_table_del(self, table: Any, key: Any) -> None:
        return None

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> None:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self._metrics.total_error_messages_sent.inc()
        self.deliveries.failed_send("a Faust topic (table changelog)", exc)


def create_metrics(registry: CollectorRegistry) -> FaustMetrics:
    """Faust's ``faust_*`` metrics in ``registry``, less the ones this monitor does not feed."""
    metrics = FaustMetrics.create(registry, NAME_PREFIX)
    for name in UNFED:
        registry.unregister(getattr(metrics, name))
    return metrics


def setup_sensors(
    app: Any, registry: CollectorRegistry, deliveries: Deliveries, pattern: str = "/metrics"
) -> None:
    """Give ``app`` the lean monitor over ``registry`` and serve the registry at ``pattern``
    (what ``faust.sensors.prometheus.setup_prometheus_sensors`` does, with this monitor)."""
    from aiohttp.web import Response

    app.monitor = LeanPrometheusMonitor(metrics=create_metrics(registry), deliveries=deliveries)

    @app.page(pattern)
    async def metrics_page(view: Any, request: Any) -> Any:
        headers = {"Content-Type": CONTENT_TYPE_LATEST}
        return Response(body=generate_latest(registry), headers=headers, status=200)
