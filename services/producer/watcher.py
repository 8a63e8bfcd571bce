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
    default_source,
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
        for path, candidate in found.items():
            if self._acknowledged(candidate):
                self._observed.pop(path, None)
                continue
            stat, since = self._observed.get(path, (None, now))
            if stat != candidate.stat:
                since = now
            self._observed[path] = (candidate.stat, since)
            if now - since >= self._settle:
                ready.append(candidate)
        return sorted(ready, key=lambda c: c.file.key)

    def _acknowledged(self, candidate: Candidate) -> bool:
        entry = self._ledger.get(candidate.ledger_path)
        return entry is not None and Stat(entry.stamp.size, entry.stamp.mtime_ns) == candidate.stat

    def _scan(self) -> dict[str, Candidate]:
        found: dict[str, Candidate] = {}
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not is_ignored(d))
            # os.walk lists symlinked folders among dirs but never enters them: check them here.
            for name in [*names, *dirs]:
                path = Path(folder, name)
                if is_ignored(name) or not (is_supported(path) or path.is_symlink()):
                    continue
                candidate = self._candidate(path)
                if candidate is not None:
                    found.setdefault(candidate.ledger_path, candidate)
        return found

    def _candidate(self, path: Path) -> Candidate | None:
        try:
            if path.is_symlink():
                real = path.resolve()
                if not real.is_relative_to(self.root):
                    return self._outside(path)
                if not (real.is_file() and is_supported(real)):
                    return None  # a link to a folder or another name inside: reached by walking
            else:
                real = path
                if not real.is_file():
                    return None
            info = real.stat()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop, on Python 3.11 and 3.12
            return None  # vanished or unreadable between listing and stat; the next poll retries
        key = real.relative_to(self.root).as_posix()
        file = SourceFile(real, key, clean_source(self._source or default_source(real)))
        return Candidate(file, str(real), Stat(info.st_size, info.st_mtime_ns))

    def _outside(self, link: Path) -> Candidate:
        info = link.lstat()
        key = link.relative_to(self.root).as_posix()
        file = SourceFile(link, key, clean_source(self._source or default_source(link)))
        target = os.readlink(link)
        return Candidate(file, str(link), Stat(info.st_size, info.st_mtime_ns), target)


def refuse_outside(candidate: Candidate) -> FileRead:
    """The rejection of a symlink leading out of the watched folder; the target is never read."""
    target = (candidate.outside_target or "").encode("utf-8", "surrogateescape")
    detail = f"points outside the watched folder, to {candidate.outside_target}"
    rejection = Rejection("symlink_outside", detail, target, candidate.file.article_id)
    stamp = FileStamp(
        candidate.stat.size, candidate.stat.mtime_ns, hashlib.sha256(target).hexdigest()
    )
    return FileRead(candidate.file, [rejection], stamp)
