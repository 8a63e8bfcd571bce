"""Properties of normalisation and cleaning over generated Arabic-heavy text (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from unicodedata import name
from unittest.mock import patch

from hypothesis import example, given, settings
from hypothesis import strategies as st

from akhbar.pipeline.stages import orthography
from akhbar.pipeline.stages.article import Article
from akhbar.pipeline.stages.boilerplate import BoilerplateRules
from akhbar.pipeline.stages.errors import RejectedArticle
from akhbar.pipeline.stages.normalize import Normalizer
from akhbar.pipeline.stages.orthography import (
    _ALPHABET,
    _BREAK_RUN,
    _SPACE_RUN,
    EncodedLines,
    collapse_whitespace,
    encode_text,
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


# Text the encoded line path takes: the text alphabet, heavy in whitespace of every kind, marks
# the fold deletes (whole tokens of them too), tatweel, the ellipsis and Latin letters.
TEXT_ALPHABET = sorted({*_ALPHABET, "\u2026"})
EDGY = list(" \n\n\t\r\u00a0\x0b\x1c\x1f\u0640\u064b\u0651\u200f\ufeff\u2026Ax")
DELETED = list("\u0640\u064b\u0651\u0670\u200b\u200f\u202b\ufeff\u00ad")
_token = st.one_of(
    st.text(st.sampled_from(TEXT_ALPHABET), min_size=1, max_size=6),
    st.text(st.sampled_from(DELETED), min_size=1, max_size=3),  # folds away whole
)
_gap = st.text(st.sampled_from(" \n\t\r\u00a0\x0b\x1c\x1f"), min_size=1, max_size=3)
encoded_text = st.one_of(
    st.text(st.one_of(st.sampled_from(TEXT_ALPHABET), st.sampled_from(EDGY)), max_size=80),
    st.lists(st.tuples(_token, st.one_of(st.just(" "), st.just("\n"), _gap)), max_size=12).map(
        lambda pairs: "".join(token + gap for token, gap in pairs)
    ),
)


def _reference_lines(s: str) -> list[str]:
    return [line for line in collapse_whitespace(s).split("\n") if line]


@settings(max_examples=500, deadline=None)
@given(encoded_text)
@example("\u064b x\nab")  # a line that starts with a token the fold deletes
@example("x \u0640\nab")
def test_encoded_lines_are_the_reference_lines_and_keys(s: str) -> None:
    """EncodedLines tidies like collapse_whitespace, keeps str and bytes equal, and its one-fold
    keys (when it gives them) are each line's reference key."""
    tidy = EncodedLines.of(s)
    assert tidy is not None
    assert tidy.lines == _reference_lines(s)
    assert tidy.encoded == [encode_text(line) for line in tidy.lines]
    keys = tidy.keys()
    if keys is not None:
        assert keys == [reference_normalize_for_matching(line) for line in tidy.lines]


@settings(max_examples=500, deadline=None)
@given(encoded_text, st.data())
def test_encoded_stretch_key_and_ratio_match_the_reference(s: str, data: st.DataObject) -> None:
    """The key and Arabic letter ratio of any stretch from a word's edge to a line's end equal
    the reference key and the ratio from letter_counts."""
    tidy = EncodedLines.of(s)
    assert tidy is not None
    joined = "\n".join(tidy.lines)
    edges = [0, *(i + 1 for i, ch in enumerate(joined) if ch in " \n")]
    ends = [len(joined), *(i for i, ch in enumerate(joined) if ch == "\n")]
    start = data.draw(st.sampled_from(edges))
    end = data.draw(st.sampled_from([e for e in ends if e >= start] or [len(joined)]))
    stretch = joined[start:end]
    assert tidy.key(start, end) == reference_normalize_for_matching(stretch)
    arabic, letters = letter_counts(stretch)
    assert tidy.arabic_letter_ratio(start, end) == (arabic / letters if letters else 0.0)


@settings(max_examples=300, deadline=None)
@given(st.one_of(encoded_text, any_text))
def test_offsets_fast_path_equals_folding_char_by_char(s: str) -> None:
    """normalize_with_offsets' shortcut (a key as long as the text) gives the char-by-char
    result."""
    slow = orthography._collapse_whitespace_with_offsets(*orthography._fold_with_offsets(s), len(s))
    assert normalize_with_offsets(s) == slow


def _outcome(normalizer: Normalizer, body: str, title: str) -> object:
    try:
        article = normalizer(Article(id="p", title=title, body=body))
    except RejectedArticle as rejected:
        return rejected.reason, str(rejected)
    return replace(article, timings={})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(line, encoded_text, st.sampled_from(FURNITURE)), max_size=8).map("\n".join),
    st.sampled_from(["", "عنوان"]),
)
def test_encoded_path_equals_the_plain_path(body: str, title: str) -> None:
    """The stage gives the same article (or rejection) whether the body goes the encoded way or
    the plain str way, gates included."""
    normalizer = Normalizer(RULES, min_chars=20, min_arabic_ratio=0.6)
    fast = _outcome(normalizer, body, title)
    with patch.object(EncodedLines, "of", return_value=None):
        plain = _outcome(normalizer, body, title)
    assert fast == plain


@settings(max_examples=200, deadline=None)
@given(
    st.text(st.sampled_from(TEXT_ALPHABET), min_size=200, max_size=400),
    st.sampled_from(["", "\x00", "😀", "\ud800", "\u0653", "é", "\uffff"]),
    st.integers(0, 400),
)
def test_encode_text_is_the_alphabet_position_of_each_char(s: str, extra: str, where: int) -> None:
    """encode_text gives each character's position in the text alphabet, or None if one is
    outside it (astral, lone surrogate, a composing mark left out of the alphabet, ...)."""
    s = s[:where] + extra + s[where:]
    positions = {ch: i for i, ch in enumerate(orthography._TEXT_ALPHABET)}
    expected = bytes(positions[ch] for ch in s) if all(ch in positions for ch in s) else None
    assert encode_text(s) == expected
