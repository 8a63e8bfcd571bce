"""The generated bench corpus: deterministic, unique ids, seed-sized, with exact and near copies."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from akhbar.bench import corpus


def test_generated_corpus_is_deterministic() -> None:
    """The same seed gives the same articles, byte for byte."""
    assert corpus.generate(60) == corpus.generate(60)


def test_generated_articles_have_unique_ids_and_seed_sizes() -> None:
    """Ids are unique; bodies are 3–5 KB of UTF-8 (a little over for a closing line)."""
    articles = corpus.generate(300)
    assert len({a.id for a in articles}) == 300
    assert all(corpus.MIN_BYTES <= a.size <= corpus.MAX_BYTES + 200 for a in articles)


def test_generated_corpus_mixes_exact_and_near_copies() -> None:
    """About 10% exact copies (same text, new id) and some near copies with a new headline."""
    articles = corpus.generate(500)
    bodies = Counter(a.body for a in articles)
    exact = sum(n - 1 for n in bodies.values())
    assert 25 <= exact <= 75
    first_words = Counter(a.body[:200] for a in articles)
    assert sum(n - 1 for n in first_words.values()) > exact  # near copies share an opening


def test_loaded_corpus_cycles_with_new_ids(tmp_path: Path) -> None:
    """A user corpus smaller than --articles is reused, each copy under a new id."""
    (tmp_path / "a.txt").write_text("عنوان الخبر\nنص الخبر الأول هنا.\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("عنوان آخر\nنص الخبر الثاني هنا.\n", encoding="utf-8")
    articles = corpus.load(tmp_path, 5, max_bytes=1_000_000)
    assert len({a.id for a in articles}) == 5
    assert {a.title for a in articles} == {"عنوان الخبر", "عنوان آخر"}
