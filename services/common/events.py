"""Wire formats: raw, enriched and dead-letter events as JSON bytes, checked against schemas/."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson

from akhbar import __version__
from akhbar.pipeline.stages.article import Article

RAW_SCHEMA = "akhbar.raw-article/v1"
ENRICHED_SCHEMA = "akhbar.enriched-article/v1"
DEAD_LETTER_SCHEMA = "akhbar.dead-letter/v1"
SCHEMA_FILES = {
    RAW_SCHEMA: "raw-article.v1.json",
    ENRICHED_SCHEMA: "enriched-article.v1.json",
    DEAD_LETTER_SCHEMA: "dead-letter.v1.json",
}
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
# A dead letter keeps the original payload; past this many bytes it keeps a prefix and the hash.
# 512 KiB base64-encodes to about 700 KB, under Kafka's default 1 MB message limit.
DEAD_LETTER_ORIGINAL_LIMIT = 524_288


class EventError(Exception):
    """A raw event could not be decoded; ``reason`` is the dead-letter reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@cache
def validator(schema_id: str) -> jsonschema_rs.Draft202012Validator:
    """The compiled validator for one of our schemas (loaded once per process).

    jsonschema-rs validates a raw event in microseconds where the pure-Python jsonschema takes
    about a millisecond, which on the hot path was half of the worker's per-event cost.
    """
    schema = orjson.loads((SCHEMA_DIR / SCHEMA_FILES[schema_id]).read_bytes())
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def validate(event: dict[str, Any]) -> None:
    """Raise ``EventError('schema_violation', ...)`` unless ``event`` matches its own schema."""
    schema_id = event.get("schema")
    if schema_id not in SCHEMA_FILES:
        raise EventError("unknown_schema_version", f"schema {schema_id!r} is not one we know")
    checker = validator(schema_id)
    if checker.is_valid(event):
        return
    error = next(iter(checker.iter_errors(event)))
    where = "/".join(str(p) for p in error.instance_path) or "(root)"
    raise EventError("schema_violation", f"{where}: {error.message[:200]}")


def utc_iso(epoch_seconds: float) -> str:
    """RFC 3339 UTC timestamp with millisecond precision."""
    return (
        datetime.fromtimestamp(epoch_seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def parse_iso(value: str) -> float:
    """Epoch seconds from an RFC 3339 timestamp."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def content_hash(title: str, body: str) -> str:
    """The hash a raw event carries: SHA-256 over the UTF-8 title, a newline, and the body."""
    digest = hashlib.sha256(title.encode() + b"\n" + body.encode()).hexdigest()
    return f"sha256:{digest}"


def raw_event(
    article_id: str,
    title: str,
    body: str,
    source: str,
    ingested_at: float,
    origin: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A raw-article event (schema ``akhbar.raw-article/v1``) for one document."""
    event: dict[str, Any] = {
        "schema": RAW_SCHEMA,
        "id": article_id,
        "title": title,
        "body": body,
        "source": source,
        "content_hash": content_hash(title, body),
        "ingested_at": utc_iso(ingested_at),
    }
    if origin:
        event["origin"] = origin
    return event


def decode_raw(payload: bytes) -> Article:
    """Parse and validate raw-event bytes into an ``Article``; raise ``EventError`` on bad input."""
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise EventError("malformed_json", str(exc)[:200]) from None
    if not isinstance(event, dict):
        raise EventError("schema_violation", f"expected a JSON object, got {type(event).__name__}")
    if event.get("schema") != RAW_SCHEMA:
        raise EventError(
            "unknown_schema_version", f"schema {event.get('schema')!r} is not {RAW_SCHEMA}"
        )
    validate(event)
    try:
        ingested_at = parse_iso(event["ingested_at"])
    except (ValueError, OverflowError) as exc:
        # RFC 3339 allows what Python's datetime does not (leap seconds, year 0000).
        raise EventError("schema_violation", f"ingested_at: {exc}") from None
    return Article(
        id=event["id"],
        title=event["title"],
        body=event["body"],
        source=event["source"],
        content_hash=event["content_hash"],
        ingested_at=ingested_at,
    )


def enriched_event(article: Article, processed_at: float) -> dict[str, Any]:
    """The enriched-article event (schema ``akhbar.enriched-article/v1``) for a finished article."""
    return {**enriched_fields(article), **finishing_fields(article, processed_at)}


def enriched_fields(article: Article) -> dict[str, Any]:
    """Every field of the enriched event that the stateless stages decide (all but the last
    three), so the head can encode them once and the dedup agent only appends the rest."""
    return {
        "schema": ENRICHED_SCHEMA,
        "id": article.id,
        "title": article.title,
        "text": article.text,
        "source": article.source,
        "content_hash": article.content_hash,
        "language": article.language or "ar",
        "dateline": (
            {
                "raw": article.dateline.raw,
                "places": article.dateline.places,
                "agency": article.dateline.agency,
            }
            if article.dateline
            else None
        ),
        "byline": article.byline,
        "entities": [
            {
                "id": entity.id,
                "type": entity.type,
                "name": entity.name,
                "kb": entity.kb,
                "mentions": [
                    {"start": m.start, "end": m.end, "text": m.text} for m in entity.mentions
                ],
            }
            for entity in article.entities
        ],
        "ingested_at": utc_iso(article.ingested_at),
    }


def finishing_fields(article: Article, processed_at: float) -> dict[str, Any]:
    """The enriched event's last fields: the dedup decision, when, and the pipeline's record."""
    dedup = article.dedup
    return {
        "dedup": {
            "status": dedup.status if dedup else "unique",
            "duplicate_of": dedup.duplicate_of if dedup else None,
            "similarity": dedup.similarity if dedup else None,
            "method": dedup.method if dedup else None,
        },
        "processed_at": utc_iso(processed_at),
        "pipeline": {
            "version": __version__,
            "boilerplate_chars": article.boilerplate_chars,
            "stage_us": {k: round(v * 1e6, 1) for k, v in article.timings.items()},
        },
    }


def dead_letter_event(
    stage: str,
    reason: str,
    detail: str,
    original: bytes,
    *,
    article_id: str | None = None,
    source: str | None = None,
    failed_at: float,
) -> dict[str, Any]:
    """A dead-letter event carrying the original payload (base64), its size and hash."""
    kept = original[:DEAD_LETTER_ORIGINAL_LIMIT]
    return {
        "schema": DEAD_LETTER_SCHEMA,
        "stage": stage,
        "reason": reason,
        "detail": detail[:500],
        "id": article_id,
        "source": source,
        "original": base64.b64encode(kept).decode("ascii"),
        "original_encoding": "base64",
        "original_size": len(original),
        "original_sha256": hashlib.sha256(original).hexdigest(),
        "original_truncated": len(kept) < len(original),
        "failed_at": utc_iso(failed_at),
    }


def dumps(event: dict[str, Any]) -> bytes:
    """Serialise an event with orjson (the one JSON codec used on the wire)."""
    return orjson.dumps(event)
