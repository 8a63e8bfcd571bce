"""The head of the pipeline as a pure function, in the event loop and in stage processes."""

from __future__ import annotations

import asyncio
import multiprocessing.connection
import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import orjson
import pytest

from akhbar.common import events
from akhbar.pipeline.chain import Chain, ChainConfig, build_chain
from akhbar.pipeline.head import (
    Failed,
    InProcessHead,
    Outcome,
    ProcessHead,
    Refused,
    Staged,
    run_head,
)
from akhbar.pipeline.records import decode_staged
from akhbar.pipeline.stages.article import Article

LIMIT = 262_144
SENT_AT = 1_700_000_000.0


def raw(path: Path, article_id: str | None = None) -> bytes:
    title, _, body = path.read_text(encoding="utf-8").partition("\n")
    return events.dumps(events.raw_event(article_id or path.stem, title, body, "test", time.time()))


@pytest.fixture(scope="module")
def chain() -> Chain:
    return build_chain(ChainConfig(), {}, parts="stateless")


def test_stateless_chain_loads_no_dedup_and_stateful_chain_no_model() -> None:
    stateless = build_chain(ChainConfig(), {}, parts="stateless")
    assert [name for name, _ in stateless.stages] == ["normalize", "entities", "fingerprint"]
    stateful = build_chain(ChainConfig(), {}, parts="stateful")
    assert [name for name, _ in stateful.stages] == ["dedup"]
    assert stateful.stateless_names == () and stateful.stateful_names == ("dedup",)


def test_a_stateful_chain_does_not_load_numba() -> None:
    """A worker with stage processes keeps only dedup, which gets every article's shingle ids
    from the head: it must not import numba (~125 MB of its memory with the kernels)."""
    script = (
        "import sys\n"
        "from akhbar.pipeline.app import build_app\n"
        "from akhbar.pipeline.chain import ChainConfig, build_chain\n"
        "build_chain(ChainConfig(), {}, parts='stateful')\n"
        "print('numba' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False", done.stderr


def test_a_seed_becomes_a_staged_record_with_its_metrics(
    chain: Chain, seed_paths: list[Path]
) -> None:
    outcome = run_head(chain, raw(seed_paths[0]), SENT_AT, LIMIT)
    assert isinstance(outcome, Staged)
    record = decode_staged(outcome.value)
    article = record.article
    assert record.sent_at == SENT_AT and article.id == outcome.article_id == seed_paths[0].stem
    assert article.fingerprint and article.entities
    assert article.match_text == "", "the fingerprint stands for the match text"
    assert orjson.loads(record.enriched_value(SENT_AT))["text"]
    assert set(outcome.timings) == {"normalize", "entities", "fingerprint"}
    assert sum(outcome.entity_types.values()) == len(article.entities)
    assert sum(outcome.entity_links.values()) == len(article.entities)
    assert set(outcome.entity_links) <= {"true", "false"}
    assert outcome.boilerplate_chars == article.boilerplate_chars
    others = [run_head(chain, raw(path), SENT_AT, LIMIT) for path in seed_paths[1:]]
    assert any(isinstance(o, Staged) and o.boilerplate_chars > 0 for o in others)  # site footers


def test_bad_input_is_refused_with_stage_and_reason(chain: Chain) -> None:
    bad = run_head(chain, b"{oops", SENT_AT, LIMIT)
    assert isinstance(bad, Refused)
    assert (bad.stage, bad.reason, bad.article_id) == ("decode", "malformed_json", None)
    too_large = run_head(chain, b"x" * (LIMIT + 70_000), SENT_AT, LIMIT)
    assert isinstance(too_large, Refused) and too_large.reason == "too_large"
    english = events.dumps(
        events.raw_event("en", "Title", "English words only. " * 20, "t", time.time())
    )
    refused = run_head(chain, english, SENT_AT, LIMIT)
    assert isinstance(refused, Refused)
    assert (refused.stage, refused.reason, refused.article_id) == ("normalize", "not_arabic", "en")


def test_a_bug_in_a_stage_is_a_failure_naming_the_stage(seed_paths: list[Path]) -> None:
    def broken(article: Article) -> Article:
        raise ZeroDivisionError("a bug")

    chain = Chain([("normalize", lambda a: a), ("entities", broken)])
    outcome = run_head(chain, raw(seed_paths[0], "bug1"), SENT_AT, LIMIT)
    assert isinstance(outcome, Failed)
    assert (outcome.stage, outcome.article_id) == ("entities", "bug1")
    assert "ZeroDivisionError" in outcome.error and "a bug" in outcome.trace


def comparable(outcome: Outcome) -> Any:
    """An outcome without the stage timings (which differ from run to run)."""
    if not isinstance(outcome, Staged):
        return outcome
    record = decode_staged(outcome.value)
    record.article.timings = {}
    return (
        record,
        outcome.entity_types,
        outcome.entity_links,
        outcome.boilerplate_chars,
    )


async def collect(head: Any, items: list[tuple[bytes, float]]) -> list[Outcome]:
    return [outcome async for chunk in head.run(items) for outcome in chunk]


@pytest.fixture(scope="module")
def process_head() -> Any:
    head = ProcessHead(ChainConfig(), LIMIT, 1)
    head.wait_ready()
    yield head
    head.close()


def items_of(seed_paths: list[Path], copies: int) -> list[tuple[bytes, float]]:
    items = [
        (raw(path, f"{path.stem}-{n}"), SENT_AT + n) for n in range(copies) for path in seed_paths
    ]
    return [*items, (b"{oops", SENT_AT)]


def test_stage_process_gives_the_same_outcomes_in_order(
    chain: Chain, process_head: ProcessHead, seed_paths: list[Path]
) -> None:
    items = items_of(seed_paths, 15)  # 76 events: three chunks
    local = asyncio.run(collect(InProcessHead(chain, LIMIT), items))
    remote = asyncio.run(collect(process_head, items))
    assert len(remote) == len(items)
    assert [comparable(o) for o in remote] == [comparable(o) for o in local]
    assert isinstance(remote[-1], Refused) and isinstance(remote[0], Staged)


def test_a_killed_stage_process_is_replaced_and_nothing_is_lost(
    process_head: ProcessHead, seed_paths: list[Path]
) -> None:
    items = items_of(seed_paths, 2)
    before = process_head.restarts
    for pid in list(process_head._pool._processes or {}):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    outcomes = asyncio.run(collect(process_head, items))
    assert process_head.restarts == before + 1
    assert len(outcomes) == len(items)
    assert all(isinstance(o, Staged) for o in outcomes[:-1])


def test_a_stage_process_that_cannot_load_fails_wait_ready(tmp_path: Path) -> None:
    """The worker calls wait_ready before Faust starts: a chain that cannot load stops it there
    instead of turning every article into a dead letter."""
    head = ProcessHead(ChainConfig(boilerplate_rules=tmp_path / "missing.json"), LIMIT, 1)
    try:
        with pytest.raises(BrokenProcessPool):
            head.wait_ready(60)
    finally:
        head.close()


def ended(processes: list[Any], timeout: float) -> bool:
    """Whether every process has exited within ``timeout`` s (its sentinel is ready); unlike
    join(), this does not race the pool's own thread that reaps them."""
    sentinels = [process.sentinel for process in processes]
    return len(multiprocessing.connection.wait(sentinels, timeout)) == len(sentinels)


def test_close_stops_idle_stage_processes_and_kills_a_stuck_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``close`` lets an idle stage process exit by itself, and kills one that does not stop in
    time (the worker calls it after Faust stops: its exit must not wait on a stuck process)."""
    idle = ProcessHead(ChainConfig(), LIMIT, 1)
    idle.wait_ready()
    processes = list((idle._pool._processes or {}).values())
    idle.close(timeout=30)
    assert ended(processes, 0)
    assert "killed" not in caplog.text

    stuck = ProcessHead(ChainConfig(), LIMIT, 1)
    stuck.wait_ready()
    processes = list((stuck._pool._processes or {}).values())
    busy = stuck._pool.submit(time.sleep, 600)  # a chunk that never ends
    deadline = time.monotonic() + 30
    while not busy.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert busy.running()
    stuck.close(timeout=0.5)
    assert f"stage process {processes[0].pid} did not stop in 0s; killed" in caplog.text
    assert ended(processes, 10)
