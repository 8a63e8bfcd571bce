"""Load the arwiki frequency list and word clusters that the feature extractor consumes."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

MODEL_DIR = Path(__file__).parent / "model"


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Word counts and cluster ids (coarse, fine) keyed by normalised form."""

    counts: dict[str, int]
    clusters: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> Lexicon:
        counts: dict[str, int] = {}
        with gzip.open(directory / "arwiki_freq.tsv.gz", "rt", encoding="utf-8") as fh:
            for line in fh:
                word, count = line.rstrip("\n").split("\t")
                counts[word] = int(count)
        clusters: dict[str, tuple[str, ...]] = {}
        with gzip.open(directory / "arwiki_clusters.tsv.gz", "rt", encoding="utf-8") as fh:
            for line in fh:
                word, ids = line.rstrip("\n").split("\t")
                clusters[word] = tuple(ids.split())
        return cls(counts, clusters)

    @classmethod
    def empty(cls) -> Lexicon:
        """No unsupervised features: for tests that only exercise plumbing."""
        return cls({}, {})
