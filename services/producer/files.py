"""Find article files under the paths given, name them (key, source), read them into outcomes."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from akhbar.producer.documents import (
    KEPT_PREFIX_BYTES,
    Outcome,
    Rejection,
    article_id,
    clean_source,
    parse_jsonl_line,
    parse_text,
)
from akhbar.producer.exceptions import UsageError

SUPPORTED_SUFFIXES = (".txt", ".jsonl")
# Names a writer uses while a file is unfinished; they are picked up once renamed.
UNFINISHED_SUFFIXES = (".part", ".tmp")
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file to publish: where it is, its document key, and the source it is filed under."""

    path: Path
    key: str
    source: str

    @property
    def article_id(self) -> str:
        return article_id(self.source, self.key)


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What identifies one version of a file: size, mtime and the SHA-256 of the bytes read."""

    size: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True, slots=True)
class FileRead:
    """The outcomes of reading one file, and the version of the file they came from."""

    file: SourceFile
    outcomes: list[Outcome]
    stamp: FileStamp | None


def is_ignored(name: str) -> bool:
    """Hidden names and names of unfinished writes are not articles (yet)."""
    return name.startswith(".") or name.endswith(UNFINISHED_SUFFIXES)


def is_supported(name: str | Path) -> bool:
    """Does the name end in .txt or .jsonl (any case)? Takes a str so scans need no Path."""
    return os.path.splitext(name)[1].lower() in SUPPORTED_SUFFIXES


def absolute(path: Path) -> Path:
    """The absolute path with ``..`` folded, without following symlinks (names as the user sees)."""
    return Path(os.path.abspath(path))


def default_source(path: Path) -> str:
    """The source of a file nobody named one for: the name of the directory it is in."""
    return clean_source(absolute(path).parent.name)


def walk(root: Path) -> list[tuple[Path, str]]:
    """Every article file under ``root`` and its key (path relative to ``root``), sorted.

    Recursive; symlinked folders are not entered. Strings, not Path objects, on the hot path:
    parsing paths cost more than reading small files.
    """
    found: list[tuple[tuple[str, ...], Path]] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not is_ignored(d)]
        rel = Path(folder).relative_to(root).parts
        found.extend(
            ((*rel, name), Path(folder, name))
            for name in names
            if not is_ignored(name) and is_supported(name)
        )
    found.sort(key=lambda item: item[0])
    return [(path, "/".join(parts)) for parts, path in found]


def discover(paths: list[Path], source: str | None) -> list[SourceFile]:
    """The files a batch run publishes, each once; ``UsageError`` if a path does not exist."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    files: list[SourceFile] = []
    seen: set[tuple[int, int]] = set()
    for path in paths:
        found = walk(absolute(path)) if path.is_dir() else [(absolute(path), path.name)]
        for file, key in found:
            try:
                info = file.stat()
            except OSError:
                info = file.lstat()  # a dangling symlink: read_file will say why it is unreadable
            if (identity := (info.st_dev, info.st_ino)) not in seen:
                seen.add(identity)
                files.append(SourceFile(file, key, clean_source(source or file.parent.name)))
    return files


def read_file(file: SourceFile, *, max_bytes: int, ingested_at: float | None = None) -> FileRead:
    """Read one file into raw events and rejections; never raises for a bad file."""
    now = time.time() if ingested_at is None else ingested_at
    try:
        with open(file.path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return _refused(file, "unsupported_type", "not a regular file", b"")
            if not is_supported(file.path):
                prefix = handle.read(KEPT_PREFIX_BYTES)
                found = file.path.suffix or "no extension"
                detail = f"expected .txt or .jsonl, got {found}"
                return _refused(file, "unsupported_type", detail, prefix, info.st_size)
            digest = hashlib.sha256()
            if file.path.suffix.lower() == ".jsonl":
                outcomes = _read_jsonl(handle, digest, file, max_bytes, now)
            else:
                outcomes = [_read_text(handle, digest, file, max_bytes, now, info.st_size)]
            after = os.fstat(handle.fileno())
    except OSError as exc:
        return _refused(file, "unreadable", exc.strerror or str(exc), b"")
    return FileRead(file, outcomes, FileStamp(after.st_size, after.st_mtime_ns, digest.hexdigest()))


def _read_text(
    handle: BinaryIO, digest: hashlib._Hash, file: SourceFile, max_bytes: int, now: float, size: int
) -> Outcome:
    # Reading one byte past the limit is enough to know a file is too large.
    data = handle.read(max_bytes + 1)
    digest.update(data)
    outcome = parse_text(
        data,
        source=file.source,
        key=file.key,
        origin_path=str(file.path),
        ingested_at=now,
        max_bytes=max_bytes,
    )
    if isinstance(outcome, Rejection) and outcome.reason == "too_large":
        outcome = replace(outcome, original_size=max(size, len(data)))
    return outcome


def _read_jsonl(
    handle: BinaryIO, digest: hashlib._Hash, file: SourceFile, max_bytes: int, now: float
) -> list[Outcome]:
    """One outcome per non-blank line; a line longer than the limit is skipped, not loaded."""
    outcomes: list[Outcome] = []
    number = 0
    while line := handle.readline(max_bytes + 2):  # the limit, plus room for "\r\n"
        number += 1
        digest.update(line)
        size = len(line)
        if not line.endswith(b"\n") and len(line) > max_bytes:
            size += _skip_line(handle, digest)
        content = line.rstrip(b"\r\n")
        if number == 1:
            content = content.removeprefix(b"\xef\xbb\xbf")
        if not content.strip():
            continue  # blank lines separate nothing in JSONL; skipping them loses nothing
        outcome = parse_jsonl_line(
            content,
            number,
            source=file.source,
            key=file.key,
            origin_path=str(file.path),
            ingested_at=now,
            max_bytes=max_bytes,
        )
        if isinstance(outcome, Rejection) and outcome.reason == "too_large":
            outcome = replace(outcome, original_size=size)
        outcomes.append(outcome)
    if not outcomes:
        outcomes.append(Rejection("empty", "no JSONL records", b""))
    return outcomes


def _skip_line(handle: BinaryIO, digest: hashlib._Hash) -> int:
    """Read past the rest of an over-long line; return how many bytes that was."""
    skipped = 0
    while chunk := handle.readline(_CHUNK):
        digest.update(chunk)
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def _refused(
    file: SourceFile, reason: str, detail: str, original: bytes, size: int | None = None
) -> FileRead:
    rejection = Rejection(reason, detail, original, file.article_id, original_size=size)
    return FileRead(file, [rejection], None)
