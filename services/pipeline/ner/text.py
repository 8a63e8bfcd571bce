"""Tokens with offsets, the matching form of a word, and proclitic stripping shared by NER parts."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from itertools import compress
from operator import itemgetter
from typing import NamedTuple, TypeVar

from akhbar.pipeline.stages.orthography import normalize_for_matching

# Arabic letters, diacritics, tatweel, Persian letters and digits form words; the Arabic comma,
# semicolon and question mark (U+060C, U+061B, U+061F) sit outside these ranges on purpose.
# A URL is one token, so its Latin pieces do not look like names to the tagger.
# No token holds whitespace, so the text need not be split into lines first.
_TOKEN_RE = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|[\u0621-\u065F\u0670-\u06D3\u0660-\u0669\u06F0-\u06F9A-Za-z0-9_]+|[^\s]"
)
_TOKEN_OR_NEWLINE_RE = re.compile(r"\n|" + _TOKEN_RE.pattern)
# Sentence ends: where the CRF context restarts, as in the training sentences.
SENTENCE_END = frozenset({".", "!", "?", "؟", "…", "\n"})
PROCLITICS = "وفبلك"
_ARABIC_LETTER_RE = re.compile(r"[\u0621-\u064A]")
_K = TypeVar("_K")
_V = TypeVar("_V")


class Token(NamedTuple):
    """A word or punctuation mark and where it sits in the text."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into word and punctuation tokens; newlines become tokens (sentence ends)."""
    return [Token(m[0], *m.span()) for m in _TOKEN_OR_NEWLINE_RE.finditer(text)]


class SplitText(NamedTuple):
    """A text's tokens without the newlines, and its sentences as runs of them.

    Sentence ``s`` is ``words[bounds[s]:bounds[s + 1]]``; ``found[i].span()`` is where word ``i``
    sits in the text. The same sentences as ``split_sentences(tokenize(text))``, built without a
    Python step per token: the stage's hot path.
    """

    words: list[str]
    bounds: list[int]
    found: list[re.Match[str]]


def split_text(text: str) -> SplitText:
    found = list(_TOKEN_RE.finditer(text))
    words = list(map(_MATCHED, found))
    n = len(words)
    # A sentence ends after an end mark and at a newline; empty sentences fall out of the set.
    cuts = {0, n}
    cuts.update(compress(range(1, n + 1), map(SENTENCE_END.__contains__, words)))
    newline = text.find("\n")
    while newline >= 0:
        cuts.add(bisect_left(found, newline, key=re.Match.start))
        newline = text.find("\n", newline + 1)
    return SplitText(words, sorted(cuts) if n else [0], found)


def split_sentences(tokens: list[Token]) -> list[list[Token]]:
    """Group tokens into sentences; end marks stay with their sentence, newlines are dropped."""
    sentences: list[list[Token]] = []
    current: list[Token] = []
    for tok in tokens:
        if tok.text != "\n":
            current.append(tok)
        if tok.text in SENTENCE_END and current:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


class Memo(dict[_K, _V]):
    """``compute(key)`` memoised in a dict: a hit costs a lookup (~50 ns), and
    ``map(memo.__getitem__, keys)`` stays in C. Emptied when full, which in a stream costs one
    re-fill and bounds memory."""

    def __init__(self, compute: Callable[[_K], _V], size: int = 200_000) -> None:
        super().__init__()
        self._compute = compute
        self._size = size

    def __missing__(self, key: _K) -> _V:
        if len(self) >= self._size:
            self.clear()
        self[key] = value = self._compute(key)
        return value


_NORMS = Memo(normalize_for_matching)  # ~2 us a call, and news vocabularies repeat heavily
_MATCHED = itemgetter(0)


def norm(word: str) -> str:
    """The matching form of one word."""
    return _NORMS[word]


def norms(words: Iterable[str]) -> list[str]:
    """The matching forms of many words."""
    return list(map(_NORMS.__getitem__, words))


def word_set(words: str, key: Callable[[str], str]) -> frozenset[str]:
    """A set of word keys from a space-separated list (how word lists are written in code)."""
    return frozenset(key(w) for w in words.split())


def is_arabic(word: str) -> bool:
    """True when the word holds an Arabic letter."""
    return _ARABIC_LETTER_RE.search(word) is not None


def clitic_splits(nword: str) -> list[tuple[str, str]]:
    """Ways to read a normalised word as proclitics + rest, longest proclitic run last.

    ``لل`` is ``ل`` + ``ال`` with the alef dropped, so it yields the rest with ``ال`` restored.
    """
    splits: list[tuple[str, str]] = []
    i = 0
    while i < 2 and i < len(nword) - 2 and nword[i] in PROCLITICS:
        i += 1
        rest = nword[i:]
        splits.append((nword[:i], rest))
        if nword[i - 1] == "ل" and rest.startswith("ل") and len(rest) > 3:
            splits.append((nword[:i], "ا" + rest))
    return splits


def strip_known(nword: str, known: Callable[[str], bool]) -> tuple[str, str]:
    """Split off proclitics when the word is not ``known`` but the rest is; else keep it whole."""
    if known(nword):
        return "", nword
    for prefix, rest in clitic_splits(nword):
        if known(rest):
            return prefix, rest
    return "", nword


def original_offset(word: str, n_letters: int) -> int:
    """Index in ``word`` just after its first ``n_letters`` letters (skipping marks and tatweel)."""
    seen = 0
    i = 0
    while i < len(word) and seen < n_letters:
        if _ARABIC_LETTER_RE.match(word[i]):
            seen += 1
        i += 1
    # Marks and tatweel that belong to the last stripped letter stay outside the span.
    while i < len(word) and not _ARABIC_LETTER_RE.match(word[i]):
        i += 1
    return i
