"""The entity stage: find people, places and organisations in an article and link each one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

from akhbar.pipeline.ner.features import NAME_DESCRIPTORS, trigger_class
from akhbar.pipeline.ner.kb import KbEntry, KbMatch, KnowledgeBase
from akhbar.pipeline.ner.linking import Link, Linker
from akhbar.pipeline.ner.model import NerModel
from akhbar.pipeline.ner.text import (
    Token,
    clitic_splits,
    norm,
    original_offset,
    split_sentences,
    strip_known,
    tokenize,
)
from akhbar.pipeline.stages.article import Article, Entity, EntityType, Mention


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

    @classmethod
    def load_default(cls) -> EntityTagger:
        """The shipped KB and trained model; loads files, so call it at start-up only."""
        kb = KnowledgeBase.load()
        return cls(NerModel.load(kb), kb)

    def __call__(self, article: Article) -> Article:
        article.entities = self.entities(article.text)
        return article

    def entities(self, text: str) -> list[Entity]:
        return self._group(self.find(text, split_sentences(tokenize(text))))

    def find(self, text: str, sentences: Sequence[Sequence[Token]]) -> list[Found]:
        """Linked mentions in text order; CoNLL passes its own tokens, one sentence per list."""
        nsentences = [[norm(t.text) for t in tokens] for tokens in sentences]
        all_matches = [self.kb.match(nwords) for nwords in nsentences]
        gazetteer = []
        for tokens, matches in zip(sentences, all_matches, strict=True):
            gaz = ["O"] * len(tokens)
            for m in matches:
                inside = ["I-" + m.entry.type] * (m.end - m.start - 1)
                gaz[m.start : m.end] = ["B-" + m.entry.type, *inside]
            gazetteer.append(gaz)
        labels = self.model.tag_many([[t.text for t in tokens] for tokens in sentences], gazetteer)
        out: list[Found] = []
        for tokens, nwords, matches, tags in zip(
            sentences, nsentences, all_matches, labels, strict=True
        ):
            descriptor = partial(self._is_descriptor, nwords)
            for span in _merge(matches, _bio_spans(tags), descriptor):
                # Titles the CRF took into a person's span (برئاسة الجعفري) and head nouns in
                # front of a KB name (مدينة مشهد) are not the name.
                while span.end - span.start > 1 and (
                    (span.entry is None and span.type == "PER" and descriptor(span.start))
                    or (span.entry is not None and self._is_head_noun(nwords, span.start))
                ):
                    span = span._replace(start=span.start + 1, prefix=0)
                out.append(self._found(text, tokens, nwords, span))
        return out

    def _found(self, text: str, tokens: Sequence[Token], nwords: list[str], span: Span) -> Found:
        """The mention (proclitic cut off) and its link for one span."""
        prefix = span.prefix if span.entry else self._proclitic(nwords[span.start])
        first = tokens[span.start]
        start = first.start + original_offset(first.text, prefix) if prefix else first.start
        end = tokens[span.end - 1].end
        words = (nwords[span.start][prefix:], *nwords[span.start + 1 : span.end])
        if prefix and words[0].startswith("ل") and nwords[span.start][prefix - 1] == "ل":
            words = ("ا" + words[0], *words[1:])  # لل = ل + ال, the article's alef dropped
        if span.entry is not None:
            link = Link(span.entry.id, span.entry.name, True)
        else:
            link = self.linker.link(words, span.type)
        return Found(Mention(start, end, text[start:end]), span.type, words, link)

    def _is_descriptor(self, nwords: Sequence[str], i: int) -> bool:
        """A title or a head noun that introduces a name (``trigger_class`` is non-empty)."""
        return bool(trigger_class(nwords[i]))

    def _is_head_noun(self, nwords: Sequence[str], i: int) -> bool:
        word = nwords[i]
        return any(f in NAME_DESCRIPTORS for f in (word, *(r for _, r in clitic_splits(word))))

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
            entity = entities.setdefault(link.id, Entity(link.id, f.type, "", [], link.kb))
            entity.mentions.append(f.mention)
            best = longest.get(link.id)
            if best is None or len(f.words) > len(best.words):
                longest[link.id] = f
        for entity_id, entity in entities.items():
            kb_entry = self.kb.entries.get(entity_id)
            entity.name = kb_entry.name if kb_entry else longest[entity_id].mention.text
            if kb_entry:
                entity.type = kb_entry.type
            entity.mentions.sort(key=lambda m: m.start)
        return list(entities.values())


def _bio_spans(labels: list[str]) -> list[Span]:
    """Spans from BIO labels; an I- that does not continue its type opens a new span."""
    spans: list[Span] = []
    if labels.count("O") == len(labels):
        return spans  # most sentences: skip the per-token loop
    start, current = 0, ""
    for i, label in enumerate([*labels, "O"]):
        kind = label[2:]
        if current and (label == "O" or label.startswith("B-") or kind != current):
            spans.append(Span(start, i, current, None, 0))
            current = ""
        if label != "O" and not current:
            start, current = i, kind
    return spans


def _merge(
    matches: Sequence[KbMatch], crf: Sequence[Span], descriptor: Callable[[int], bool]
) -> list[Span]:
    """Combine KB names and CRF spans into non-overlapping spans.

    A KB name wins over CRF spans it overlaps, except a CRF span that strictly contains it with
    more than descriptor words (titles, ``تنظيم``, ``مدينة``) in front: the CRF saw a longer name
    there (``جامعة دمشق``). Such a span keeps the KB entry when the types agree.
    """
    spans: list[Span] = []
    covered: list[KbMatch] = []
    for s in crf:
        inner = [m for m in matches if s.start <= m.start and m.end <= s.end]
        longer = [m for m in inner if (s.end - s.start) > (m.end - m.start)]
        if not longer:
            continue
        m = longer[0]
        if m.end == s.end and all(descriptor(i) for i in range(s.start, m.start)):
            continue  # only descriptors in front: the KB span is the name
        entry = m.entry if len(inner) == 1 and m.entry.type == s.type else None
        spans.append(s._replace(entry=entry, prefix=0))
        covered += inner
    spans += [
        Span(m.start, m.end, m.entry.type, m.entry, m.prefix) for m in matches if m not in covered
    ]
    taken = [(s.start, s.end) for s in spans]
    spans += [s for s in crf if not any(s.start < e and b < s.end for b, e in taken)]
    return sorted(spans, key=lambda s: s.start)
