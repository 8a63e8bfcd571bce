"""The entity stage: find people, places and organisations in an article and link each one."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from functools import partial
from itertools import accumulate, chain
from operator import attrgetter
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from akhbar.pipeline.ner.features import NAME_DESCRIPTORS, trigger_class
from akhbar.pipeline.ner.kb import KbEntry, KbMatch, KnowledgeBase
from akhbar.pipeline.ner.linking import Link, Linker
from akhbar.pipeline.ner.model import GAZ_INDEX, NerModel
from akhbar.pipeline.ner.text import (
    Memo,
    Token,
    clitic_splits,
    norms,
    original_offset,
    split_text,
    strip_known,
)
from akhbar.pipeline.stages.article import Article, Entity, EntityType, Mention

# Where token i sits in the text: (start, end).
SpanOf = Callable[[int], tuple[int, int]]
_START = attrgetter("start")
ENTITY_TYPES: tuple[EntityType, ...] = ("PER", "LOC", "ORG")


class Span(NamedTuple):
    """Tokens ``[start, end)`` of one sentence naming an entity; ``entry`` when the KB found it."""

    start: int
    end: int
    type: EntityType
    entry: KbEntry | None
    prefix: int  # letters of the first token that are proclitics


class Found(NamedTuple):
    """A linked mention before grouping into entities."""

    mention: Mention
    type: EntityType
    words: tuple[str, ...]
    link: Link


class EntityTagger:
    """Fills ``article.entities`` from the CRF tagger merged with the KB gazetteer."""

    def __init__(self, model: NerModel, kb: KnowledgeBase, linker: Linker | None = None) -> None:
        self.model = model
        self.kb = kb
        self.linker = linker or Linker(kb)
        # Pure functions of one normalised word (and the fixed model), asked again and again.
        self._descriptors = Memo(lambda nword: bool(trigger_class(nword)))
        self._head_nouns = Memo(_is_head_noun)
        self._proclitics = Memo(self._proclitic)
        self._kb_links = Memo(lambda entry_id: Link(entry_id, kb.entries[entry_id].name, True))
        names = model.labels
        self._kind_of = [ENTITY_TYPES.index(n[2:]) if n != "O" else -1 for n in names]
        self._begin_of = [n.startswith("B-") for n in names]
        self._o_index = names.index("O")
        self._gaz_begins = {t: GAZ_INDEX["B-" + t] for t in ENTITY_TYPES}

    @classmethod
    def load_default(cls) -> EntityTagger:
        """The shipped KB and trained model; loads files, so call it at start-up only."""
        kb = KnowledgeBase.load()
        return cls(NerModel.load(kb), kb)

    def __call__(self, article: Article) -> Article:
        article.entities = self.entities(article.text)
        return article

    def entities(self, text: str) -> list[Entity]:
        words, bounds, found = split_text(text)
        return self._group(self._find(text, words, bounds, lambda i: found[i].span()))

    def find(self, text: str, sentences: Sequence[Sequence[Token]]) -> list[Found]:
        """Linked mentions in text order; CoNLL passes its own tokens, one sentence per list."""
        sentences = [s for s in sentences if s]  # an empty one would repeat a bound
        tokens = list(chain.from_iterable(sentences))
        bounds = list(accumulate(map(len, sentences), initial=0))
        words = [t.text for t in tokens]
        return self._find(text, words, bounds, lambda i: (tokens[i].start, tokens[i].end))

    def _find(self, text: str, words: list[str], bounds: list[int], span_of: SpanOf) -> list[Found]:
        """Mentions of an article's sentences (``words[bounds[s]:bounds[s + 1]]``), tagged at once.

        Token indices run over the whole article; spans and KB names never cross a sentence.
        """
        nwords = norms(words)
        matches = self.kb.match(nwords, bounds)
        gaz = bytearray(len(words))  # GAZ_TAGS ids
        gaz_begins = self._gaz_begins
        for start, end, entry, _ in matches:
            begin = gaz_begins[entry.type]
            gaz[start] = begin
            for i in range(start + 1, end):
                gaz[i] = begin + 1
        labels = self.model.tag_ids(words, bounds, np.frombuffer(gaz, dtype=np.int8))
        descriptor = partial(self._is_descriptor, nwords)
        out: list[Found] = []
        for span in _merge(matches, self._crf_spans(labels, bounds), descriptor):
            # Titles the CRF took into a person's span (برئاسة الجعفري) and head nouns in
            # front of a KB name (مدينة مشهد) are not the name.
            while span.end - span.start > 1 and (
                (span.entry is None and span.type == "PER" and descriptor(span.start))
                or (span.entry is not None and self._head_nouns[nwords[span.start]])
            ):
                span = span._replace(start=span.start + 1, prefix=0)
            out.append(self._found(text, span_of, nwords, span))
        return out

    def _crf_spans(self, labels: npt.NDArray[np.intp], bounds: list[int]) -> list[Span]:
        """Spans of the BIO labels; an I- that does not continue its type opens a new span.

        A span runs from a token that opens one (a B-, an I- of another type than the token
        before, the first of a sentence) over the I- of its type that follow.
        """
        # Most tokens are O: only the tagged ones take a Python step.
        where = np.flatnonzero(labels != self._o_index)
        kinds = self._kind_of
        begins = self._begin_of
        sentence_starts = set(bounds)
        spans: list[Span] = []
        start = last = kind = -1
        for i, label in zip(where.tolist(), labels[where].tolist(), strict=True):
            k = kinds[label]
            if begins[label] or i != last + 1 or k != kind or i in sentence_starts:
                if start >= 0:
                    spans.append(Span(start, last + 1, ENTITY_TYPES[kind], None, 0))
                start = i
            last = i
            kind = k
        if start >= 0:
            spans.append(Span(start, last + 1, ENTITY_TYPES[kind], None, 0))
        return spans

    def _found(self, text: str, span_of: SpanOf, nwords: list[str], span: Span) -> Found:
        """The mention (proclitic cut off) and its link for one span."""
        first, last, entity_type, entry, prefix = span
        nword = nwords[first]
        if entry is None:
            prefix = self._proclitics[nword]
        start, first_end = span_of(first)
        end = first_end if last - first == 1 else span_of(last - 1)[1]
        if prefix:
            start += original_offset(text[start:first_end], prefix)
            head = nword[prefix:]
            if head.startswith("ل") and nword[prefix - 1] == "ل":
                head = "ا" + head  # لل = ل + ال, the article's alef dropped
            words = (head, *nwords[first + 1 : last])
        else:
            words = tuple(nwords[first:last])
        if entry is not None:
            link = self._kb_links[entry.id]
        else:
            link = self.linker.link(words, entity_type)
        return Found(Mention(start, end, text[start:end]), entity_type, words, link)

    def _is_descriptor(self, nwords: Sequence[str], i: int) -> bool:
        """A title or a head noun that introduces a name (``trigger_class`` is non-empty)."""
        return self._descriptors[nwords[i]]

    def _proclitic(self, nword: str) -> int:
        """How many leading letters of an entity's first word are proclitics."""
        extractor = self.model.extractor
        prefix, _ = strip_known(nword, extractor.known)
        if not prefix and nword[:1] == "و" and len(nword) > 4 and not extractor.known(nword):
            # Unknown words opening with و: foreign names rarely do, the conjunction often does.
            return 1
        return len(prefix)

    def _group(self, found: list[Found]) -> list[Entity]:
        persons = [(i, f) for i, f in enumerate(found) if f.type == "PER"]
        short = self.linker.resolve_short([(f.type, f.words) for _, f in persons])
        links = [f.link for f in found]
        for i, j in short.items():
            # A KB-linked surname keeps its id: the KB lists only unambiguous surnames.
            if not links[persons[i][0]].kb:
                links[persons[i][0]] = links[persons[j][0]]
        entities: dict[str, Entity] = {}
        longest: dict[str, Found] = {}
        for f, link in zip(found, links, strict=True):
            entity = entities.get(link.id)
            if entity is None:
                entity = entities[link.id] = Entity(link.id, f.type, "", [], link.kb)
            entity.mentions.append(f.mention)
            best = longest.get(link.id)
            if best is None or len(f.words) > len(best.words):
                longest[link.id] = f
        for entity_id, entity in entities.items():
            kb_entry = self.kb.entries.get(entity_id)
            entity.name = kb_entry.name if kb_entry else longest[entity_id].mention.text
            if kb_entry:
                entity.type = kb_entry.type
            entity.mentions.sort(key=_START)
        return list(entities.values())


def _is_head_noun(nword: str) -> bool:
    """A head noun like مدينة that news puts in front of a name, looking through proclitics."""
    return any(f in NAME_DESCRIPTORS for f in (nword, *(r for _, r in clitic_splits(nword))))


def _merge(
    matches: Sequence[KbMatch], crf: Sequence[Span], descriptor: Callable[[int], bool]
) -> list[Span]:
    """Combine KB names and CRF spans into non-overlapping spans.

    A KB name wins over CRF spans it overlaps, except a CRF span that strictly contains it with
    more than descriptor words (titles, ``تنظيم``, ``مدينة``) in front: the CRF saw a longer name
    there (``جامعة دمشق``). Such a span keeps the KB entry when the types agree.

    Each list is sorted and non-overlapping, and neither crosses a sentence end, so a whole
    article merges in one pass: the KB names in or across a CRF span are found by bisection.
    """
    starts = [m.start for m in matches]
    taken: list[Span] = []  # CRF spans that contain a shorter KB name and win over it
    kept: list[Span] = []  # CRF spans no KB name touches
    covered: set[int] = set()
    for s in crf:
        lo = bisect_left(starts, s.start)
        hi = bisect_left(starts, s.end)  # matches[lo:hi] start inside s
        if lo == hi:
            # No KB name starts inside. The span stands unless one from before reaches in; as
            # matches do not overlap, the last one before it reaches furthest.
            if not lo or matches[lo - 1].end <= s.start:
                kept.append(s)
            continue
        if hi == lo + 1 and matches[lo].start == s.start and matches[lo].end == s.end:
            continue  # the CRF found just the KB name (the common case): the name stands
        inner = [j for j in range(lo, hi) if matches[j].end <= s.end]
        longer = [j for j in inner if s.end - s.start > matches[j].end - matches[j].start]
        if longer:
            m = matches[longer[0]]
            if m.end != s.end or not all(descriptor(i) for i in range(s.start, m.start)):
                entry = m.entry if len(inner) == 1 and m.entry.type == s.type else None
                taken.append(s._replace(entry=entry, prefix=0))
                covered.update(inner)
                continue
        # Otherwise a KB name inside the span overlaps it, and the span gives way.
    names = [
        Span(m.start, m.end, m.entry.type, m.entry, m.prefix)
        for j, m in enumerate(matches)
        if j not in covered
    ]
    return sorted([*taken, *names, *kept], key=_START)
