"""The trained CRF and a fast exact decoder over it.

Training and the reference tagger are python-crfsuite. For speed the stage decodes with the same
weights itself: each word form's contribution to the label scores of its own and neighbouring
tokens is summed once and cached, then Viterbi runs only where the scores leave any doubt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pycrfsuite

from akhbar.pipeline.ner.features import PAD_AFTER, PAD_BEFORE, FeatureExtractor
from akhbar.pipeline.ner.kb import KnowledgeBase
from akhbar.pipeline.ner.lexicon_data import Lexicon

MODEL_DIR = Path(__file__).parent / "model"
MODEL_FILE = "ner.crfsuite"
GAZ_TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "<s>", "</s>")
_GAZ_INDEX = {t: i for i, t in enumerate(GAZ_TAGS)}


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
        self._gaz = np.stack([
            np.stack([self._weights.get(f"{name}={tag}", zero) for tag in GAZ_TAGS])
            for name in ("g", "g-1", "g+1")
        ])
        # Score blocks of every word form seen so far, one (5, labels) block per form.
        self._rows: dict[str, int] = {}
        self._table = np.zeros((1024, 5, n))
        self._bias = self._weights.get("b", zero)

    @classmethod
    def load(cls, kb: KnowledgeBase, directory: Path = MODEL_DIR) -> NerModel:
        return cls(directory / MODEL_FILE, FeatureExtractor(kb, Lexicon.load(directory)))

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
        row_id = len(self._rows) + 1  # row 0 stays empty so a found id is never falsy
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
        seq: list[str] = [PAD_BEFORE, PAD_BEFORE]
        real: list[int] = []
        for words in sentences:
            real.extend(range(len(seq), len(seq) + len(words)))
            seq.extend(words)
            seq.extend((PAD_AFTER, PAD_AFTER, PAD_BEFORE, PAD_BEFORE))
        if not real:
            return [[] for _ in sentences]
        rows = self._rows
        ids = [rows.get(w, -1) for w in seq]
        for i, row_id in enumerate(ids):
            if row_id < 0:
                ids[i] = rows.get(seq[i]) or self._word_row(seq[i])
        stack = self._table[ids]
        at = np.asarray(real)
        scores = (stack[at, 0] + stack[at - 1, 1] + stack[at + 1, 2]
                  + stack[at - 2, 3] + stack[at + 2, 4])
        gaz_ids = np.fromiter((_GAZ_INDEX[t] for g in gazetteer for t in g), np.intp, len(real))
        first = np.zeros(len(real), dtype=bool)
        offsets = np.cumsum([0, *(len(w) for w in sentences)])[:-1]
        first[offsets[offsets < len(real)]] = True
        last = np.roll(first, -1)
        last[-1] = True
        before = np.where(first, _GAZ_INDEX["<s>"], np.roll(gaz_ids, 1))
        after = np.where(last, _GAZ_INDEX["</s>"], np.roll(gaz_ids, -1))
        scores += self._gaz[0][gaz_ids] + self._gaz[1][before] + self._gaz[2][after]
        lengths = np.fromiter((len(w) for w in sentences if w), np.intp)
        names = [self.labels[y] for y in self._decode(scores, lengths).tolist()]
        return [names[start : start + len(w)] for start, w in zip(offsets, sentences, strict=True)]

    def _decode(self, scores: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Viterbi for all sentences at once: one numpy step per position, sentences as rows.

        Rows are ordered longest first, so the sentences still running at step t are a prefix
        of the rows and each step touches only those; each sentence is decoded exactly as on
        its own, batching only saves interpreter overhead.
        """
        n_sent = len(lengths)
        n_labels = scores.shape[1]
        order = np.argsort(-lengths, kind="stable")
        rank = np.empty(n_sent, dtype=np.intp)
        rank[order] = np.arange(n_sent)
        sorted_lengths = lengths[order]
        width = int(sorted_lengths[0])
        rows = np.repeat(rank, lengths)
        cols = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        grid = np.zeros((width, n_sent, n_labels))
        grid[cols, rows] = scores
        # live[t]: how many sentences are longer than t
        live = np.searchsorted(-sorted_lengths, -np.arange(width), side="left")
        back = np.zeros((width, n_sent, n_labels), dtype=np.intp)
        best = grid[0].copy()
        trans = self.transitions[None]
        cand = np.empty((n_sent, n_labels, n_labels))
        for t in range(1, width):
            k = live[t]
            np.add(best[:k, :, None], trans, out=cand[:k])
            back[t, :k] = cand[:k].argmax(axis=1)
            np.add(cand[:k].max(axis=1), grid[t, :k], out=best[:k])
        label = best.argmax(axis=1)
        path = np.zeros((width, n_sent), dtype=np.intp)
        for t in range(width - 1, 0, -1):
            k = live[t]
            path[t] = label
            label[:k] = back[t, np.arange(k), label[:k]]
        path[0] = label
        return path[cols, rows]
