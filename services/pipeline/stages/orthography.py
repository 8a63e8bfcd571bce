"""Fold Arabic orthographic variation into one matching key, optionally with exact offsets.

The matching form is for comparing texts (dedup, entity lookup), never for display. It is

    collapse_whitespace(NFC(fold(NFKC(s))))

where ``fold`` is one character-to-character table (map or delete, never expand), so every
character of the result comes from one known place in the input. Choices, and why:

* Alef forms (أ إ آ ٱ and the wavy-hamza alefs) become bare ا: news writers drop the hamza on
  alef all the time (``استانا`` / ``أستانا``).
* Hamza on a seat (ؤ ئ) becomes the bare hamza ء, which is kept. Edited news spells the seat by
  regional convention (Egypt ``مسئول، شئون، رءوس``, the Levant and Gulf ``مسؤول، شؤون، رؤوس``);
  folding the seats onto ء makes those match, while dropping hamza entirely would also merge
  words that differ only by it (``سأل``/``سال`` already merge via alef; we stop there).
* ى → ي and ة → ه: Egyptian and older Levantine typesetting writes final ي as ى (``فى``,
  ``الروسى``) and final ة is often typed as ه.
* Persian/Urdu letters fold to the Arabic letter with the same skeleton, because they reach
  Arabic news from Persian keyboards and from names quoted in Persian spelling: ک→ك and ی→ي
  (keyboard variants of the same letter), ۀ ہ ھ ە ۂ ۃ→ه (heh variants; ة already folds to ه),
  پ→ب (Arabic writes P as ب), چ→ج (Arabic press writes Ch as ج), گ→ك (same skeleton as ک;
  Arabic writes G variously as غ/ج/ك, which is the entity alias table's job, not ours),
  ڤ→ف (Arabic writes V as ف or ڤ).
* Arabic-Indic and Persian digits become ASCII; typographic quotes become ``"``; dashes become
  ``-``; Arabic comma, semicolon, question mark, percent and decimal/thousands separators become
  their ASCII counterparts, because outlets mix both keyboards in the same text.
* Diacritics (U+064B-065F), dagger alef, tatweel, zero-width and bidi controls, soft hyphen and
  word joiner are deleted: they never change which word is meant.
* Latin is case-folded for ASCII A-Z only. Full ``casefold`` can expand characters (ß → ss)
  and does not commute with NFKC for some code points, which would break both idempotence and
  exact offsets; ASCII folding covers the Latin that appears in Arabic news (SANA, VK).
* Whitespace runs collapse to one space, or to one newline if the run holds a line break, and
  the result is stripped. Newlines are kept so a match never spans two paragraphs.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

import numpy as np
import numpy.typing as npt

_ALEF = "ا"
_YEH = "ي"
_HEH = "ه"
_HAMZA = "ء"

# Source characters -> replacement; None deletes. Every value is one character or None, which
# is what keeps the offset mapping exact.
_FOLDS: dict[str, str | None] = {
    # alef forms (ٲ ٳ carry a wavy hamza; ٵ is NFKC-decomposed into ا + ٴ before we see it)
    "أ": _ALEF,
    "إ": _ALEF,
    "آ": _ALEF,
    "ٱ": _ALEF,
    "ٲ": _ALEF,
    "ٳ": _ALEF,
    # hamza seats onto the bare hamza; ٴ (high hamza) is the same sign
    "ؤ": _HAMZA,
    "ئ": _HAMZA,
    "ٴ": _HAMZA,
    # yeh and heh families, Persian/Urdu keyboard letters
    "ى": _YEH,
    "ی": _YEH,
    "ة": _HEH,
    "ۀ": _HEH,
    "ہ": _HEH,
    "ۂ": _HEH,
    "ۃ": _HEH,
    "ھ": _HEH,
    "ە": _HEH,
    "ک": "ك",
    "گ": "ك",
    "پ": "ب",
    "چ": "ج",
    "ڤ": "ف",
    # punctuation
    "،": ",",
    "؛": ";",
    "؟": "?",
    "٪": "%",
    "٫": ".",
    "٬": ",",
    "“": '"',
    "”": '"',
    "«": '"',
    "»": '"',
    "„": '"',
    "‟": '"',
    "‘": '"',
    "’": '"',
    "‚": '"',
    "‹": '"',
    "›": '"',
    "\u00a0": " ",  # no-break space; NFKC already does this, the fast path relies on it
    "‐": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "―": "-",
    "−": "-",
}
_DELETED_RANGES: tuple[tuple[int, int], ...] = (
    (0x064B, 0x065F),  # harakat, tanwin, shadda, sukun, Quranic marks, hamza above/below
    (0x0670, 0x0670),  # dagger alef
    (0x0640, 0x0640),  # tatweel
    (0x200B, 0x200F),  # zero-width space/joiners, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x2064),  # word joiner and invisible operators
    (0x2066, 0x2069),  # bidi isolates
    (0xFEFF, 0xFEFF),  # byte-order mark / zero-width no-break space
    (0x061C, 0x061C),  # Arabic letter mark
    (0x00AD, 0x00AD),  # soft hyphen
)


def _build_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {ord(k): v for k, v in _FOLDS.items()}
    for first, last in _DELETED_RANGES:
        table.update(dict.fromkeys(range(first, last + 1)))
    table.update({ord(d): str(i) for i, d in enumerate("٠١٢٣٤٥٦٧٨٩")})
    table.update({ord(d): str(i) for i, d in enumerate("۰۱۲۳۴۵۶۷۸۹")})
    table.update({c: chr(c + 32) for c in range(ord("A"), ord("Z") + 1)})
    return table


FOLD_TABLE: dict[int, str | None] = _build_table()

# Everything str.splitlines() treats as a line break.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_BREAK_RUN = re.compile(rf"\s*[{_LINE_BREAKS}]\s*")
# Only runs that are not already a single plain space need rewriting.
_SPACE_RUN = re.compile(r"[^\S\n]{2,}|[^\S \n]")


def normalize_for_matching(s: str) -> str:
    """Return the matching key of ``s``; pure and idempotent.

    Equal to :func:`reference_normalize_for_matching`, computed with table look-ups over the
    code points as a numpy array: ``str.translate`` costs about 200 ns per Arabic character in
    CPython, which alone would cap the stage at a few hundred articles per second.
    """
    codes = _code_points(_nfkc(s))
    folded = _fold_table().take(codes & 0xFFFF)
    if codes.size and int(codes.max()) > 0xFFFF:  # astral characters are never folded
        folded = np.where(codes > 0xFFFF, codes, folded)
    folded = folded[folded != _DELETE]
    text = _from_code_points(folded)
    # Deleting a mark or joiner can leave a base next to a combining mark it now composes with.
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
        folded = _code_points(text)
    return _from_code_points(_collapse_codes(folded))


def collapse_whitespace(s: str) -> str:
    """Collapse each whitespace run to one space, or one newline if it holds a line break; strip."""
    return _from_code_points(_collapse_codes(_code_points(s)))


def reference_normalize_for_matching(s: str) -> str:
    """The definition of the matching key in plain ``str`` operations (slow; the test oracle)."""
    folded = unicodedata.normalize("NFKC", s).translate(FOLD_TABLE)
    folded = unicodedata.normalize("NFC", folded)
    return _SPACE_RUN.sub(" ", _BREAK_RUN.sub("\n", folded)).strip()


_DELETE = np.uint32(0xFFFFFFFF)
_NOT_SPACE, _SPACE, _BREAK = 0, 1, 2


def _code_points(s: str) -> npt.NDArray[np.uint32]:
    return np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)


def _from_code_points(codes: npt.NDArray[np.uint32]) -> str:
    return codes.tobytes().decode("utf-32-le")


@functools.cache
def _fold_table() -> npt.NDArray[np.uint32]:
    table = np.arange(0x10000, dtype=np.uint32)
    for code, value in FOLD_TABLE.items():
        table[code] = _DELETE if value is None else ord(value)
    return table


@functools.cache
def _whitespace_kinds() -> npt.NDArray[np.uint8]:
    kinds = np.zeros(0x10000, dtype=np.uint8)
    for code in range(0x10000):
        if chr(code).isspace():
            kinds[code] = _BREAK if chr(code) in _LINE_BREAKS else _SPACE
    return kinds


def _collapse_codes(codes: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    kinds = _whitespace_kinds().take(codes & 0xFFFF)
    kinds[codes > 0xFFFF] = _NOT_SPACE  # no astral character is whitespace
    is_space = kinds != _NOT_SPACE
    if not _needs_collapse(codes, kinds, is_space):
        return codes
    starts = is_space.copy()
    starts[1:] &= ~is_space[:-1]
    run_ids = np.cumsum(starts) - 1
    space_at = np.flatnonzero(is_space)
    has_break = np.zeros(int(starts.sum()), dtype=bool)
    has_break[run_ids[space_at[kinds[space_at] == _BREAK]]] = True
    out = codes.copy()
    start_at = np.flatnonzero(starts)
    out[start_at] = np.where(has_break, ord("\n"), ord(" "))
    keep = ~is_space | starts
    # strip: drop a leading and a trailing run
    if is_space[0]:
        keep[0] = False
    if is_space[-1]:
        keep[start_at[-1]] = False
    return out[keep]


def _needs_collapse(
    codes: npt.NDArray[np.uint32], kinds: npt.NDArray[np.uint8], is_space: npt.NDArray[np.bool_]
) -> bool:
    # Cleaned text is usually already collapsed; this check is cheaper than the rewrite.
    if not is_space.any():
        return False
    if is_space[0] or is_space[-1] or (is_space[1:] & is_space[:-1]).any():
        return True
    canonical = np.where(kinds == _BREAK, ord("\n"), ord(" "))
    return bool((codes[is_space] != canonical[is_space]).any())


# Marks the fold deletes and no canonical composition involves: leaving them out of the NFKC
# windows is safe because they vanish and NFC runs again after the fold.
_TRANSPARENT_MARKS = (*range(0x064B, 0x0653), *range(0x0656, 0x0660), 0x0670)


@functools.cache
def _unstable_bmp() -> npt.NDArray[np.bool_]:
    """BMP characters NFKC may change, or that may compose or reorder with their neighbour."""
    unstable = np.zeros(0x10000, dtype=bool)
    for code in range(0x10000):
        ch = chr(code)
        if unicodedata.combining(ch) or not unicodedata.is_normalized("NFKC", ch):
            unstable[code] = True
    for ch in _composes_backwards():
        if ord(ch) < 0x10000:
            unstable[ord(ch)] = True
    unstable[list(_TRANSPARENT_MARKS)] = False
    unstable[0x00A0] = False  # no-break space: NFKC makes it a space, and so does the fold
    return unstable


def _nfkc(s: str) -> str:
    """NFKC of ``s``, normalising only the windows around characters that need it."""
    if unicodedata.is_normalized("NFKC", s):
        return s
    codes = _code_points(s)
    unstable = _unstable_bmp().take(codes & 0xFFFF) | (codes > 0xFFFF)
    at = np.flatnonzero(unstable)
    if at.size == 0:  # only transparent marks were out of order; the fold deletes them
        return s
    gaps = np.flatnonzero(np.diff(at) > 1)
    # A window is a run of unstable characters plus the stable starter before it: composition
    # never crosses a stable starter, so windows can be normalised independently.
    window_starts = np.maximum(at[np.r_[0, gaps + 1]] - 1, 0).tolist()
    window_ends = (at[np.r_[gaps, at.size - 1]] + 1).tolist()
    pieces: list[str] = []
    done = 0
    for start, end in zip(window_starts, window_ends, strict=True):
        pieces.append(s[done:start])
        pieces.append(unicodedata.normalize("NFKC", s[start:end]))
        done = end
    pieces.append(s[done:])
    return "".join(pieces)


def _fold_piece(piece: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFKC", piece).translate(FOLD_TABLE))


@functools.cache
def _composes_backwards() -> frozenset[str]:
    """Starters (combining class 0) that canonical composition can merge into the previous char."""
    found = {chr(c) for c in range(0x1161, 0x1176)} | {chr(c) for c in range(0x11A8, 0x11C3)}
    for code in range(sys.maxunicode + 1):
        parts = unicodedata.decomposition(chr(code)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            second = chr(int(parts[1], 16))
            if unicodedata.combining(second) == 0:
                found.add(second)
    return frozenset(found)


def _needs_merge(source: str, output: str) -> bool:
    return _joins_previous(source[0]) or (output != "" and _joins_previous(output[0]))


def _joins_previous(ch: str) -> bool:
    return unicodedata.combining(ch) != 0 or ch in _composes_backwards()


def normalize_with_offsets(s: str) -> tuple[str, list[int]]:
    """Return ``(normalize_for_matching(s), offsets)``.

    ``offsets[i]`` is the index in ``s`` of the character that produced output character ``i``;
    ``offsets[-1] == len(s)`` is a sentinel so ``s[offsets[i]:offsets[j]]`` always works. When
    NFKC expands one character (ﷺ) or composes several (e + U+0301), every output character maps
    to the first source character of that group. A collapsed whitespace run maps to its first
    character (its first line break, if it holds one).
    """
    chars, offsets = _fold_with_offsets(s)
    return _collapse_whitespace_with_offsets(chars, offsets, len(s))


def _fold_with_offsets(s: str) -> tuple[list[str], list[int]]:
    # Fold character by character. A piece that starts, before or after folding, with a
    # character that composes or reorders with what precedes it is merged into the previous
    # piece and refolded, so folding piece by piece equals folding the whole string.
    starts: list[int] = []
    sources: list[str] = []
    outputs: list[str] = []
    for index, ch in enumerate(s):
        starts.append(index)
        sources.append(ch)
        outputs.append(ch if ch in _ASCII_UNCHANGED else _fold_piece(ch))
        while len(outputs) > 1 and _needs_merge(sources[-1], outputs[-1]):
            starts.pop()
            outputs.pop()
            source = sources.pop()
            sources[-1] += source
            outputs[-1] = _fold_piece(sources[-1])
    chars: list[str] = []
    offsets: list[int] = []
    for start, out in zip(starts, outputs, strict=True):
        chars.extend(out)
        offsets.extend([start] * len(out))
    return chars, offsets


_ASCII_UNCHANGED = frozenset(chr(c) for c in range(128) if c not in FOLD_TABLE)
_IS_BREAK = frozenset(_LINE_BREAKS)


def _collapse_whitespace_with_offsets(
    chars: list[str], offsets: list[int], sentinel: int
) -> tuple[str, list[int]]:
    out_chars: list[str] = []
    out_offsets: list[int] = []
    run_start = -1  # index into chars of the first char of the current whitespace run
    run_break = -1  # index of the first line break inside it
    for i, ch in enumerate(chars):
        if ch.isspace():
            if run_start < 0:
                run_start = i
            if run_break < 0 and ch in _IS_BREAK:
                run_break = i
            continue
        if run_start >= 0:
            _emit_run(out_chars, out_offsets, offsets, run_start, run_break)
            run_start = run_break = -1
        out_chars.append(ch)
        out_offsets.append(offsets[i])
    # A trailing run is dropped (strip), as is a leading one below.
    if out_chars and out_chars[0] in (" ", "\n"):
        del out_chars[0], out_offsets[0]
    out_offsets.append(sentinel)
    return "".join(out_chars), out_offsets


def _emit_run(
    out_chars: list[str], out_offsets: list[int], offsets: list[int], start: int, brk: int
) -> None:
    if brk >= 0:
        out_chars.append("\n")
        out_offsets.append(offsets[brk])
    else:
        out_chars.append(" ")
        out_offsets.append(offsets[start])


@functools.cache
def _letter_kinds() -> npt.NDArray[np.uint8]:
    kinds = np.zeros(0x10000, dtype=np.uint8)
    for code in range(0x10000):
        ch = chr(code)
        if unicodedata.category(ch).startswith("L"):
            kinds[code] = _ARABIC_LETTER if "ARABIC" in unicodedata.name(ch, "") else _OTHER_LETTER
    return kinds


_OTHER_LETTER, _ARABIC_LETTER = 1, 2


def letter_counts(s: str) -> tuple[int, int]:
    """Return ``(Arabic letters, all letters)`` in ``s``; astral letters count as non-Arabic."""
    codes = _code_points(s)
    kinds = _letter_kinds().take(codes & 0xFFFF)
    astral = codes > 0xFFFF
    kinds[astral] = _OTHER_LETTER * np.array([chr(c).isalpha() for c in codes[astral]], dtype=bool)
    counts = np.bincount(kinds, minlength=3)
    return int(counts[_ARABIC_LETTER]), int(counts[_ARABIC_LETTER] + counts[_OTHER_LETTER])
