"""The articles the benchmark feeds: a deterministic generated corpus, or the user's own files.

The generated corpus recombines the sentences of the seed articles into new seed-sized articles
(3 to 5 KB of UTF-8), then mixes in about 10% exact copies (same headline and body, new id) and
10% near copies (a few words edited, a new headline) of earlier articles, so the dedup stage sees
the kind of re-sends a real feed carries. The same seed gives the same corpus on every machine.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED_DIRS = (REPO / "tests" / "data" / "seeds", REPO / "deploy" / "samples")
CORPUS_SEED = 20240611
SOURCE = "bench"
EXACT_SHARE = 0.10
NEAR_SHARE = 0.10
MIN_BYTES, MAX_BYTES = 3000, 5000
# Lines this short at the start or end of a seed are datelines, agencies and page furniture.
SHORT_LINE_CHARS = 40
_SENTENCE_END = re.compile(r"(?<=[.!?؟])\s+")


@dataclass(frozen=True, slots=True)
class BenchArticle:
    """One article to publish: its id (also the Kafka key), headline, body and source."""

    id: str
    title: str
    body: str
    source: str = SOURCE

    @property
    def size(self) -> int:
        return len(self.title.encode()) + 1 + len(self.body.encode())


@dataclass(frozen=True)
class SeedPool:
    """The material the generator recombines, taken from the seed articles."""

    titles: list[str]
    sentences: list[str]
    openings: list[str]
    closings: list[str]

    @classmethod
    def load(cls, seed_dir: Path | None = None) -> SeedPool:
        directory = seed_dir or next(d for d in SEED_DIRS if any(d.glob("*.txt")))
        titles: list[str] = []
        sentences: list[str] = []
        openings: list[str] = []
        closings: list[str] = []
        for path in sorted(directory.glob("*.txt")):
            lines = [line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()]
            titles.append(lines[0])
            body = lines[1:]
            if body and len(body[0]) < SHORT_LINE_CHARS:
                openings.append(body.pop(0))
            if body and len(body[-1]) < SHORT_LINE_CHARS:
                closings.append(body.pop())
            for line in body:
                sentences.extend(s for s in _SENTENCE_END.split(line) if len(s) >= SHORT_LINE_CHARS)
        if not sentences:
            raise ValueError(f"no seed articles with sentences in {directory}")
        return cls(titles, sentences, openings, closings)


def headline(rng: random.Random, pool: SeedPool) -> str:
    """A new headline: the opening words of a random sentence, or of a seed headline."""
    words = rng.choice(pool.sentences + pool.titles).split()
    return " ".join(words[: rng.randint(6, 14)]).rstrip("،,.:")


def fresh_article(rng: random.Random, pool: SeedPool, article_id: str) -> BenchArticle:
    """A recombined article of MIN_BYTES to MAX_BYTES UTF-8 bytes."""
    target = rng.randint(MIN_BYTES, MAX_BYTES)
    title = headline(rng, pool)
    paragraphs: list[str] = []
    if pool.openings and rng.random() < 0.5:
        paragraphs.append(rng.choice(pool.openings))
    size = len(title.encode())
    while size < target:
        paragraph = " ".join(rng.sample(pool.sentences, rng.randint(1, 3)))
        if size + len(paragraph.encode()) > MAX_BYTES:
            paragraph = min(pool.sentences, key=len)  # close the article without overshooting
        paragraphs.append(paragraph)
        size += len(paragraph.encode()) + 1
    if pool.closings and rng.random() < 0.3:
        paragraphs.append(rng.choice(pool.closings))
    return BenchArticle(article_id, title, "\n".join(paragraphs))


def near_copy(
    rng: random.Random, pool: SeedPool, original: BenchArticle, article_id: str
) -> BenchArticle:
    """The same story re-sent with a few words dropped, swapped or replaced, and a new headline."""
    words = original.body.split(" ")
    for _ in range(rng.randint(2, 6)):
        at = rng.randrange(len(words))
        edit = rng.random()
        if edit < 0.4:
            words[at] = rng.choice(rng.choice(pool.sentences).split())
        elif edit < 0.7 and len(words) > 1:
            del words[at]
        else:
            words.insert(at, rng.choice(rng.choice(pool.sentences).split()))
    return BenchArticle(article_id, headline(rng, pool), " ".join(words))


def generate(
    count: int, *, seed: int = CORPUS_SEED, prefix: str = "bench", seed_dir: Path | None = None
) -> list[BenchArticle]:
    """``count`` articles with unique ids; about 10% exact and 10% near copies of earlier ones."""
    rng = random.Random(seed)
    pool = SeedPool.load(seed_dir)
    articles: list[BenchArticle] = []
    for number in range(count):
        article_id = f"{prefix}-{number:07d}"
        roll = rng.random()
        if articles and roll < EXACT_SHARE:
            original = rng.choice(articles)
            articles.append(BenchArticle(article_id, original.title, original.body))
        elif articles and roll < EXACT_SHARE + NEAR_SHARE:
            articles.append(near_copy(rng, pool, rng.choice(articles), article_id))
        else:
            articles.append(fresh_article(rng, pool, article_id))
    return articles


def load(path: Path, count: int, *, max_bytes: int, prefix: str = "bench") -> list[BenchArticle]:
    """``count`` articles from a folder of .txt files or a .jsonl file, cycled when too few.

    Cycled articles get new ids (``<prefix>-<n>``), so a second pass is a run of exact
    duplicates, not replays.
    """
    from akhbar.pipeline.offline import file_outcomes
    from akhbar.producer.documents import RawDocument

    documents = [o for o in file_outcomes([path], None, max_bytes) if isinstance(o, RawDocument)]
    if not documents:
        raise ValueError(f"no usable articles in {path}")
    return [
        BenchArticle(
            f"{prefix}-{number:07d}",
            documents[number % len(documents)].event["title"],
            documents[number % len(documents)].event["body"],
            documents[number % len(documents)].event["source"],
        )
        for number in range(count)
    ]
