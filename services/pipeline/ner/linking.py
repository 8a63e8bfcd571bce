"""Canonical ids for mentions: the KB id where a name is known, else a spelling-tolerant key.

The key is a pure function of the surface form and the KB, so the same form gets the same id
anywhere in the stream without shared state. Within one article, a shortened mention (a surname)
takes the id of the one fuller name it is the tail of.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from akhbar.pipeline.ner.kb import KbEntry, KnowledgeBase, normalize_name
from akhbar.pipeline.ner.text import Memo, word_set
from akhbar.pipeline.stages.article import EntityType

# Arabic given names that differ only in a long vowel or in the g-letters; exact form kept.
COMMON_NAMES = word_set(
    "محمد محمود أحمد حامد حميد حمد أمين أمينة علي عالية جمال كمال قاسم جاسم كاسب غسان حسن "
    "حسين حسان سعيد سعد سعود صالح صلاح خالد خليل خليفة عمر عمرو عامر عمار سامي سامح سمير نبيل "
    "وليد ماجد مجيد مجدي رشيد راشد رشاد فريد فارس فراس كريم كريمة جميل جميلة ناصر نصر منصور "
    "منصورة عادل عدلي باسم بسام هاني هناء رامي رامز ريم مريم مروان مراد جواد جود",
    normalize_name,
)
_FOREIGN_G = str.maketrans({"غ": "ك", "ج": "ك", "ق": "ك", "گ": "ك"})
_LONG_VOWELS = re.compile(r"(?<=.)[اويى]")
_DOUBLES = re.compile(r"(.)\1+")
TYPE_PREFIX = {"PER": "per", "LOC": "loc", "ORG": "org"}


def token_key(nword: str) -> str:
    """Transliteration-tolerant key of one normalised word.

    Long vowels after the first letter are dropped, the letters Arabic uses for a foreign g meet,
    doubled letters collapse, and a final ه (from ة) goes. Short words, words with ال and common
    Arabic given names keep their exact form: skeletons of those collide.
    """
    if len(nword) <= 3 or nword.startswith("ال") or nword in COMMON_NAMES:
        return nword
    skeleton = _DOUBLES.sub(r"\1", _LONG_VOWELS.sub("", nword.translate(_FOREIGN_G)))
    return skeleton[:-1] if skeleton.endswith("ه") and len(skeleton) > 3 else skeleton


_TOKEN_KEYS = Memo(token_key)  # three regex passes a word; names recur across articles


def name_key(nwords: Sequence[str], entity_type: EntityType) -> tuple[str, ...]:
    """Key of a whole name; organisation names are Arabic phrases, so they stay exact."""
    if entity_type == "ORG":
        return tuple(nwords)
    return tuple(map(_TOKEN_KEYS.__getitem__, nwords))


@dataclass(frozen=True, slots=True)
class Link:
    """Where a name points: the canonical id, the canonical name (if known), KB or not."""

    id: str
    name: str | None
    kb: bool


class Linker:
    """Maps normalised names to ids with the KB first and the tolerant key as fallback."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._by_key: dict[tuple[EntityType, tuple[str, ...]], KbEntry] = {}
        for entry in kb.entries.values():
            for spelling in (entry.name, *entry.variants):
                key = name_key(normalize_name(spelling).split(), entry.type)
                self._by_key.setdefault((entry.type, key), entry)
        # A pure function of the name and the KB, and the same names recur: memoised.
        self._links: Memo[tuple[tuple[str, ...], EntityType], Link] = Memo(self._link)

    def link(self, nwords: Sequence[str], entity_type: EntityType) -> Link:
        return self._links[tuple(nwords), entity_type]

    def _link(self, name: tuple[tuple[str, ...], EntityType]) -> Link:
        nwords, entity_type = name
        entry = self.kb.by_key.get(" ".join(nwords))
        if entry is not None and entry.type == entity_type:
            return Link(entry.id, entry.name, True)
        key = name_key(nwords, entity_type)
        entry = self._by_key.get((entity_type, key))
        if entry is not None:
            return Link(entry.id, entry.name, True)
        return Link(f"{TYPE_PREFIX[entity_type]}:~{'_'.join(key)}", None, False)

    def resolve_short(self, names: Sequence[tuple[EntityType, tuple[str, ...]]]) -> dict[int, int]:
        """For each name that is the tail of exactly one longer name of its type, that name.

        Returns index -> index of the fuller name; used for surnames (لافروف after سيرغي لافروف).
        """
        keys = [(t, name_key(words, t)) for t, words in names]
        # A name can only be the tail of names that end in the same word: compare within those.
        by_last: dict[tuple[EntityType, str], list[int]] = {}
        for j, (etype, key) in enumerate(keys):
            if key:
                by_last.setdefault((etype, key[-1]), []).append(j)
        result: dict[int, int] = {}
        for i, (etype, key) in enumerate(keys):
            if not key:
                continue
            fuller = {
                keys[j][1]: j
                for j in by_last[etype, key[-1]]
                if len(keys[j][1]) > len(key) and keys[j][1][-len(key) :] == key
            }
            if len(fuller) == 1:
                result[i] = next(iter(fuller.values()))
        return result
