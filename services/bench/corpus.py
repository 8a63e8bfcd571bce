"""The articles the benchmark feeds: a deterministic generated corpus, or the user's own files.

The generated corpus recombines the clauses of the seed articles into new seed-sized articles
(3 to 5 KB of UTF-8), then mixes in about 10% exact copies (same headline and body, new id) and
10% near copies (a few words edited, a new headline) of earlier articles, so the dedup stage sees
the kind of re-sends a real feed carries. The same seed gives the same corpus on every machine.

Five seeds are only ~3,000 words on one story, so recombined clauses alone would make every
article a near copy of many others (>50% flagged near at 3-shingle Jaccard 0.25). Each word of a
fresh article is therefore replaced, with probability ``WORD_SWAP_RATE``, by a seed word drawn at
random: that keeps the vocabulary, token lengths and entity density of the seeds, and brings the
dedup mix to the intended ~80% unique, ~10% exact, ~10% near. Unrelated articles still share more
shingles than a real multi-topic feed, so the dedup stage verifies more LSH candidates per
article than it would in production: its timing here is on the pessimistic side.
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
MIN_CLAUSE_WORDS = 3
WORD_SWAP_RATE = 0.25
_CLAUSE_END = re.compile(r"[.!?؟،,؛;:]\s*")


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
    clauses: list[str]
    vocabulary: list[str]
    openings: list[str]
    closings: list[str]

    @classmethod
    def load(cls, seed_dir: Path | None = None) -> SeedPool:
        directory = seed_dir or next(d for d in SEED_DIRS if any(d.glob("*.txt")))
        titles: list[str] = []
        clauses: list[str] = []
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
                parts = (part.strip() for part in _CLAUSE_END.split(line))
                clauses.extend(part for part in parts if len(part.split()) >= MIN_CLAUSE_WORDS)
        if not clauses:
            raise ValueError(f"no seed articles with body text in {directory}")
        vocabulary = [word for clause in clauses for word in clause.split()]
        return cls(titles, clauses, vocabulary, openings, closings)


def headline(rng: random.Random, pool: SeedPool) -> str:
    """A new headline: the opening words of a random clause or seed headline."""
    words = rng.choice(pool.clauses + pool.titles).split()
    return " ".join(words[: rng.randint(6, 14)])


def sentence(rng: random.Random, pool: SeedPool) -> str:
    """One to three random clauses, some words swapped for other seed words."""
    parts = []
    for clause in rng.sample(pool.clauses, rng.randint(1, 3)):
        words = clause.split()
        for at in range(len(words)):
            if rng.random() < WORD_SWAP_RATE:
                words[at] = rng.choice(pool.vocabulary)
        parts.append(" ".join(words))
    return "، ".join(parts) + "."


def fresh_article(rng: random.Random, pool: SeedPool, article_id: str) -> BenchArticle:
    """A recombined article of MIN_BYTES to MAX_BYTES UTF-8 bytes."""
    target = rng.randint(MIN_BYTES, MAX_BYTES)
    title = headline(rng, pool)
    paragraphs: list[str] = []
    if pool.openings and rng.random() < 0.5:
        paragraphs.append(rng.choice(pool.openings))
    size = len(title.encode())
    while size < target:
        paragraph = " ".join(sentence(rng, pool) for _ in range(rng.randint(1, 3)))
        while size + len(paragraph.encode()) > MAX_BYTES and " " in paragraph:
            paragraph = paragraph.rsplit(" ", 1)[0]  # close the article without overshooting
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
            words[at] = rng.choice(pool.vocabulary)
        elif edit < 0.7 and len(words) > 1:
            del words[at]
        else:
            words.insert(at, rng.choice(pool.vocabulary))
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
