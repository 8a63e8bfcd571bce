"""Read the ANERcorp training file and carve the deterministic validation split out of it."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from pathlib import Path

ANERCORP_TRAIN = Path("/work/shared/data/anercorp/train.txt")
VALIDATION_FRACTION = 0.12
SPLIT_SEED = 20240611
# ANERcorp spells persons PERS; the pipeline's contract says PER. MISC is not a pipeline type.
TAG_MAP = {"PERS": "PER", "LOC": "LOC", "ORG": "ORG"}

Sentence = tuple[list[str], list[str]]


def read_conll(lines: Iterable[str]) -> Iterator[Sentence]:
    """(tokens, tags) per sentence; tags mapped to PER/LOC/ORG with MISC turned into O."""
    tokens: list[str] = []
    tags: list[str] = []
    for line in lines:
        parts = line.split()
        if not parts:
            if tokens:
                yield tokens, tags
            tokens, tags = [], []
            continue
        tokens.append(parts[0])
        tags.append(map_tag(parts[-1]) if len(parts) > 1 else "O")
    if tokens:
        yield tokens, tags


def map_tag(tag: str) -> str:
    if tag == "O" or "-" not in tag:
        return "O"
    prefix, label = tag.split("-", 1)
    mapped = TAG_MAP.get(label)
    return f"{prefix}-{mapped}" if mapped else "O"


def load_split(path: Path = ANERCORP_TRAIN) -> tuple[list[Sentence], list[Sentence]]:
    """(train, validation): a fixed-seed random 12% of sentences is held out."""
    with path.open(encoding="utf-8") as fh:
        sentences = list(read_conll(fh))
    held = set(
        random.Random(SPLIT_SEED).sample(
            range(len(sentences)), round(len(sentences) * VALIDATION_FRACTION)
        )
    )
    train = [s for i, s in enumerate(sentences) if i not in held]
    validation = [s for i, s in enumerate(sentences) if i in held]
    return train, validation
