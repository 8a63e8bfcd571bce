"""The head of the pipeline: a raw event in, what to publish out (staged record or dead letter).

``run_head`` is a pure function of the stateless stages: it does no I/O and records no metric,
so the same code runs in the worker's event loop (``InProcessHead``) or in stage processes beside
it (``ProcessHead``). The head agent applies each outcome: it sends and it counts.

Why stage processes: a Faust worker is one event loop on one core, and the stateless stages
(normalise, entities) were ~40 % of its time while the other ~60 % went to Faust, Kafka and
dedup. In a stage process they run on another core, in parallel with the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Protocol, cast

from akhbar.common import events
from akhbar.pipeline.chain import Chain, ChainConfig, build_chain
from akhbar.pipeline.records import encode_staged
from akhbar.pipeline.stages.errors import StageError

log = logging.getLogger(__name__)

# A raw event holds the article (up to max_article_bytes) plus a small JSON envelope; anything
# much larger was not sent by our producer and would not fit the staged record either.
RAW_ENVELOPE_BYTES = 64 * 1024

# Raw events per call into a stage process: ~20-30 ms of stage work, so the loop publishes the
# first results of a large batch while the process works on the next ones, and the call's own
# cost (pickling, a pipe round trip, ~0.1 ms) is spread over many articles.
CHUNK = 32


@dataclass(frozen=True, slots=True)
class Staged:
    """The article passed the stateless stages: its staged record and what the metrics need."""

    article_id: str
    value: bytes
    timings: dict[str, float]
    boilerplate_chars: int
    entity_types: dict[str, int]
    entity_links: dict[str, int]  # "true" (linked to the knowledge base) / "false" -> count


@dataclass(frozen=True, slots=True)
class Refused:
    """Bad input: a dead letter with the stage and reason."""

    stage: str
    reason: str
    detail: str
    article_id: str | None


@dataclass(frozen=True, slots=True)
class Failed:
    """A bug struck (an unexpected exception): a dead letter ``internal_error``, and a log line
    with the traceback."""

    stage: str
    error: str
    trace: str
    article_id: str | None


Outcome = Staged | Refused | Failed


def run_head(chain: Chain, payload: bytes, sent_at: float, max_article_bytes: int) -> Outcome:
    """Decode one raw event and run the chain's stateless stages on it."""
    limit = max_article_bytes + RAW_ENVELOPE_BYTES
    if len(payload) > limit:
        detail = f"{len(payload)} bytes, over the {limit}-byte limit for a raw event"
        return Refused("decode", "too_large", detail, None)
    article_id = None
    try:
        try:
            article = events.decode_raw(payload)
        except events.EventError as exc:
            return Refused("decode", exc.reason, exc.detail, None)
        article_id = article.id
        try:
            article = chain.run(article, chain.stateless_names)
        except StageError as exc:
            return Refused(exc.stage, exc.reason, exc.detail, article_id)
        value = encode_staged(article, sent_at)
    except Exception as exc:
        stage = getattr(exc, "akhbar_stage", "decode")
        return Failed(stage, repr(exc), traceback.format_exc(), article_id)
    return Staged(
        article.id,
        value,
        dict(article.timings),
        article.boilerplate_chars,
        dict(Counter(entity.type for entity in article.entities)),
        dict(Counter("true" if entity.kb else "false" for entity in article.entities)),
    )


class HeadRunner(Protocol):
    """Runs ``run_head`` over a batch, yielding outcomes in order, a chunk at a time. A runner
    with stage processes starts on the batch at the call, before the outcomes are asked for."""

    def run(self, items: Sequence[tuple[bytes, float]]) -> AsyncIterator[list[Outcome]]: ...

    def wait_ready(self, timeout: float = 120.0) -> None: ...

    def close(self) -> None: ...


class InProcessHead:
    """The stateless stages in the event loop, one article at a time."""

    def __init__(self, chain: Chain, max_article_bytes: int) -> None:
        self.chain = chain
        self.max_article_bytes = max_article_bytes

    async def run(self, items: Sequence[tuple[bytes, float]]) -> AsyncIterator[list[Outcome]]:
        for payload, sent_at in items:
            yield [run_head(self.chain, payload, sent_at, self.max_article_bytes)]
            # The stages are synchronous CPU work: let the dedup agent (and Faust's own tasks)
            # run between articles, not only between batches, to keep latency low.
            await asyncio.sleep(0)

    def wait_ready(self, timeout: float = 120.0) -> None:
        pass

    def close(self) -> None:
        pass


# --- stage processes ----------------------------------------------------------------------------

_CHILD: tuple[Chain, int] | None = None
PR_SET_PDEATHSIG = 1


def _start_stage_process(config: ChainConfig, max_article_bytes: int) -> None:
    """Initializer of a stage process: die with the worker, leave Ctrl-C to it, load the chain."""
    global _CHILD
    if sys.platform == "linux":
        # A SIGKILLed worker cannot shut its pool down; the kernel ends its stage processes.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the worker
    # decides, and shuts the pool down.
    _CHILD = (build_chain(config, {}, parts="stateless"), max_article_bytes)


def _loaded() -> bool:
    return _CHILD is not None


def _run_chunk(items: list[tuple[bytes, float]]) -> list[Outcome]:
    assert _CHILD is not None, "stage process not initialised"
    chain, max_article_bytes = _CHILD
    return [run_head(chain, payload, sent_at, max_article_bytes) for payload, sent_at in items]


class ProcessHead:
    """The stateless stages in ``processes`` stage processes (spawned, so nothing of the
    worker's threads or sockets is inherited), each loading the chain once at start-up."""

    def __init__(self, config: ChainConfig, max_article_bytes: int, processes: int) -> None:
        self.config = config
        self.max_article_bytes = max_article_bytes
        self.processes = processes
        self.restarts = 0
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_stage_process,
            initargs=(self.config, self.max_article_bytes),
        )
        # Start the processes now: they load the models while Faust starts, not on the first
        # article (and a chain that cannot load fails here, at start-up).
        for _ in range(self.processes):
            pool.submit(_loaded)
        return pool

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Block until a stage process has loaded the chain (raises what loading raised)."""
        future: Future[bool] = self._pool.submit(_loaded)
        if not future.result(timeout):
            raise RuntimeError("stage process did not load the chain")

    def _restart(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.restarts += 1
        self._pool = self._start()

    def _restart_if_current(self, pool: ProcessPoolExecutor) -> None:
        if self._pool is pool:
            log.error("a stage process died; restarting the stage processes")
            self._restart()

    def _submit(
        self, loop: asyncio.AbstractEventLoop, chunk: list[tuple[bytes, float]]
    ) -> tuple[ProcessPoolExecutor, asyncio.Future[list[Outcome]]]:
        pool = self._pool
        try:
            return pool, loop.run_in_executor(pool, _run_chunk, chunk)
        except BrokenProcessPool:  # it broke since the last call
            self._restart_if_current(pool)
            return self._pool, loop.run_in_executor(self._pool, _run_chunk, chunk)

    def run(self, items: Sequence[tuple[bytes, float]]) -> AsyncIterator[list[Outcome]]:
        """Hand the whole batch to the stage processes now; the outcomes, chunk by chunk."""
        loop = asyncio.get_running_loop()
        chunks = [list(items[i : i + CHUNK]) for i in range(0, len(items), CHUNK)]
        pending = [self._submit(loop, chunk) for chunk in chunks]
        return self._outcomes(loop, chunks, pending)

    async def _outcomes(
        self,
        loop: asyncio.AbstractEventLoop,
        chunks: list[list[tuple[bytes, float]]],
        pending: list[tuple[ProcessPoolExecutor, asyncio.Future[list[Outcome]]]],
    ) -> AsyncIterator[list[Outcome]]:
        for chunk, (used, future) in zip(chunks, pending, strict=True):
            try:
                yield await future
                continue
            except BrokenProcessPool:
                # A stage process died (killed, out of memory, a crash in native code). Every
                # call pending in that pool fails the same way: restart the pool once, and try
                # each of those chunks once more in the new one.
                self._restart_if_current(used)
            try:
                used, retry = self._submit(loop, chunk)
                yield await retry
            except BrokenProcessPool:
                log.error("a stage process died twice on the same %d articles", len(chunk))
                self._restart_if_current(used)
                detail = "the stage process died while handling this article (twice)"
                yield [Failed("normalize", detail, "", None) for _ in chunk]

    def close(self, timeout: float = 10.0) -> None:
        """Stop the stage processes: each finishes the chunk in hand, then exits. One that has
        not exited after ``timeout`` s (stuck in native code, say) is killed, so closing never
        hangs the worker's exit; the pool's own exit-time join then has nothing to wait for."""
        pool = self._pool
        processes = list((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        # Wait on each process's sentinel rather than join() it: the pool's thread joins (reaps)
        # them, and a second join racing it can miss the exit and see a live process.
        running = {process.sentinel: process for process in processes}
        deadline = time.monotonic() + timeout
        while running and (left := deadline - time.monotonic()) > 0:
            for ended in multiprocessing.connection.wait(list(running), left):
                running.pop(cast(int, ended))
        for process in running.values():
            log.error("stage process %s did not stop in %.0fs; killed", process.pid, timeout)
            process.kill()
