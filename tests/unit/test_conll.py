"""CoNLL tagging keeps the input's shape and writes ANERcorp-style tags."""

from __future__ import annotations

import pytest

from akhbar.pipeline.ner.conll import tag_conll
from akhbar.pipeline.stages.entities import EntityTagger

VALID = {"O"} | {f"{p}-{t}" for p in "BI" for t in ("PERS", "LOC", "ORG")}
INPUT = """وقال O
ولافروف O
في O
موسكو O
. O

أعلنت
الأمم
المتحدة
أمس

وزار
بشار
الجعفري
دمشق
"""


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return EntityTagger.load_default()


def test_round_trip_keeps_tokens_and_blank_lines(tagger: EntityTagger) -> None:
    lines = INPUT.splitlines()
    out = list(tag_conll(lines, tagger))
    assert len(out) == len(lines)
    for given, written in zip(lines, out, strict=True):
        if not given.strip():
            assert written == ""
            continue
        token, tag = written.split(" ")
        assert token == given.split()[0]
        assert tag in VALID


def test_whole_tokens_are_tagged_including_attached_proclitics(tagger: EntityTagger) -> None:
    out = dict(line.split(" ") for line in tag_conll(INPUT.splitlines(), tagger) if line)
    assert out["ولافروف"] == "B-PERS"
    assert out["موسكو"] == "B-LOC"
    assert (out["الأمم"], out["المتحدة"]) == ("B-ORG", "I-ORG")
    assert (out["بشار"], out["الجعفري"]) == ("B-PERS", "I-PERS")


def test_inside_tags_follow_a_begin_of_the_same_type(tagger: EntityTagger) -> None:
    tags = [line.split(" ")[1] for line in tag_conll(INPUT.splitlines(), tagger) if line]
    for prev, tag in zip(["O", *tags], tags, strict=False):
        if tag.startswith("I-"):
            assert prev[2:] == tag[2:]
