"""Build unsupervised word features from Arabic Wikipedia: a frequency list and word clusters.

Run ``python -m akhbar.pipeline.ner.lexicon`` (a few minutes) before training; the outputs are
CC BY-SA 4.0 derivatives of the arwiki text and carry its attribution in model/README.md.
"""

from __future__ import annotations

import gzip
import lzma
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from akhbar.pipeline.ner.text import is_arabic, norm, tokenize

ARWIKI = Path("/work/shared/data/arwiki/ar_wiki_2017.txt.xz")
MODEL_DIR = Path(__file__).parent / "model"
FREQ_FILE = MODEL_DIR / "arwiki_freq.tsv.gz"
CLUSTER_FILE = MODEL_DIR / "arwiki_clusters.tsv.gz"
MIN_COUNT = 3
CLUSTER_VOCAB = 40_000
CONTEXT_VOCAB = 3_000
CLUSTER_SIZES = (64, 512)
SEED = 13


def read_paragraphs(path: Path = ARWIKI) -> list[list[str]]:
    """Every arwiki paragraph as a list of normalised tokens."""
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        return [[norm(t.text) for t in tokenize(line.strip())] for line in fh]


def cluster_words(paragraphs: list[list[str]], counts: Counter[str]) -> dict[str, tuple[int, ...]]:
    """K-means over SVD-reduced left/right neighbour counts: words used alike share a cluster."""
    from scipy.sparse import coo_matrix
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.decomposition import TruncatedSVD

    ranked = [w for w, _ in counts.most_common() if is_arabic(w)]
    vocab = {w: i for i, w in enumerate(ranked[:CLUSTER_VOCAB])}
    context = {w: i for i, w in enumerate(ranked[:CONTEXT_VOCAB])}
    pairs: Counter[tuple[int, int]] = Counter()
    for para in paragraphs:
        ids = [vocab.get(w, -1) for w in para]
        ctx = [context.get(w, -1) for w in para]
        for i, wid in enumerate(ids):
            if wid < 0:
                continue
            if i > 0 and ctx[i - 1] >= 0:
                pairs[(wid, ctx[i - 1])] += 1
            if i + 1 < len(ids) and ctx[i + 1] >= 0:
                pairs[(wid, CONTEXT_VOCAB + ctx[i + 1])] += 1
    rows, cols = zip(*pairs.keys(), strict=True)
    data = np.log1p(np.fromiter(pairs.values(), dtype=np.float64))
    matrix = coo_matrix((data, (rows, cols)), shape=(len(vocab), 2 * CONTEXT_VOCAB)).tocsr()
    vectors = TruncatedSVD(n_components=100, random_state=SEED).fit_transform(matrix)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
    labels = [
        MiniBatchKMeans(n_clusters=k, random_state=SEED, n_init=3, batch_size=4096).fit_predict(
            vectors
        )
        for k in CLUSTER_SIZES
    ]
    words = list(vocab)
    return {w: tuple(int(lab[i]) for lab in labels) for i, w in enumerate(words)}


def main() -> int:
    paragraphs = read_paragraphs()
    counts: Counter[str] = Counter(w for para in paragraphs for w in para)
    MODEL_DIR.mkdir(exist_ok=True)
    # mtime=0 keeps the gzip bytes identical between runs, so rebuilds diff cleanly.
    with gzip.GzipFile(FREQ_FILE, "wb", mtime=0) as raw:
        lines = (f"{w}\t{c}\n" for w, c in sorted(counts.items(), key=lambda x: (-x[1], x[0])))
        raw.write("".join(ln for ln in lines if int(ln.rsplit("\t", 1)[1]) >= MIN_COUNT).encode())
    clusters = cluster_words(paragraphs, counts)
    with gzip.GzipFile(CLUSTER_FILE, "wb", mtime=0) as raw:
        raw.write("".join(f"{w}\t{' '.join(map(str, c))}\n" for w, c in clusters.items()).encode())
    print(f"{len(counts)} word types, {len(clusters)} clustered", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
