"""Producer crash safety: ``akhbar produce --watch`` SIGKILLed mid-backlog skips nothing.

The ledger records a file only after the broker acknowledged all its messages, so a hard kill
can re-send what was in flight (replays: the same ids) but never skip a file. A file still being
written is sent once it has settled, whole.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from akhbar.common.broker import free_port
from akhbar.producer.documents import article_id
from akhbar.producer.run import BATCH_FILES
from tests.integration.crash_harness import (
    OutputCollector,
    article_mix,
    wait_until,
)
from tests.integration.kafka_helpers import akhbar_env, run_akhbar

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FILES = 900  # four send batches of up to BATCH_FILES
SEED = 20240612
KILLS = 2
POLL_SECONDS, SETTLE_SECONDS = 0.2, 1.5


class WatchProducer:
    """``akhbar produce --watch DIR`` as a subprocess that can be SIGKILLed and restarted."""

    def __init__(self, folder: Path, env: dict[str, str], logs: Path) -> None:
        self.folder, self.env, self.logs = folder, env, logs
        self.runs = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.logs / f"producer-{self.runs}.log").open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "akhbar.cli", "produce", "--watch", str(self.folder)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.runs += 1

    def kill(self) -> None:
        assert self.process is not None and self.process.poll() is None, "producer not running"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"the producer exited with {self.process.returncode}")


def test_sigkilled_watch_producer_skips_no_file_and_resends_only_in_flight_ids(
    broker: str, tmp_path: Path
) -> None:
    """900 files are in the inbox when the producer starts; it is SIGKILLed twice while sending
    them and restarted on the same ledger. Every file comes out, no message carries an id that is
    not one of the files, and re-sends (replays of the same ids) stay within the batches that
    were in flight when it died. Then a file written in two parts, with a pause longer than the
    poll interval but shorter than the settle time, comes out once and whole.
    """
    began = time.monotonic()
    rng = random.Random(SEED)
    folder = tmp_path / "inbox"
    folder.mkdir()
    texts = {}
    for n, item in enumerate(a for a in article_mix(FILES * 2, SEED) if a.kind != "replay"):
        if n == FILES:
            break
        name = f"{n:04d}.txt"
        (folder / name).write_text(f"{item.title}\n{item.body}\n", encoding="utf-8")
        texts[article_id("inbox", name)] = item.body
    assert len(texts) == FILES

    suffix = f"{rng.getrandbits(32):08x}"
    env = akhbar_env(
        broker,
        topic_raw=f"p{suffix}.raw",
        topic_dlq=f"p{suffix}.dlq",
        topic_enriched=f"p{suffix}.enriched",
        topic_duplicates=f"p{suffix}.duplicates",
        topic_staged=f"p{suffix}.staged",
        data_dir=tmp_path / "state",
        watch_interval_seconds=POLL_SECONDS,
        settle_seconds=SETTLE_SECONDS,
        producer_metrics_port=free_port(),
    )
    created = run_akhbar(["topics"], env)
    assert created.returncode == 0, created.stderr
    producer = WatchProducer(folder, env, tmp_path)
    kills = []
    with OutputCollector(broker, [f"p{suffix}.raw", f"p{suffix}.dlq"]) as sent:
        producer.start()
        for at in sorted(rng.sample(range(50, FILES - 200), KILLS)):
            # Past the previous kill, but never beyond the last file: a fast producer may have
            # sent everything already, and a kill then must still re-send at most its batch.
            at = min(max(at, sent.count() + 1), FILES)
            wait_until(
                lambda at=at: sent.count() >= at, 60, f"{at} messages", alive=producer.check_alive
            )
            producer.kill()
            kills.append(sent.count())
            producer.start()
        sent.wait_for_ids(set(texts), 60, alive=producer.check_alive)

        # A file written in two parts: the first poll after the first part must not send it.
        slow = folder / "slow.txt"
        head, tail = "عنوان الخبر الأخير", next(iter(texts.values()))
        with slow.open("w", encoding="utf-8") as handle:
            handle.write(f"{head}\n{tail[: len(tail) // 2]}")
            handle.flush()
            time.sleep((POLL_SECONDS + SETTLE_SECONDS) / 2)  # > poll interval, < settle time
            handle.write(tail[len(tail) // 2 :])
        slow_id = article_id("inbox", "slow.txt")
        sent.wait_for_ids({slow_id}, 30, alive=producer.check_alive)
        sent.wait_quiet(SETTLE_SECONDS + 1.0)
        exit_code = producer.stop()
        records = sent.records()

    ids = Counter(r.value["id"] for r in records)
    resent = sum(ids.values()) - len(ids)
    print(
        f"\nproducer crash: {FILES} files, {len(kills)} SIGKILLs (at {kills} messages seen), "
        f"{sum(ids.values())} messages, {resent} re-sends, {time.monotonic() - began:.0f}s"
    )
    assert exit_code == 0
    assert not [r for r in records if r.topic.endswith(".dlq")], "no file was rejected"
    assert all(r.key == r.value["id"].encode() for r in records), "messages are keyed by id"
    assert set(ids) == {*texts, slow_id}, "every file sent, and nothing that is not a file"
    assert resent <= KILLS * BATCH_FILES, f"{resent} re-sends: more than the batches in flight"
    for record in records:  # a re-send is a replay: the same id with the same content
        if record.value["id"] in texts:
            assert record.value["body"] == texts[record.value["id"]].strip()
    (slow_event,) = [r.value for r in records if r.value["id"] == slow_id]
    assert (slow_event["title"], slow_event["body"]) == (head, tail.strip())
