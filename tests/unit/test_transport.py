"""The worker's Kafka consumer waits at most AKHBAR_FETCH_MAX_WAIT_MS for a fetch, not Faust's
fixed 1.5 s (which the embedded broker adds to every hop's latency)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from faust.types import TP

from akhbar.common.settings import Settings
from akhbar.pipeline.app import build_app
from akhbar.pipeline.transport import OffsetGaps, Transport


async def test_worker_consumer_uses_the_configured_fetch_wait(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, fetch_max_wait_ms=37, stage_processes=0, _env_file=None)
    app = build_app(settings).app
    assert isinstance(app.transport, Transport)
    thread = app.consumer._new_consumer_thread()
    consumer = thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == 37
        assert consumer._group_id == settings.app_id  # still Faust's worker consumer otherwise
    finally:
        await consumer.stop()


class ClosingWhileConnecting:
    """A consumer whose stop() fails the way aiokafka 0.14's does on a half-open connection."""

    async def stop(self) -> None:
        raise AttributeError("'NoneType' object has no attribute 'done'")


async def test_a_stop_while_connecting_is_one_log_line_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path, stage_processes=0, _env_file=None)
    thread = build_app(settings).app.consumer._new_consumer_thread()
    thread._consumer = ClosingWhileConnecting()
    with caplog.at_level(logging.WARNING, logger="akhbar.pipeline.transport"):
        await thread.on_thread_stop()
    assert "stopped while still connecting" in caplog.text


class Record:
    def __init__(self, offset: int) -> None:
        self.offset = offset


def fetch(tp: TP, *offsets: int) -> dict[TP, list[Record]]:
    return {tp: [Record(o) for o in offsets]}


def offsets_of(records: dict[TP, list[Record]], tp: TP) -> list[int]:
    return [r.offset for r in records[tp]]


def test_a_skipped_offset_cuts_the_fetch_there_and_is_fetched_again() -> None:
    staged, other = TP("staged", 0), TP("changelog", 0)
    gaps = OffsetGaps({"staged"})
    seeks: list[tuple[TP, int]] = []
    seek = lambda tp, offset: seeks.append((tp, offset))  # noqa: E731
    assert offsets_of(gaps.check(fetch(staged, 10, 11, 12), seek), staged) == [10, 11, 12]
    checked = gaps.check({**fetch(staged, 13, 15, 16), **fetch(other, 3, 9)}, seek)
    assert offsets_of(checked, staged) == [13]  # cut before the jump over 14
    assert offsets_of(checked, other) == [3, 9]  # a topic not guarded keeps its gaps
    assert seeks == [(staged, 14)]
    assert offsets_of(gaps.check(fetch(staged, 14, 15), seek), staged) == [14, 15]
    assert gaps.refetched == 1


def test_a_rewind_or_a_new_assignment_is_no_gap() -> None:
    tp = TP("raw", 2)
    gaps = OffsetGaps({"raw"})
    seeks: list[tuple[TP, int]] = []
    seek = lambda tp, offset: seeks.append((tp, offset))  # noqa: E731
    gaps.check(fetch(tp, 40, 41), seek)
    assert offsets_of(gaps.check(fetch(tp, 30, 31), seek), tp) == [30, 31]  # sought back
    gaps.forget([tp])  # reassigned: another worker may have moved it on
    assert offsets_of(gaps.check(fetch(tp, 90, 91), seek), tp) == [90, 91]
    assert seeks == []


def test_a_gap_that_stays_is_accepted_after_the_refetch_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tp = TP("staged", 0)
    gaps = OffsetGaps({"staged"}, refetch_limit=3)
    seeks: list[tuple[TP, int]] = []
    seek = lambda tp, offset: seeks.append((tp, offset))  # noqa: E731
    gaps.check(fetch(tp, 1), seek)
    for _ in range(3):  # a compacted record on Apache Kafka: the broker never returns it
        assert offsets_of(gaps.check(fetch(tp, 3, 4), seek), tp) == []
    with caplog.at_level(logging.WARNING):
        assert offsets_of(gaps.check(fetch(tp, 3, 4), seek), tp) == [3, 4]
    assert seeks == [(tp, 2)] * 3
    assert "taken as a real gap" in caplog.text
