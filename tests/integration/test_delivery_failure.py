"""A send the broker never acknowledges stops the worker before its article is committed past.

The worker's producer retries an unacknowledged send for ``AKHBAR_PRODUCER_TIMEOUT_SECONDS``,
then the send fails for good. Faust flushes the producer before each commit, but the flush only
waits for sends to end, not to succeed; before ``outbox.Deliveries`` such a failure was dropped
and the offsets behind it committed, losing those articles. Now the worker commits nothing after
a failed send and exits non-zero; a restarted worker processes the uncommitted articles again.

The broker is frozen (SIGSTOP) for longer than the producer timeout while the worker drains a
backlog, on a broker of the test's own: that stands in for a broker that takes a send and never
answers. The other faults (a broker that answers again before the timeout) are in
``test_broker_faults``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest

from akhbar.common.broker import EmbeddedBroker, start_broker
from tests.integration.crash_harness import (
    OutputCollector,
    WorkerProcess,
    WorkerStack,
    article_mix,
    produce_in_order,
    wait_until,
)
from tests.integration.kafka_helpers import run_akhbar

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

PRODUCER_TIMEOUT_SECONDS = 3
FREEZE_SECONDS = 9.0
ARTICLES = 600


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    broker = start_broker(None)
    try:
        yield broker
    finally:
        broker.stop()


def test_a_send_that_times_out_stops_the_worker_and_nothing_is_lost(
    own_broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stack = WorkerStack(own_broker.bootstrap, tmp_path_factory.mktemp("delivery"))
    stack.env["AKHBAR_PRODUCER_TIMEOUT_SECONDS"] = str(PRODUCER_TIMEOUT_SECONDS)
    articles = article_mix(ARTICLES, 23)
    warm, backlog = articles[0], articles[1:]
    created = run_akhbar(["topics"], stack.env)
    assert created.returncode == 0, created.stderr
    worker = WorkerProcess(stack, restartable_on_tansu=True)
    worker.start()
    try:
        with OutputCollector(own_broker.bootstrap, [stack.enriched, stack.dlq]) as outputs:
            asyncio.run(produce_in_order(own_broker.bootstrap, stack.raw, [warm]))
            outputs.wait_for_ids({warm.id}, 90, alive=worker.check_alive)

            asyncio.run(produce_in_order(own_broker.bootstrap, stack.raw, backlog))
            # Freeze the broker while the worker is in the middle of the backlog.
            wait_until(lambda: outputs.count() >= 40, 60, "40 outputs", alive=worker.check_alive)
            os.kill(own_broker.process.pid, signal.SIGSTOP)
            try:
                time.sleep(FREEZE_SECONDS)
            finally:
                os.kill(own_broker.process.pid, signal.SIGCONT)
            assert len(outputs.ids()) < ARTICLES, "the whole backlog was out before the freeze"

            process = worker.process
            assert process is not None
            wait_until(lambda: process.poll() is not None, 90, "the worker to stop on its own")
            first_log = worker.log_tail(1_000_000)
            assert process.returncode != 0, first_log[-3000:]
            assert "was not delivered" in first_log, first_log[-3000:]

            wanted = {a.id for a in articles}
            worker.start()  # the same state and group: it resumes from the last commit
            outputs.wait_for_ids(wanted, 180, alive=worker.check_alive)
            print(
                f"\ndelivery failure: the first worker exited with {process.returncode} after "
                f"the broker froze; all {len(wanted)} ids out after a restart"
            )
    finally:
        code = worker.stop()
        print(worker.log_tail())
    assert code == 0, f"the restarted worker exited with {code}"
