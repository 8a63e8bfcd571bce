"""The hand-written knowledge base and its gazetteer over normalised word forms."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from pathlib import Path
from typing import NamedTuple

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
        # Every spelling as it may be written (with proclitics) -> (tokens, proclitic letters,
        # entry); a spelling two keys share goes to the later one.
        self._names: dict[str, tuple[int, int, KbEntry]] = {}
        for entry in entries:
            for spelling in (entry.name, *entry.variants):
                key = normalize_name(spelling)
                if not key or self.by_key.setdefault(key, entry) is not entry:
                    continue  # first entry listed wins a shared spelling
                n_tokens = key.count(" ") + 1
                for text, n_prefix in _prefixed_keys(key):
                    self._names[text] = (n_tokens, n_prefix, entry)
        # First word -> the token counts of the names it opens, longest first.
        lengths: dict[str, set[int]] = {}
        for text, (n_tokens, _, _) in self._names.items():
            lengths.setdefault(text.split(" ", 1)[0], set()).add(n_tokens)
        self._lengths = {word: sorted(ns, reverse=True) for word, ns in lengths.items()}

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

        With sentence ``bounds`` (as in ``SplitText``) the tokens are many sentences and no name
        spans two of them. Only tokens that open some name are looked at, and at each the
        longest name that fits is tried first.
        """
        lengths = self._lengths
        names = self._names
        chosen: list[KbMatch] = []
        end = 0
        for i in compress(range(len(nwords)), map(lengths.__contains__, nwords)):
            if i < end:
                continue  # inside the name just found
            word = nwords[i]
            counts = lengths[word]
            # A one-word name always fits its sentence: no bound to look up, nothing to join.
            limit = 0
            if counts[0] > 1:
                limit = bounds[bisect_right(bounds, i)] if bounds else len(nwords)
            for n_tokens in counts:
                if n_tokens == 1:
                    found = names.get(word)
                elif i + n_tokens > limit:
                    continue
                else:
                    found = names.get(" ".join(nwords[i : i + n_tokens]))
                # A token whose matching form holds a space (NFKC turns some ligatures into
                # words) is not a name's word: the token count must agree too.
                if found is not None and found[0] == n_tokens:
                    end = i + n_tokens
                    chosen.append(KbMatch(i, end, found[2], found[1]))
                    break
        return chosen

    def __len__(self) -> int:
        return len(self.entries)
