"""De-duplicate articles: mark exact and near copies of a story as duplicates of its first copy.

Design (paste into the README)
------------------------------
The stage keeps one logical index of the articles it remembers. Everything it needs to decide lives
in the ``state`` mapping it is handed (a dict in tests, a Faust Table with the rocksdb store and a
changelog in production), under these keys, all JSON-able:

``meta``
    ``{"version", "shingle_size", "seq", "evictions", "now", "floor"}``: the arrival counter, the
    eviction counter, the event-time watermark (the largest ``ingested_at`` seen) and the floor
    (every arrival number under it has left the window).
``b:<arrival number>``
    A record of answers, those decided in one session (a staged bundle) or a single one: rows of
    ``[article_id, seq, ingested_at, body_hash, status, duplicate_of, similarity, method, indexed,
    shingles]``, keyed by the first row's arrival number. A replayed id gets its answer back, so
    redeliveries never change a decision and an article is never a duplicate of itself.
    ``shingles`` is the signature store of an indexed article (null otherwise): the sorted set of
    32-bit word-shingle ids of the normalised body, as base64, the durable copy the cache's ids
    and LSH index are rebuilt from. Rows under the floor were evicted; a record goes when its
    last row does.
``a:<article id>``, ``s:<article id>``
    How state versions 1 and 2 stored an answer (and version 1 its signature, apart): one or two
    changelog writes per article. Such a state is still read, and these keys are deleted as their
    articles are evicted; new answers are written to records.

The MinHash/LSH index (rensa), the decoded shingle ids and MinHash of every indexed article, each
article's arrival number, event time, body hash and root id, the exact-body map and the eviction
queue are an in-memory cache rebuilt from those keys whenever the stage starts or notices that
``meta.seq`` moved without it, so a restarted worker handed the same state decides exactly as
before. Deciding reads just two things from the state: ``meta`` (to notice a moved ``seq``; once
per article, or once per session: the dedup agent opens one per staged bundle) and a replayed
id's record. In production a state read is a Faust table lookup, a
rocksdb get and JSON and base64 decoding; when each candidate's ids were read back that way, they
cost more than the exact Jaccard they fed (offline, over a rocksdb + JSON mapping, ~2x; py-spy on a
worker put ~45 % of the stage in those reads). MinHash parameters (``num_perm``, ``bands``,
``seed``) and the candidate pre-filter only shape that cache and may change between restarts; the
shingle size shapes the stored ids, so a state built with another shingle size is refused.

Candidates: LSH (64 bands of 2 rows) keeps near-threshold rewrites but, on a feed dominated by one
story, returns a share of the whole index. Each candidate is first scored by the share of MinHash
values it has in common with the query (<1 us in rensa, ~100x cheaper than an exact Jaccard); only
those scoring at least ``min_agreement`` are verified by exact Jaccard, the ``max_verified`` best
first.

Memory, 100,000 articles of the bench corpus (~400 shingles each, 90 % indexed): the process
grows by ~13.7 KB per remembered article. Most of it is the signature store: rensa's 64 band
tables ~6.5 KB, decoded shingle ids ~1.7 KB, MinHash ~0.6 KB (RSS of each measured alone). The
bookkeeping beyond that (entry, arrival queue, body-hash map, the index's tuples) is ~0.7 KB,
``devset.bookkeeping_bytes`` (a unit test holds it under 1 KB); the rest is allocator slack.
Every eviction frees its article's share, so memory is bounded by the window (~2.7 GB at the
200,000-article default).

Writes (each is one changelog message): one record per session, or per article outside one,
holding the answers of its new articles (a replay writes nothing); a tombstone when a record's
last row is evicted (a version-1 or -2 article: one or two per eviction); and ``meta``, once per
session or per article. In a worker these table writes were the dedup agent's largest cost
(rocksdb, JSON and a changelog message each: ~27 % of its event loop in a py-spy profile with
version 1's two writes per article, ~19 % with version 2's one). The
retention window is ``max_entries`` articles and ``max_age_seconds`` of event time; evicted
articles leave the LSH buckets too.

The index is a single logical index: the Faust driver runs this stage on a single-partition topic,
so copies that landed on different raw partitions still meet. That makes the stage's single-core
throughput the ceiling of the whole dedup step. Measured with ``akhbar.pipeline.devset.bench`` on
the 1,342-article dev set, dict state, on a slow 2-core VM (an empty Python loop costs ~90-170 ns
per iteration there): ~1,700 articles/s, about 55 % of it word shingling. Fewer numpy calls per
article since then: ~1.5x that, same ids and decisions (old and new interleaved per article in
one run); shingling is still ~40 % and per-call overhead, not arithmetic, dominates it. Shingling
is now one numba kernel (bit-identical ids, the numpy version kept as the tested reference): on
the dev set ~1.5x the stage's articles/s, on ``akhbar bench --offline`` ~1.6-1.75x (old and new
back to back, ~4,300 -> ~6,800 articles/s with ``sum(range(1000))`` at ~26 us). The body hash
and the shingle ids are now the ``fingerprint`` stage (``fingerprint.py``), run with the
stateless stages before the staged topic; this stage uses an article's fingerprint when it has
one and computes the same itself when not (``akhbar enrich`` runs both; tests call this one
alone). Restart
rebuilds the cache at ~200 us per remembered article (~40 s for the 200,000-article default).
Decisions are only as deterministic as the input order: the stage must be the only writer of its
state.
"""

from __future__ import annotations

import binascii
import hashlib
import heapq
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt
import rensa

from akhbar.pipeline.stages.article import Article, DedupResult
from akhbar.pipeline.stages.errors import StageError

STATE_VERSION: Final = 3
READABLE_VERSIONS: Final = frozenset({1, 2, 3})
RECORD_PREFIX: Final = "b:"
# A record is written once its rows reach about this many bytes, even inside a session, so that
# a changelog message stays well under Kafka's 1 MB default (one row: ~2.5 KB for a seed-sized
# article, most of it the signature).
RECORD_BYTES: Final = 256 * 1024
ROW_OVERHEAD_BYTES: Final = 200
NO_RECORD: Final = -1  # an answer stored under its own a: key (state versions 1 and 2)
META_KEY: Final = "meta"
ANSWER_PREFIX: Final = "a:"
SIGNATURE_PREFIX: Final = "s:"
SHINGLE_SIZE: Final = 3  # word 3-grams (DedupConfig.shingle_size says why)

ShingleIds = npt.NDArray[np.uint32]


class DedupError(StageError):
    """The dedup stage cannot judge an article (for example, the normaliser left no match text)."""

    stage = "dedup"


class IncompatibleStateError(Exception):
    """The state was written with another version or shingle size; its ids are not comparable."""


@dataclass(frozen=True, slots=True)
class DedupConfig:
    """All dedup knobs. Defaults chosen on the labelled dev set (see ``akhbar.pipeline.devset``)."""

    # Word 3-grams. On the dev set (1342 articles, 861 copies) the hardest negative pair shares
    # 0.135 of its 3-shingles while 5 % of heavy rewrites keep only 0.21; 5-grams push rewrites
    # down to 0.10 with negatives at 0.106, so no threshold separates them (best F1 0.957).
    shingle_size: int = SHINGLE_SIZE
    # 64 bands of 2 rows: a pair at Jaccard 0.25 becomes a candidate with p ~ 0.98, at 0.3 with
    # p ~ 0.997. 32 bands of 4 rows lost 10 points of recall; 256/128 changed nothing. The price is
    # a shallow curve: a pair at 0.05 is a candidate with p ~ 0.15, at 0.1 with p ~ 0.47, so on a
    # feed dominated by one story the candidates grow with the index (~1,100 an article at 50,000
    # in a synthetic one-story feed). 64 bands of 3 rows (num_perm 192) cut that 8x but called
    # 12 % fewer pairs at >= 0.25 duplicates there, and lost 2 dev-set copies; the pre-filter below
    # keeps the recall and makes most candidates cost ~1 us instead of an exact Jaccard.
    num_perm: int = 128
    bands: int = 64
    # Exact Jaccard of shingle sets at or above which a candidate is a copy: F1 0.980 at 0.25,
    # 0.981 at 0.2, and 0.15 merged hard negatives. 0.25 keeps ~1.9x margin over the hardest one.
    threshold: float = 0.25
    # Pre-filter: a candidate is verified exactly only if its MinHash shares at least this share of
    # values with the query's (an unbiased Jaccard estimate, sd ~0.038 at 0.25 with 128 values, so
    # 0.13 is ~3 sd under the threshold: a pair at 0.25 scores under it with p ~ 4e-4, at 0.28 with
    # p ~ 2e-5), and at most the ``max_verified`` best are, a bound on the cost. On the dev set the
    # decisions are the same as verifying every candidate; on a 10,000-article one-story feed too
    # (verifying the best 8 instead lost 8 of 514 near-threshold copies and retargeted 15).
    min_agreement: float = 0.13
    max_verified: int = 64
    max_entries: int = 200_000
    max_age_seconds: float = 30 * 24 * 3600.0
    seed: int = 20240917

    def __post_init__(self) -> None:
        if self.shingle_size < 1:
            raise ValueError("shingle_size must be >= 1")
        if self.bands < 1 or self.num_perm % self.bands:
            raise ValueError("num_perm must be a positive multiple of bands")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if not 0.0 <= self.min_agreement <= 1.0 or self.max_verified < 1:
            raise ValueError("min_agreement must be in [0, 1] and max_verified >= 1")
        if self.max_entries < 1 or self.max_age_seconds <= 0:
            raise ValueError("max_entries and max_age_seconds must be positive")


@dataclass(frozen=True, slots=True)
class DedupStats:
    """Counters a driver can export, all derived from the state."""

    index_size: int  # remembered articles (answers kept for replay)
    signatures: int  # remembered articles that are in the LSH index
    evictions: int  # articles dropped from the window since the state was created
    arrivals: int  # articles ever remembered (replays excluded)


# --- shingle ids -------------------------------------------------------------------------------

EMPTY_IDS: Final[ShingleIds] = np.empty(0, dtype=np.uint32)
_ARRAY_OVERHEAD: Final = sys.getsizeof(np.empty(0, dtype=np.uint32))  # per ndarray object


def shingles_of(text: str, size: int) -> ShingleIds:
    """:func:`fingerprint.shingle_ids`, imported on first use: a worker whose head runs in stage
    processes gets every article's ids from them, and never loads numba (~125 MB) for this."""
    from akhbar.pipeline.stages.fingerprint import shingle_ids

    return shingle_ids(text, size)


def encode_ids(ids: ShingleIds) -> str:
    """Shingle ids as base64 of little-endian uint32 (JSON-able, 4/3 bytes per byte)."""
    return binascii.b2a_base64(ids.astype("<u4", copy=False).tobytes(), newline=False).decode()


def decode_ids(encoded: str) -> ShingleIds:
    """The inverse of :func:`encode_ids` (a read-only view of the decoded bytes)."""
    return np.frombuffer(binascii.a2b_base64(encoded), dtype="<u4")


def jaccard(left: ShingleIds, right: ShingleIds) -> float:
    """Exact Jaccard similarity of two sorted, distinct id arrays."""
    if left.size == 0 or right.size == 0:
        return 0.0
    # Where each left id would sit in right; clipped, so ids past the end compare unequal.
    shared = int(np.count_nonzero(right.take(right.searchsorted(left), mode="clip") == left))
    return shared / (left.size + right.size - shared)


def body_hash(match_text: str) -> str:
    """The exact-copy key: a 64-bit digest of the normalised body."""
    return hashlib.blake2b(match_text.encode("utf-8"), digest_size=8).hexdigest()


# --- stored records -------------------------------------------------------------------------


class _Answer(NamedTuple):
    """What is stored under ``a:<id>``: the decision plus what rebuilding the cache needs."""

    seq: int
    ingested_at: float
    body_hash: str
    result: DedupResult
    indexed: bool
    shingles: str | None = None  # the signature, in the answer since state version 2

    def to_json(self) -> list[Any]:
        r = self.result
        return [
            self.seq,
            self.ingested_at,
            self.body_hash,
            r.status,
            r.duplicate_of,
            r.similarity,
            r.method,
            self.indexed,
            self.shingles,
        ]

    @classmethod
    def from_json(cls, raw: list[Any]) -> _Answer:
        """An answer of either state version (version 1 has no ``shingles`` element)."""
        seq, ingested_at, digest, status, duplicate_of, similarity, method, indexed, *rest = raw
        result = DedupResult(status, duplicate_of, similarity, method)
        shingles = rest[0] if rest else None
        return cls(int(seq), float(ingested_at), str(digest), result, bool(indexed), shingles)

    @property
    def canonical_id(self) -> str | None:
        return self.result.duplicate_of


def _fresh_meta(shingle_size: int) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "shingle_size": shingle_size,
        "seq": 0,
        "evictions": 0,
        "now": 0.0,
        "floor": 0,
    }


# --- the in-memory cache ----------------------------------------------------------------------


class _Entry(NamedTuple):
    """What the cache holds per remembered article, so that deciding never reads the state."""

    seq: int
    ingested_at: float
    body_hash: str
    root: str  # the first-seen id of its story (the article itself if it is unique)
    indexed: int  # NOT_INDEXED, or where its signature is stored: IN_ANSWER, or UNDER_S_KEY
    record: int  # the b: record holding its answer, or NO_RECORD


NOT_INDEXED: Final = 0
IN_ANSWER: Final = 1
UNDER_S_KEY: Final = 2  # a version-1 state's article


class _Indexed(NamedTuple):
    """An indexed article's decoded shingle ids and MinHash, what verifying a candidate needs."""

    article_id: str
    ids: ShingleIds
    signature: rensa.RMinHash


class _Cache:
    """LSH index, signatures, exact-body map and arrival queue; a pure function of the state.

    ``indexed`` holds each indexed article's shingle ids and MinHash by arrival number (the LSH
    key), so candidates are ranked and verified without reading the state. It loses an article
    when the article leaves the window, so its size is bounded by the window.
    """

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.lsh = rensa.RMinHashLSH(config.threshold, config.num_perm, config.bands)
        self.indexed: dict[int, _Indexed] = {}  # seq -> ids and MinHash
        self.entries: dict[str, _Entry] = {}
        self.queue: deque[str] = deque()  # ids, oldest first
        # body hash -> the id holding it, or a deque of ids (oldest first) when several do: most
        # bodies are held once, and a deque per body cost ~600 bytes of each remembered article.
        self.ids_by_body: dict[str, str | deque[str]] = {}
        self.synced_seq = 0  # the highest arrival number of any answer held
        self.meta_seq = 0  # meta.seq as this cache last saw (or wrote) it
        # b: record -> how many of its answers are still remembered; records whose answers were
        # all evicted but which a crash kept in the state (deleted at the next write).
        self.record_live: dict[int, int] = {}
        self.dead_records: list[int] = []
        self.floor = 0  # every arrival number below it has been evicted

    def minhash(self, ids: ShingleIds) -> rensa.RMinHash:
        signature = rensa.RMinHash(self.config.num_perm, self.config.seed)
        # 4-byte tokens; numpy strips trailing NUL bytes from S4, which is still one-to-one.
        signature.update(ids.view("S4").tolist())
        return signature

    def add(
        self,
        article_id: str,
        answer: _Answer,
        indexed: tuple[ShingleIds, rensa.RMinHash] | None,
        record: int = NO_RECORD,
    ) -> None:
        """Remember an answered article; ``indexed`` is its ids and MinHash if it is indexed,
        ``record`` the b: record its answer is (to be) stored in."""
        seq = answer.seq
        if indexed is not None:
            ids, signature = indexed
            self.indexed[seq] = _Indexed(article_id, ids, signature)
            self.lsh.insert(seq, signature)
        root = _root(article_id, answer)
        stored = NOT_INDEXED if indexed is None else IN_ANSWER if answer.shingles else UNDER_S_KEY
        entry = _Entry(seq, answer.ingested_at, answer.body_hash, root, stored, record)
        self.entries[article_id] = entry
        self.queue.append(article_id)
        same_body = self.ids_by_body.get(answer.body_hash)
        if same_body is None:
            self.ids_by_body[answer.body_hash] = article_id
        elif isinstance(same_body, str):
            self.ids_by_body[answer.body_hash] = deque((same_body, article_id))
        else:
            same_body.append(article_id)
        if seq > self.synced_seq:
            self.synced_seq = seq

    def holding(self, body_hash: str) -> Iterable[str]:
        """The ids remembered with this body, oldest first."""
        same_body = self.ids_by_body.get(body_hash, ())
        return (same_body,) if isinstance(same_body, str) else same_body

    def oldest(self) -> _Entry:
        return self.entries[self.queue[0]]

    def drop_oldest(self) -> tuple[str, _Entry]:
        article_id = self.queue.popleft()
        entry = self.entries.pop(article_id)
        same_body = self.ids_by_body[entry.body_hash]
        if isinstance(same_body, str):
            del self.ids_by_body[entry.body_hash]
        else:
            same_body.popleft()  # the oldest arrival overall is the oldest with its body too
            if len(same_body) == 1:
                self.ids_by_body[entry.body_hash] = same_body[0]
        if entry.indexed:
            self.lsh.remove(entry.seq)
            del self.indexed[entry.seq]
        self.floor = max(self.floor, entry.seq + 1)
        return article_id, entry

    def nbytes(self) -> int:
        """Bytes of the decoded shingle ids and MinHash values held (not the LSH's own tables)."""
        # Each item: an ndarray object and its ids, a MinHash object and its num_perm u32 values.
        fixed = 2 * _ARRAY_OVERHEAD + 4 * self.config.num_perm
        return sum(fixed + item.ids.nbytes for item in self.indexed.values())

    @classmethod
    def rebuild(cls, state: MutableMapping[str, Any], config: DedupConfig) -> _Cache:
        built = cls(config)
        meta = state.get(META_KEY)
        built.floor = floor = int(meta.get("floor", 0)) if meta else 0
        answers: list[tuple[str, _Answer, int]] = []
        for key, value in state.items():
            if key.startswith(ANSWER_PREFIX):  # state versions 1 and 2: an answer per key
                answers.append((key[len(ANSWER_PREFIX) :], _Answer.from_json(value), NO_RECORD))
            elif key.startswith(RECORD_PREFIX):
                record = int(key[len(RECORD_PREFIX) :])
                live = [
                    (article_id, answer, record)
                    for article_id, *raw in value
                    if (answer := _Answer.from_json(raw)).seq >= floor
                ]
                answers.extend(live)
                if live:
                    built.record_live[record] = len(live)
                else:
                    built.dead_records.append(record)
        answers.sort(key=lambda item: item[1].seq)
        for article_id, answer, record in answers:
            encoded = answer.shingles
            if answer.indexed and encoded is None:  # a version-1 state's article
                encoded = state.get(SIGNATURE_PREFIX + article_id)
            ids = decode_ids(encoded) if encoded else EMPTY_IDS
            indexed = (ids, built.minhash(ids)) if ids.size else None
            built.add(article_id, answer, indexed, record)
        built.meta_seq = int(meta["seq"]) if meta else 0
        return built


# --- the stage --------------------------------------------------------------------------------


class Deduplicator:
    """Marks each article unique or a duplicate of the first-seen copy of its story."""

    def __init__(
        self,
        state: MutableMapping[str, Any],
        *,
        config: DedupConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.config = config or DedupConfig()
        self.clock = clock
        self._check_compatible()
        self._cache = _Cache.rebuild(state, self.config)
        # ``meta`` while a session holds it (read once, written once at its end), and whether
        # an article changed it since.
        self._held: dict[str, Any] | None = None
        self._held_changed = False
        # Answers decided but not yet written, and the b: record they will be written as.
        self._pending: list[tuple[str, _Answer]] = []
        self._pending_record: int | None = None
        self._pending_bytes = 0
        # Probe counters since start-up (not state): LSH candidates, and those verified exactly.
        self.candidates_seen = 0
        self.candidates_verified = 0

    @contextmanager
    def session(self) -> Iterator[None]:
        """Articles decided inside share one read of ``meta`` and one write of their answers (a
        b: record) and of ``meta``, instead of one each per article.

        The dedup agent opens one per staged bundle: in a worker a table read or write (rocksdb,
        JSON, a changelog message) costs more than most of deciding (a session longer than
        ``RECORD_BYTES`` of answers writes a record each time it has that many). If the session
        ends in an exception, what it had not yet written never is, and the next article
        rebuilds the cache from the state: the worker re-delivers the session's articles (their
        offsets were not committed), and each gets its written answer back or is decided again,
        the same way (answers numbered past ``meta.seq`` are counted on from, see ``__call__``).
        """
        if self._held is not None:  # nested: the outer session reads and writes
            yield
            return
        self._held = self._meta()
        self._held_changed = False
        try:
            yield
            if self._held_changed:
                self._write_pending()
                self.state[META_KEY] = self._held
        except BaseException:
            self._pending, self._pending_record, self._pending_bytes = [], None, 0
            self._cache.meta_seq = -1  # holds answers the state does not: rebuild on next use
            raise
        finally:
            self._held = None

    def __call__(self, article: Article) -> Article:
        state = self.state
        meta = self._meta() if self._held is None else self._held
        if self._cache.meta_seq != meta["seq"]:
            # Someone else's state (restored table, rebalance): what we hold no longer describes it.
            self._cache = _Cache.rebuild(state, self.config)
        entry = self._cache.entries.get(article.id)
        if entry is not None:  # the cache holds exactly the state's (and the session's) answers
            article.dedup = self._answer_of(article.id, entry).result
            return article
        digest = self._body_hash(article)

        event_time = article.ingested_at or self.clock()
        meta["now"] = now = max(float(meta["now"]), event_time)
        cutoff = now - self.config.max_age_seconds
        evictions = self._evict_expired(cutoff)

        result, indexed = self._decide(digest, article, cutoff)
        # meta is written after the article's own keys, so a crash in between leaves answers
        # numbered past meta.seq: count on from the highest arrival number held, or the next
        # article would take an existing number and push that article out of the index.
        meta["seq"] = seq = max(int(meta["seq"]), self._cache.synced_seq) + 1
        shingles = None
        if indexed is not None:
            fingerprint = article.fingerprint
            shingles = fingerprint.shingles if fingerprint else encode_ids(indexed[0])
        answer = _Answer(seq, event_time, digest, result, indexed is not None, shingles)
        if self._pending_record is None:
            self._pending_record = seq
        self._pending.append((article.id, answer))
        self._pending_bytes += ROW_OVERHEAD_BYTES + len(shingles or "")
        self._cache.add(article.id, answer, indexed, self._pending_record)

        meta["evictions"] += evictions + self._evict_overflow()
        meta["floor"] = self._cache.floor
        if self._held is None:
            self._write_pending()
            state[META_KEY] = meta  # re-assigned, never mutated in place: Faust tables need a set
        elif self._pending_bytes >= RECORD_BYTES:
            self._write_pending()  # a long session: a record now, meta when it ends
        else:
            self._held_changed = True  # written once, when the session ends
        self._cache.meta_seq = seq
        article.dedup = result
        return article

    def stats(self) -> DedupStats:
        """Index size and eviction counters for the driver's metrics."""
        meta = self.state.get(META_KEY) or _fresh_meta(self.config.shingle_size)
        return DedupStats(
            index_size=len(self._cache.queue),
            signatures=len(self._cache.indexed),
            evictions=int(meta["evictions"]),
            arrivals=int(meta["seq"]),
        )

    def cache_bytes(self) -> int:
        """Bytes of cached shingle ids and MinHash values (the LSH's own tables not included)."""
        return self._cache.nbytes()

    # -- decisions --

    def _body_hash(self, article: Article) -> str:
        """The article's exact-copy key, from its fingerprint or its match text.

        Raises ``DedupError`` for an article with neither (no word to match), or whose
        fingerprint has shingles of another size than this stage compares.
        """
        fingerprint = article.fingerprint
        if fingerprint is not None:
            if fingerprint.shingle_size != self.config.shingle_size:
                raise DedupError(
                    "fingerprint_mismatch",
                    f"article {article.id} has {fingerprint.shingle_size}-word shingles; "
                    f"this stage compares {self.config.shingle_size}-word ones",
                )
            return fingerprint.body_hash
        if not article.match_text or article.match_text.isspace():
            raise DedupError("empty_match_text", f"article {article.id} has no match_text")
        return body_hash(article.match_text)

    def _shingle_ids(self, article: Article) -> ShingleIds:
        """The article's shingle ids: decoded from its fingerprint, or shingled here."""
        if article.fingerprint is not None:
            return decode_ids(article.fingerprint.shingles)
        return shingles_of(article.match_text, self.config.shingle_size)

    def _decide(
        self, digest: str, article: Article, cutoff: float
    ) -> tuple[DedupResult, tuple[ShingleIds, rensa.RMinHash] | None]:
        """Exact body match first (cheap, certain); otherwise LSH candidates, ranked and verified.

        Returns the result and, when the article is to be indexed, its shingle ids and MinHash,
        computed once for the query and reused for the insert. Nothing is indexed for an exact
        copy or a body without a single word.
        """
        entries = self._cache.entries
        for earlier_id in self._cache.holding(digest):
            earlier = entries[earlier_id]
            if earlier.ingested_at >= cutoff:
                return DedupResult("duplicate", earlier.root, 1.0, "exact"), None
        ids = self._shingle_ids(article)
        if not ids.size:
            return DedupResult("unique"), None
        signature = self._cache.minhash(ids)
        best_id, similarity = self._best_match(ids, signature, cutoff)
        if best_id is None:
            return DedupResult("unique"), (ids, signature)
        root = entries[best_id].root
        return DedupResult("duplicate", root, round(similarity, 4), "near"), (ids, signature)

    def _best_match(
        self, ids: ShingleIds, signature: rensa.RMinHash, cutoff: float
    ) -> tuple[str | None, float]:
        """The verified candidate with the highest Jaccard (ties: earliest arrival), if any.

        Every LSH candidate is first scored by the share of MinHash values it has in common with
        the query (an unbiased Jaccard estimate, one call into rensa); only those scoring at least
        ``min_agreement`` are verified exactly, the ``max_verified`` best of them.
        """
        config = self.config
        indexed = self._cache.indexed
        candidates = self._cache.lsh.query(signature)
        self.candidates_seen += len(candidates)
        ranked = []
        for seq in candidates:
            estimate = signature.jaccard(indexed[seq].signature)
            if estimate >= config.min_agreement:
                ranked.append((-estimate, seq))
        if len(ranked) > config.max_verified:
            # Best estimate first, then earliest arrival: the choice does not depend on LSH order.
            ranked = heapq.nsmallest(config.max_verified, ranked)
        entries = self._cache.entries
        best_id: str | None = None
        best_similarity, best_seq = 0.0, 0
        for _, seq in ranked:
            candidate = indexed[seq]
            if entries[candidate.article_id].ingested_at < cutoff:
                continue  # out of the window, only not yet reached by head-of-queue eviction
            self.candidates_verified += 1
            similarity = jaccard(ids, candidate.ids)
            if similarity < config.threshold:
                continue
            # Highest similarity wins; ties go to the earliest arrival, so the choice is stable.
            if best_id is None or (similarity, -seq) > (best_similarity, -best_seq):
                best_id, best_similarity, best_seq = candidate.article_id, similarity, seq
        return best_id, best_similarity

    # -- state housekeeping --

    def _evict_expired(self, cutoff: float) -> int:
        """Drop articles older than ``cutoff`` from the head of the arrival queue."""
        evicted = 0
        while self._cache.queue and self._cache.oldest().ingested_at < cutoff:
            self._drop_oldest()
            evicted += 1
        return evicted

    def _evict_overflow(self) -> int:
        """Drop the oldest arrivals until at most ``max_entries`` articles are remembered."""
        evicted = 0
        while len(self._cache.queue) > self.config.max_entries:
            self._drop_oldest()
            evicted += 1
        return evicted

    def _drop_oldest(self) -> None:
        oldest_id, oldest = self._cache.drop_oldest()
        record = oldest.record
        if record == NO_RECORD:
            del self.state[ANSWER_PREFIX + oldest_id]
            if oldest.indexed == UNDER_S_KEY:
                del self.state[SIGNATURE_PREFIX + oldest_id]
        elif record == self._pending_record:  # not written yet: it never will be
            self._pending = [item for item in self._pending if item[0] != oldest_id]
        else:
            live = self._cache.record_live.pop(record) - 1
            if live:
                self._cache.record_live[record] = live
            else:
                del self.state[RECORD_PREFIX + str(record)]

    def _write_pending(self) -> None:
        """Write the answers decided since the last write as one b: record (a changelog message),
        and delete records a crash left behind with no answer still remembered."""
        if self._pending_record is not None:
            if self._pending:
                self.state[RECORD_PREFIX + str(self._pending_record)] = [
                    [article_id, *answer.to_json()] for article_id, answer in self._pending
                ]
                self._cache.record_live[self._pending_record] = len(self._pending)
            self._pending, self._pending_record, self._pending_bytes = [], None, 0
        while self._cache.dead_records:
            dead = RECORD_PREFIX + str(self._cache.dead_records.pop())
            if dead in self.state:
                del self.state[dead]

    def _answer_of(self, article_id: str, entry: _Entry) -> _Answer:
        """The stored (or still pending) answer of a remembered article."""
        if entry.record == NO_RECORD:
            return _Answer.from_json(self.state[ANSWER_PREFIX + article_id])
        if entry.record == self._pending_record:
            return next(answer for pending_id, answer in self._pending if pending_id == article_id)
        for stored_id, *raw in self.state[RECORD_PREFIX + str(entry.record)]:
            if stored_id == article_id:
                return _Answer.from_json(raw)
        raise KeyError(article_id)

    def _meta(self) -> dict[str, Any]:
        # A copy: the caller edits it and assigns it back as one changelog write.
        stored = self.state.get(META_KEY)
        if not stored:
            return _fresh_meta(self.config.shingle_size)
        # Written back as the version this stage writes: a version-1 state it has added to holds
        # version-2 answers, which a version-1 stage must refuse rather than misread.
        return {**stored, "version": STATE_VERSION}

    def _check_compatible(self) -> None:
        stored = self.state.get(META_KEY)
        if stored is None:
            return
        version, size = stored["version"], stored["shingle_size"]
        if version not in READABLE_VERSIONS or size != self.config.shingle_size:
            raise IncompatibleStateError(
                f"state has version {version} and shingle size {size}; this stage reads versions"
                f" {sorted(READABLE_VERSIONS)} of size {self.config.shingle_size}"
            )


def _root(article_id: str, answer: _Answer) -> str:
    """The first-seen id of the story ``article_id`` belongs to (chains collapse to their root)."""
    return answer.canonical_id or article_id
