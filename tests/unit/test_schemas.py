"""The JSON Schemas are valid 2020-12 documents, and the codecs emit events that satisfy them."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from akhbar.common import events
from akhbar.pipeline.stages.article import Article, Dateline, DedupResult, Entity, Mention

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def reference(schema_id: str) -> Draft202012Validator:
    """The pure-Python jsonschema validator: an independent check of what jsonschema-rs says."""
    schema = orjson.loads((SCHEMAS / events.SCHEMA_FILES[schema_id]).read_bytes())
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.mark.parametrize("name", sorted(events.SCHEMA_FILES.values()))
def test_schema_files_are_valid_draft_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(orjson.loads((SCHEMAS / name).read_bytes()))


def sample_article() -> Article:
    return Article(
        id="a1",
        title="عنوان",
        body="نص",
        source="seeds",
        content_hash=events.content_hash("عنوان", "نص"),
        ingested_at=time.time(),
        text="لافروف في موسكو",
        language="ar",
        dateline=Dateline("أستانا-سانا", ["أستانا"], "سانا"),
        dedup=DedupResult("duplicate", "a0", 0.8, "near"),
        entities=[
            Entity("per:sergey-lavrov", "PER", "سيرغي لافروف", [Mention(0, 6, "لافروف")], True)
        ],
        timings={"normalize": 0.0001},
    )


def emitted() -> list[dict[str, object]]:
    now = time.time()
    return [
        events.raw_event("a1", "عنوان", "نص", "seeds", now, {"path": "x.txt", "line": 3}),
        events.enriched_event(sample_article(), now),
        events.dead_letter_event("decode", "malformed_json", "bad", b"\xff{", failed_at=now),
    ]


@pytest.mark.parametrize("event", emitted(), ids=lambda e: str(e["schema"]))
def test_emitted_events_validate_with_both_validators(event: dict[str, object]) -> None:
    events.validate(event)
    assert not list(reference(str(event["schema"])).iter_errors(event))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", ""),
        ("id", "has space"),
        ("content_hash", "md5:x"),
        ("ingested_at", "yesterday"),
        ("body", ""),
        ("extra", 1),
    ],
)
def test_invalid_raw_events_are_refused_by_both_validators(field: str, value: object) -> None:
    event = events.raw_event("a1", "t", "نص", "seeds", time.time())
    event[field] = value
    with pytest.raises(events.EventError) as refused:
        events.validate(event)
    assert refused.value.reason == "schema_violation"
    assert list(reference(events.RAW_SCHEMA).iter_errors(event))


def test_unknown_schema_version_is_its_own_reason() -> None:
    event = events.raw_event("a1", "t", "نص", "seeds", time.time())
    event["schema"] = "akhbar.raw-article/v9"
    with pytest.raises(events.EventError) as refused:
        events.decode_raw(events.dumps(event))
    assert refused.value.reason == "unknown_schema_version"


def test_malformed_json_is_its_own_reason() -> None:
    with pytest.raises(events.EventError) as refused:
        events.decode_raw(b"{nope")
    assert refused.value.reason == "malformed_json"


def test_decoded_article_keeps_identity_fields() -> None:
    event = events.raw_event("a1", "عنوان", "نص المقال", "seeds", 1_700_000_000.0)
    article = events.decode_raw(events.dumps(event))
    assert (article.id, article.title, article.body, article.source) == (
        "a1",
        "عنوان",
        "نص المقال",
        "seeds",
    )
    assert article.ingested_at == pytest.approx(1_700_000_000.0, abs=0.001)
    assert article.content_hash == event["content_hash"]
