"""Poll a folder for article files that are complete and not yet acknowledged (watch mode).

A file is complete once its size and mtime have not changed for ``settle_seconds``; names of
unfinished writes (``.part``, ``.tmp``) and hidden names are ignored until renamed. A symlink that
leads out of the watched folder is reported so that it can be refused, never read.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from akhbar.producer.documents import Rejection
from akhbar.producer.files import (
    FileRead,
    FileStamp,
    SourceFile,
    clean_source,
    is_ignored,
    is_supported,
)
from akhbar.producer.ledger import Ledger


@dataclass(frozen=True, slots=True)
class Stat:
    """The cheap part of a file's version: what ``stat`` says."""

    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A complete file to publish. ``ledger_path`` is its resolved path (the link, if refused)."""

    file: SourceFile
    ledger_path: str
    stat: Stat
    outside_target: str | None = None

    def matches(self, stamp: FileStamp | None) -> bool:
        """True when ``stamp`` (taken while reading) is the version that settled."""
        return stamp is not None and Stat(stamp.size, stamp.mtime_ns) == self.stat


class Watcher:
    """Remembers what each poll saw, and hands out files once they have settled."""

    def __init__(
        self,
        root: Path,
        *,
        source: str | None,
        settle_seconds: float,
        ledger: Ledger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root.resolve()
        self._source = source
        self._settle = settle_seconds
        self._ledger = ledger
        self._clock = clock
        # ledger path -> (stat last seen, when it was first seen with that stat)
        self._observed: dict[str, tuple[Stat, float]] = {}

    def poll(self) -> list[Candidate]:
        """The files that are complete and whose current version is not in the ledger."""
        now = self._clock()
        found = self._scan()
        self._observed = {p: seen for p, seen in self._observed.items() if p in found}
        ready = []
        for path, (stat, outside) in found.items():
            if self._acknowledged(path, stat):
                self._observed.pop(path, None)
                continue
            seen, since = self._observed.get(path, (None, now))
            if seen != stat:
                since = now
            self._observed[path] = (stat, since)
            if now - since >= self._settle:
                ready.append(self._candidate(path, stat, outside))
        return sorted(ready, key=lambda c: c.file.key)

    def _acknowledged(self, path: str, stat: Stat) -> bool:
        entry = self._ledger.get(path)
        return entry is not None and Stat(entry.stamp.size, entry.stamp.mtime_ns) == stat

    def _scan(self) -> dict[str, tuple[Stat, str | None]]:
        """Ledger path -> (stat, target of a symlink leading outside) for every file under the root.

        Plain strings and ``scandir`` (one stat per file): this runs every poll over every file
        ever dropped in the folder, so it must stay cheap.
        """
        found: dict[str, tuple[Stat, str | None]] = {}
        folders = [str(self.root)]
        while folders:
            try:
                entries = list(os.scandir(folders.pop()))
            except OSError:
                continue  # removed or unreadable since listed; the next poll looks again
            for entry in entries:
                try:
                    if is_ignored(entry.name):
                        continue
                    if entry.is_symlink():
                        self._scan_link(entry.path, found)
                    elif entry.is_dir(follow_symlinks=False):
                        folders.append(entry.path)
                    elif is_supported(entry.name) and entry.is_file(follow_symlinks=False):
                        info = entry.stat(follow_symlinks=False)
                        found.setdefault(entry.path, (Stat(info.st_size, info.st_mtime_ns), None))
                except OSError:
                    continue  # vanished between listing and stat
        return found

    def _scan_link(self, link: str, found: dict[str, tuple[Stat, str | None]]) -> None:
        """A symlink inside the root counts as its target; one leading outside is to be refused."""
        try:
            real = Path(link).resolve()
            if not real.is_relative_to(self.root):
                info = os.lstat(link)
                found[link] = (Stat(info.st_size, info.st_mtime_ns), os.readlink(link))
            elif real.is_file() and is_supported(real) and not is_ignored(real.name):
                info = real.stat()
                found.setdefault(str(real), (Stat(info.st_size, info.st_mtime_ns), None))
            # Otherwise a link to a folder or a file we do not read: walking reaches the target.
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop, on Python 3.11 and 3.12
            return

    def _candidate(self, path: str, stat: Stat, outside: str | None) -> Candidate:
        where = Path(path)
        key = where.relative_to(self.root).as_posix()
        file = SourceFile(where, key, clean_source(self._source or where.parent.name))
        return Candidate(file, path, stat, outside)


def refuse_outside(candidate: Candidate) -> FileRead:
    """The rejection of a symlink leading out of the watched folder; the target is never read."""
    target = (candidate.outside_target or "").encode("utf-8", "surrogateescape")
    detail = f"points outside the watched folder, to {candidate.outside_target}"
    rejection = Rejection("symlink_outside", detail, target, candidate.file.article_id)
    stamp = FileStamp(
        candidate.stat.size, candidate.stat.mtime_ns, hashlib.sha256(target).hexdigest()
    )
    return FileRead(candidate.file, [rejection], stamp)
