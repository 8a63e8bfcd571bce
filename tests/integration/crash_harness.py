"""Helpers for the crash and fault tests: a deterministic article mix, a producer that keeps the
raw order fixed, an output collector, and a worker subprocess that can be SIGKILLed and restarted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from akhbar.common import events
from akhbar.common.broker import free_port
from akhbar.common.processes import status_field, stop_process
from tests.integration.kafka_helpers import akhbar_env

REPO = Path(__file__).resolve().parents[2]
SEEDS_DIR = REPO / "tests" / "data" / "seeds"
SOURCE = "crash"
_SENTENCE_END = re.compile(r"(?<=[.!؟?،؛])\s+")


# --- the input mix ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Input:
    """One raw event to send, in send order. ``kind``: fresh, exact, near, replay, bad."""

    id: str
    title: str
    body: str
    kind: str
    ingested_at: float

    def payload(self) -> bytes:
        event = events.raw_event(self.id, self.title, self.body, SOURCE, self.ingested_at)
        return events.dumps(event)


def seed_material() -> tuple[list[str], list[str], list[str]]:
    """Headlines, clauses and words of the seed articles (the recombination material)."""
    titles, clauses, words = [], [], []
    for path in sorted(SEEDS_DIR.glob("*.txt")):
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        lines = [line for line in lines if line]
        titles.append(lines[0])
        for line in lines[1:]:
            for clause in _SENTENCE_END.split(line):
                if len(clause.split()) >= 4:
                    clauses.append(clause)
                    words.extend(clause.split())
    return titles, clauses, words


def article_mix(count: int, seed: int, *, started: float | None = None) -> list[Input]:
    """``count`` raw events: ~74% fresh articles, 10% exact copies (new id), 10% near copies
    (new id), 4% replays (same id and bytes again) and 2% that the language gate refuses.

    A fresh article is 3 to 6 seed clauses in random order with a third of its words swapped for
    random seed words, so fresh articles are distinct from each other yet look like the seeds
    (Arabic, 250-900 characters). The same ``seed`` gives the same list on every machine.
    """
    rng = random.Random(seed)
    titles, clauses, words = seed_material()
    base = started if started is not None else time.time()
    run = uuid.UUID(int=rng.getrandbits(128)).hex[:8]
    inputs: list[Input] = []
    originals: list[Input] = []
    for n in range(count):
        article_id = hashlib.sha256(f"{run}/{n}".encode()).hexdigest()[:16]
        at = base + n * 0.001
        roll = rng.random()
        if originals and roll < 0.10:
            first = rng.choice(originals)
            inputs.append(Input(article_id, first.title, first.body, "exact", at))
        elif originals and roll < 0.20:
            first = rng.choice(originals)
            title, body = _retitle(first.title, rng), _edit(first.body, words, rng)
            inputs.append(Input(article_id, title, body, "near", at))
        elif inputs and roll < 0.24:
            again = rng.choice(inputs)  # a replay: the very same event (id, bytes) sent again
            inputs.append(dataclasses.replace(again, kind="replay"))
        elif roll < 0.26:
            body = " ".join(rng.choice(_ENGLISH) for _ in range(40))
            inputs.append(Input(article_id, "Breaking news", body, "bad", at))
        else:
            chosen = rng.sample(clauses, rng.randint(3, 6))
            body = "\n".join(" ".join(_swap(c.split(), words, rng, 0.33)) for c in chosen)
            fresh = Input(article_id, rng.choice(titles)[:90], body, "fresh", at)
            inputs.append(fresh)
            originals.append(fresh)
    return inputs


_ENGLISH = ("the", "talks", "in", "astana", "resumed", "on", "monday", "with", "delegations")


def _swap(tokens: list[str], words: list[str], rng: random.Random, rate: float) -> list[str]:
    return [rng.choice(words) if rng.random() < rate else token for token in tokens]


def _edit(body: str, words: list[str], rng: random.Random) -> str:
    """A near copy: about one word in twenty replaced, so Jaccard stays well above 0.25."""
    return "\n".join(" ".join(_swap(line.split(), words, rng, 0.05)) for line in body.splitlines())


def _retitle(title: str, rng: random.Random) -> str:
    return f"{title} ({rng.choice(['محدث', 'عاجل', 'تحديث'])})"


# --- broker I/O ---------------------------------------------------------------------------------


async def produce_in_order(bootstrap: str, topic: str, inputs: Iterable[Input]) -> int:
    """Send every input to partition 0 of ``topic``, keyed by id, in list order; the count sent.

    One partition fixes the order the worker sees (raw -> staged is order-preserving from a
    single partition), so an offline run over the same list is a fair reference for dedup.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(topic, item.payload(), key=item.id.encode(), partition=0)
            for item in inputs
        ]
        await asyncio.gather(*sent)
        return len(sent)
    finally:
        await producer.stop()


@dataclass
class Collected:
    """A decoded output record: where it came from and its JSON value."""

    topic: str
    key: bytes | None
    value: dict[str, Any]


class OutputCollector:
    """Tails ``topics`` from the beginning in a background thread and keeps every record.

    One long-lived consumer instead of re-reading whole topics on every poll: cheap on a loaded
    machine, and it never depends on end offsets (Tansu undercounts them for batched sends).
    """

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self._lock = threading.Lock()
        self._records: list[Collected] = []
        self._ids: set[str] = set()
        self._last_new = time.monotonic()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="output-collector", daemon=True)

    def __enter__(self) -> OutputCollector:
        self._thread.start()
        if not self._started.wait(30):
            raise AssertionError(f"the output collector did not start: {self._error!r}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def records(self) -> list[Collected]:
        with self._lock:
            return list(self._records)

    def ids(self) -> set[str]:
        with self._lock:
            return set(self._ids)

    def count(self) -> int:
        with self._lock:
            return len(self._records)

    def quiet_for(self) -> float:
        """Seconds since the last new record."""
        with self._lock:
            return time.monotonic() - self._last_new

    def wait_for_ids(self, wanted: set[str], timeout: float, alive: Any = None) -> None:
        """Block until every id in ``wanted`` was seen; ``alive()`` may raise to stop early."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            missing = wanted - self.ids()
            if not missing:
                return
            if alive is not None:
                alive()
            time.sleep(0.25)
        missing = wanted - self.ids()
        raise AssertionError(
            f"{len(missing)} of {len(wanted)} ids never came out within "
            f"{timeout:.0f}s, e.g. {sorted(missing)[:5]}"
        )

    def wait_quiet(self, seconds: float, timeout: float = 60.0) -> None:
        """Block until no record arrived for ``seconds`` (stragglers and late re-deliveries)."""
        deadline = time.monotonic() + timeout
        while self.quiet_for() < seconds and time.monotonic() < deadline:
            time.sleep(0.1)

    def _run(self) -> None:
        try:
            asyncio.run(self._consume())
        except BaseException as exc:  # surfaced by __enter__ or by the assertions that follow
            self._error = exc
            self._started.set()

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            await consumer.topics()  # fresh metadata: the topics may be new
            tps = [
                TopicPartition(topic, p)
                for topic in self.topics
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            assert tps, f"none of {self.topics} exists"
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            self._started.set()
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=200)
                fresh = [
                    Collected(r.topic, r.key, orjson.loads(r.value))
                    for batch in batches.values()
                    for r in batch
                ]
                if fresh:
                    with self._lock:
                        self._records.extend(fresh)
                        self._ids.update(c.value.get("id") for c in fresh if c.value.get("id"))
                        self._last_new = time.monotonic()
        finally:
            await consumer.stop()


# --- the worker under test ----------------------------------------------------------------------


@dataclass
class WorkerStack:
    """Topic names, app id, data dir and environment of one worker under test."""

    bootstrap: str
    tmp: Path
    partitions: int = 4
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        self.raw = f"c{self.suffix}.raw"
        self.enriched = f"c{self.suffix}.enriched"
        self.dlq = f"c{self.suffix}.dlq"
        self.staged = f"c{self.suffix}.staged"
        self.app_id = f"akhbar-crash-{self.suffix}"
        self.data_dir = self.tmp / "state"
        self.web_port = free_port()
        self.env = akhbar_env(
            self.bootstrap,
            app_id=self.app_id,
            topic_raw=self.raw,
            topic_enriched=self.enriched,
            topic_dlq=self.dlq,
            topic_duplicates=f"c{self.suffix}.duplicates",
            topic_staged=self.staged,
            partitions=self.partitions,
            data_dir=self.data_dir,
            web_port=self.web_port,
        )


# ``akhbar worker`` with one Faust setting changed, for tests that restart a worker on Tansu.
# Tansu answers ListOffsets(latest) with one past the *first* record of a partition's last batch
# (e.g. 7 for a last batch holding offsets 6-8), so when the table changelog's last batch held
# several records, Faust's recovery finds its own persisted offset "past the end" and raises
# ConsistencyError on every restart. With Apache Kafka the check cannot misfire (an acknowledged
# offset is below the high-water mark), so it stays on there; see the README's failure modes.
TANSU_WORKER = """
import sys
import faust
_App = faust.App
def App(*args, **kwargs):
    kwargs.setdefault("recovery_consistency_check", False)
    return _App(*args, **kwargs)
faust.App = App
from akhbar.cli import main
sys.exit(main(["worker"]))
"""


class WorkerProcess:
    """``akhbar worker`` as a subprocess: started, SIGKILLed and restarted with the same state.

    ``restartable_on_tansu`` runs it through ``TANSU_WORKER`` (Faust's recovery consistency check
    off), which a test that restarts a worker after a SIGKILL on the embedded broker needs.
    """

    def __init__(self, stack: WorkerStack, *, restartable_on_tansu: bool = False) -> None:
        self.stack = stack
        self.runs = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []
        self.command = (
            [sys.executable, "-c", TANSU_WORKER]
            if restartable_on_tansu
            else [sys.executable, "-m", "akhbar.cli", "worker"]
        )

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        log = self.stack.tmp / f"worker-{self.runs}.log"
        self.logs.append(log)
        self.runs += 1
        with log.open("wb") as handle:
            self.process = subprocess.Popen(
                self.command, env=self.stack.env, stdout=handle, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, nothing is flushed or committed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait (a clean shutdown); SIGKILL if it hangs. The exit code.

        A worker started a moment ago may still be in the interpreter's own start-up, before
        any akhbar code has run, where SIGTERM can only kill it: wait until it handles SIGTERM.
        """
        if self.process is None:
            return 0
        wait_until(
            lambda: (
                self.process is None
                or self.process.poll() is not None
                or catches_signal(self.process.pid, signal.SIGTERM)
            ),
            30,
            "the worker to handle SIGTERM",
        )
        return stop_process(self.process, timeout)

    def check_alive(self) -> None:
        """Raise (with the log's tail) if the worker exited on its own."""
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            raise AssertionError(f"worker exited with {code}:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.logs[-1].read_text(errors="replace")[-chars:] if self.logs else ""


def catches_signal(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler installed for ``signum`` (Linux: SigCgt in
    /proc/PID/status, a hex mask with bit signum-1); False once the process is gone."""
    mask = status_field(pid, "SigCgt")
    return mask is not None and bool(int(mask, 16) >> (signum - 1) & 1)


def wait_until(condition: Any, timeout: float, what: str, alive: Any = None) -> None:
    """Poll ``condition()`` every 0.2 s until true; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if alive is not None:
            alive()
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


# --- the crash-free reference --------------------------------------------------------------------

Decision = tuple[Any, ...]


def offline_decisions(inputs: list[Input]) -> dict[str, Decision]:
    """What a crash-free run decides for each id: the offline chain over the inputs, in order.

    ``("dlq", stage, reason)`` for an article a stage refused, otherwise
    ``(status, duplicate_of, method, similarity)``. The same chain object the worker builds
    (``build_chain(chain_config(Settings()), ...)``), with a dict as the dedup state.
    """
    from akhbar.common.settings import Settings
    from akhbar.pipeline.app import chain_config
    from akhbar.pipeline.chain import build_chain
    from akhbar.pipeline.stages.errors import StageError

    chain = build_chain(chain_config(Settings()), {})
    decided: dict[str, Decision] = {}
    for item in inputs:
        article = events.decode_raw(item.payload())
        try:
            article = chain.run(article)
        except StageError as exc:
            decision: Decision = ("dlq", exc.stage, exc.reason)
        else:
            assert article.dedup is not None
            decision = dedup_decision(dataclasses.asdict(article.dedup))
        assert decided.setdefault(item.id, decision) == decision, f"offline replay of {item.id}"
    return decided


def dedup_decision(dedup: dict[str, Any]) -> Decision:
    return (
        dedup["status"],
        dedup.get("duplicate_of"),
        dedup.get("method"),
        dedup.get("similarity"),
    )


def output_decision(record: Collected) -> Decision:
    """The decision an output record carries, in ``offline_decisions``' terms."""
    if record.value.get("schema") == events.DEAD_LETTER_SCHEMA:
        return ("dlq", record.value["stage"], record.value["reason"])
    return dedup_decision(record.value["dedup"])
