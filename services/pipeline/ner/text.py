"""Tokens with offsets, the matching form of a word, and proclitic stripping shared by NER parts."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

from akhbar.pipeline.stages.orthography import normalize_for_matching

# Arabic letters, diacritics, tatweel, Persian letters and digits form words; the Arabic comma,
# semicolon and question mark (U+060C, U+061B, U+061F) sit outside these ranges on purpose.
# A URL is one token, so its Latin pieces do not look like names to the tagger.
_TOKEN_RE = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|[\u0621-\u065F\u0670-\u06D3\u0660-\u0669\u06F0-\u06F9A-Za-z0-9_]+|[^\s]"
)
# Sentence ends: where the CRF context restarts, as in the training sentences.
SENTENCE_END = frozenset({".", "!", "?", "؟", "…", "\n"})
PROCLITICS = "وفبلك"
_ARABIC_LETTER_RE = re.compile(r"[\u0621-\u064A]")


class Token(NamedTuple):
    """A word or punctuation mark and where it sits in the text."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into word and punctuation tokens; newlines become tokens (sentence ends)."""
    out: list[Token] = []
    for line_match in re.finditer(r"[^\n]+|\n", text):
        if line_match.group() == "\n":
            out.append(Token("\n", line_match.start(), line_match.end()))
            continue
        base = line_match.start()
        out.extend(
            Token(m.group(), base + m.start(), base + m.end())
            for m in _TOKEN_RE.finditer(line_match.group())
        )
    return out


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


@lru_cache(maxsize=200_000)
def norm(word: str) -> str:
    """The matching form of one word, cached because news vocabularies repeat heavily."""
    return normalize_for_matching(word)


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
