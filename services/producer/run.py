"""The producer's entrypoints: publish files once (``produce``) or keep watching a folder.

Exit codes: 0 all sent, 1 some documents rejected (dead-lettered), 2 usage error (a path that
does not exist), 3 the broker is unreachable or stopped acknowledging.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
from collections.abc import AsyncGenerator, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from prometheus_client import start_http_server

from akhbar.common.settings import Settings
from akhbar.producer.delivery import Delivery, deliver, failure_line, rejection_line
from akhbar.producer.exceptions import BrokerUnavailable, UsageError
from akhbar.producer.files import FileRead, FileStamp, SourceFile, discover, read_file
from akhbar.producer.ledger import LEDGER_FILENAME, Ledger, LedgerEntry
from akhbar.producer.publisher import Publisher, Sender
from akhbar.producer.report import Reporter, wants_progress
from akhbar.producer.watcher import Candidate, Watcher, refuse_outside

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_BROKER = 0, 1, 2, 3
# Files per send batch: large enough to fill Kafka batches, small enough to stop promptly.
BATCH_FILES = 256
T = TypeVar("T")


def produce(
    settings: Settings, paths: list[Path], *, source: str | None, progress: bool | None = None
) -> int:
    """Publish the article files under ``paths`` once; return the exit code."""
    return asyncio.run(produce_async(settings, paths, source=source, progress=progress))


async def produce_async(
    settings: Settings, paths: list[Path], *, source: str | None, progress: bool | None = None
) -> int:
    """``produce`` for callers that already run an event loop."""
    try:
        files = discover(paths, source)
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        publisher = await _connected(settings)
    except BrokerUnavailable as exc:
        return _fail(str(exc), EXIT_BROKER)
    try:
        with Reporter(len(files), progress=wants_progress(progress)) as reporter:
            return await _send_files(settings, publisher, files, reporter)
    finally:
        await publisher.stop()


async def _send_files(
    settings: Settings, publisher: Publisher, files: Sequence[SourceFile], reporter: Reporter
) -> int:
    """Send ``files`` batch by batch; the exit code of the run."""
    rejected = False
    async with contextlib.aclosing(_read_ahead(files, settings.max_article_bytes)) as batches:
        async for reads in batches:
            deliveries = await deliver(settings, publisher, reads)
            rejected |= _report(reporter, deliveries)
            reporter.advance(len(reads))
            if any(not d.acknowledged for d in deliveries):
                # The broker stopped acknowledging; later batches would only time out too.
                reporter.line("akhbar: stopped: the broker did not acknowledge every message")
                return EXIT_BROKER
    return EXIT_REJECTED if rejected else EXIT_OK


async def _read_ahead(
    files: Sequence[SourceFile], max_bytes: int
) -> AsyncGenerator[list[FileRead], None]:
    """Batches of read files; the next batch is read in a thread while this one is being sent."""
    batches = list(_chunks(files, BATCH_FILES))
    ahead = _read_soon(batches[0], max_bytes) if batches else None
    try:
        for upcoming in [*batches[1:], None]:
            assert ahead is not None
            current = ahead
            ahead = _read_soon(upcoming, max_bytes) if upcoming else None
            yield await current
    finally:
        if ahead is not None:
            ahead.cancel()  # the caller stopped early; that batch will not be sent


def _read_soon(files: Sequence[SourceFile], max_bytes: int) -> asyncio.Task[list[FileRead]]:
    return asyncio.ensure_future(asyncio.to_thread(_read_all, files, max_bytes))


def watch(
    settings: Settings,
    directory: Path,
    *,
    source: str | None,
    ledger_path: Path | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Watch ``directory`` until SIGINT or SIGTERM (or ``stop``); return the exit code."""

    async def main() -> int:
        stopping = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        try:
            return await watch_async(
                settings, directory, source=source, ledger_path=ledger_path, stop=stopping
            )
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    return asyncio.run(main())


async def watch_async(
    settings: Settings,
    directory: Path,
    *,
    source: str | None,
    ledger_path: Path | None = None,
    stop: asyncio.Event | None = None,
    serve_metrics: bool = True,
) -> int:
    """Publish every complete new file under ``directory`` until ``stop`` is set.

    On stop the batch in flight is finished, flushed and recorded before returning. Signals are
    the caller's business here (``watch`` installs handlers), so this can share a loop.
    """
    if not directory.is_dir():
        return _fail(f"not a directory: {directory}", EXIT_USAGE)
    stop = stop or asyncio.Event()
    try:
        ledger = Ledger(ledger_path or settings.data_dir / LEDGER_FILENAME)
    except (OSError, sqlite3.Error) as exc:
        return _fail(f"cannot open the ledger: {exc}", EXIT_USAGE)
    try:
        publisher = await _connected(settings)
    except BrokerUnavailable as exc:
        ledger.close()
        return _fail(str(exc), EXIT_BROKER)
    server = (
        start_http_server(settings.producer_metrics_port, settings.metrics_host)
        if serve_metrics
        else None
    )
    watcher = Watcher(
        directory, source=source, settle_seconds=settings.settle_seconds, ledger=ledger
    )
    reporter = Reporter()
    try:
        while not stop.is_set():
            ready = await asyncio.to_thread(watcher.poll)
            for chunk in _chunks(ready, BATCH_FILES):
                await publish_ready(settings, publisher, ledger, chunk, reporter)
                if stop.is_set():
                    break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.watch_interval_seconds)
    finally:
        await publisher.stop()
        ledger.close()
        if server is not None:
            server[0].shutdown()
            server[0].server_close()
    return EXIT_OK


async def publish_ready(
    settings: Settings,
    publisher: Sender,
    ledger: Ledger,
    candidates: Sequence[Candidate],
    reporter: Reporter,
) -> None:
    """Read, send and record one batch of settled files."""
    reads = await asyncio.to_thread(_read_candidates, candidates, settings.max_article_bytes)
    to_send: list[tuple[Candidate, FileRead]] = []
    touched: list[LedgerEntry] = []
    for candidate, read in zip(candidates, reads, strict=True):
        if read.stamp is not None and not candidate.matches(read.stamp):
            continue  # it changed while we read it: the next poll sees that and waits again
        stamp = read.stamp or FileStamp(candidate.stat.size, candidate.stat.mtime_ns, "")
        known = ledger.get(candidate.ledger_path)
        if known is not None and known.stamp.sha256 == stamp.sha256:
            touched.append(LedgerEntry(candidate.ledger_path, stamp, known.outcome))
        else:
            to_send.append((candidate, read))
    deliveries = await deliver(settings, publisher, [read for _, read in to_send])
    _report(reporter, deliveries)
    ledger.record(touched + acknowledged_entries(to_send, deliveries))


def acknowledged_entries(
    sent: Sequence[tuple[Candidate, FileRead]], deliveries: Sequence[Delivery]
) -> list[LedgerEntry]:
    """Ledger entries for the files whose every message the broker acknowledged, and only those."""
    entries = []
    for (candidate, read), delivery in zip(sent, deliveries, strict=True):
        if delivery.acknowledged:
            stamp = read.stamp or FileStamp(candidate.stat.size, candidate.stat.mtime_ns, "")
            outcome = "sent" if delivery.sent else "rejected"
            entries.append(LedgerEntry(candidate.ledger_path, stamp, outcome))
    return entries


def _read_candidates(candidates: Sequence[Candidate], max_bytes: int) -> list[FileRead]:
    return [
        refuse_outside(c)
        if c.outside_target is not None
        else read_file(c.file, max_bytes=max_bytes)
        for c in candidates
    ]


def _read_all(files: Sequence[SourceFile], max_bytes: int) -> list[FileRead]:
    return [read_file(file, max_bytes=max_bytes) for file in files]


def _report(reporter: Reporter, deliveries: Sequence[Delivery]) -> bool:
    """Print a line per rejection, and one for files not acknowledged; True if any was rejected."""
    rejected = False
    for delivery in deliveries:
        for rejection in delivery.rejections:
            reporter.line(rejection_line(delivery.read, rejection))
            rejected = True
    failed = [d for d in deliveries if not d.acknowledged]
    if failed:
        more = f" (and {len(failed) - 1} more files)" if len(failed) > 1 else ""
        reporter.line(failure_line(failed[0]) + more)
    return rejected


async def _connected(settings: Settings) -> Publisher:
    publisher = Publisher(settings)
    try:
        await publisher.start()
    except BrokerUnavailable as exc:
        raise BrokerUnavailable(
            f"cannot reach the broker at {settings.bootstrap_servers}: {exc}"
        ) from None
    return publisher


def _fail(message: str, code: int) -> int:
    print(f"akhbar: {message}", file=sys.stderr)
    return code


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
