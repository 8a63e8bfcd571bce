"""The trained CRF and a fast exact decoder over it.

Training and the reference tagger are python-crfsuite. For speed the stage decodes with the same
weights itself: each word form's contribution to the label scores of its own and neighbouring
tokens is summed once and cached as a (5, labels) block, and the compiled kernel in
``viterbi.py`` adds up a token's blocks and runs Viterbi over a whole article in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import accumulate, chain, pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pycrfsuite

from akhbar.pipeline.ner.features import PAD_AFTER, PAD_BEFORE, FeatureExtractor
from akhbar.pipeline.ner.kb import KnowledgeBase
from akhbar.pipeline.ner.lexicon_data import Lexicon
from akhbar.pipeline.ner.viterbi import GAZ_AFTER, GAZ_BEFORE, decode

MODEL_DIR = Path(__file__).parent / "model"
MODEL_FILE = "ner.crfsuite"
GAZ_TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "<s>", "</s>")
GAZ_INDEX = {t: i for i, t in enumerate(GAZ_TAGS)}
assert (GAZ_INDEX["<s>"], GAZ_INDEX["</s>"]) == (GAZ_BEFORE, GAZ_AFTER)


# A word form costs about 2.7 KB across the score table, its row and its cached features
# (measured on 50,000 distinct forms). Past this many forms both caches start afresh, which
# keeps a long-running worker's memory bounded (~135 MB) at the price of recomputing the
# forms it meets next (~0.1 ms each).
MAX_CACHED_FORMS = 50_000


class _Rows(dict[str, int]):
    """Word form -> its row in the score table; a form not seen yet gets its block on lookup.

    A dict subclass so that ``map(rows.__getitem__, words)`` stays in C for known forms.
    """

    def __init__(self, add: Callable[[str], int]) -> None:
        super().__init__()
        self._add = add

    def __missing__(self, word: str) -> int:
        return self._add(word)


class NerModel:
    """Tags word sequences with BIO labels over PER, LOC and ORG."""

    def __init__(self, crf_path: Path, extractor: FeatureExtractor) -> None:
        self.crf_path = crf_path
        self.extractor = extractor
        tagger = pycrfsuite.Tagger()
        tagger.open(str(crf_path))
        info = tagger.info()
        self.labels: list[str] = list(tagger.labels())
        index = {label: i for i, label in enumerate(self.labels)}
        n = len(self.labels)
        self.o_index = index["O"]
        self.transitions = np.zeros((n, n))
        for (src, dst), weight in info.transitions.items():
            self.transitions[index[src], index[dst]] = weight
        self._weights: dict[str, np.ndarray] = {}
        for (attr, label), weight in info.state_features.items():
            self._weights.setdefault(attr, np.zeros(n))[index[label]] += weight
        zero = np.zeros(n)
        # Rows: gazetteer tag; columns of the stack: own, seen from the next, from the previous.
        self._gaz = np.stack(
            [
                np.stack([self._weights.get(f"{name}={tag}", zero) for tag in GAZ_TAGS])
                for name in ("g", "g-1", "g+1")
            ]
        )
        self._bias = self._weights.get("b", zero)
        # Score blocks of the word forms seen so far, one (5, labels) block per form.
        self._fresh_table()
        # Compile (or load from numba's cache) the decoder now rather than on the first article.
        self.tag_ids([PAD_BEFORE], [0, 1], np.zeros(1, dtype=np.int8))

    @classmethod
    def load(cls, kb: KnowledgeBase, directory: Path = MODEL_DIR) -> NerModel:
        return cls(directory / MODEL_FILE, FeatureExtractor(kb, Lexicon.load(directory)))

    def _fresh_table(self) -> None:
        """Empty score table and row index, with the two padding forms in place."""
        self._rows = _Rows(self._word_row)
        self._table = np.zeros((1024, 5, len(self.labels)))
        self._pads = (self._rows[PAD_BEFORE], self._rows[PAD_AFTER])

    def _word_row(self, word: str) -> int:
        """Row of ``word`` in the score table, computing its (5, labels) block on first sight."""
        feats = self.extractor.word(word)
        block = np.zeros((5, len(self.labels)))
        get = self._weights.get
        for row, group in zip(block, feats, strict=True):
            for attr in group:
                weights = get(attr)
                if weights is not None:
                    row += weights
        if word not in (PAD_BEFORE, PAD_AFTER):
            block[0] += self._bias
        row_id = len(self._rows) + 1  # row 0 stays empty
        if row_id >= len(self._table):
            # Grow geometrically: appending one block at a time would copy the table each time.
            self._table = np.concatenate([self._table, np.zeros_like(self._table)])
        self._table[row_id] = block
        self._rows[word] = row_id
        return row_id

    def tag(self, words: Sequence[str], gaz: Sequence[str] | None = None) -> list[str]:
        """Best label sequence for one sentence; ``gaz`` are its KB tags if already known."""
        if gaz is None:
            gaz = self.extractor.gazetteer_tags(words)
        return self.tag_many([words], [gaz])[0]

    def tag_many(
        self, sentences: Sequence[Sequence[str]], gazetteer: Sequence[Sequence[str]]
    ) -> list[list[str]]:
        """Best label sequences for many sentences at once (an article), with their KB tags."""
        words = list(chain.from_iterable(sentences))
        gaz = np.fromiter(
            map(GAZ_INDEX.__getitem__, chain.from_iterable(gazetteer)), np.int8, len(words)
        )
        bounds = list(accumulate(map(len, sentences), initial=0))
        names = [self.labels[y] for y in self.tag_ids(words, bounds, gaz).tolist()]
        return [names[lo:hi] for lo, hi in pairwise(bounds)]

    def tag_ids(
        self, words: Sequence[str], bounds: Sequence[int], gaz: npt.NDArray[np.int8]
    ) -> npt.NDArray[np.intp]:
        """Label ids (indices into ``labels``) for the words of many sentences.

        Sentence ``s`` is ``words[bounds[s]:bounds[s + 1]]``; ``gaz`` holds each word's KB tag
        as an index into ``GAZ_TAGS``.
        """
        if len(self._rows) >= MAX_CACHED_FORMS:
            self.extractor.forget()
            self._fresh_table()
        rows = np.fromiter(map(self._rows.__getitem__, words), np.intp, len(words))
        out = np.empty(len(words), dtype=np.intp)
        decode(
            self._table,  # after the rows: a new form may have grown it
            rows,
            self._pads,
            gaz,
            self._gaz,
            self.transitions,
            np.asarray(bounds, dtype=np.intp),
            out,
        )
        return out
