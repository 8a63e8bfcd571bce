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

How it is computed fast (``str.translate`` costs 100-300 ns per Arabic character in CPython):
text whose characters all lie in a 255-character alphabet (ASCII, Arabic letters and every
fold source and target NFKC leaves alone) is encoded with a charmap codec, folded with
``bytes.translate`` and decoded, all in C. Other text is folded token by token through a
bounded memo: the key is token-local, because whitespace never composes, reorders or changes
class under NFKC or the fold. ``reference_normalize_for_matching`` is the definition both are
tested against.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

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

    Equal to :func:`reference_normalize_for_matching`; see the module docstring for how.
    """
    folded = _fold_in_alphabet(s)
    if folded is not None:
        return folded
    return "\n".join(filter(None, map(_fold_line_by_tokens, s.splitlines())))


def collapse_whitespace(s: str) -> str:
    """Collapse each whitespace run to one space, or one newline if it holds a line break; strip."""
    # str.splitlines and str.split break exactly where _BREAK_RUN and _SPACE_RUN do (tested).
    return "\n".join(filter(None, (" ".join(line.split()) for line in s.splitlines())))


def reference_normalize_for_matching(s: str) -> str:
    """The definition of the matching key in plain ``str`` operations (slow; the test oracle)."""
    folded = unicodedata.normalize("NFKC", s).translate(FOLD_TABLE)
    folded = unicodedata.normalize("NFC", folded)
    return _SPACE_RUN.sub(" ", _BREAK_RUN.sub("\n", folded)).strip()


# Left out of the alphabet, so text holding them takes the token path: U+0653-0655 (madda and
# hamza marks compose with the letter before them under NFKC), and, for room (a charmap codec
# has 256 slots), the rare marks U+0656-065F, invisible operators and bidi overrides.
_OFF_ALPHABET = frozenset((*range(0x0653, 0x0660), *range(0x2061, 0x2065), 0x202D, 0x202E))
# NFKC expands it to three characters, which a charmap cannot; it is common enough in news to
# replace up front. Exact: it is a starter that composes with nothing, whatever surrounds it.
_ELLIPSIS = "\u2026"


def _build_alphabet() -> str:
    sources = {code for code in FOLD_TABLE if code >= 0x80} - _OFF_ALPHABET
    targets = {ord(value) for value in FOLD_TABLE.values() if value is not None}
    letters = set(range(0x0621, 0x064B))
    return "".join(map(chr, sorted({*range(0x80), *sources, *targets, *letters})))


def _build_byte_fold(alphabet: str) -> tuple[bytes, bytes]:
    """The fold as a ``bytes.translate`` table over alphabet positions, and the bytes it deletes."""
    table = bytearray(range(256))
    deleted = bytearray()
    for position, ch in enumerate(alphabet):
        value = FOLD_TABLE.get(ord(ch), ch)
        if value is None:
            deleted.append(position)
        else:
            table[position] = alphabet.index(value)
    return bytes(table), bytes(deleted)


_ALPHABET = _build_alphabet()
_ENCODING_MAP = codecs.charmap_build(_ALPHABET)
_FOLD_BYTES, _DELETED_BYTES = _build_byte_fold(_ALPHABET)
# Space and newline are plain; other whitespace (tab, CR, form feed, ...) is always rewritten.
_PLAIN, _ODD = 1, 2
_PLAIN_BYTE = bytes([_PLAIN])
_SPACE_CLASSES = bytes(
    (_PLAIN if ch in " \n" else _ODD) if ch.isspace() else 0 for ch in _ALPHABET
).ljust(256, b"\x00")


def _fold_in_alphabet(s: str) -> str | None:
    """The matching key of ``s``, or None if ``s`` holds a character outside the alphabet.

    Within the alphabet NFKC changes only the no-break space (the fold makes it a space too) and
    the order of marks the fold deletes, and no character left after the fold composes, so
    ``fold(NFKC(s))`` is ``fold(s)`` and the NFC step is the identity (both tested).
    """
    if _ELLIPSIS in s:
        s = s.replace(_ELLIPSIS, "...")
    try:
        encoded = codecs.charmap_encode(s, "strict", _ENCODING_MAP)[0]
    except UnicodeEncodeError:
        return None
    folded = encoded.translate(_FOLD_BYTES, _DELETED_BYTES)
    text: str = codecs.charmap_decode(folded, "strict", _ALPHABET)[0]
    return collapse_whitespace(text) if _needs_collapse(folded) else text


def _needs_collapse(folded: bytes) -> bool:
    # Usually false (the cleaned text is already tidy): whitespace other than space and newline,
    # or a separator at an edge or next to another. One translate, a memchr and one two-byte
    # search are far cheaper than splitting the text into words.
    spaces = folded.translate(_SPACE_CLASSES)
    return (
        _ODD in spaces
        or spaces[:1] == _PLAIN_BYTE
        or spaces[-1:] == _PLAIN_BYTE
        or spaces.find(_PLAIN_BYTE * 2) >= 0
    )


class _TokenMemo(dict[str, str]):
    """Matching keys of single tokens, bounded. News vocabulary is Zipfian, so most look-ups hit."""

    max_entries = 1 << 15
    max_token = 64  # longer tokens (URLs, runs without spaces) are folded but not kept

    def __missing__(self, token: str) -> str:
        key = reference_normalize_for_matching(token)
        if len(token) <= self.max_token:
            if len(self) >= self.max_entries:
                # Clearing costs nothing on hits, unlike LRU bookkeeping; FIFO eviction would
                # drop the oldest entries, which are the most frequent words, just the same.
                self.clear()
            self[token] = token if key == token else key  # share the string when unchanged
        return key


_TOKENS = _TokenMemo()


def _fold_line_by_tokens(line: str) -> str:
    return " ".join(filter(None, map(_TOKENS.__getitem__, line.split())))


def _fold_piece(piece: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFKC", piece).translate(FOLD_TABLE))


# Starters (combining class 0) that canonical composition can merge into the previous character:
# Hangul vowel and trailing jamo, and the second halves of two-part vowel signs. A literal, because
# deriving it scans all of Unicode (~0.5 s); test_orthography checks it against unicodedata.
_COMPOSES_BACKWARDS = frozenset(
    map(
        chr,
        (
            *range(0x1161, 0x1176),
            *range(0x11A8, 0x11C3),
            *(0x09BE, 0x09D7, 0x0B3E, 0x0B56, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6),
            *(0x0D3E, 0x0D57, 0x0DCF, 0x0DDF, 0x0FB5, 0x0FB7, 0x102E, 0x1B35, 0x11127, 0x1133E),
            *(0x11357, 0x114B0, 0x114BA, 0x114BD, 0x115AF, 0x11930),
        ),
    )
)


def _needs_merge(source: str, output: str) -> bool:
    return _joins_previous(source[0]) or (output != "" and _joins_previous(output[0]))


def _joins_previous(ch: str) -> bool:
    return unicodedata.combining(ch) != 0 or ch in _COMPOSES_BACKWARDS


def normalize_with_offsets(s: str) -> tuple[str, list[int]]:
    """Return ``(normalize_for_matching(s), offsets)``.

    ``offsets[i]`` is the index in ``s`` of the character that produced output character ``i``;
    ``offsets[-1] == len(s)`` is a sentinel so ``s[offsets[i]:offsets[j]]`` always works. When
    NFKC expands one character (ﷺ) or composes several (e + U+0301), every output character maps
    to the first source character of that group. A collapsed whitespace run maps to its first
    character (its first line break, if it holds one).
    """
    encoded = encode_text(s)
    if encoded is not None and _ELLIPSIS_CODE not in encoded:
        key = normalize_for_matching(s)
        if len(key) == len(s):
            # Inside the alphabet (no ellipsis) each character folds to one or is deleted, and
            # collapsing only removes: a key as long as ``s`` moved no character.
            return key, list(range(len(s) + 1))
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


# Every BMP letter whose name says ARABIC lies in these blocks (test_orthography checks).
_ARABIC_BLOCKS = ((0x0600, 0x0900), (0xFB50, 0xFF00))
_ARABIC_LETTERS = frozenset(
    chr(code)
    for first, end in _ARABIC_BLOCKS
    for code in range(first, end)
    if chr(code).isalpha() and "ARABIC" in unicodedata.name(chr(code), "")
)

# Whole articles are handled as bytes in the text alphabet: the matching alphabet plus, in its
# last free slot, the ellipsis, which news uses a lot. Its fold ("...") is applied after the byte
# fold; that is exact because the ellipsis is a starter that composes with nothing.
_TEXT_ALPHABET = _ALPHABET + _ELLIPSIS
_TEXT_MAP = codecs.charmap_build(_TEXT_ALPHABET)
_ELLIPSIS_CODE = len(_ALPHABET)
_TATWEEL_CODE = _TEXT_ALPHABET.index("\u0640")
# One class byte per character, so that checks are a translate plus a memchr or a short search.
_NONE, _OTHER_LETTER, _ARABIC_LETTER, _SEPARATOR, _DELETED, _ODD_SPACE = range(6)


def _letter_class(ch: str) -> int:
    if ch.isspace():
        return _SEPARATOR if ch in " \n" else _ODD_SPACE
    if ch != _ELLIPSIS and FOLD_TABLE.get(ord(ch), ch) is None:
        # Tatweel is the one deleted letter (test_orthography checks); it is counted apart.
        return _DELETED
    if ch in _ARABIC_LETTERS:
        return _ARABIC_LETTER
    return _OTHER_LETTER if ch.isalpha() else _NONE


_LETTER_CLASSES = bytes(map(_letter_class, _TEXT_ALPHABET))
_SEPARATOR_BYTE, _DELETED_BYTE = bytes([_SEPARATOR]), bytes([_DELETED])


def encode_text(s: str) -> bytes | None:
    """``s`` in the text alphabet, one byte per character, or None if it holds another character."""
    try:
        return codecs.charmap_encode(s, "strict", _TEXT_MAP)[0]
    except UnicodeEncodeError:
        return None


def letter_counts(s: str) -> tuple[int, int]:
    """Return ``(Arabic letters, all letters)`` in ``s``; astral letters count as non-Arabic."""
    encoded = encode_text(s)
    if encoded is None:
        arabic = sum(map(_ARABIC_LETTERS.__contains__, s))
        return arabic, sum(map(str.isalpha, s))
    classes = encoded.translate(_LETTER_CLASSES)
    arabic = classes.count(_ARABIC_LETTER) + encoded.count(_TATWEEL_CODE)
    return arabic, arabic + classes.count(_OTHER_LETTER)


class EncodedLines:
    """The lines of ``collapse_whitespace(s)`` for an ``s`` in the text alphabet, the same lines
    encoded (one byte per character), and, computed in C over the bytes, the lines' matching keys
    and the letters of any stretch of them.

    ``str.translate`` costs 100-300 ns per Arabic character and every scan of a ``str`` a few
    ns, so each step here is a ``bytes`` translate, a single-byte search (memchr) or at most one
    two-byte search, and edits found necessary are made to the ``str`` and the bytes alike.
    """

    __slots__ = ("_classes", "_joined", "encoded", "lines")

    def __init__(self, lines: list[str], encoded: list[bytes]) -> None:
        self.lines = lines
        self.encoded = encoded
        self._joined = b"\n".join(encoded)
        self._classes = self._joined.translate(_LETTER_CLASSES)

    @classmethod
    def of(cls, s: str) -> EncodedLines | None:
        """The tidied lines of ``s``, or None if ``s`` holds a character outside the alphabet."""
        encoded = encode_text(s)
        if encoded is None:
            return None
        odd_spaces = encoded.translate(None, _NOT_ODD_SPACE)
        if odd_spaces:  # usually none, else mostly no-break spaces
            s, encoded = _replace_odd_spaces(s, encoded, set(odd_spaces))
        # Blank lines go here; these are the tidy lines unless a space is misplaced.
        tidy = cls(list(filter(None, s.split("\n"))), list(filter(None, encoded.split(b"\n"))))
        classes = tidy._classes
        edges = (classes[:1], classes[-1:])
        if _SEPARATOR_BYTE in edges or classes.find(_SEPARATOR_BYTE * 2) >= 0:
            # A space at a line's edge or next to another: tidy those lines word by word, on both
            # sides (splitting every line into words would cost more than the rest together).
            pairs = zip(tidy.lines, tidy.encoded, strict=True)
            tidied = [
                (" ".join(a.split()), b" ".join(b.split())) if _untidy(b) else (a, b)
                for a, b in pairs
            ]
            tidy = cls([a for a, _ in tidied if a], [b for _, b in tidied if b])
        return tidy

    def keys(self) -> list[str] | None:
        """``normalize_for_matching`` of each line, from one fold of all of them; None if a line
        might need collapsing after the fold (a token of marks only, say)."""
        if self._token_may_fold_away(0, len(self._classes)):
            return None
        keys = _decode_folded(self._joined.translate(_FOLD_BYTES, _DELETED_BYTES)).split("\n")
        return keys if len(keys) == len(self.lines) else None

    def key(self, start: int, end: int) -> str:
        """``normalize_for_matching`` of ``"\\n".join(lines)[start:end]``, a stretch that starts
        and ends at a word's edge."""
        encoded = self._joined[start:end]
        folded = encoded.translate(_FOLD_BYTES, _DELETED_BYTES)
        text = _decode_folded(folded)
        if len(folded) == len(encoded) or not self._token_may_fold_away(start, end):
            return text
        return collapse_whitespace(text)

    def arabic_letter_ratio(self, start: int, end: int) -> float:
        """Arabic letters over all letters (0.0 if none) in ``"\\n".join(lines)[start:end]``."""
        classes = self._classes
        other = classes.count(_OTHER_LETTER, start, end)
        if not other:
            # Counting the common class is the slow part, and without other letters the ratio is
            # all or nothing.
            found = classes.find(_ARABIC_LETTER, start, end) >= 0
            return 1.0 if found or self._joined.find(_TATWEEL_CODE, start, end) >= 0 else 0.0
        arabic = classes.count(_ARABIC_LETTER, start, end)
        arabic += self._joined.count(_TATWEEL_CODE, start, end)
        return arabic / (arabic + other)

    def _token_may_fold_away(self, start: int, end: int) -> bool:
        # The lines hold no whitespace but space and newline and the fold makes none from other
        # characters, so they need collapsing after it only if a whole token folds away; such a
        # token starts with a deleted character, at the start or after a separator.
        classes = self._classes
        return (
            classes[start : start + 1] == _DELETED_BYTE
            or classes.find(_SEPARATOR_BYTE + _DELETED_BYTE, start, end) >= 0
        )


def _untidy(line: bytes) -> bool:
    # A line of EncodedLines.of holds no whitespace but the space.
    return line[:1] == b" " or line[-1:] == b" " or line.find(b"  ") >= 0


def _decode_folded(folded: bytes) -> str:
    if _ELLIPSIS_CODE in folded:
        folded = folded.replace(_ELLIPSIS_BYTE, b"...")
    text: str = codecs.charmap_decode(folded, "strict", _TEXT_ALPHABET)[0]
    return text


_ELLIPSIS_BYTE = bytes([_ELLIPSIS_CODE])
# Whitespace a tidy text never holds, and what collapsing makes of each.
_ODD_SPACES = {
    code: "\n" if ch in _LINE_BREAKS else " "
    for code, ch in enumerate(_TEXT_ALPHABET)
    if _LETTER_CLASSES[code] == _ODD_SPACE
}
_NOT_ODD_SPACE = bytes(set(range(256)) - set(_ODD_SPACES))


def _replace_odd_spaces(s: str, encoded: bytes, codes: set[int]) -> tuple[str, bytes]:
    for code in codes:
        tidy = _ODD_SPACES[code]
        s = s.replace(_TEXT_ALPHABET[code], tidy)
        encoded = encoded.replace(bytes([code]), tidy.encode())
    return s, encoded
