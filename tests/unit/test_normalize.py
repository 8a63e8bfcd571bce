"""Behaviour of the Normalizer stage on small Arabic cases."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from akhbar.pipeline.stages.article import Article, Dateline
from akhbar.pipeline.stages.boilerplate import BoilerplateRules, BoilerplateRulesError, LineRule
from akhbar.pipeline.stages.errors import RejectedArticle
from akhbar.pipeline.stages.normalize import Normalizer

LEAD = (
    "أكد وزير الخارجية الروسي سيرغي لافروف أن اجتماع أستانا يهدف إلى مناقشة الخطوات العملية "
    "لمراقبة تطبيق نظام وقف العمليات القتالية في سورية."
)
SECOND = "وقال لافروف في مؤتمر صحفي إن روسيا ترحب بالتعاون مع الأردن فيما يتعلق بسورية."


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer(BoilerplateRules.load())


def run(normalizer: Normalizer, body: str, title: str = "عنوان") -> Article:
    return normalizer(Article(id="a1", title=title, body=body))


@pytest.mark.parametrize(
    "footer",
    [
        "اترك تعليقاً",
        "زر الذهاب إلى الأعلى",
        "أثر برس",
        "تابعونا عبر تطبيق واتس أب :",
        "https://telegram.me/SyrianArabNewsAgency",
        "طباعة",
    ],
)
def test_trailing_footer_line_is_removed(normalizer: Normalizer, footer: str) -> None:
    """A known footer line at the very end is dropped and counted."""
    article = run(normalizer, f"{LEAD}\n{SECOND}\n{footer}")
    assert article.text == f"{LEAD}\n{SECOND}"
    assert article.boilerplate_chars == len(footer)


def test_footer_line_in_the_middle_is_kept(normalizer: Normalizer) -> None:
    """Furniture rules only strip the contiguous tail block, never a line mid-article."""
    body = f"{LEAD}\nاترك تعليقاً\n{SECOND}"
    assert run(normalizer, body).text == body


def test_footer_phrase_inside_a_sentence_is_kept(normalizer: Normalizer) -> None:
    """A rule matches a whole line, not a substring of a real sentence."""
    last = "ودعا المتحدث القراء: اترك تعليقاً على الموقع إن شئت، فالنقاش مفتوح."
    assert run(normalizer, f"{LEAD}\n{last}").text.endswith(last)


def test_see_also_block_is_cut_with_its_teaser(normalizer: Normalizer) -> None:
    """The see-also heading, teaser headline and teaser lead are all removed."""
    tail = "انظر ايضاً\nالبيان الختامي للاجتماع الدولي\nأستانا-سانا أدان البيان الختامي …"
    assert run(normalizer, f"{LEAD}\n{SECOND}\n{tail}").text == f"{LEAD}\n{SECOND}"


def test_see_also_far_from_the_end_is_kept(normalizer: Normalizer) -> None:
    """A see-also line followed by many paragraphs is not the page footer."""
    body = "\n".join([LEAD, "انظر ايضاً", SECOND, LEAD, SECOND, LEAD])
    assert run(normalizer, body).text == body


def test_follow_us_block_before_see_also_is_removed(normalizer: Normalizer) -> None:
    """Stacked furniture (follow lines, links, then see also) is removed as one tail block."""
    tail = (
        "تابعوا صفحتنا على موقع (VK) للتواصل الاجتماعي على الرابط:\n"
        "http://vk.com/syrianarabnewsagency\nانظر ايضاً\nعنوان آخر"
    )
    assert run(normalizer, f"{LEAD}\n{SECOND}\n{tail}").text == f"{LEAD}\n{SECOND}"


def test_leading_byline_is_moved_to_byline(normalizer: Normalizer) -> None:
    """`| وكالات` as the first line leaves text and is kept as written in byline."""
    article = run(normalizer, f"| وكالات\n{LEAD}")
    assert (article.byline, article.text) == ("وكالات", LEAD)


@pytest.mark.parametrize(
    ("line", "places", "agency"),
    [
        ("أستانا-موسكو-سانا", ["أستانا", "موسكو"], "سانا"),
        ("دمشق - سانا", ["دمشق"], "سانا"),
        ("بيروت – أ ف ب", ["بيروت"], "أ ف ب"),
    ],
)
def test_dateline_line_is_parsed_and_removed(
    normalizer: Normalizer, line: str, places: list[str], agency: str
) -> None:
    """A dateline ending in a known agency becomes Article.dateline and leaves text."""
    article = run(normalizer, f"{line}\n{LEAD}")
    assert article.dateline == Dateline(raw=line, places=places, agency=agency)
    assert article.text == LEAD


def test_inline_dateline_is_split_from_the_lead(normalizer: Normalizer) -> None:
    """`دمشق-سانا أكد ...` keeps the lead sentence in text without the dateline."""
    article = run(normalizer, f"دمشق-سانا {LEAD}")
    assert article.dateline == Dateline(raw="دمشق-سانا", places=["دمشق"], agency="سانا")
    assert article.text == LEAD


def test_hyphenated_first_line_without_agency_is_not_a_dateline(normalizer: Normalizer) -> None:
    """Without a known agency the first line stays: precision over recall."""
    body = f"سورية - روسيا\n{LEAD}"
    article = run(normalizer, body)
    assert article.dateline is None
    assert article.text == body


def test_whitespace_is_tidied_but_letters_kept(normalizer: Normalizer) -> None:
    """Runs of spaces collapse, lines are stripped, blank lines go; diacritics and tatweel stay."""
    body = f"  {LEAD}   \n\n\n  للســوريين   قدّم  «أستانا» {SECOND}\t"
    assert run(normalizer, body).text == f"{LEAD}\nللســوريين قدّم «أستانا» {SECOND}"


def test_match_fields_are_the_folded_text_and_title(normalizer: Normalizer) -> None:
    """match_text and match_title hold the matching forms; language is ar."""
    article = run(normalizer, f"{LEAD}\n{SECOND}", title="محادثات “أستانا” فى سورية")
    assert article.match_title == 'محادثات "استانا" في سوريه'
    assert "استانا" in article.match_text and "أ" not in article.match_text
    assert article.language == "ar"


def test_empty_title_is_taken_from_first_line(normalizer: Normalizer) -> None:
    """With an empty title (JSONL input) the first line of text becomes the title."""
    article = run(normalizer, f"{LEAD}\n{SECOND}", title="")
    assert article.title == LEAD
    assert article.text.startswith(LEAD)


def test_two_sentence_brief_passes_the_length_gate(normalizer: Normalizer) -> None:
    """A short two-sentence news brief is accepted."""
    brief = "قتل 3 أشخاص في انفجار بدمشق. وأفادت الشرطة بأن التحقيق جار."
    assert run(normalizer, brief).text == brief


def test_too_short_text_is_rejected(normalizer: Normalizer) -> None:
    """Cleaned text under min_chars raises too_short."""
    with pytest.raises(RejectedArticle) as caught:
        run(normalizer, "خبر قصير.\nاترك تعليقاً")
    assert caught.value.reason == "too_short"


@pytest.mark.parametrize(
    "body",
    [
        "Russia and Iran stressed the importance of cooperation against terrorism in Syria, "
        "the agency said on Monday in Tehran.",
        "Россия и Иран подчеркнули важность сотрудничества в борьбе с терроризмом в Сирии, "
        "сообщило агентство в понедельник. سورية",
        "The talks in Astana (أستانا) on Syria ended on Tuesday with a joint statement by "
        "Russia, Iran and Turkey on the ceasefire.",
    ],
)
def test_mostly_latin_or_cyrillic_text_is_rejected(normalizer: Normalizer, body: str) -> None:
    """Text whose letters are mostly not Arabic raises not_arabic, mixed script included."""
    with pytest.raises(RejectedArticle) as caught:
        run(normalizer, body)
    assert caught.value.reason == "not_arabic"


def test_arabic_text_quoting_latin_names_passes(normalizer: Normalizer) -> None:
    """An Arabic article with a few Latin tokens (SANA, VK) is still Arabic."""
    body = f"{LEAD} (SANA) {SECOND}"
    assert run(normalizer, body).language == "ar"


def test_user_rules_file_adds_an_outlet_signature(tmp_path: Path) -> None:
    """A user rule file merges in: its signature line is removed, defaults still apply."""
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"signature": {"lines": ["جريدة المثال"]}}), encoding="utf-8")
    normalizer = Normalizer(BoilerplateRules.load(path))
    article = run(normalizer, f"{LEAD}\n{SECOND}\nجريدة المثال\nاترك تعليقاً")
    assert article.text == f"{LEAD}\n{SECOND}"


def test_unknown_rule_kind_is_refused(tmp_path: Path) -> None:
    """A typo in a user rule file fails loudly instead of silently doing nothing."""
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"signatures": {"lines": ["x"]}}), encoding="utf-8")
    with pytest.raises(BoilerplateRulesError):
        BoilerplateRules.load(path)


ALTERNATION_PATTERNS = [r"a|ab", r"b+c?", r"https?://\S+", r"x.{0,3}y", r"(?:شارك|مشاركه)(?: على)?"]


@pytest.mark.parametrize(
    "line",
    ["a", "ab", "abc", "bbc", "http://x.y", "xy", "x12y", "x1234y", "شارك على", "", "مشاركه"],
)
def test_joined_patterns_match_exactly_the_lines_one_pattern_matches(line: str) -> None:
    """A rule's patterns joined into one alternation fullmatch a line iff one pattern does."""
    patterns = tuple(map(re.compile, ALTERNATION_PATTERNS))
    rule = LineRule(frozenset(), patterns)
    assert rule._any is not None
    assert bool(rule.match(line)) == any(p.fullmatch(line) for p in patterns)


@pytest.mark.parametrize(
    "patterns",
    [
        [r"(a)\1", r"b"],  # numbered groups would shift
        [r"(?P<byline>x)", r"y"],
        [r"(?i)abc", r"d"],  # a global flag is allowed only at the very start
    ],
)
def test_patterns_that_cannot_be_joined_are_tried_one_by_one(patterns: list[str]) -> None:
    """Groups or global inline flags keep the per-pattern loop, with its match objects."""
    rule = LineRule(frozenset(), tuple(map(re.compile, patterns)))
    assert rule._any is None
    assert rule.match("aa") or rule.match("x") or rule.match("ABC")
    assert not rule.match("zz")


def test_default_furniture_rules_use_one_alternation(normalizer: Normalizer) -> None:
    """The packaged furniture patterns are joinable, so a tail line costs one regex call."""
    assert normalizer.rules.trailing_furniture._any is not None
