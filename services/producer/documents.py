"""Turn the bytes of one article file or JSONL line into a raw event, or a reason to refuse it.

Everything here is pure: bytes in, a ``RawDocument`` or a ``Rejection`` out. No files, no Kafka.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from akhbar.common.events import EventError, raw_event, validate
from akhbar.producer.exceptions import DocumentRejected

# Mirrors the `id` pattern of schemas/raw-article.v1.json.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
MAX_TITLE_CHARS = 2000
MAX_SOURCE_CHARS = 200
FALLBACK_SOURCE = "local"
# A refused document keeps only this prefix in its dead letter when it is too large or of an
# unsupported type: enough to recognise it, small enough for any broker's message limit.
KEPT_PREFIX_BYTES = 64 * 1024
# "Mostly control characters": more than this share of the bytes are C0 controls (not whitespace).
CONTROL_SHARE_LIMIT = 0.3
_CONTROL_BYTES = (frozenset(range(0x20)) - frozenset(b"\t\n\r\f\v")) | {0x7F}
# bytes.translate deletes these, leaving only the control bytes to count (C speed on 1 MB).
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True, slots=True)
class RawDocument:
    """One article ready to publish: its id (also the Kafka message key) and its raw event."""

    article_id: str
    event: dict[str, Any]
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A document the producer refuses, with what the dead letter needs to keep it."""

    reason: str
    detail: str
    original: bytes
    article_id: str | None = None
    line: int | None = None
    # The size of the whole document when ``original`` holds only its first bytes.
    original_size: int | None = None


Outcome = RawDocument | Rejection


def article_id(source: str, document_key: str) -> str:
    """The stable id of a document: re-sending it gives the same id, so a re-send is a replay."""
    return hashlib.sha256(f"{source}\n{document_key}".encode()).hexdigest()[:16]


def clean_source(name: str) -> str:
    """A source name the schema accepts (1 to 200 characters)."""
    name = name.strip()[:MAX_SOURCE_CHARS]
    return name or FALLBACK_SOURCE


def check_bytes(data: bytes, max_bytes: int) -> None:
    """Refuse bytes that cannot be an article whatever they say: empty, too big, UTF-16, binary."""
    if not data.strip():
        raise DocumentRejected("empty", "no text" if not data else "only whitespace")
    if len(data) > max_bytes:
        raise DocumentRejected("too_large", f"over the limit of {max_bytes} bytes")
    if data.startswith(_UTF16_BOMS):  # before the NUL check: UTF-16 text is full of NULs
        raise DocumentRejected("not_utf8", "UTF-16 byte-order mark; save the file as UTF-8")
    if b"\x00" in data:
        raise DocumentRejected("binary", f"NUL byte at offset {data.index(0)}")
    controls = len(data.translate(None, _NOT_CONTROL))
    if controls > CONTROL_SHARE_LIMIT * len(data):
        raise DocumentRejected("binary", f"{controls} of {len(data)} bytes are control characters")


def decode_utf8(data: bytes) -> str:
    """Decode UTF-8 (a byte-order mark is dropped); anything else is ``not_utf8``."""
    try:
        text = data.removeprefix(_UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentRejected(
            "not_utf8", f"invalid UTF-8 byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None
    if not text.strip():
        raise DocumentRejected("empty", "only whitespace")
    return text


def split_article(text: str) -> tuple[str, str]:
    """Headline (the first non-empty line) and body (the rest), line endings made ``\\n``."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = next(i for i, line in enumerate(lines) if line.strip())
    title = lines[first].strip()
    body = "\n".join(lines[first + 1 :]).strip()
    if len(title) > MAX_TITLE_CHARS:
        raise DocumentRejected(
            "headline_too_long",
            f"first line has {len(title)} characters (limit {MAX_TITLE_CHARS}); no headline?",
        )
    if not body:
        raise DocumentRejected("no_body", "a headline but no body")
    return title, body


def parse_text(
    data: bytes,
    *,
    source: str,
    key: str,
    origin_path: str,
    ingested_at: float,
    max_bytes: int,
) -> Outcome:
    """The raw event of a ``.txt`` article (``data`` may be cut at ``max_bytes + 1``)."""
    doc_id = article_id(source, key)
    try:
        check_bytes(data, max_bytes)
        title, body = split_article(decode_utf8(data))
        event = raw_event(doc_id, title, body, source, ingested_at, {"path": origin_path})
        checked(event, reason="schema_violation")  # a bug of ours if it fires; ~10 µs an event
    except DocumentRejected as exc:
        return _rejection(exc, data, doc_id)
    return RawDocument(doc_id, event)


def parse_jsonl_line(
    line: bytes,
    number: int,
    *,
    source: str,
    key: str,
    origin_path: str,
    ingested_at: float,
    max_bytes: int,
) -> Outcome:
    """The raw event of one JSONL line (``number`` counts from 1); each line stands alone.

    A record's own ``source`` wins over the run's (a feed file mixes outlets); a record without
    an ``id`` gets one from its source, the file's key and its line number.
    """
    try:
        check_bytes(line, max_bytes)
        fields = json_object(decode_utf8(line))
        line_source = clean_source(_optional_str(fields, "source") or source)
        doc_id = fields.get("id")
        if doc_id is None:
            doc_id = article_id(line_source, f"{key}:{number}")
        elif not isinstance(doc_id, str) or not ID_PATTERN.match(doc_id):
            raise DocumentRejected("malformed_jsonl_line", f"id {doc_id!r} is not a valid id")
        event = raw_event(
            doc_id,
            (_optional_str(fields, "title") or "").strip(),
            _text(fields),
            line_source,
            ingested_at,
            {"path": origin_path, "line": number},
        )
        for name in ("url", "published_at"):
            if name in fields:
                event[name] = _optional_str(fields, name)
        checked(event, reason="malformed_jsonl_line")
    except DocumentRejected as exc:
        return _rejection(exc, line, None, number)
    return RawDocument(doc_id, event, number)


def json_object(text: str) -> dict[str, Any]:
    """The JSON object on one line, or ``malformed_jsonl_line``."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise DocumentRejected("malformed_jsonl_line", f"not valid JSON: {exc}"[:200]) from None
    if not isinstance(value, dict):
        raise DocumentRejected(
            "malformed_jsonl_line", f"expected a JSON object, got {type(value).__name__}"
        )
    return value


def checked(event: dict[str, Any], reason: str) -> None:
    """Hold an event to schemas/raw-article.v1.json before it leaves the producer."""
    try:
        validate(event)
    except EventError as exc:
        raise DocumentRejected(reason, exc.detail) from None


def _text(fields: dict[str, Any]) -> str:
    """The article text of a JSONL record: ``text``, else ``body``; it must say something."""
    text = fields.get("text")
    if text is None:
        text = fields.get("body")
    if not isinstance(text, str) or not text.strip():
        raise DocumentRejected("malformed_jsonl_line", "no text: needs a non-empty text or body")
    return text.strip()


def _optional_str(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise DocumentRejected(
            "malformed_jsonl_line", f"{name} must be a string, got {type(value).__name__}"
        )
    return value


def _rejection(
    exc: DocumentRejected, data: bytes, doc_id: str | None, line: int | None = None
) -> Rejection:
    if exc.reason == "too_large":
        # The caller may have read only max_bytes + 1; it knows the real size and fills it in.
        return Rejection(exc.reason, exc.detail, data[:KEPT_PREFIX_BYTES], doc_id, line, len(data))
    return Rejection(exc.reason, exc.detail, data, doc_id, line)
