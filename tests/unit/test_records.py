"""Staged records: the dedup agent's enriched event, appended to the head's encoded fields, is the
event ``events.enriched_event`` builds from the whole article, for both record versions; bundles
give back the records they hold, and a corrupt one is refused."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from akhbar.common import events
from akhbar.pipeline.chain import Chain, ChainConfig, build_chain
from akhbar.pipeline.records import (
    BundleError,
    decode_staged,
    encode_bundle,
    encode_staged,
    encode_version_1,
    split_bundle,
    staged_id,
)
from akhbar.pipeline.stages.article import Article, DedupResult

NOW = 1_760_000_000.5
SENT_AT = 1_759_999_999.25


@pytest.fixture(scope="module")
def stateless() -> Chain:
    return build_chain(ChainConfig(), {}, parts="stateless")


def staged_seeds(chain: Chain, seed_paths: list[Path]) -> list[Article]:
    articles = []
    for path in seed_paths:
        title, _, body = path.read_text(encoding="utf-8").partition("\n")
        article = events.decode_raw(
            events.dumps(events.raw_event(path.stem, title, body, "seed", time.time()))
        )
        articles.append(chain.run(article, chain.stateless_names))
    return articles


def finish(article: Article, dedup: DedupResult) -> Article:
    """What the dedup stage does to an article: a decision and its timing."""
    article.dedup = dedup
    article.timings["dedup"] = 0.000123
    return article


@pytest.mark.parametrize("encode", [encode_staged, encode_version_1])
def test_the_enriched_event_from_a_staged_record_is_the_whole_article_event(
    stateless: Chain, seed_paths: list[Path], encode: object
) -> None:
    decisions = [DedupResult("unique"), DedupResult("duplicate", "seed-0", 0.91, "near")]
    for n, article in enumerate(staged_seeds(stateless, seed_paths)):
        record = decode_staged(encode(article, SENT_AT))  # type: ignore[operator]
        assert record.sent_at == SENT_AT
        assert record.article.id == article.id
        if encode is encode_staged:  # the fingerprint stands for the match text
            assert article.fingerprint is not None
            assert record.article.fingerprint == article.fingerprint
            assert record.article.match_text == ""
        else:
            assert record.article.match_text == article.match_text
        assert record.article.ingested_at == article.ingested_at
        assert [(e.id, e.type, e.name) for e in record.article.entities] == [
            (e.id, e.type, e.name) for e in article.entities
        ]
        decision = decisions[n % 2]
        finish(record.article, decision)
        event = orjson.loads(record.enriched_value(NOW))
        expected = orjson.loads(events.dumps(events.enriched_event(finish(article, decision), NOW)))
        assert event == expected
        events.validate(event)


def test_newlines_quotes_and_braces_in_the_text_do_not_break_the_record() -> None:
    text = 'سطر أول\nسطر "ثان" }\n{ و\\ ثالث\r\n'
    article = Article(
        id="odd\nid", title="عنوان\n}", body="", text=text, match_text=text, ingested_at=NOW
    )
    record = decode_staged(encode_staged(article, SENT_AT))
    assert (record.article.id, record.article.match_text) == ("odd\nid", text)
    record.article.dedup = DedupResult("unique")
    event = orjson.loads(record.enriched_value(NOW))
    assert (event["id"], event["title"], event["text"]) == ("odd\nid", "عنوان\n}", text)
    assert event["dedup"]["status"] == "unique"


def test_a_bundle_gives_back_its_records_in_order(stateless: Chain, seed_paths: list[Path]) -> None:
    records = [encode_staged(a, SENT_AT) for a in staged_seeds(stateless, seed_paths)]
    bundle = encode_bundle(records)
    assert bundle[:1] == b"3" and len(bundle) > sum(map(len, records))
    assert split_bundle(bundle) == records
    assert [decode_staged(r).article.id for r in split_bundle(bundle)] == [
        p.stem for p in seed_paths
    ]


def test_a_message_that_is_not_a_bundle_is_one_record() -> None:
    article = Article(id="solo", title="t", body="", text="نص", match_text="نص", ingested_at=NOW)
    for record in (encode_staged(article, SENT_AT), encode_version_1(article, SENT_AT)):
        assert split_bundle(record) == [record]


@pytest.mark.parametrize(
    "payload",
    [
        b"3",  # no header
        b"3[5,5\nabcdeabcde",  # header not JSON
        b'3{"n":5}\nabcde',  # header not a list of lengths
        b"3[5,0]\nabcde",  # an empty record
        b"3[5,5]\nabcdeabcd",  # records shorter than the header says
        b"3[5,5]\nabcdeabcdeX",  # bytes past the last record
    ],
)
def test_a_corrupt_bundle_is_refused_not_misread(payload: bytes) -> None:
    with pytest.raises(BundleError):
        split_bundle(payload)


def test_the_id_of_a_staged_record_for_its_dead_letter() -> None:
    article = Article(id="a-7", title="t", body="", text="نص", match_text="نص", ingested_at=NOW)
    assert staged_id(encode_staged(article, SENT_AT)) == "a-7"
    assert staged_id(b"2{not json\n") is None


def test_a_record_without_a_fingerprint_carries_the_match_text() -> None:
    article = Article(id="m", title="t", body="", text="نص", match_text="نص مطابق", ingested_at=NOW)
    record = decode_staged(encode_staged(article, SENT_AT))
    assert (record.article.match_text, record.article.fingerprint) == ("نص مطابق", None)
