"""Every person named in the seed articles comes out of the entity stage linked to one id."""

from __future__ import annotations

from pathlib import Path

import pytest

from akhbar.pipeline.ner.text import split_sentences, tokenize
from akhbar.pipeline.stages.article import Article
from akhbar.pipeline.stages.entities import EntityTagger

LOCAL_SEEDS = Path(__file__).resolve().parents[1] / "data" / "seeds"
SHARED_SEEDS = Path("/work/shared/seeds")
SEEDS = LOCAL_SEEDS if LOCAL_SEEDS.is_dir() else SHARED_SEEDS

# Each person as the seeds spell them; every spelling of one person must reach one id.
PEOPLE = [
    ["بشار الجعفري", "الجعفري"],
    ["الكسندر لافرينتييف", "ألكسندر لافرنتييف", "لافرينتييف", "لافرنتييف"],
    ["غير بيدرسون", "بيدرسون"],
    ["علي أصغر خاجي", "أصغر خاجي", "خاجي"],
    ["سيرغي شويغو"],
    ["أمير حاتمي"],
    ["حسين أمير عبد اللهيان"],
    ["سيرغي فيرشينين"],
    ["بشار الأسد"],
    ["رمزي عز الدين رمزي"],
    ["ستيفان دي ميستورا", "دي ميستورا"],
    ["سامح شكري"],
    ["ميخائيل بوغدانوف"],
    ["سيرغي لافروف", "لافروف"],
    ["أنجيلينو الفانو"],
    ["غينادي غاتيلوف", "غاتيلوف"],
    ["ستانيسلاف حجى محميدوف", "حجى محميدوف", "حجي محميدوف"],
    ["ميلوس شتروغر"],
    ["ديليس رودريغز"],
    ["أنور جايناكوف"],
    ["دونالد ترامب"],
    ["أيمن رعد"],
]


@pytest.fixture(scope="module")
def person_ids() -> dict[str, set[str]]:
    """Surface form -> ids it got across all seed articles (body lines after the headline)."""
    tagger = EntityTagger.load_default()
    seen: dict[str, set[str]] = {}
    for path in sorted(SEEDS.glob("*.txt")):
        body = path.read_text(encoding="utf-8").split("\n", 1)[1]
        article = tagger(Article(id=path.stem, title="", body=body, text=body))
        for entity in article.entities:
            for m in entity.mentions:
                assert body[m.start : m.end] == m.text
                if entity.type == "PER":
                    seen.setdefault(m.text, set()).add(entity.id)
    return seen


@pytest.mark.parametrize("spellings", PEOPLE, ids=lambda s: s[0])
def test_person_is_found_and_linked_to_one_id(
    person_ids: dict[str, set[str]], spellings: list[str]
) -> None:
    present = [s for s in spellings if s in person_ids]
    assert spellings[0] in person_ids, f"{spellings[0]} not tagged as a person"
    ids = set().union(*(person_ids[s] for s in present))
    assert len(ids) == 1, ids


def test_lavrentiev_spellings_meet(person_ids: dict[str, set[str]]) -> None:
    assert person_ids["لافرينتييف"] == person_ids["لافرنتييف"]


def test_jaafari_surname_meets_full_name(person_ids: dict[str, set[str]]) -> None:
    assert person_ids["الجعفري"] == person_ids["بشار الجعفري"]


def test_two_bashars_stay_apart(person_ids: dict[str, set[str]]) -> None:
    assert person_ids["بشار الأسد"].isdisjoint(person_ids["بشار الجعفري"])


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return EntityTagger.load_default()


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.stem)
def test_article_tagged_at_once_equals_sentence_by_sentence(
    tagger: EntityTagger, path: Path
) -> None:
    """The stage tags, matches and merges a whole article in one pass; sentences stay apart."""
    text = path.read_text(encoding="utf-8")
    sentences = split_sentences(tokenize(text))
    at_once = tagger.find(text, sentences)
    one_by_one = [found for sentence in sentences for found in tagger.find(text, [sentence])]
    assert at_once == one_by_one
    grouped = [m for entity in tagger.entities(text) for m in entity.mentions]
    assert sorted(grouped, key=lambda m: m.start) == [found.mention for found in at_once]
