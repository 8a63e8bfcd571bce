"""Fuzzing the raw-event parser: ``decode_raw`` returns an Article or raises ``EventError``.

Whatever bytes arrive on the raw topic, the worker must be able to turn them into a dead letter,
which it does only for ``EventError``: any other exception crashes the agent instead.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from akhbar.common import events
from akhbar.pipeline.stages.article import Article

KNOWN_REASONS = {"malformed_json", "schema_violation", "unknown_schema_version"}
T0 = 1_700_000_000.0
FIELDS = (
    "schema",
    "id",
    "title",
    "body",
    "source",
    "content_hash",
    "ingested_at",
    "origin",
    "url",
    "published_at",
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what orjson.dumps takes
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=20,
)


def decode_or_reason(payload: bytes) -> Article | str:
    """The Article, or the EventError's reason; any other exception fails the test."""
    try:
        return events.decode_raw(payload)
    except events.EventError as exc:
        assert exc.reason in KNOWN_REASONS, exc.reason
        assert exc.detail
        return exc.reason


def valid_event() -> dict[str, Any]:
    return events.raw_event("a-1", "عنوان", "نص المقال", "sana", T0, {"path": "/in/a.txt"})


@given(st.binary(max_size=4096))
@example(b"")
@example(b"\xff\xfe\x00")
@example(b"[" * 100_000)  # nesting deeper than any parser's recursion limit
@example(b'{"a":' * 2000)
@example(b"1e999")
@example(b'{"schema": "akhbar.raw-article/v1", "id": 123456789012345678901234567890}')
@example(b'"\\ud800"')  # a lone surrogate escape
def test_any_bytes_decode_or_raise_event_error(payload: bytes) -> None:
    decode_or_reason(payload)


@given(json_values)
def test_any_json_value_decodes_or_raises_event_error(value: Any) -> None:
    assert isinstance(decode_or_reason(orjson.dumps(value)), str | Article)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4),
    st.sets(st.sampled_from(FIELDS), max_size=3),
    st.dictionaries(st.text(max_size=10), json_values, max_size=2),
)
def test_a_valid_event_with_fields_replaced_removed_or_added_decodes_or_raises_event_error(
    replaced: dict[str, Any], removed: set[str], added: dict[str, Any]
) -> None:
    event = {**valid_event(), **replaced, **added}
    for name in removed:
        event.pop(name, None)
    outcome = decode_or_reason(orjson.dumps(event))
    if isinstance(outcome, Article):
        events.validate(event)  # only a schema-valid event may come out as an article


ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")


@given(
    article_id=ids,
    title=st.text(max_size=2000),
    body=st.text(min_size=1),
    source=st.text(min_size=1, max_size=200),
    ingested_at=st.floats(min_value=0, max_value=4e9),
)
def test_every_event_the_producer_could_send_decodes_to_the_same_article(
    article_id: str, title: str, body: str, source: str, ingested_at: float
) -> None:
    event = events.raw_event(article_id, title, body, source, ingested_at)
    article = decode_or_reason(events.dumps(event))
    assert isinstance(article, Article), article
    assert (article.id, article.title, article.body, article.source) == (
        article_id,
        title,
        body,
        source,
    )
    assert article.content_hash == events.content_hash(title, body)
    assert abs(article.ingested_at - ingested_at) < 0.001


# RFC 3339 date-times, including what the grammar allows and Python's datetime does not:
# second 60 (leap second), lowercase "t" and "z", year 0000.
rfc3339 = st.builds(
    "{:04d}-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}{}".format,
    st.integers(0, 9999),
    st.integers(1, 12),
    st.integers(1, 28),
    st.sampled_from(["T", "t"]),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 60),
    st.sampled_from(["", ".5", ".123456789"]),
    st.sampled_from(["Z", "z", "+00:00", "-05:30"]),
)


@given(rfc3339)
@example("2016-12-31T23:59:60Z")
def test_any_rfc3339_ingested_at_decodes_or_raises_event_error(ingested_at: str) -> None:
    decode_or_reason(orjson.dumps({**valid_event(), "ingested_at": ingested_at}))
