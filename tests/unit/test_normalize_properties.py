"""Properties of normalisation and cleaning over generated Arabic-heavy text (hypothesis)."""

from __future__ import annotations

from unicodedata import name

from hypothesis import given, settings
from hypothesis import strategies as st

from akhbar.pipeline.stages.article import Article
from akhbar.pipeline.stages.boilerplate import BoilerplateRules
from akhbar.pipeline.stages.errors import RejectedArticle
from akhbar.pipeline.stages.normalize import Normalizer
from akhbar.pipeline.stages.orthography import (
    _ALPHABET,
    _BREAK_RUN,
    _SPACE_RUN,
    collapse_whitespace,
    letter_counts,
    normalize_for_matching,
    normalize_with_offsets,
    reference_normalize_for_matching,
)

ARABIC = [chr(c) for c in range(0x0600, 0x0700)]
TRICKY = list(
    "أإآٱىةؤئء ـ\u064b\u0651\u0653\u0654\u200b\u200f\u202b\ufeff\u00a0\t\r\n“”«»–—،؟٣۳"
    "ﻻﺃﷺ…e\u0301AZ😀\u1100\u3161"
)
arabic_text = st.text(st.sampled_from(ARABIC + TRICKY), max_size=60)
# Text the charmap fast path takes whole, and the same with one character it cannot take.
alphabet_text = st.text(st.sampled_from(sorted({*_ALPHABET, "\u2026"})), max_size=60)
WHITESPACE = [chr(c) for c in range(0x3001) if chr(c).isspace()]
COMPAT_SPACING = list("\u00a8\u00b4\ufe70\ufc5e\ufdfa\ufdfb\u0653\u0654\u0655\u0301")
token_edges = st.text(st.sampled_from(ARABIC + TRICKY + WHITESPACE + COMPAT_SPACING), max_size=60)
mixed_text = st.builds(
    lambda a, b, c: a + b + c, alphabet_text, st.sampled_from(TRICKY), alphabet_text
)
any_text = st.one_of(arabic_text, st.text(max_size=40), alphabet_text, mixed_text, token_edges)
RULES = BoilerplateRules.load()
NORMALIZER = Normalizer(RULES, min_chars=1, min_arabic_ratio=0.0)
FURNITURE = ["اترك تعليقاً", "| وكالات", "أستانا-سانا", "انظر ايضاً", "أثر برس", "http://x.y"]
line = st.one_of(arabic_text, st.sampled_from(FURNITURE))
bodies = st.lists(line, max_size=8).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_matching_form_is_idempotent(s: str) -> None:
    """normalize_for_matching(normalize_for_matching(s)) == normalize_for_matching(s)."""
    once = normalize_for_matching(s)
    assert normalize_for_matching(once) == once


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_fast_path_matches_reference(s: str) -> None:
    """The numpy implementation equals the plain-str definition."""
    assert normalize_for_matching(s) == reference_normalize_for_matching(s)


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_offsets_are_monotonic_and_in_range(s: str) -> None:
    """Offsets never go backwards, stay inside s, and end with the len(s) sentinel."""
    folded, offsets = normalize_with_offsets(s)
    assert folded == normalize_for_matching(s)
    assert offsets == sorted(offsets)
    assert offsets[-1] == len(s)
    assert all(0 <= o < len(s) for o in offsets[:-1])


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(ARABIC + list("أإىة ـ\u064b\u0651\n")), max_size=60))
def test_each_kept_char_maps_back_to_its_source_char(s: str) -> None:
    """Every output char comes from the source chars its offset points at (the letter itself,
    or the letter plus the marks composed onto it), and whitespace maps to whitespace."""
    folded, offsets = normalize_with_offsets(s)
    for i, char in enumerate(folded):
        start = offsets[i]
        end = next((o for o in offsets[i + 1 :] if o > start), len(s))
        if char.isspace():
            assert s[start].isspace()
        else:
            assert char in normalize_for_matching(s[start:end])


@settings(max_examples=200, deadline=None)
@given(bodies)
def test_cleaning_never_adds_text(body: str) -> None:
    """Every line of text is a whitespace-tidied piece of the body, in the original order."""
    try:
        article = NORMALIZER(Article(id="p", title="t", body=body))
    except RejectedArticle:
        return
    tidied_body = " ".join(body.split())
    position = 0
    for text_line in article.text.split("\n"):
        found = tidied_body.find(text_line, position)
        assert found >= 0, text_line
        position = found + len(text_line)


@settings(max_examples=200, deadline=None)
@given(bodies)
def test_text_keeps_original_letters(body: str) -> None:
    """text's non-space characters are exactly a subsequence of the body's: nothing folded."""
    try:
        article = NORMALIZER(Article(id="p", title="t", body=body))
    except RejectedArticle:
        return
    source = iter(ch for ch in body if not ch.isspace())
    for ch in article.text:
        if not ch.isspace():
            assert ch in source  # consumes the iterator up to ch: subsequence check


@settings(max_examples=500, deadline=None)
@given(st.one_of(alphabet_text, mixed_text, token_edges))
def test_fast_paths_match_reference(s: str) -> None:
    """Charmap path (alphabet text) and token memo (any other text, whitespace of every kind,
    marks right after whitespace, characters NFKC turns into spaces) equal the definition."""
    assert normalize_for_matching(s) == reference_normalize_for_matching(s)


@settings(max_examples=300, deadline=None)
@given(st.one_of(token_edges, st.text(max_size=40)))
def test_collapse_whitespace_matches_the_regex_definition(s: str) -> None:
    """splitlines/split collapsing equals the reference's regex collapsing."""
    assert collapse_whitespace(s) == _SPACE_RUN.sub(" ", _BREAK_RUN.sub("\n", s)).strip()


@settings(max_examples=300, deadline=None)
@given(st.one_of(alphabet_text, any_text))
def test_letter_counts_match_the_definition(s: str) -> None:
    """Arabic letters are BMP letters named ARABIC; every letter counts once in the total."""
    arabic = sum(1 for ch in s if ch.isalpha() and ord(ch) < 0x10000 and "ARABIC" in name(ch, ""))
    assert letter_counts(s) == (arabic, sum(1 for ch in s if ch.isalpha()))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(line, alphabet_text, mixed_text, token_edges), max_size=8).map("\n".join))
def test_match_fields_are_the_matching_forms_of_text_and_title(body: str) -> None:
    """match_text (built from per-line keys) is exactly the key of text; same for the title."""
    try:
        article = NORMALIZER(Article(id="p", title="", body=body))
    except RejectedArticle:
        return
    assert article.match_text == reference_normalize_for_matching(article.text)
    assert article.match_title == reference_normalize_for_matching(article.title)
    assert article.text == collapse_whitespace(article.text)
