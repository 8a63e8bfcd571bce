"""Unit tests of the watch-mode ledger: it survives a restart and holds only acknowledged files."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from pathlib import Path

from akhbar.common.settings import Settings
from akhbar.producer.documents import article_id
from akhbar.producer.files import FileStamp
from akhbar.producer.ledger import Ledger, LedgerEntry
from akhbar.producer.publisher import Message
from akhbar.producer.report import Reporter
from akhbar.producer.run import publish_ready
from akhbar.producer.watcher import Watcher

ARTICLE = "وفد سوري في أستانا\nانطلقت الجولة الثانية عشرة من المحادثات حول تسوية الأزمة في سورية.\n"
SETTINGS = Settings(topic_raw="raw", topic_dlq="dlq")


class FlakySender:
    """A fake publisher: acknowledges every message except those whose key is in ``refuse``."""

    def __init__(self, refuse: set[bytes] | None = None) -> None:
        self.refuse = refuse or set()
        self.sent: list[Message] = []

    async def send_all(self, messages: Sequence[Message]) -> list[BaseException | None]:
        results: list[BaseException | None] = []
        for message in messages:
            if message.key in self.refuse:
                results.append(TimeoutError("no acknowledgement"))
            else:
                self.sent.append(message)
                results.append(None)
        return results


def publish_once(folder: Path, ledger: Ledger, sender: FlakySender) -> list[str]:
    """One watch round with no settling delay; returns the keys of the files it tried."""
    watcher = Watcher(folder, source="wire", settle_seconds=0, ledger=ledger)
    ready = watcher.poll()
    reporter = Reporter(stream=io.StringIO())
    asyncio.run(publish_ready(SETTINGS, sender, ledger, ready, reporter))
    return [c.file.key for c in ready]


def test_ledger_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    entry = LedgerEntry("/in/a.txt", FileStamp(120, 1_700_000_000_123_456_789, "ab" * 32), "sent")
    with Ledger(path) as ledger:
        ledger.record([entry])
    with Ledger(path) as reopened:
        assert reopened.get("/in/a.txt") == entry
        assert reopened.get("/in/b.txt") is None


def test_recording_a_new_version_replaces_the_old(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    old = LedgerEntry("/in/a.txt", FileStamp(1, 1, "aa" * 32), "rejected")
    new = LedgerEntry("/in/a.txt", FileStamp(2, 2, "bb" * 32), "sent")
    with Ledger(path) as ledger:
        ledger.record([old])
        ledger.record([new])
    with Ledger(path) as reopened:
        assert (reopened.get("/in/a.txt"), len(reopened)) == (new, 1)


def test_unacknowledged_file_is_not_recorded_and_is_retried(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text(ARTICLE, encoding="utf-8")
    (folder / "b.txt").write_text(ARTICLE, encoding="utf-8")
    ledger_path = tmp_path / "ledger.sqlite"
    b_id = article_id("wire", "b.txt")

    with Ledger(ledger_path) as ledger:
        assert publish_once(folder, ledger, FlakySender(refuse={b_id.encode()})) == [
            "a.txt",
            "b.txt",
        ]
    with Ledger(ledger_path) as ledger:
        assert ledger.get(str((folder / "a.txt").resolve())) is not None
        assert ledger.get(str((folder / "b.txt").resolve())) is None
        retry = FlakySender()
        assert publish_once(folder, ledger, retry) == ["b.txt"]
        assert [m.key for m in retry.sent] == [b_id.encode()]
        assert publish_once(folder, ledger, FlakySender()) == []


def test_touched_file_with_the_same_bytes_is_not_sent_again(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    article = folder / "a.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        first = FlakySender()
        publish_once(folder, ledger, first)
        article.touch()
        article.write_text(ARTICLE, encoding="utf-8")  # same bytes, new mtime
        again = FlakySender()
        publish_once(folder, ledger, again)
        article.write_text(ARTICLE + "تحديث.\n", encoding="utf-8")  # new content
        changed = FlakySender()
        publish_once(folder, ledger, changed)
    assert (len(first.sent), len(again.sent), len(changed.sent)) == (1, 0, 1)
    assert changed.sent[0].key == first.sent[0].key  # a new version of the same document
