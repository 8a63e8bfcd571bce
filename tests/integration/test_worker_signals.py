"""SIGTERM at any moment of a worker's start-up is a clean stop (exit code 0, no traceback).

Orchestrators send SIGTERM whenever they scale down, also a second after a start. A worker that
dies of the signal's default action reports a crash (143) and looks like a failure to the
operator; CI once caught exactly that, when a crash test stopped a worker it had just restarted.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from akhbar.common.processes import descendants, status_field
from tests.integration.crash_harness import (
    WorkerProcess,
    WorkerStack,
    catches_signal,
    wait_until,
)
from tests.integration.kafka_helpers import port_open

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# Seconds between the worker process first handling SIGTERM and the SIGTERM: spread over
# importing Faust, building the app and joining the consumer group (a few seconds on Tansu).
# (Before its first handler the interpreter is still starting, and only the kernel can act.)
DELAYS = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0, 3.0]


def sigterm_after(stack: WorkerStack, delay: float | None) -> tuple[int, bool, str]:
    """Start a worker, SIGTERM it ``delay`` s after it handles SIGTERM (None: once its web
    server answers); the exit code, whether its web server answered then, and its log."""
    worker = WorkerProcess(stack)
    worker.start()
    assert worker.process is not None
    pid = worker.process.pid
    wait_until(
        lambda: catches_signal(pid, signal.SIGTERM), 30, "a SIGTERM handler", worker.check_alive
    )
    if delay is None:
        wait_until(lambda: port_open(stack.web_port), 60, "the web server", worker.check_alive)
    else:
        time.sleep(delay)
    running = port_open(stack.web_port)
    worker.process.send_signal(signal.SIGTERM)
    try:
        code = worker.process.wait(60)
    finally:
        if worker.process.poll() is None:
            worker.process.kill()
    return code, running, worker.log_tail(20_000)


def test_sigterm_during_start_up_exits_cleanly(broker: str, tmp_path: Path) -> None:
    outcomes = []
    for run, delay in enumerate([*DELAYS, None]):
        (tmp_path / str(run)).mkdir()
        code, running, log = sigterm_after(WorkerStack(broker, tmp_path / str(run)), delay)
        outcomes.append((delay, code, running))
        assert code == 0, f"SIGTERM {delay}s into start-up: exit {code}\n{log[-3000:]}"
        assert "Traceback" not in log, log[-3000:]
    print(f"\nworker signals (delay s, exit code, web server up): {outcomes}")
    # The first SIGTERM came before the worker served: it handles SIGTERM from the start of its
    # start-up, not only once Faust runs (without that, this fails: start-up is unprotected).
    assert not outcomes[0][2], f"SIGTERM handled only once the worker served: {outcomes}"
    assert outcomes[-1][2], outcomes


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (which no longer runs or holds memory)."""
    state = status_field(pid, "State")
    return state is not None and not state.startswith("Z")


def signal_a_serving_worker(stack: WorkerStack, signum: int) -> tuple[int, list[int], str]:
    """Start a worker with a stage process and send it ``signum`` once it serves: its exit code,
    the processes it had started (all ended by the return) and its log."""
    stack.env["AKHBAR_STAGE_PROCESSES"] = "1"
    worker = WorkerProcess(stack)
    worker.start()
    assert worker.process is not None
    try:
        wait_until(lambda: port_open(stack.web_port), 60, "the web server", worker.check_alive)
        children = descendants(worker.process.pid)
        worker.process.send_signal(signum)
        code = worker.process.wait(60)
        wait_until(lambda: not any(running(pid) for pid in children), 30, "stage processes to end")
        return code, children, worker.log_tail(20_000)
    finally:
        if worker.process.poll() is None:
            worker.process.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_stage_processes_end_with_their_worker(
    broker: str, tmp_path: Path, signum: signal.Signals
) -> None:
    """A worker running the stateless stages in a stage process: however the worker ends (a clean
    SIGTERM, or a SIGKILL that runs no shutdown code) its stage processes end with it."""
    code, children, log = signal_a_serving_worker(WorkerStack(broker, tmp_path), signum)
    assert children, "the worker started no stage process"
    assert code == (0 if signum == signal.SIGTERM else -signal.SIGKILL), log[-3000:]


def test_a_stop_over_the_shutdown_timeout_is_cut_short_with_stacks(
    broker: str, tmp_path: Path
) -> None:
    """A worker that takes longer to stop than AKHBAR_SHUTDOWN_TIMEOUT_SECONDS writes every
    thread's stack and exits 1, instead of hanging until an orchestrator's SIGKILL. A timeout
    far below any real stop makes every stop overrun it."""
    stack = WorkerStack(broker, tmp_path)
    stack.env["AKHBAR_SHUTDOWN_TIMEOUT_SECONDS"] = "0.001"
    code, _, log = signal_a_serving_worker(stack, signal.SIGTERM)
    assert code == 1, log[-3000:]
    assert "most recent call first" in log, log[-3000:]
