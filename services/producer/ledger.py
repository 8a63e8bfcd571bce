"""A durable record (SQLite) of the files whose messages the broker acknowledged, for watch mode.

A file is recorded only after every message made from it (raw events and dead letters) was
acknowledged, so a crash can cause a re-send of the last batch (a replay: same ids) but never a
skip. An entry is keyed by the file's resolved path and remembers the version that was sent:
size and mtime (a cheap "unchanged" check) and the SHA-256 of its bytes (the real one). A file
whose content changes is sent again under the same id, as a new version of the same document; a
file that is only touched (same bytes) is not.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from akhbar.producer.files import FileStamp

LEDGER_FILENAME = "producer-ledger.sqlite"
Outcome = Literal["sent", "rejected"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS acknowledged (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    outcome TEXT NOT NULL,
    acknowledged_at REAL NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One acknowledged file version and whether it went out as articles or dead letters."""

    path: str
    stamp: FileStamp
    outcome: Outcome


class Ledger:
    """The acknowledged files, in SQLite on disk and mirrored in memory for the polling loop."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path)
        # WAL + FULL: a committed batch survives a crash or power loss; readers never block.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        self._db.commit()
        self._entries = {entry.path: entry for entry in self._load()}

    def get(self, path: str) -> LedgerEntry | None:
        """The acknowledged version of the file at ``path`` (a resolved path), if any."""
        return self._entries.get(path)

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, entries: Iterable[LedgerEntry]) -> None:
        """Remember acknowledged files in one transaction (call only after the broker acked)."""
        entries = list(entries)
        now = time.time()
        rows = [
            (e.path, e.stamp.size, e.stamp.mtime_ns, e.stamp.sha256, e.outcome, now)
            for e in entries
        ]
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO acknowledged VALUES (?, ?, ?, ?, ?, ?)", rows
            )
        self._entries.update((e.path, e) for e in entries)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _load(self) -> Iterable[LedgerEntry]:
        query = "SELECT path, size, mtime_ns, sha256, outcome FROM acknowledged"
        for path, size, mtime_ns, sha256, outcome in self._db.execute(query):
            yield LedgerEntry(path, FileStamp(size, mtime_ns, sha256), outcome)
