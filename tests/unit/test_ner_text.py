"""The entity stage's tokens and sentences: the fast article path equals the plain definitions."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from akhbar.pipeline.ner.text import (
    Memo,
    Token,
    norm,
    norms,
    split_sentences,
    split_text,
    tokenize,
)
from akhbar.pipeline.stages.orthography import normalize_for_matching

_WORD_OR_MARK = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|[\u0621-\u065F\u0670-\u06D3\u0660-\u0669\u06F0-\u06F9A-Za-z0-9_]+|[^\s]"
)
# Arabic letters and marks, Latin, digits, sentence ends, other punctuation, every kind of space.
_ALPHABET = st.sampled_from(
    list("وقالسيرغيلافروفأإآةىـًّ٣")
    + list("abcXYZ019_")
    + list(".!?؟…\n،,;:()\"'-/")
    + [" ", "  ", "\t", "\r\n", "\u00a0", "\u2028", "https://", "www.", "ﷺ"]
)
texts = st.lists(_ALPHABET, max_size=60).map("".join)


def reference_tokenize(text: str) -> list[Token]:
    """The definition: lines first, newlines as tokens, then words and marks within a line."""
    out: list[Token] = []
    for line in re.finditer(r"[^\n]+|\n", text):
        if line.group() == "\n":
            out.append(Token("\n", line.start(), line.end()))
            continue
        base = line.start()
        out.extend(
            Token(m.group(), base + m.start(), base + m.end())
            for m in _WORD_OR_MARK.finditer(line.group())
        )
    return out


def sentences_of(text: str) -> list[list[Token]]:
    words, bounds, found = split_text(text)
    return [
        [Token(words[i], *found[i].span()) for i in range(lo, hi)] for lo, hi in pairwise(bounds)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "\n\n.",
        "قال لافروف. وأضاف: نعم!\nثم عاد",
        "انظر https://sana.sy/ar/?p=1. ثم www.x.y\nسطر",
        "نعم؟؟ لا… ربما.\r\nآخر",
        "بلا علامة نهاية",
    ],
)
def test_article_sentences_equal_the_token_definition(text: str) -> None:
    assert tokenize(text) == reference_tokenize(text)
    assert sentences_of(text) == split_sentences(tokenize(text))


@settings(max_examples=300, deadline=None)
@given(texts)
@example("a.\n\n b")
def test_article_sentences_equal_the_token_definition_on_any_text(text: str) -> None:
    assert tokenize(text) == reference_tokenize(text)
    assert sentences_of(text) == split_sentences(tokenize(text))


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, max_size=8))
def test_norms_are_the_matching_forms(words: list[str]) -> None:
    assert norms(words) == [normalize_for_matching(w) for w in words]
    assert [norm(w) for w in words] == [normalize_for_matching(w) for w in words]


def test_memo_computes_once_and_empties_when_full() -> None:
    calls: list[str] = []

    def upper(key: str) -> str:
        calls.append(key)
        return key.upper()

    memo = Memo(upper, size=2)
    assert [memo["a"], memo["a"], memo["b"]] == ["A", "A", "B"]
    assert calls == ["a", "b"]
    assert memo["c"] == "C"  # full: emptied, then filled again
    assert len(memo) == 1
