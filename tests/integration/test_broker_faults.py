"""Broker faults: a worker started before its broker waits for it, and one whose broker stops
answering for a while carries on once it answers again.

These tests start a broker of their own (never the session one): they start it late, and
freeze it. A frozen broker stands in for a network partition: Tansu keeps its data in memory, so
a real broker restart would lose every topic and offset, which tests nothing about the worker.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from akhbar.common.broker import EmbeddedBroker, free_port, start_broker
from tests.integration.crash_harness import (
    Input,
    OutputCollector,
    WorkerProcess,
    WorkerStack,
    article_mix,
    produce_in_order,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

OUTAGE_SECONDS = 12.0
UNREACHABLE = re.compile(r"broker 127\.0\.0\.1:(\d+) unreachable \(.+\); retrying in ([\d.]+)s")


@dataclass
class LateBroker:
    """A worker that was started while nothing listened on its broker port, and that broker."""

    broker: EmbeddedBroker
    stack: WorkerStack
    worker: WorkerProcess
    log_before_broker: str
    articles: list[Input]
    broker_started: float

    def send(self, *items: Input) -> None:
        asyncio.run(produce_in_order(self.broker.bootstrap, self.stack.raw, items))


@pytest.fixture(scope="module")
def late_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LateBroker]:
    """Start the worker against a free port, let it retry for a while, then start the broker."""
    tmp = tmp_path_factory.mktemp("faults")
    port = free_port()
    stack = WorkerStack(f"127.0.0.1:{port}", tmp)
    worker = WorkerProcess(stack)
    worker.start()
    broker: EmbeddedBroker | None = None
    try:
        # Back-off 0.5, 1, 2, 4 s: three failed attempts take about 3.5 s after start-up.
        wait_until(
            lambda: len(UNREACHABLE.findall(worker.log_tail(100_000))) >= 3,
            60,
            "three 'unreachable' lines",
            alive=worker.check_alive,
        )
        log_before_broker = worker.log_tail(100_000)
        broker = start_broker(port)
        broker_started = time.monotonic()
        # Logged once the broker answered and the topics exist.
        wait_until(
            lambda: "worker starting" in worker.log_tail(100_000),
            60,
            "the worker start",
            alive=worker.check_alive,
        )
        articles = [a for a in article_mix(40, 11) if a.kind == "fresh"]
        yield LateBroker(broker, stack, worker, log_before_broker, articles, broker_started)
    finally:
        code = worker.stop()
        print(worker.log_tail())
        if broker is not None:
            broker.stop()
    assert code == 0, f"worker exited with {code}"


def test_worker_started_before_the_broker_retries_then_processes(late_broker: LateBroker) -> None:
    """With no broker, the worker logs one clear line per attempt with a growing back-off and
    stays up (no crash loop); once the broker starts on that port it creates the topics and an
    article produced then comes out enriched."""
    lines = UNREACHABLE.findall(late_broker.log_before_broker)
    assert len(lines) >= 3, late_broker.log_before_broker
    assert {port for port, _ in lines} == {str(late_broker.broker.port)}
    delays = [float(delay) for _, delay in lines]
    assert delays == sorted(delays) and delays[-1] > delays[0], delays
    assert "Traceback" not in late_broker.log_before_broker
    late_broker.worker.check_alive()

    stack, first = late_broker.stack, late_broker.articles[0]
    with OutputCollector(late_broker.broker.bootstrap, [stack.enriched, stack.dlq]) as outputs:
        sent = time.monotonic()
        late_broker.send(first)
        outputs.wait_for_ids({first.id}, 60, alive=late_broker.worker.check_alive)
        print(
            f"\nbroker faults: the first article came out {time.monotonic() - sent:.1f}s after "
            f"it was sent ({time.monotonic() - late_broker.broker_started:.1f}s after the "
            "broker started)"
        )
        (event,) = [r.value for r in outputs.records()]
    assert event["id"] == first.id and event["dedup"]["status"] == "unique"


def test_worker_resumes_after_the_broker_stops_answering(late_broker: LateBroker) -> None:
    """SIGSTOP the broker for 12 s (longer than the worker's 10 s session timeout) and SIGCONT
    it: the worker stays up, and an article produced after the outage comes out enriched.

    SIGSTOP is an honest stand-in for a network partition or a hung broker: connections stay
    open but nothing answers. A real restart of Tansu would lose all data (memory storage).
    """
    stack = late_broker.stack
    before, after = late_broker.articles[1], late_broker.articles[2]
    with OutputCollector(late_broker.broker.bootstrap, [stack.enriched, stack.dlq]) as outputs:
        late_broker.send(before)  # the worker is up and processing before the outage
        outputs.wait_for_ids({before.id}, 60, alive=late_broker.worker.check_alive)

        pid = late_broker.broker.process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(OUTAGE_SECONDS)
            late_broker.worker.check_alive()
        finally:
            os.kill(pid, signal.SIGCONT)

        resumed = time.monotonic()
        late_broker.send(after)
        outputs.wait_for_ids({after.id}, 90, alive=late_broker.worker.check_alive)
        print(
            f"\nbroker faults: an article sent after a {OUTAGE_SECONDS:.0f}s outage came out "
            f"{time.monotonic() - resumed:.1f}s after SIGCONT"
        )
        events = {r.value["id"]: r.value for r in outputs.records()}
    assert events[after.id]["dedup"]["status"] == "unique"
    assert set(events) >= {before.id, after.id}
    late_broker.worker.check_alive()
