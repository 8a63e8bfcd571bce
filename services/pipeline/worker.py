"""``akhbar worker``: wait for the broker, make sure the topics exist, run the Faust app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

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
    def install_signal_handlers(self) -> None:
        super().install_signal_handlers()
        if sigterm_requested():  # it came before these handlers: stop as they would have
            self._schedule_shutdown(signal.SIGTERM)


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
    worker = _Worker(pipeline.app, loglevel=loglevel, quiet=True)
    # faust.Worker builds a terminal spinner and, for it, sets the root logger to DEBUG, so every
    # aiokafka/faust debug call builds a log record (~4% of worker CPU in a profile). No spinner.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0
