"""Tag CoNLL files (first column the token, blank line between sentences) with the entity stage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from akhbar.pipeline.ner.text import Token

if TYPE_CHECKING:
    from akhbar.pipeline.stages.entities import EntityTagger

# The stage says PER; ANERcorp and its scorers say PERS.
OUTPUT_TYPE = {"PER": "PERS", "LOC": "LOC", "ORG": "ORG"}


def tag_sentence(words: Sequence[str], tagger: EntityTagger) -> list[str]:
    """BIO tags (PER/LOC/ORG) for one sentence's tokens, whole tokens as ANERcorp tags them.

    The stage runs on the tokens joined by spaces; a token overlapping a mention takes its tag,
    so a token with an attached proclitic (ولافروف) is tagged whole.
    """
    tokens: list[Token] = []
    pos = 0
    for word in words:
        tokens.append(Token(word, pos, pos + len(word)))
        pos += len(word) + 1
    text = " ".join(words)
    tags = ["O"] * len(tokens)
    for found in tagger.find(text, [tokens]):
        first = True
        for i, tok in enumerate(tokens):
            if tok.start < found.mention.end and found.mention.start < tok.end:
                tags[i] = ("B-" if first else "I-") + found.type
                first = False
    return tags


def tag_conll(lines: Iterable[str], tagger: EntityTagger) -> Iterator[str]:
    """``token TAG`` lines (PERS, LOC, ORG or O) with the input's blank lines kept in place."""
    words: list[str] = []
    for line in lines:
        parts = line.split()
        if parts:
            words.append(parts[0])
            continue
        yield from _emit(words, tagger)
        words = []
        yield ""
    yield from _emit(words, tagger)


def _emit(words: list[str], tagger: EntityTagger) -> Iterator[str]:
    if not words:
        return
    for word, tag in zip(words, tag_sentence(words, tagger), strict=True):
        yield f"{word} {tag[:2] + OUTPUT_TYPE[tag[2:]] if tag != 'O' else tag}"
