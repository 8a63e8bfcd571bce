"""The hand-written knowledge base and its Aho-Corasick gazetteer over normalised word forms."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import ahocorasick
import numpy as np

from akhbar.pipeline.ner.text import PROCLITICS, norm, tokenize
from akhbar.pipeline.stages.article import EntityType

KB_DIR = Path(__file__).parent / "kb"
KB_FILES = ("people.tsv", "places.tsv", "organizations.tsv")
# Proclitic runs a name may carry in running text: و ف ب ل ك and the common pairs.
PREFIXES = ("", *PROCLITICS, "وب", "ول", "فب", "فل", "وك", "فك")


@dataclass(frozen=True, slots=True)
class KbEntry:
    """One real-world entity: stable id, type, canonical names and the spellings seen in news."""

    id: str
    type: EntityType
    name: str
    name_en: str
    variants: tuple[str, ...]


class KbMatch(NamedTuple):
    """A KB name found over tokens ``[start, end)``; ``prefix`` letters of the first are clitics."""

    start: int
    end: int
    entry: KbEntry
    prefix: int


def normalize_name(name: str) -> str:
    """A name's matching key: its normalised tokens joined by single spaces."""
    return " ".join(norm(t.text) for t in tokenize(name))


def _prefixed_keys(key: str) -> list[tuple[str, int]]:
    """The key as it may appear with proclitics, with how many letters they take."""
    keys = [(p + key, len(p)) for p in PREFIXES]
    if key.startswith("ال"):
        # ل + ال is written لل (للعراق), so the alef disappears after the preposition.
        keys += [(p + "ل" + key[1:], len(p) + 1) for p in ("", "و", "ف")]
    return keys


class KnowledgeBase:
    """Entries by id and a gazetteer that finds their spellings in token sequences."""

    def __init__(self, entries: Sequence[KbEntry]) -> None:
        self.entries = {e.id: e for e in entries}
        self.by_key: dict[str, KbEntry] = {}
        self._automaton = ahocorasick.Automaton()
        for entry in entries:
            for spelling in (entry.name, *entry.variants):
                key = normalize_name(spelling)
                if not key or self.by_key.setdefault(key, entry) is not entry:
                    continue  # first entry listed wins a shared spelling
                n_tokens = key.count(" ") + 1
                for text, n_prefix in _prefixed_keys(key):
                    value = (len(text) + 2, n_tokens, n_prefix, entry)
                    self._automaton.add_word(f" {text} ", value)
        self._automaton.make_automaton()

    @classmethod
    def load(cls, directory: Path = KB_DIR) -> KnowledgeBase:
        """Read the TSV files (id, type, Arabic name, English name, |-separated variants)."""
        entries: list[KbEntry] = []
        for file_name in KB_FILES:
            for line in (directory / file_name).read_text(encoding="utf-8").splitlines():
                if not line.strip() or line.startswith("#"):
                    continue
                cols = line.split("\t")
                variants = tuple(v for v in cols[4].split("|") if v) if len(cols) > 4 else ()
                entries.append(KbEntry(cols[0], cols[1], cols[2], cols[3], variants))
        return cls(entries)

    def match(self, nwords: Sequence[str], bounds: Sequence[int] = ()) -> list[KbMatch]:
        """Longest leftmost non-overlapping KB names over normalised tokens.

        With sentence ``bounds`` (as in ``SplitText``) the tokens are many sentences, searched in
        one pass, and no name spans two of them.
        """
        if not nwords:
            return []
        text = " " + " ".join(nwords) + " "
        hits = list(self._automaton.iter(text))
        if not hits:
            return []
        # opens[i]: where the space in front of token i sits (opens[-1]: the closing space).
        lengths = np.fromiter(map(len, nwords), np.intp, len(nwords)) + 1
        opens = [0, *np.cumsum(lengths).tolist()]
        found: list[tuple[int, int, int, int, KbEntry]] = []
        for k, (end_char, (key_len, n_tokens, n_prefix, entry)) in enumerate(hits):
            opening = end_char - key_len + 1
            first = bisect_left(opens, opening)
            last = first + n_tokens
            if last >= len(opens) or opens[first] != opening or opens[last] != end_char:
                # Not on token edges: a token whose matching form holds a space (NFKC turns
                # some ligatures into words) took part of the name.
                continue
            if (
                n_tokens > 1
                and bounds
                and bisect_right(bounds, first) < bisect_right(bounds, last - 1)
            ):
                continue  # across a sentence end
            found.append((first, -last, k, n_prefix, entry))
        # Longest first among those starting at the same token, then greedy left to right.
        found.sort()
        chosen: list[KbMatch] = []
        end = 0
        for first, minus_last, _, n_prefix, entry in found:
            if first >= end:
                end = -minus_last
                chosen.append(KbMatch(first, end, entry, n_prefix))
        return chosen

    def __len__(self) -> int:
        return len(self.entries)
