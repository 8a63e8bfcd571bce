"""Delivery watching: a send that failed after it was queued stops every later offset commit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import RequestTimedOutError

from akhbar.common.settings import Settings
from akhbar.pipeline.app import build_app
from akhbar.pipeline.outbox import Deliveries, DeliveryFailedError


async def test_a_delivery_that_succeeds_or_is_pending_is_no_failure() -> None:
    deliveries = Deliveries()
    loop = asyncio.get_running_loop()
    done, pending = loop.create_future(), loop.create_future()
    deliveries.watch(done, "out")
    deliveries.watch(pending, "out")
    done.set_result("metadata")
    assert await deliveries.check() is None
    assert deliveries.failed == 0


async def test_a_failed_delivery_is_remembered_with_its_topic_and_cause() -> None:
    deliveries = Deliveries()
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    deliveries.watch(first, "akhbar.articles.enriched")
    deliveries.watch(second, "akhbar.articles.dlq")
    first.set_exception(RequestTimedOutError())
    second.cancel()
    failure = await deliveries.check()  # callbacks queued by set_exception have run by now
    assert isinstance(failure, DeliveryFailedError)
    assert "akhbar.articles.enriched" in str(failure) and "RequestTimedOutError" in str(failure)
    assert deliveries.failed == 2  # the first failure is kept, every one is counted


def test_a_failed_faust_send_reaches_the_deliveries_through_the_worker_monitor(
    tmp_path: Path,
) -> None:
    pipeline = build_app(Settings(data_dir=tmp_path, stage_processes=0, _env_file=None))
    pipeline.app.monitor.on_send_error(None, RequestTimedOutError(), None)  # a changelog write
    assert isinstance(pipeline.deliveries.failure, DeliveryFailedError)


async def test_the_worker_consumer_commits_nothing_after_a_failed_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path, stage_processes=0, _env_file=None)
    pipeline = build_app(settings)
    consumer = pipeline.app.consumer  # built, not started
    assert consumer.transport.deliveries is pipeline.deliveries
    commits: list[Any] = []
    crashed: list[BaseException] = []

    async def faust_commit(self: Any, offsets: Any) -> bool:
        commits.append(offsets)
        return True

    async def crash(reason: BaseException) -> None:
        crashed.append(reason)

    # Faust's own commit (next in line) only records here; the gate in front of it is ours.
    monkeypatch.setattr(type(consumer).__mro__[1], "_commit", faust_commit)
    monkeypatch.setattr(consumer, "crash", crash)
    assert await consumer._commit({"tp": 5}) is True
    assert commits == [{"tp": 5}] and crashed == []

    pipeline.deliveries.failed_send("out", RequestTimedOutError())
    assert await consumer._commit({"tp": 6}) is False
    assert commits == [{"tp": 5}]  # nothing committed past the failure
    assert [type(reason) for reason in crashed] == [DeliveryFailedError]
