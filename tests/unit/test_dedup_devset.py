"""The dedup stage on the labelled dev set: F1 >= 0.97, no merge of same-topic stories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from akhbar.pipeline.devset import WIKI_PATH, build_devset, evaluate
from akhbar.pipeline.stages.fingerprint import shingle_ids, shingle_ids_numpy
from akhbar.pipeline.stages.orthography import normalize_for_matching


@pytest.mark.skipif(not WIKI_PATH.exists(), reason=f"dev-set source text absent: {WIKI_PATH}")
def test_devset_f1_and_no_hard_negative_merges(seed_paths: list[Path]) -> None:
    devset = build_devset(normalize_for_matching, seeds_dir=seed_paths[0].parent)
    assert len(devset.articles) > 1000
    assert any(
        pair == ("seed:000_de031abb77a1a437", "seed:004_64475bd69043668f")
        for pair in devset.hard_negative_stories
    )
    for item in devset.articles:  # the compiled kernel against its numpy reference, bit for bit
        for size in (1, 3, 5):
            ids = shingle_ids(item.article.match_text, size)
            reference = shingle_ids_numpy(item.article.match_text, size)
            assert ids.dtype == reference.dtype
            assert np.array_equal(ids, reference), (item.article.id, size)
    score = evaluate(devset)
    print(f"\ndedup dev set, {len(devset.articles)} articles: {score}")
    assert score.hard_negative_merges == 0
    assert score.f1 >= 0.97


def test_seed_only_devset_keeps_every_seed_story_apart(seed_paths: list[Path]) -> None:
    """Without the Wikipedia text the seeds and their copies still run, and never cross-merge."""
    devset = build_devset(
        normalize_for_matching, seeds_dir=seed_paths[0].parent, wiki_path=Path("/nonexistent")
    )
    score = evaluate(devset)
    print(f"\ndedup seed-only dev set, {len(devset.articles)} articles: {score}")
    assert score.hard_negative_merges == 0
    assert score.false_positives == 0
