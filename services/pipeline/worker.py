"""``akhbar worker``: wait for the broker, make sure the topics exist, run the Faust app."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import signal
import sys
from typing import Any

import faust
from prometheus_client import disable_created_metrics

from akhbar.common.processes import defer_sigterm, sigterm_requested
from akhbar.common.settings import Settings
from akhbar.common.topics import ensure_topics
from akhbar.pipeline.app import build_app

log = logging.getLogger("akhbar.worker")
MAX_BACKOFF_SECONDS = 10.0


async def wait_for_broker(settings: Settings, stop: asyncio.Event) -> bool:
    """Retry until the broker answers (creating missing topics); False if stopped first.

    A broker that is down at start-up is an expected state (it may start after us), so it
    gets one clear log line per attempt and an exponential back-off, not a crash loop.
    """
    delay = 0.5
    while not stop.is_set():
        try:
            await ensure_topics(settings)
            return True
        except Exception as exc:  # aiokafka raises several connection error types
            log.warning(
                "broker %s unreachable (%s); retrying in %.1fs",
                settings.bootstrap_servers,
                exc,
                delay,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, MAX_BACKOFF_SECONDS)
    return False


async def broker_ready(settings: Settings) -> bool:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        if sigterm_requested():  # before the handlers above
            stop.set()
        ready = await wait_for_broker(settings, stop)
        # A signal while the topics were being checked sets ``stop`` but does not interrupt
        # that check: it must still stop the worker, not be lost.
        return ready and not stop.is_set()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)  # which puts back the default action
        defer_sigterm()


class _Worker(faust.Worker):
    """Faust's worker, with two guards on stopping.

    - A stop asked for before the consumer got its first partitions waits for them. Faust
      (mode 0.15) can hang stopping while its consumer thread is still starting (the thread
      never reports that it stopped, and the worker waits on it), or crash with
      ``InvalidStateError``: one hang and one crash in 78 SIGTERMs in the first 1.5 s of its
      start-up, none in 122 with this guard. Once the consumer has its partitions, Faust stops
      cleanly, table recovery included.
    - From the first stop request on, the stop has ``shutdown_timeout`` seconds
      (``arm_shutdown_watchdog``).
    """

    def __init__(self, app: faust.App, *, shutdown_timeout: float, loglevel: str) -> None:
        super().__init__(app, loglevel=loglevel, quiet=True)
        self.shutdown_timeout_seconds = shutdown_timeout
        self._assigned = False
        self._deferred_stop: signal.Signals | None = None
        self._stop_requested = False
        app.on_partitions_assigned.connect(self._on_partitions_assigned)

    def install_signal_handlers(self) -> None:
        super().install_signal_handlers()
        if sigterm_requested():  # it came before these handlers: stop as they would have
            self._schedule_shutdown(signal.SIGTERM)

    def _schedule_shutdown(self, signum: signal.Signals) -> None:
        self._stopping()
        if not self._assigned:
            if self._deferred_stop is None:
                log.warning(
                    "%s during start-up: stopping once the consumer has its partitions", signum.name
                )
                self._deferred_stop = signum
            return
        super()._schedule_shutdown(signum)

    async def _on_partitions_assigned(self, sender: Any, /, *args: Any, **kwargs: Any) -> None:
        if self._assigned:
            return
        self._assigned = True
        if self._deferred_stop is not None:
            # After the assignment handler that sent this signal has returned.
            self.loop.call_soon(super()._schedule_shutdown, self._deferred_stop)

    def on_worker_shutdown(self) -> None:
        # The other ways a worker stops (a crash, a failed delivery) come here first.
        self._stopping()
        super().on_worker_shutdown()

    def _stopping(self) -> None:
        """Arm the shutdown watchdog at the first stop request, whichever way it came."""
        if not self._stop_requested:
            self._stop_requested = True
            arm_shutdown_watchdog(self.shutdown_timeout_seconds)


def arm_shutdown_watchdog(seconds: float) -> None:
    """If the process still runs ``seconds`` from now, write every thread's stack to stderr and
    exit with code 1 (``faulthandler``, from a C thread, so a blocked event loop or a stuck
    join cannot stop it). The stage processes die with the worker (PR_SET_PDEATHSIG)."""
    # The process's own stderr: Faust replaces sys.stderr with a logging proxy that has no file
    # descriptor for faulthandler to write to.
    stream = sys.__stderr__
    if stream is None:
        log.warning("no stderr: a stop that hangs is not cut short")
        return
    log.info("stopping; a stop that takes over %.0fs is reported and cut short", seconds)
    faulthandler.dump_traceback_later(seconds, exit=True, file=stream)


def run_worker(settings: Settings, *, loglevel: str = "warning") -> int:
    """Build the pipeline and hand it to a Faust worker (which installs the signal handlers).

    A SIGTERM before Faust handles it is remembered (``defer_sigterm``) and honoured here, at
    points where stopping leaves nothing half-started, or by Faust as soon as it runs.
    """
    defer_sigterm()
    disable_created_metrics()
    if not asyncio.run(broker_ready(settings)) or sigterm_requested():
        return 0
    pipeline = build_app(settings)
    try:
        pipeline.head.wait_ready()  # the stage processes loaded the stages (or fail here)
    except Exception as exc:
        log.error("the stage process could not load the stages (see its error above): %r", exc)
        pipeline.head.close()
        return 1
    if sigterm_requested():
        pipeline.head.close()
        return 0
    log.warning(
        "worker starting: broker %s, consuming %s", settings.bootstrap_servers, settings.topic_raw
    )
    worker = _Worker(
        pipeline.app, shutdown_timeout=settings.shutdown_timeout_seconds, loglevel=loglevel
    )
    # faust.Worker builds a terminal spinner and, for it, sets the root logger to DEBUG, so every
    # aiokafka/faust debug call builds a log record (~4% of worker CPU in a profile). No spinner.
    worker.spinner = None
    try:
        worker.execute_from_commandline()  # raises SystemExit once Faust has stopped
    finally:
        # Faust knows nothing of the stage processes: stop them here, bounded, rather than
        # leave them to the interpreter's exit, which joins them without a timeout.
        pipeline.head.close()
    return 0
