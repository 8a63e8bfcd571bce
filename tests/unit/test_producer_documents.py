"""Unit tests of the producer's document reading: headline and body, ids, every rejection reason."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from akhbar.common.events import dead_letter_event, validate
from akhbar.producer.documents import (
    KEPT_PREFIX_BYTES,
    RawDocument,
    Rejection,
    article_id,
    parse_jsonl_line,
    parse_text,
)
from akhbar.producer.files import SourceFile, discover, read_file

T0 = 1_700_000_000.0
LIMIT = 10_000
HEADLINE = "لافروف: لتشكيل جبهة موحّدة لمحاربة الإرهاب"
BODY = "قدّم الوفد السوري خلال جلسة المحادثات ورقة مبادئ أساسية.\nوتطرّقت المحادثات إلى الدستور."
ARTICLE = f"{HEADLINE}\n{BODY}\n"


def text(data: bytes, key: str = "a.txt", source: str = "wire", max_bytes: int = LIMIT) -> Any:
    return parse_text(
        data, source=source, key=key, origin_path=f"/in/{key}", ingested_at=T0, max_bytes=max_bytes
    )


def jsonl(line: bytes | str, number: int = 1, key: str = "feed.jsonl") -> Any:
    raw = line.encode() if isinstance(line, str) else line
    return parse_jsonl_line(
        raw,
        number,
        source="feed",
        key=key,
        origin_path=f"/in/{key}",
        ingested_at=T0,
        max_bytes=LIMIT,
    )


def accepted(outcome: object) -> RawDocument:
    assert isinstance(outcome, RawDocument), outcome
    return outcome


def rejected(outcome: object) -> Rejection:
    assert isinstance(outcome, Rejection), outcome
    return outcome


@pytest.mark.parametrize(
    "data",
    [
        ARTICLE,
        f"\n\n   \n{HEADLINE}\n{BODY}",  # leading blank lines are not the headline
        f"  {HEADLINE}  \r\n{BODY}\r\n",  # Windows line endings, padded headline
        f"\ufeff{HEADLINE}\n\n{BODY}\n\n",  # UTF-8 byte-order mark, blank line after the headline
    ],
)
def test_headline_is_first_non_empty_line_and_body_the_rest(data: str) -> None:
    event = accepted(text(data.encode())).event
    assert event["title"] == HEADLINE
    assert event["body"] == BODY


def test_raw_event_validates_and_carries_hash_time_and_origin() -> None:
    doc = accepted(text(ARTICLE.encode()))
    validate(doc.event)
    assert doc.event["id"] == doc.article_id
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", doc.event["content_hash"])
    assert doc.event["ingested_at"] == "2023-11-14T22:13:20.000Z"
    assert doc.event["origin"] == {"path": "/in/a.txt"}
    assert doc.event["source"] == "wire"


def test_same_file_gets_the_same_id() -> None:
    first = accepted(text(ARTICLE.encode(), key="2024/a.txt"))
    again = accepted(text(ARTICLE.encode(), key="2024/a.txt"))
    assert first.article_id == again.article_id
    assert re.fullmatch(r"[0-9a-f]{16}", first.article_id)


def test_different_file_with_the_same_text_gets_another_id() -> None:
    assert (
        accepted(text(ARTICLE.encode(), key="a.txt")).article_id
        != accepted(text(ARTICLE.encode(), key="b.txt")).article_id
    )


def test_same_name_from_another_source_gets_another_id() -> None:
    assert article_id("sana", "a.txt") != article_id("petra", "a.txt")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (HEADLINE.encode("cp1256") + b"\n" + BODY.encode("cp1256"), "not_utf8"),
        (ARTICLE.encode("utf-16"), "not_utf8"),  # has a BOM, and NUL bytes too
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"head\nline\x00with a NUL", "binary"),
        (b"\x01\x02\x03\x04\x05" + b"ab", "binary"),  # mostly control characters
        (b"", "empty"),
        (b" \n\t\r\n  ", "empty"),
        ("\u00a0\u2003\n".encode(), "empty"),  # Unicode spaces only
        (HEADLINE.encode(), "no_body"),
        (f"\n{HEADLINE}\n   \n".encode(), "no_body"),
        (("س" * 2001 + "\n" + BODY).encode(), "headline_too_long"),
    ],
)
def test_a_bad_file_is_rejected_with_its_reason(data: bytes, reason: str) -> None:
    rejection = rejected(text(data))
    assert rejection.reason == reason
    assert rejection.detail
    assert rejection.original == data
    assert rejection.article_id == article_id("wire", "a.txt")


def test_utf16_is_reported_as_not_utf8_rather_than_binary() -> None:
    """A UTF-16 file has NUL bytes; its byte-order mark tells the user what actually went wrong."""
    assert rejected(text(ARTICLE.encode("utf-16"))).detail.startswith("UTF-16")


def test_over_the_size_limit_is_too_large_and_keeps_a_prefix() -> None:
    data = ARTICLE.encode() * 100
    rejection = rejected(text(data, max_bytes=1000))
    assert rejection.reason == "too_large"
    assert rejection.original == data[:KEPT_PREFIX_BYTES]
    assert rejection.original_size == len(data)


def test_too_large_file_is_read_only_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(ARTICLE.encode() * 50_000)  # about 8 MB
    read = read_file(SourceFile(path, "big.txt", "wire"), max_bytes=1000)
    rejection = rejected(read.outcomes[0])
    assert rejection.reason == "too_large"
    assert rejection.original_size == path.stat().st_size
    assert len(rejection.original) == 1001  # limit + 1: all that was read


def test_dead_letter_of_a_rejection_validates() -> None:
    rejection = rejected(text(b"\xff\xfe\x00"))
    letter = dead_letter_event(
        "producer",
        rejection.reason,
        rejection.detail,
        rejection.original,
        article_id=rejection.article_id,
        source="/in/a.txt",
        failed_at=T0,
    )
    validate(letter)


def test_jsonl_line_becomes_a_raw_event() -> None:
    record = {
        "title": HEADLINE,
        "body": BODY,
        "source": "sana",
        "url": "https://sana.sy/1",
        "published_at": "2019-04-25",
    }
    doc = accepted(jsonl(orjson.dumps(record), number=7))
    validate(doc.event)
    assert (doc.event["title"], doc.event["body"], doc.event["source"]) == (HEADLINE, BODY, "sana")
    assert doc.event["url"] == "https://sana.sy/1"
    assert doc.event["origin"] == {"path": "/in/feed.jsonl", "line": 7}
    assert doc.article_id == article_id("sana", "feed.jsonl:7")


def test_jsonl_line_keeps_its_own_id() -> None:
    doc = accepted(jsonl(orjson.dumps({"id": "sana-2019-0425.1", "text": BODY})))
    assert doc.article_id == doc.event["id"] == "sana-2019-0425.1"
    assert doc.event["title"] == ""


def test_jsonl_lines_without_id_get_distinct_stable_ids() -> None:
    line = orjson.dumps({"text": BODY})
    assert accepted(jsonl(line, 1)).article_id == accepted(jsonl(line, 1)).article_id
    assert accepted(jsonl(line, 1)).article_id != accepted(jsonl(line, 2)).article_id


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"title": "t", "text": "b"', "malformed_jsonl_line"),  # cut short
        ("[1, 2]", "malformed_jsonl_line"),
        ('{"title": "only a title"}', "malformed_jsonl_line"),
        ('{"text": "   "}', "malformed_jsonl_line"),
        ('{"text": 42}', "malformed_jsonl_line"),
        ('{"id": "no spaces allowed", "text": "b"}', "malformed_jsonl_line"),
        ('{"text": "b", "url": 5}', "malformed_jsonl_line"),
        (b'{"text": "\xe9t\xe9"}', "not_utf8"),
        (b'{"text": "a\x00b"}', "binary"),
    ],
)
def test_a_bad_jsonl_line_is_rejected_alone(line: str | bytes, reason: str) -> None:
    rejection = rejected(jsonl(line, number=3))
    assert (rejection.reason, rejection.line) == (reason, 3)


def test_jsonl_file_rejects_bad_lines_and_keeps_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    good = orjson.dumps({"title": HEADLINE, "text": BODY}).decode()
    path.write_text(f"{good}\nnot json\n\n{good}\n{{}}\n", encoding="utf-8")
    read = read_file(SourceFile(path, "feed.jsonl", "feed"), max_bytes=LIMIT)
    kinds = [(type(o).__name__, o.line) for o in read.outcomes]
    assert kinds == [("RawDocument", 1), ("Rejection", 2), ("RawDocument", 4), ("Rejection", 5)]


def test_jsonl_line_over_the_limit_is_too_large_and_the_next_line_still_reads(
    tmp_path: Path,
) -> None:
    path = tmp_path / "feed.jsonl"
    huge = orjson.dumps({"text": "ب" * 5000}).decode()
    small = orjson.dumps({"text": BODY}).decode()
    path.write_text(f"{huge}\n{small}\n", encoding="utf-8")
    read = read_file(SourceFile(path, "feed.jsonl", "feed"), max_bytes=1000)
    too_large = rejected(read.outcomes[0])
    assert (too_large.reason, too_large.original_size) == ("too_large", len(huge) + 1 + 5000)
    assert accepted(read.outcomes[1]).event["body"] == BODY


def test_empty_jsonl_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    read = read_file(SourceFile(path, "feed.jsonl", "feed"), max_bytes=LIMIT)
    assert [rejected(o).reason for o in read.outcomes] == ["empty"]


def test_explicit_file_of_another_type_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "article.pdf"
    path.write_bytes(b"%PDF-1.7")
    (only,) = read_file(SourceFile(path, "article.pdf", "wire"), max_bytes=LIMIT).outcomes
    assert rejected(only).reason == "unsupported_type"


def test_directory_yields_articles_sorted_recursive_and_skips_the_rest(tmp_path: Path) -> None:
    for name in ["b.txt", "a/z.jsonl", "a/y.txt", "notes.md", ".hidden.txt", "c.txt.part"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(ARTICLE, encoding="utf-8")
    files = discover([tmp_path], source=None)
    assert [f.key for f in files] == ["a/y.txt", "a/z.jsonl", "b.txt"]
    assert [f.source for f in files] == ["a", "a", tmp_path.name]


def test_a_file_argument_is_keyed_by_its_name_and_listed_once(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(ARTICLE, encoding="utf-8")
    files = discover([tmp_path / "a.txt", tmp_path], source="sana")
    assert [(f.key, f.source) for f in files] == [("a.txt", "sana")]
