"""The KB gazetteer: one pass over an article finds what a pass per sentence finds."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from akhbar.pipeline.ner.kb import KbEntry, KbMatch, KnowledgeBase
from akhbar.pipeline.ner.text import norms, split_text

SEEDS = Path("/work/shared/seeds")


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def per_sentence(kb: KnowledgeBase, nwords: list[str], bounds: list[int]) -> list[KbMatch]:
    found: list[KbMatch] = []
    for lo, hi in pairwise(bounds):
        found += [m._replace(start=m.start + lo, end=m.end + lo) for m in kb.match(nwords[lo:hi])]
    return found


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.stem)
def test_article_pass_equals_sentence_passes(kb: KnowledgeBase, path: Path) -> None:
    words, bounds, _ = split_text(path.read_text(encoding="utf-8"))
    nwords = norms(words)
    found = kb.match(nwords, bounds)
    assert found  # the seeds name KB entities
    assert found == per_sentence(kb, nwords, bounds)


def test_no_name_across_a_sentence_end(kb: KnowledgeBase) -> None:
    words, bounds, _ = split_text("زار الرئيس بشار\nالأسد دمشق")
    nwords = norms(words)
    assert [nwords[m.start] for m in kb.match(nwords)] == ["بشار", "دمشق"]  # بشار الأسد, joined
    ids = {m.entry.id for m in kb.match(nwords, bounds)}
    assert "per:bashar-al-assad" not in ids


def test_a_name_inside_one_tokens_expansion_is_no_match() -> None:
    """NFKC turns ﷺ into four words; a name among them is not a name in the text (no crash)."""
    kb = KnowledgeBase([KbEntry("per:x", "PER", "الله عليه", "", ())])
    assert kb.match(norms(["قال", "ﷺ", "أمس"])) == []
    assert kb.match(["قال", "الله", "عليه"]) == [KbMatch(1, 3, kb.entries["per:x"], 0)]
