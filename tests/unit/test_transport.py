"""The worker's Kafka consumer waits at most AKHBAR_FETCH_MAX_WAIT_MS for a fetch, not Faust's
fixed 1.5 s (which the embedded broker adds to every hop's latency)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from akhbar.common.settings import Settings
from akhbar.pipeline.app import build_app
from akhbar.pipeline.transport import Transport


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
