"""The entity stage on hand-written sentences: spans, clitics, titles, linking."""

from __future__ import annotations

import pytest

from akhbar.pipeline.ner.text import Token
from akhbar.pipeline.stages.article import Article, Entity
from akhbar.pipeline.stages.entities import EntityTagger


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return EntityTagger.load_default()


def run(tagger: EntityTagger, text: str) -> list[Entity]:
    article = tagger(Article(id="t", title="", body=text, text=text))
    for entity in article.entities:
        for m in entity.mentions:
            assert text[m.start : m.end] == m.text
    return article.entities


def by_surface(entities: list[Entity]) -> dict[str, Entity]:
    return {m.text: e for e in entities for m in e.mentions}


def test_proclitic_is_outside_the_span_and_al_stays_inside(tagger: EntityTagger) -> None:
    text = "وصل الوفد لسورية وموسكو بعد زيارة بالعراق."
    found = by_surface(run(tagger, text))
    assert found["سورية"].id == "loc:syria"
    assert found["موسكو"].id == "loc:moscow"
    assert found["العراق"].id == "loc:iraq"
    assert "لسورية" not in found and "وموسكو" not in found


def test_offsets_point_into_the_text(tagger: EntityTagger) -> None:
    text = "قال وزير الخارجية الروسي سيرغي لافروف في موسكو إن ..."
    found = by_surface(run(tagger, text))
    start = text.index("سيرغي")
    mention = next(m for e in found.values() for m in e.mentions if m.text == "سيرغي لافروف")
    assert (mention.start, mention.end) == (start, start + len("سيرغي لافروف"))


def test_title_is_not_part_of_the_name(tagger: EntityTagger) -> None:
    text = "واستقبل الرئيس بشار الأسد في دمشق المبعوث الخاص غير بيدرسون."
    found = by_surface(run(tagger, text))
    assert found["بشار الأسد"].id == "per:bashar-al-assad"
    assert found["غير بيدرسون"].id == "per:geir-pedersen"
    assert not any(s.startswith(("الرئيس", "المبعوث")) for s in found)


@pytest.mark.parametrize(
    ("text", "surface", "entity_id"),
    [
        ("وأصدرت وزارة الخارجية الروسية بيانا أمس.", "وزارة الخارجية الروسية", "org:russian-mfa"),
        ("وسيطر تنظيم جبهة النصرة على المنطقة.", "جبهة النصرة", "org:nusra-front"),
        ("ودعت الأمم المتحدة إلى وقف القتال.", "الأمم المتحدة", "org:un"),
        ("وقال مندوب سورية لدى الأمم المتحدة إن ...", "الأمم المتحدة", "org:un"),
    ],
)
def test_multiword_organisations(
    tagger: EntityTagger, text: str, surface: str, entity_id: str
) -> None:
    found = by_surface(run(tagger, text))
    assert found[surface].id == entity_id
    assert found[surface].type == "ORG"
    assert found[surface].kb


def test_transliteration_variants_share_one_id(tagger: EntityTagger) -> None:
    ids = {
        by_surface(run(tagger, f"وقال الوزير {name} للصحفيين."))[name].id
        for name in ("سيرغي لافروف", "سيرجي لافروف", "سيرجى لافروف")
    }
    assert ids == {"per:sergey-lavrov"}


def test_unknown_foreign_name_variants_meet_without_the_kb(tagger: EntityTagger) -> None:
    first = by_surface(run(tagger, "وصرح الوزير الكندي غريغوري فيليبوف للصحفيين."))
    second = by_surface(run(tagger, "وصرح الوزير الكندي جريجوري فيلبوف للصحفيين."))
    assert first["غريغوري فيليبوف"].id == second["جريجوري فيلبوف"].id
    assert not first["غريغوري فيليبوف"].kb


def test_surname_after_full_name_joins_it(tagger: EntityTagger) -> None:
    text = (
        "وقال وزير الخارجية الكندي غريغوري فيليبوف إن بلاده تدعم الحل. "
        "وأضاف فيليبوف أن المحادثات مستمرة."
    )
    entities = run(tagger, text)
    person = by_surface(entities)["غريغوري فيليبوف"]
    assert [m.text for m in person.mentions] == ["غريغوري فيليبوف", "فيليبوف"]
    assert person.name == "غريغوري فيليبوف"


def test_one_entity_per_id_with_mentions_in_order(tagger: EntityTagger) -> None:
    text = "زار لافروف دمشق. ثم عاد سيرغي لافروف إلى موسكو، وقال لافروف إن دمشق آمنة."
    entities = run(tagger, text)
    ids = [e.id for e in entities]
    assert len(ids) == len(set(ids))
    lavrov = next(e for e in entities if e.id == "per:sergey-lavrov")
    assert lavrov.name == "سيرغي لافروف"
    assert [m.start for m in lavrov.mentions] == sorted(m.start for m in lavrov.mentions)
    assert len(lavrov.mentions) == 3


def test_empty_text_and_empty_sentences(tagger: EntityTagger) -> None:
    assert run(tagger, "") == []
    assert run(tagger, " \n\n ") == []
    text = "زار لافروف دمشق"
    tokens = [Token(w, text.index(w), text.index(w) + len(w)) for w in text.split()]
    expected = tagger.find(text, [tokens])
    assert len(expected) == 2
    assert tagger.find(text, [[], tokens, [], []]) == expected
