"""Build the labelled de-duplication dev set, score the dedup stage on it, and benchmark it.

Stories come from the five seed articles and from runs of consecutive Arabic Wikipedia paragraphs
(read at run time, never committed; CC BY-SA 4.0). Each story is republished as exact copies,
wire copies and heavier rewrites; hard negatives are different stories on the same topic. The
label of an article is the id of the first-arriving copy of its story, or None if it is that copy.

Run ``python -m akhbar.pipeline.devset`` for scores, candidates per article, the state footprint
and the throughput benchmark on a dict and on a rocksdb-backed JSON state (what a Faust table
costs).
"""

from __future__ import annotations

import itertools
import json
import lzma
import random
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from akhbar.pipeline.stages.article import Article
from akhbar.pipeline.stages.dedup import DedupConfig, Deduplicator, jaccard
from akhbar.pipeline.stages.fingerprint import shingle_ids

WIKI_PATH = Path("/work/shared/data/arwiki/ar_wiki_2017.txt.xz")
SEEDS_DIR = Path("/work/shared/seeds")
DEV_SEED = 1729

# Outlet wrappers as Arabic news sites print them (modelled on the seeds' own headers/footers).
OUTLETS: tuple[tuple[str, str], ...] = (
    ("دمشق-سانا", "تابعوا آخر الأخبار السياسية والميدانية عبر تطبيق تيلغرام على الهواتف الذكية"),
    ("| وكالات", "اترك تعليقاً\nزر الذهاب إلى الأعلى"),
    ("موسكو - سبوتنيك", "أثر برس"),
    ("بيروت - الميادين نت", "المصدر: الميادين نت + وكالات"),
    ("عمان - بترا", "تابعونا عبر تطبيق واتس أب عبر إرسال كلمة اشتراك على الرقم"),
    ("القاهرة - أ ش أ", "جميع الحقوق محفوظة للناشر"),
    ("", ""),
)

Normalizer = Callable[[str], str]


@dataclass(slots=True)
class DevArticle:
    """One dev-set article and its label: the id of the first copy of its story, or None."""

    article: Article
    label: str | None
    kind: str  # original | exact | wire | rewrite | sibling | follow_up | seed
    story: str


@dataclass(slots=True)
class DevSet:
    """Articles in arrival order, plus the story pairs that must never merge."""

    articles: list[DevArticle]
    hard_negative_stories: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Score:
    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int
    hard_negative_merges: int

    def __str__(self) -> str:
        return (
            f"P={self.precision:.4f} R={self.recall:.4f} F1={self.f1:.4f} "
            f"(tp={self.true_positives} fp={self.false_positives} fn={self.false_negatives}) "
            f"hard-negative merges={self.hard_negative_merges}"
        )


# --- sources ----------------------------------------------------------------------------------


def load_wiki_paragraphs(path: Path = WIKI_PATH, limit: int = 12_000) -> list[str] | None:
    """The first ``limit`` paragraphs of the Wikipedia dump, or None if the file is absent."""
    if not path.exists():
        return None
    with lzma.open(path, "rt", encoding="utf-8") as lines:
        return [line.strip() for line in itertools.islice(lines, limit) if line.strip()]


def load_seeds(seeds_dir: Path = SEEDS_DIR) -> list[tuple[str, str, str]]:
    """``(id, headline, body)`` per seed file; the first line is the headline."""
    seeds = []
    for path in sorted(seeds_dir.glob("*.txt")):
        headline, _, body = path.read_text(encoding="utf-8").partition("\n")
        seeds.append((path.stem, headline.strip(), body.strip()))
    return seeds


def wiki_stories(paragraphs: Sequence[str], rng: random.Random) -> Iterable[list[str]]:
    """Runs of consecutive paragraphs (mostly one Wikipedia article) of 60 to 700 words."""
    i = 0
    while i < len(paragraphs):
        target = int(rng.choice((60, 100, 150, 250, 400, 700)) * rng.uniform(0.8, 1.2))
        story: list[str] = []
        while i < len(paragraphs) and (sum(len(p.split()) for p in story) < target):
            story.append(paragraphs[i])
            i += 1
        if len(story) >= 2:
            yield story


# --- copy editing -----------------------------------------------------------------------------


def edit_words(text: str, rate: float, vocabulary: Sequence[str], rng: random.Random) -> str:
    """Apply word edits (substitute, delete, insert, swap) to about ``rate`` of the words."""
    paragraphs = []
    for paragraph in text.split("\n"):
        words = paragraph.split(" ")
        out: list[str] = []
        j = 0
        while j < len(words):
            word = words[j]
            if rng.random() >= rate:
                out.append(word)
            else:
                operation = rng.randrange(4)
                if operation == 0:
                    out.append(rng.choice(vocabulary))
                elif operation == 2:
                    out.extend((word, rng.choice(vocabulary)))
                elif operation == 3 and j + 1 < len(words):
                    out.extend((words[j + 1], word))
                    j += 1
                # operation 1 (or a swap at the end): the word is deleted
            j += 1
        paragraphs.append(" ".join(out))
    return "\n".join(paragraphs)


def wrap(body_paragraphs: Sequence[str], outlet: tuple[str, str]) -> str:
    header, footer = outlet
    return "\n".join(part for part in (header, *body_paragraphs, footer) if part)


# --- the generator ----------------------------------------------------------------------------


class _Builder:
    def __init__(self, rng: random.Random, normalize: Normalizer, vocabulary: list[str]) -> None:
        self.rng = rng
        self.normalize = normalize
        self.vocabulary = vocabulary
        self.pending: list[tuple[str, str, str, str]] = []  # (story, kind, id, text)
        self.counter = itertools.count()

    def add(self, story: str, kind: str, text: str) -> None:
        self.pending.append((story, kind, f"{kind}-{next(self.counter):05d}", text))

    def outlet(self) -> tuple[str, str]:
        return self.rng.choice(OUTLETS)

    def republish(self, story: str, paragraphs: list[str]) -> None:
        """The story's original plus 0-4 copies of the three kinds."""
        original = wrap(paragraphs, self.outlet())
        self.add(story, "original", original)
        for _ in range(self.rng.choice((0, 1, 1, 2, 2, 3, 4))):
            kind = self.rng.choice(("exact", "wire", "wire", "wire", "rewrite", "rewrite"))
            # An exact copy is the same text under a new id (a producer re-send or a mirror site).
            self.add(story, kind, original if kind == "exact" else self.copy(kind, paragraphs))

    def copy(self, kind: str, paragraphs: list[str]) -> str:
        body = list(paragraphs)
        if len(body) >= 3 and self.rng.random() < 0.5:
            body = body[:-1]  # the outlet cut the last paragraph
        if kind == "wire":
            edited = edit_words(
                "\n".join(body), self.rng.uniform(0.01, 0.03), self.vocabulary, self.rng
            )
        else:
            self.rng.shuffle(body)
            edited = edit_words(
                "\n".join(body), self.rng.uniform(0.05, 0.15), self.vocabulary, self.rng
            )
        return wrap(edited.split("\n"), self.outlet())


def build_devset(
    normalize: Normalizer,
    *,
    seeds_dir: Path = SEEDS_DIR,
    wiki_path: Path = WIKI_PATH,
    max_stories: int = 400,
    seed: int = DEV_SEED,
) -> DevSet:
    """A deterministic labelled dev set; without the Wikipedia file, seeds only (and much smaller).

    ``normalize`` fills ``match_text`` (use the orthography stage's ``normalize_for_matching``).
    """
    rng = random.Random(seed)
    paragraphs = load_wiki_paragraphs(wiki_path) or []
    seeds = load_seeds(seeds_dir)
    vocabulary = sorted({w for p in paragraphs[:3000] for w in p.split()}) or sorted(
        {w for _, _, body in seeds for w in body.split()}
    )
    builder = _Builder(rng, normalize, vocabulary)
    hard_negatives: list[tuple[str, str]] = []

    for seed_id, _, body in seeds:
        builder.republish(f"seed:{seed_id}", [p for p in body.split("\n") if p.strip()])
    seed_stories = [f"seed:{seed_id}" for seed_id, _, _ in seeds]
    hard_negatives.extend(itertools.combinations(seed_stories, 2))  # includes 000 vs 004

    for n, story_paragraphs in enumerate(wiki_stories(paragraphs, rng)):
        if n >= max_stories:
            break
        story = f"wiki:{n}"
        if len(story_paragraphs) >= 4 and rng.random() < 0.3:
            # Sibling stories: two halves of one source, same topic and names, different sentences.
            half = len(story_paragraphs) // 2
            builder.republish(story + "a", story_paragraphs[:half])
            builder.republish(story + "b", story_paragraphs[half:])
            hard_negatives.append((story + "a", story + "b"))
        elif rng.random() < 0.15 and n > 0:
            # Follow-up report: new body that repeats one background paragraph of an earlier story.
            earlier = builder.pending[-1]
            budget = 0.3 * sum(len(p.split()) for p in story_paragraphs)
            background = [p for p in earlier[3].split("\n") if 5 < len(p.split()) <= budget]
            builder.republish(story, [*story_paragraphs, *background[-1:]])
            hard_negatives.append((earlier[0], story))
        else:
            builder.republish(story, story_paragraphs)

    return _arrange(builder.pending, normalize, rng, hard_negatives)


def _arrange(
    pending: list[tuple[str, str, str, str]],
    normalize: Normalizer,
    rng: random.Random,
    hard_negatives: list[tuple[str, str]],
) -> DevSet:
    """Shuffle into a stream (copies arrive within a window after their story starts); label."""
    # Each item gets an arrival time near its position, so copies stay close to their original
    # in time but may overtake it: the label is whoever of the story arrives first.
    timed = sorted(
        ((position + rng.uniform(0, 40), item) for position, item in enumerate(pending)),
        key=lambda pair: pair[0],
    )
    first_of_story: dict[str, str] = {}
    articles = []
    base_time = 1_700_000_000.0
    for arrival, (story, kind, article_id, text) in timed:
        label = first_of_story.setdefault(story, article_id)
        headline = f"{kind} {article_id}"
        article = Article(
            id=article_id,
            title=headline,
            body=text,
            ingested_at=base_time + arrival * 60.0,
            text=text,
            match_text=normalize(text),
            match_title=normalize(headline),
        )
        articles.append(DevArticle(article, None if label == article_id else label, kind, story))
    return DevSet(articles, hard_negatives)


# --- scoring and benchmarking -----------------------------------------------------------------


def evaluate(devset: DevSet, config: DedupConfig | None = None) -> Score:
    """Run a fresh Deduplicator over the stream; a duplicate counts only with the right target."""
    dedup = Deduplicator({}, config=config or DedupConfig())
    story_of = {d.article.id: d.story for d in devset.articles}
    forbidden = {frozenset(pair) for pair in devset.hard_negative_stories}
    tp = fp = fn = hard = 0
    for item in devset.articles:
        result = dedup(_fresh(item.article)).dedup
        assert result is not None
        predicted = result.duplicate_of
        if predicted is not None and predicted == item.label:
            tp += 1
            continue
        if predicted is not None:
            fp += 1
            if frozenset((item.story, story_of[predicted])) in forbidden:
                hard += 1
        if item.label is not None:
            fn += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(precision, recall, f1, tp, fp, fn, hard)


def _fresh(article: Article) -> Article:
    """A copy without a previous run's decision, so one dev set serves many runs."""
    return Article(
        id=article.id,
        title=article.title,
        body=article.body,
        ingested_at=article.ingested_at,
        text=article.text,
        match_text=article.match_text,
        match_title=article.match_title,
    )


def pair_similarities(devset: DevSet, shingle_size: int) -> dict[str, list[float]]:
    """Exact Jaccard of each copy to its story's first copy, and of hard-negative story pairs."""
    first: dict[str, DevArticle] = {}
    by_kind: dict[str, list[float]] = {}
    ids = {d.article.id: shingle_ids(d.article.match_text, shingle_size) for d in devset.articles}
    for item in devset.articles:
        root = first.setdefault(item.story, item)
        if root is not item:
            by_kind.setdefault(item.kind, []).append(
                jaccard(ids[item.article.id], ids[root.article.id])
            )
    for left, right in devset.hard_negative_stories:
        if left in first and right in first:
            similarity = jaccard(ids[first[left].article.id], ids[first[right].article.id])
            by_kind.setdefault("hard_negative", []).append(similarity)
    return by_kind


class RocksJsonState(MutableMapping[str, Any]):
    """A state that costs what a Faust table on rocksdb costs: each read is a rocksdb get and a
    JSON decode, each write a JSON encode and a put (Faust's table serializer is JSON).

    It has none of Faust's own per-access overhead, so it is a lower bound of the worker's cost.
    """

    def __init__(self, path: Path) -> None:
        import rocksdict

        self.path = path
        self.db = rocksdict.Rdict(str(path), rocksdict.Options(raw_mode=True))

    def __getitem__(self, key: str) -> Any:
        raw = self.db.get(json.dumps(key).encode())
        if raw is None:
            raise KeyError(key)
        return json.loads(raw)

    def __setitem__(self, key: str, value: Any) -> None:
        self.db[json.dumps(key).encode()] = json.dumps(value).encode()

    def __delitem__(self, key: str) -> None:
        del self.db[json.dumps(key).encode()]

    def __iter__(self) -> Iterator[str]:
        # Raw mode: keys are bytes (rocksdict types them as any value). SIM118: a Rdict, not a dict.
        return (json.loads(cast(bytes, key)) for key in self.db.keys())  # noqa: SIM118

    def __len__(self) -> int:
        return sum(1 for _ in self.db.keys())  # noqa: SIM118 (a Rdict)

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.path, ignore_errors=True)


def bench(
    devset: DevSet,
    config: DedupConfig | None = None,
    repeat: int = 3,
    *,
    rocksdb: bool = False,
) -> dict[str, float]:
    """Articles per second of the dedup stage alone (best of ``repeat`` runs), on a dict state or,
    with ``rocksdb``, on a :class:`RocksJsonState` in a temporary directory."""
    articles = [d.article for d in devset.articles]
    best = float("inf")
    for _ in range(repeat):
        state: MutableMapping[str, Any] = (
            RocksJsonState(Path(tempfile.mkdtemp(prefix="akhbar-dedup-bench-"))) if rocksdb else {}
        )
        dedup = Deduplicator(state, config=config or DedupConfig())
        batch = [_fresh(a) for a in articles]
        start = time.perf_counter()
        for article in batch:
            dedup(article)
        best = min(best, time.perf_counter() - start)
        if isinstance(state, RocksJsonState):
            state.close()
    return {"articles": len(articles), "seconds": best, "articles_per_second": len(articles) / best}


def candidate_counts(devset: DevSet, config: DedupConfig | None = None) -> dict[str, float]:
    """LSH candidates and exactly verified candidates per article over the dev-set stream."""
    dedup = Deduplicator({}, config=config or DedupConfig())
    for item in devset.articles:
        dedup(_fresh(item.article))
    count = len(devset.articles)
    return {
        "lsh_candidates_per_article": dedup.candidates_seen / count,
        "verified_per_article": dedup.candidates_verified / count,
        "cache_bytes_per_indexed_article": dedup.cache_bytes() / max(1, dedup.stats().signatures),
    }


def state_footprint(devset: DevSet, config: DedupConfig | None = None) -> dict[str, float]:
    """Serialised (JSON) bytes per remembered article: answer records vs the signature store."""
    state: dict[str, object] = {}
    dedup = Deduplicator(state, config=config or DedupConfig())
    for item in devset.articles:
        dedup(_fresh(item.article))
    sizes = {"answer": 0, "signature": 0, "meta": 0}
    for key, value in state.items():
        size = len(key.encode()) + len(json.dumps(value, ensure_ascii=False).encode())
        kind = {"a": "answer", "s": "signature"}.get(key.split(":", 1)[0], "meta")
        sizes[kind] += size
    remembered = dedup.stats().index_size
    return {
        "remembered": remembered,
        "answer_bytes_per_article": sizes["answer"] / remembered,
        "non_signature_bytes_per_article": (sizes["answer"] + sizes["meta"]) / remembered,
        "signature_bytes_per_indexed_article": sizes["signature"] / dedup.stats().signatures,
    }


def deep_sizeof(*roots: object) -> int:
    """Bytes of ``roots`` and every container, key and item they hold (each object once)."""
    seen: set[int] = set()
    total = 0
    stack = list(roots)
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, deque)):
            stack.extend(item)
    return total


def bookkeeping_bytes(dedup: Deduplicator) -> float:
    """Worker memory per remembered article beyond its signature (shingle ids, MinHash, LSH):
    the per-article entry, the arrival queue, the body-hash map and the index's own tuples."""
    cache = dedup._cache
    held = deep_sizeof(cache.entries, cache.queue, cache.ids_by_body, cache.indexed)
    # deep_sizeof counted each ndarray and MinHash object header; those are the signature store.
    held -= sum(
        sys.getsizeof(item.ids) + sys.getsizeof(item.signature) for item in cache.indexed.values()
    )
    return held / max(1, len(cache.entries))


def memory_footprint(devset: DevSet, config: DedupConfig | None = None) -> dict[str, float]:
    """In-memory bytes per remembered article: bookkeeping vs the decoded shingle ids."""
    dedup = Deduplicator({}, config=config or DedupConfig())
    for item in devset.articles:
        dedup(_fresh(item.article))
    indexed = dedup._cache.indexed.values()
    return {
        "bookkeeping_bytes_per_article": bookkeeping_bytes(dedup),
        "shingle_id_bytes_per_indexed_article": sum(i.ids.nbytes for i in indexed)
        / max(1, len(indexed)),
    }


def main() -> None:
    from akhbar.pipeline.stages.orthography import normalize_for_matching

    devset = build_devset(normalize_for_matching)
    kinds: dict[str, int] = {}
    for item in devset.articles:
        kinds[item.kind] = kinds.get(item.kind, 0) + 1
    print(f"dev set: {len(devset.articles)} articles {kinds}")
    print("score:", evaluate(devset))
    print("candidates:", candidate_counts(devset))
    print("footprint:", state_footprint(devset))
    print("memory:", memory_footprint(devset))
    print("bench (dict state):", bench(devset))
    print("bench (rocksdb + JSON state):", bench(devset, rocksdb=True))


if __name__ == "__main__":
    main()
