"""Table of orthographic cases for the matching form: each rule alone, then mixed."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from akhbar.pipeline.stages import orthography
from akhbar.pipeline.stages.orthography import (
    FOLD_TABLE,
    normalize_for_matching,
    normalize_with_offsets,
    reference_normalize_for_matching,
)

CASES = [
    # (rule, input, expected matching form)
    ("alef hamza above", "أستانا", "استانا"),
    ("alef hamza below", "إيران", "ايران"),
    ("alef madda", "آفاق", "افاق"),
    ("alef wasla", "ٱلله", "الله"),
    ("alef maksura to yeh", "فى الروسى", "في الروسي"),
    ("teh marbuta to heh", "سورية", "سوريه"),
    ("waw hamza to bare hamza", "مسؤول", "مسءول"),
    ("yeh hamza to bare hamza", "مسئول", "مسءول"),
    ("bare hamza kept", "جزء", "جزء"),
    ("fathatan removed", "اجتماعاً", "اجتماعا"),
    ("shadda removed", "قدّم", "قدم"),
    ("damma and fatha removed", "يُشار مَن", "يشار من"),
    ("sukun and kasra removed", "مِنْ", "من"),
    ("dagger alef removed", "هٰذا", "هذا"),
    ("quranic mark removed", "قال\u06d6", "قال\u06d6"),  # U+06D6 is outside U+0653-065F: kept
    ("maddah above removed", "ا\u0653", "ا"),
    ("tatweel removed", "الســوريين", "السوريين"),
    ("zero-width space removed", "سو\u200bرية", "سوريه"),
    ("zero-width non-joiner removed", "می\u200cخواهم", "ميخواهم"),
    ("rlm and lrm removed", "\u200fدمشق\u200e", "دمشق"),
    ("bidi embedding removed", "\u202bحلب\u202c", "حلب"),
    ("bidi isolate removed", "\u2067حمص\u2069", "حمص"),
    ("bom removed", "\ufeffدرعا", "درعا"),
    ("arabic letter mark removed", "\u061cادلب", "ادلب"),
    ("persian kaf", "کرد", "كرد"),
    ("persian yeh", "ایران", "ايران"),
    ("heh with yeh above", "خانۀ", "خانه"),
    ("heh goal", "ہم", "هم"),
    ("heh doachashmee", "ھذا", "هذا"),
    ("peh to beh", "پوتين", "بوتين"),
    ("tcheh to jeem", "چمران", "جمران"),
    ("gaf to kaf", "گرگان", "كركان"),
    ("veh to feh", "ڤيينا", "فيينا"),
    ("arabic-indic digits", "٢٠١٩", "2019"),
    ("persian digits", "۱۴۰۲", "1402"),
    ("curly double quotes", "“أستانا”", '"استانا"'),
    ("guillemets", "«سانا»", '"سانا"'),
    ("low and single quotes", "„‘x’‹›", '""x"""'),
    ("en and em dash", "سورية – سورية — x", "سوريه - سوريه - x"),
    ("minus and bar dashes", "‒―−", "---"),
    ("arabic comma semicolon question", "نعم، لا؛ متى؟", "نعم, لا; متي?"),
    ("nfkc presentation form lam-alef", "ﻻ", "لا"),
    ("nfkc presentation form alef hamza", "ﺃ", "ا"),
    ("nfkc no-break space", "دمشق\u00a0اليوم", "دمشق اليوم"),
    ("nfkc ellipsis", "أستانا …", "استانا ..."),
    ("ascii latin lowercased", "SANA VK", "sana vk"),
    ("only ascii latin is lowercased", "ÉTÉ", "ÉtÉ"),
    ("whitespace runs collapse", "أ  ب\t\tج", "ا ب ج"),
    ("line break run becomes one newline", "أ \r\n\n ب", "ا\nب"),
    ("edges stripped", "  سورية \n", "سوريه"),
    ("empty string", "", ""),
    (
        "mixed seed spellings",
        "وقال لافرينتييف فى مؤتمر صحفى: «إنّ الــوفد الروسى…»",
        'وقال لافرينتييف في مءتمر صحفي: "ان الوفد الروسي..."',
    ),
    ("mixed astana spellings agree", "أستانا", normalize_for_matching("استانا")),
]


@pytest.mark.parametrize(("rule", "raw", "expected"), CASES, ids=[c[0] for c in CASES])
def test_matching_form_applies_rule(rule: str, raw: str, expected: str) -> None:
    """Each orthographic rule maps its input to the documented matching form."""
    assert normalize_for_matching(raw) == expected


@pytest.mark.parametrize(("rule", "raw", "expected"), CASES, ids=[c[0] for c in CASES])
def test_fast_path_equals_reference(rule: str, raw: str, expected: str) -> None:
    """The numpy fast path gives exactly the plain-str reference result."""
    assert normalize_for_matching(raw) == reference_normalize_for_matching(raw)


@pytest.mark.parametrize(("rule", "raw", "expected"), CASES, ids=[c[0] for c in CASES])
def test_offsets_variant_gives_same_string(rule: str, raw: str, expected: str) -> None:
    """normalize_with_offsets returns the same string plus one offset per char and a sentinel."""
    folded, offsets = normalize_with_offsets(raw)
    assert folded == expected
    assert len(offsets) == len(folded) + 1
    assert offsets[-1] == len(raw)


def test_offsets_point_at_source_letters() -> None:
    """Each kept letter maps to the index of the letter it came from, past deleted marks."""
    raw = "الــسّلام"
    folded, offsets = normalize_with_offsets(raw)
    assert folded == "السلام"
    assert offsets == [0, 1, 4, 6, 7, 8, len(raw)]


def test_offsets_of_expanding_ligature_share_source_index() -> None:
    """An NFKC expansion (ﻻ -> لا) maps every produced char to the ligature's index."""
    folded, offsets = normalize_with_offsets("بﻻد")
    assert folded == "بلاد"
    assert offsets == [0, 1, 1, 2, 3]


def test_matching_form_is_idempotent_on_seed_like_text() -> None:
    """Folding an already folded string changes nothing."""
    once = normalize_for_matching("«أستانا» فى سوريّة – ٢٠١٩\u200f")
    assert normalize_for_matching(once) == once


def test_composing_starters_literal_matches_unicodedata() -> None:
    """The hard-coded starters that compose backwards are exactly those unicodedata derives."""
    found = {chr(c) for c in range(0x1161, 0x1176)} | {chr(c) for c in range(0x11A8, 0x11C3)}
    for code in range(sys.maxunicode + 1):
        parts = unicodedata.decomposition(chr(code)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            second = chr(int(parts[1], 16))
            if unicodedata.combining(second) == 0:
                found.add(second)
    assert frozenset(found) == orthography._COMPOSES_BACKWARDS


def test_fast_alphabet_needs_no_nfkc_or_nfc() -> None:
    """Inside the alphabet NFKC changes only NBSP and the ellipsis, every combining mark is
    deleted by the fold, and no pair of kept characters composes: so fold(s) is the key."""
    alphabet = orthography._ALPHABET
    assert len(alphabet) <= 256
    kept = []
    for ch in alphabet:
        if unicodedata.combining(ch):
            assert FOLD_TABLE.get(ord(ch), ch) is None, hex(ord(ch))
            continue
        assert ch not in orthography._COMPOSES_BACKWARDS
        if unicodedata.normalize("NFKC", ch) != ch:
            assert ch == "\u00a0", hex(ord(ch))
        kept.append(ch)
    folded = {FOLD_TABLE.get(ord(ch), ch) for ch in kept} - {None}
    assert folded <= set(alphabet)
    for first in folded:
        for second in folded:
            pair = f"{first}{second}"
            assert unicodedata.normalize("NFC", pair) == pair


def test_every_bmp_arabic_letter_lies_in_the_scanned_blocks() -> None:
    """letter_counts scans only the Arabic blocks for letters named ARABIC; none lie outside."""
    for code in range(0x10000):
        ch = chr(code)
        if ch.isalpha() and "ARABIC" in unicodedata.name(ch, ""):
            assert ch in orthography._ARABIC_LETTERS, hex(code)


def test_only_the_ascii_space_is_printable_whitespace() -> None:
    """The normaliser's tidy check relies on isprintable() rejecting every other whitespace."""
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert [ch for ch in spaces if ch.isprintable()] == [" "]


def test_line_breaks_are_what_splitlines_splits_on() -> None:
    """collapse_whitespace's splitlines() and the reference's line-break class agree."""
    breaks = {chr(c) for c in range(sys.maxunicode + 1) if len(f"a{chr(c)}b".splitlines()) == 2}
    assert breaks == set(orthography._LINE_BREAKS)


def test_token_memo_stays_bounded() -> None:
    """The fallback memo never grows past its bound and skips very long tokens."""
    memo = orthography._TokenMemo()
    memo.max_entries = 8
    for i in range(50):
        assert memo[f"😀{i}أ"] == f"😀{i}ا"
        assert len(memo) <= 8
    memo.clear()
    long_token = "😀" + "أ" * 100
    assert memo[long_token] == "😀" + "ا" * 100
    assert long_token not in memo


def test_text_alphabet_fits_a_charmap_and_tatweel_is_the_only_deleted_letter() -> None:
    """The text alphabet (matching alphabet plus the ellipsis) has at most 256 characters, and
    the one letter the fold deletes is tatweel, which the letter counts add back by itself."""
    alphabet = orthography._TEXT_ALPHABET
    assert len(alphabet) <= 256
    assert alphabet[orthography._ELLIPSIS_CODE] == "\u2026"
    deleted = [ch for ch in alphabet if ch.isalpha() and FOLD_TABLE.get(ord(ch), ch) is None]
    assert deleted == [alphabet[orthography._TATWEEL_CODE]] == ["\u0640"]
    assert not [ch for ch in alphabet if ch.isspace() and FOLD_TABLE.get(ord(ch), ch) is None]
