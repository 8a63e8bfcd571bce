"""Unit tests of the dedup stage: exact and wire copies, replays, chains, eviction, restarts."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akhbar.pipeline.stages.article import Article, DedupResult
from akhbar.pipeline.stages.dedup import (
    DedupConfig,
    DedupError,
    Deduplicator,
    IncompatibleStateError,
    jaccard,
)
from akhbar.pipeline.stages.fingerprint import Fingerprinter, shingle_ids, shingle_ids_numpy
from akhbar.pipeline.stages.orthography import normalize_for_matching

DAY = 24 * 3600.0
T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def seeds(seed_paths: list[Path]) -> dict[str, str]:
    """Seed bodies (headline dropped) keyed by their three-digit number."""
    return {
        path.name[:3]: path.read_text(encoding="utf-8").partition("\n")[2].strip()
        for path in seed_paths
    }


def article(article_id: str, body: str, at: float = T0) -> Article:
    return Article(
        id=article_id,
        title="",
        body=body,
        ingested_at=at,
        text=body,
        match_text=normalize_for_matching(body),
    )


def wire_copy(body: str, *, rate: float = 0.02, seed: int = 7) -> str:
    """Another outlet's copy: new header and footer, ~2 % of words replaced, last paragraph cut."""
    rng = random.Random(seed)
    paragraphs = [p for p in body.split("\n") if p.strip()][:-1]
    edited = [
        " ".join("تعديل" if rng.random() < rate else word for word in p.split(" "))
        for p in paragraphs
    ]
    return "\n".join(["بيروت - الميادين نت", *edited, "المصدر: الميادين نت + وكالات"])


def run(dedup: Deduplicator, *articles: Article) -> list[DedupResult]:
    results = []
    for item in articles:
        result = dedup(item).dedup
        assert result is not None
        results.append(result)
    return results


def test_first_article_is_unique(seeds: dict[str, str]) -> None:
    [result] = run(Deduplicator({}), article("a", seeds["000"]))
    assert result == DedupResult("unique", None, None, None)


def test_exact_copy_under_new_id_is_exact_duplicate(seeds: dict[str, str]) -> None:
    results = run(Deduplicator({}), article("a", seeds["001"]), article("b", seeds["001"]))
    assert results[1] == DedupResult("duplicate", "a", 1.0, "exact")


def test_wire_copy_is_near_duplicate_of_original(seeds: dict[str, str]) -> None:
    copy = wire_copy(seeds["003"])
    results = run(Deduplicator({}), article("orig", seeds["003"]), article("copy", copy))
    assert results[1].status == "duplicate"
    assert results[1].duplicate_of == "orig"
    assert results[1].method == "near"
    assert results[1].similarity is not None and 0.4 <= results[1].similarity < 1.0


def test_seeds_000_and_004_stay_unique(seeds: dict[str, str]) -> None:
    """Two different Astana rounds: same people, same vocabulary, different events."""
    results = run(Deduplicator({}), article("r12", seeds["000"]), article("r22", seeds["004"]))
    assert [r.status for r in results] == ["unique", "unique"]


def test_all_five_seeds_are_unique(seeds: dict[str, str]) -> None:
    results = run(Deduplicator({}), *(article(n, body) for n, body in sorted(seeds.items())))
    assert all(r.status == "unique" for r in results)


def test_replay_gets_same_answer_and_is_not_its_own_duplicate(seeds: dict[str, str]) -> None:
    state: dict[str, Any] = {}
    dedup = Deduplicator(state)
    first = run(dedup, article("a", seeds["002"]), article("b", wire_copy(seeds["002"])))
    writes_before = dict(state)
    replayed = run(dedup, article("a", seeds["002"]), article("b", wire_copy(seeds["002"])))
    assert replayed == first
    assert replayed[0].status == "unique"
    assert state == writes_before  # a replay writes nothing


def test_chain_points_at_first_id(seeds: dict[str, str]) -> None:
    """C copies B, B copies A: C must point at A, the first id seen of the story."""
    body_a = seeds["000"]
    body_b = wire_copy(body_a, seed=1)
    body_c = wire_copy(body_b, seed=2)
    results = run(
        Deduplicator({}), article("A", body_a), article("B", body_b), article("C", body_c)
    )
    assert [r.duplicate_of for r in results] == [None, "A", "A"]


def test_exact_copy_of_a_duplicate_points_at_first_id(seeds: dict[str, str]) -> None:
    copy = wire_copy(seeds["001"])
    results = run(
        Deduplicator({}), article("A", seeds["001"]), article("B", copy), article("C", copy)
    )
    assert results[2] == DedupResult("duplicate", "A", 1.0, "exact")


def test_eviction_by_count_forgets_oldest(seeds: dict[str, str]) -> None:
    state: dict[str, Any] = {}
    dedup = Deduplicator(state, config=DedupConfig(max_entries=2))
    run(dedup, article("0", seeds["000"]), article("1", seeds["001"]), article("2", seeds["002"]))
    assert dedup.stats().index_size == 2
    assert dedup.stats().evictions == 1
    assert "a:0" not in state and "s:0" not in state
    [again] = run(dedup, article("0-copy", seeds["000"]))
    assert again.status == "unique"  # the original left the window
    [kept] = run(dedup, article("2-copy", seeds["002"]))
    assert kept.duplicate_of == "2"


def test_eviction_by_age_uses_ingested_at(seeds: dict[str, str]) -> None:
    """Age is event time (ingested_at), not the wall clock; the chain outlives its evicted root."""
    dedup = Deduplicator({}, config=DedupConfig(max_age_seconds=7 * DAY), clock=lambda: 0.0)
    run(dedup, article("old", seeds["003"], at=T0))
    [fresh] = run(dedup, article("new", wire_copy(seeds["003"]), at=T0 + 6 * DAY))
    assert fresh.duplicate_of == "old"
    [late] = run(dedup, article("late", seeds["003"], at=T0 + 8 * DAY))
    assert dedup.stats().evictions == 1  # "old" left the window; "new" (day 6) is still in it
    assert late == DedupResult("duplicate", "old", late.similarity, "near")
    [later] = run(dedup, article("later", seeds["003"], at=T0 + 20 * DAY))
    assert later.status == "unique"
    assert dedup.stats().evictions == 3
    assert dedup.stats().index_size == 1


def test_evicted_articles_leave_lsh_index(seeds: dict[str, str]) -> None:
    dedup = Deduplicator({}, config=DedupConfig(max_entries=1))
    run(dedup, article("A", seeds["000"]), article("B", seeds["001"]))
    assert dedup.stats().signatures == 1
    [copy] = run(dedup, article("A-wire", wire_copy(seeds["000"])))
    assert copy.status == "unique"


def test_restart_over_same_state_decides_the_same(seeds: dict[str, str]) -> None:
    stream = [
        article("A", seeds["000"]),
        article("B", seeds["004"]),
        article("C", wire_copy(seeds["000"], seed=3)),
        article("D", wire_copy(seeds["004"], seed=4)),
        article("E", seeds["001"]),
        article("F", wire_copy(seeds["001"], seed=5)),
    ]
    uninterrupted = run(Deduplicator({}), *stream)
    state: dict[str, Any] = {}
    before = run(Deduplicator(state), *stream[:3])
    after = run(Deduplicator(state), *stream[3:])  # a new worker, same state
    assert before + after == uninterrupted


def test_state_changed_behind_the_stage_is_reloaded(seeds: dict[str, str]) -> None:
    """A table restored under a live stage: the cache follows the state, not the past."""
    state: dict[str, Any] = {}
    dedup = Deduplicator(state)
    run(dedup, article("A", seeds["000"]))
    other: dict[str, Any] = {}
    run(Deduplicator(other), article("X", seeds["001"]), article("Y", seeds["002"]))
    state.clear()
    state.update(other)
    [result] = run(dedup, article("X-copy", wire_copy(seeds["001"])))
    assert result.duplicate_of == "X"


def test_state_values_are_json_and_reassigned(seeds: dict[str, str]) -> None:
    import json

    state: dict[str, Any] = {}
    run(Deduplicator(state), article("A", seeds["000"]), article("B", wire_copy(seeds["000"])))
    assert json.loads(json.dumps(state)) == state
    assert set(state) == {"meta", "b:1", "b:2"}  # outside a session, a record per article
    assert state["meta"]["version"] == 3
    assert [row[0] for row in state["b:2"]] == ["B"] and len(state["b:2"][0]) == 10


def test_empty_match_text_is_a_typed_error() -> None:
    with pytest.raises(DedupError) as caught:
        Deduplicator({})(Article(id="e", title="", body="", match_text="  "))
    assert caught.value.reason == "empty_match_text"


def test_state_with_other_shingle_size_is_refused(seeds: dict[str, str]) -> None:
    state: dict[str, Any] = {}
    run(Deduplicator(state, config=DedupConfig(shingle_size=3)), article("A", seeds["000"]))
    with pytest.raises(IncompatibleStateError):
        Deduplicator(state, config=DedupConfig(shingle_size=5))


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("قال الوزير إن المحادثات مستمرة", "قال الوزير: إن المحادثات «مستمرة»."),
        ("الجولة  الثانية\nعشرة", "الجولة الثانية عشرة"),
    ],
)
def test_shingles_ignore_punctuation_and_spacing(left: str, right: str) -> None:
    assert jaccard(shingle_ids(left, 3), shingle_ids(right, 3)) == 1.0


def test_shingles_of_short_text_fall_back_to_whole_text() -> None:
    assert shingle_ids("سوريا", 3).size == 1
    assert shingle_ids("؟!", 3).size == 0


# Arabic letters and digits, Latin, punctuation and spacing, lone surrogates (encoded with
# surrogatepass), astral letters and digits, and the last code point.
_SHINGLE_ALPHABET = [
    *"قال الوزير إن المحادثات مستمرة٠١٢٣abcXYZ09 .,:؟!«»\n\t\u00a0\u2028\u200c\u0640\u064b",
    "\ud800",
    "\udfff",
    "\U0001d7ce",
    "\U00020000",
    "\U0010ffff",
]


@settings(max_examples=500, deadline=None)
@given(
    text=st.one_of(st.text(st.sampled_from(_SHINGLE_ALPHABET), max_size=200), st.text(max_size=80)),
    size=st.integers(min_value=1, max_value=8),
)
def test_compiled_shingles_are_bit_identical_to_numpy_reference(text: str, size: int) -> None:
    ids, reference = shingle_ids(text, size), shingle_ids_numpy(text, size)
    assert ids.dtype == reference.dtype == np.uint32
    assert np.array_equal(ids, reference)


class ReadCountingState(dict[str, Any]):
    """A dict state that counts reads per key prefix, like the Faust table's rocksdb gets."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: dict[str, int] = {}

    def _count(self, key: str) -> None:
        prefix = key.split(":", 1)[0] if ":" in key else key
        self.reads[prefix] = self.reads.get(prefix, 0) + 1

    def __getitem__(self, key: str) -> Any:
        self._count(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._count(key)
        return super().get(key, default)


def test_deciding_reads_only_meta_from_the_state(seeds: dict[str, str]) -> None:
    """Candidates are verified from the in-memory cache: no signature or answer is read back."""
    state = ReadCountingState()
    dedup = Deduplicator(state)
    state.reads.clear()
    results = run(
        dedup,
        article("A", seeds["000"]),
        article("B", wire_copy(seeds["000"], seed=1)),
        article("C", wire_copy(seeds["000"], seed=2)),
        article("D", seeds["000"]),
        article("E", seeds["004"]),
    )
    assert [r.duplicate_of for r in results] == [None, "A", "A", "A", None]
    assert state.reads == {"meta": 5}


def test_a_replay_reads_its_stored_answer(seeds: dict[str, str]) -> None:
    state = ReadCountingState()
    dedup = Deduplicator(state)
    [first] = run(dedup, article("A", seeds["001"]))
    state.reads.clear()
    [again] = run(dedup, article("A", seeds["001"]))
    assert again == first
    assert state.reads == {"meta": 1, "b": 1}


def test_cache_is_bounded_by_the_window(seeds: dict[str, str]) -> None:
    """Evicted articles leave the cache: its size follows the window, not the stream."""
    dedup = Deduplicator({}, config=DedupConfig(max_entries=2))
    run(dedup, article("0", seeds["000"]), article("1", seeds["001"]))
    full = dedup.cache_bytes()
    run(dedup, article("2", seeds["002"]), article("3", seeds["003"]), article("4", seeds["004"]))
    assert dedup.stats().signatures == 2
    assert 0 < dedup.cache_bytes() <= full * 2
    run(dedup, article("5", "قال الوزير إن المحادثات مستمرة"), article("6", "الجولة الثانية"))
    assert dedup.cache_bytes() < full  # two short bodies now fill the window


def test_many_copies_of_one_story_still_find_its_root(seeds: dict[str, str]) -> None:
    """With more candidates than are verified, the best estimates are verified, root first."""
    copies = [article(f"copy-{n}", wire_copy(seeds["002"], seed=n)) for n in range(8)]
    dedup = Deduplicator({}, config=DedupConfig(max_verified=1))
    results = run(dedup, article("root", seeds["002"]), *copies)
    assert all(r.duplicate_of == "root" and r.method == "near" for r in results[1:])
    assert dedup.candidates_verified == len(copies)  # one exact Jaccard per copy


def test_restart_over_json_round_tripped_state_decides_the_same(seeds: dict[str, str]) -> None:
    """A table hands back JSON-decoded values; the cache rebuilt from them decides the same."""
    import json

    stream = [
        article("A", seeds["003"]),
        article("B", seeds["001"]),
        article("C", wire_copy(seeds["003"], seed=8)),
        article("D", wire_copy(seeds["001"], seed=9)),
        article("E", wire_copy(seeds["003"], seed=10)),
    ]
    uninterrupted = run(Deduplicator({}), *stream)
    state: dict[str, Any] = {}
    before = run(Deduplicator(state), *stream[:2])
    restored = json.loads(json.dumps(state))
    after = run(Deduplicator(restored), *stream[2:])
    assert before + after == uninterrupted


def test_crash_between_an_articles_keys_and_meta_keeps_it_in_the_index(
    seeds: dict[str, str],
) -> None:
    """A worker killed after writing an article's answer but before ``meta``: the restarted
    stage must not give the next article the same arrival number, which would push the first
    one out of the index so that a later copy of it looks unique."""
    state: dict[str, Any] = {}
    dedup = Deduplicator(state)
    run(dedup, article("A", seeds["000"]))
    meta_before_b = dict(state["meta"])
    run(dedup, article("B", seeds["004"]))
    state["meta"] = meta_before_b  # B's keys reached the changelog, its meta write did not
    restarted = Deduplicator(state)
    run(restarted, article("C", seeds["001"]))
    (copy_of_b,) = run(restarted, article("D", wire_copy(seeds["004"], seed=4)))
    assert (copy_of_b.status, copy_of_b.duplicate_of) == ("duplicate", "B")
    (copy_of_a,) = run(restarted, article("E", wire_copy(seeds["000"], seed=3)))
    assert (copy_of_a.status, copy_of_a.duplicate_of) == ("duplicate", "A")


def test_exact_copies_outlive_the_eviction_of_the_first(seeds: dict[str, str]) -> None:
    """Several ids with one body: as the oldest leave the window the others still answer, and
    once all have left the body is new again."""
    dedup = Deduplicator({}, config=DedupConfig(max_entries=3))
    first, second, third = run(
        dedup, article("a", seeds["000"]), article("b", seeds["000"]), article("c", seeds["000"])
    )
    assert first.status == "unique" and second.method == third.method == "exact"
    run(dedup, article("x", seeds["001"]))  # "a" leaves; "b" and "c" still hold the body
    [fourth] = run(dedup, article("d", seeds["000"]))  # "b" leaves
    assert fourth == DedupResult("duplicate", "a", 1.0, "exact")
    run(dedup, article("y", seeds["002"]), article("z", seeds["003"]))  # "c", then "x" leave
    [fifth] = run(dedup, article("e", seeds["000"]))  # "d" still holds it
    assert fifth == DedupResult("duplicate", "a", 1.0, "exact")
    run(dedup, *(article(f"n{n}", seeds["004"] + f" {n}") for n in range(3)))
    [again] = run(dedup, article("f", seeds["000"]))
    assert again.status == "unique"


def test_memory_per_remembered_article_beyond_its_signature_is_under_1kb() -> None:
    """Issue #4's bound on the in-memory bookkeeping (entries, arrival queue, body-hash map and
    the index's own tuples), measured over 3,000 bench-corpus articles with ~10 % exact copies."""
    from akhbar.bench.corpus import generate
    from akhbar.pipeline.devset import bookkeeping_bytes

    dedup = Deduplicator({})
    for number, item in enumerate(generate(3000)):
        dedup(article(item.id, item.body, at=T0 + number))
    assert dedup.stats().index_size == 3000
    assert bookkeeping_bytes(dedup) <= 1024


class WriteCountingState(ReadCountingState):
    """Also counts writes per key prefix (each is one changelog message in a Faust table)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: dict[str, int] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        prefix = key.split(":", 1)[0] if ":" in key else key
        self.writes[prefix] = self.writes.get(prefix, 0) + 1
        super().__setitem__(key, value)


def answers(state: dict[str, Any]) -> dict[str, Any]:
    """Article id -> arrival number of every remembered answer: a: keys, and the rows of b:
    records at or above meta's floor (the rows under it were evicted)."""
    found = {k[2:]: v[0] for k, v in state.items() if k.startswith("a:")}
    floor = state["meta"].get("floor", 0)
    for key, value in state.items():
        if key.startswith("b:"):
            found.update((row[0], row[1]) for row in value if row[1] >= floor)
    return found


def session_stream(seeds: dict[str, str]) -> list[Article]:
    return [
        article("A", seeds["000"]),
        article("B", wire_copy(seeds["000"], seed=1)),
        article("C", seeds["004"]),
        article("D", seeds["000"]),
        article("A", seeds["000"]),  # a replay
        article("E", seeds["001"], at=T0 + 40 * DAY),  # evicts A to D by age
        article("F", wire_copy(seeds["001"], seed=2), at=T0 + 40 * DAY),
    ]


def test_a_session_reads_and_writes_meta_once_and_decides_the_same(
    seeds: dict[str, str],
) -> None:
    plain: dict[str, Any] = {}
    expected = run(Deduplicator(plain), *session_stream(seeds))
    state = WriteCountingState()
    dedup = Deduplicator(state)
    state.reads.clear()
    with dedup.session():
        results = run(dedup, *session_stream(seeds))
    assert results == expected
    assert state.reads == {"meta": 1}  # the replay's answer was still pending
    assert state.writes == {"b": 1, "meta": 1}  # one record for the session's answers, meta once
    assert answers(state) == answers(plain)  # the same answers and signatures
    assert state["meta"] == plain["meta"]  # seq, now, evictions, floor


def test_a_session_that_fails_writes_nothing_and_its_articles_are_decided_again(
    seeds: dict[str, str],
) -> None:
    """Nothing of a session that ends in an error is written; the stage forgets its articles,
    and when the worker delivers them again they get the same decisions and numbers."""
    state: dict[str, Any] = {}
    dedup = Deduplicator(state)
    run(dedup, article("A", seeds["000"]))
    bundle = [article("B", wire_copy(seeds["000"], seed=3)), article("C", seeds["001"])]
    with pytest.raises(RuntimeError), dedup.session():
        first_try = run(dedup, *bundle)
        raise RuntimeError("the worker stops mid-bundle")
    assert set(state) == {"meta", "b:1"} and state["meta"]["seq"] == 1
    with dedup.session():
        assert run(dedup, *bundle) == first_try
    (copy_of_c,) = run(dedup, article("D", wire_copy(seeds["001"], seed=5)))
    assert (copy_of_c.status, copy_of_c.duplicate_of) == ("duplicate", "C")
    assert state["meta"]["seq"] == 4
    assert answers(state) == {"A": 1, "B": 2, "C": 3, "D": 4}


def test_fingerprinted_articles_decide_and_store_the_same(seeds: dict[str, str]) -> None:
    """The head's fingerprint stage and the dedup stage's own shingling are interchangeable."""
    plain: dict[str, Any] = {}
    expected = run(Deduplicator(plain), *session_stream(seeds))
    fingerprint = Fingerprinter()
    stream = [fingerprint(a) for a in session_stream(seeds)]
    assert all(a.fingerprint is not None for a in stream)
    state: dict[str, Any] = {}
    assert run(Deduplicator(state), *stream) == expected
    assert state == plain


def test_a_fingerprint_of_another_shingle_size_is_refused(seeds: dict[str, str]) -> None:
    item = Fingerprinter(shingle_size=4)(article("A", seeds["000"]))
    with pytest.raises(DedupError) as caught:
        Deduplicator({})(item)
    assert caught.value.reason == "fingerprint_mismatch"


def test_a_body_without_a_word_gets_no_fingerprint_and_is_refused() -> None:
    blank = Fingerprinter()(article("blank", "   \n "))
    assert blank.fingerprint is None
    with pytest.raises(DedupError) as caught:
        Deduplicator({})(blank)
    assert caught.value.reason == "empty_match_text"


def as_version_1(state: dict[str, Any]) -> dict[str, Any]:
    """The same state as a version-1 stage wrote it: an ``a:`` key per answer, signatures under
    ``s:`` keys."""
    old: dict[str, Any] = {"meta": {**state["meta"], "version": 1}}
    del old["meta"]["floor"]
    for key, value in state.items():
        for article_id, *answer, shingles in value if key.startswith("b:") else ():
            old["a:" + article_id] = answer
            if shingles is not None:
                old["s:" + article_id] = shingles
    return old


def test_a_version_1_state_is_read_and_evicted_cleanly(seeds: dict[str, str]) -> None:
    """A worker upgraded over a version-1 table decides as before, writes version-2 answers and
    marks the state version 2 (so an older stage refuses it), and deletes the old ``s:`` keys
    of the articles it evicts."""
    first = [article("A", seeds["000"]), article("B", seeds["004"]), article("C", seeds["002"])]
    later = [
        article("D", wire_copy(seeds["004"], seed=11)),
        article("E", seeds["001"]),
        article("F", wire_copy(seeds["002"], seed=12)),
    ]
    config = DedupConfig(max_entries=4)
    current: dict[str, Any] = {}
    run(Deduplicator(current, config=config), *first)
    expected = run(Deduplicator(dict(current), config=config), *later)
    old = as_version_1(current)
    assert {"s:A", "s:B", "s:C"} <= set(old)
    assert run(Deduplicator(old, config=config), *later) == expected
    assert old["meta"]["version"] == 3
    assert [k for k in old if k != "meta"] == ["a:C", "s:C", "b:4", "b:5", "b:6"]
    assert old["b:4"][0][0] == "D" and old["b:4"][0][-1] is not None  # its signature


def test_a_state_of_an_unknown_version_is_refused(seeds: dict[str, str]) -> None:
    state: dict[str, Any] = {}
    run(Deduplicator(state), article("A", seeds["000"]))
    state["meta"] = {**state["meta"], "version": 4}
    with pytest.raises(IncompatibleStateError):
        Deduplicator(state)


def test_a_window_smaller_than_a_session_keeps_state_and_cache_in_step(
    seeds: dict[str, str],
) -> None:
    """Articles evicted while still pending are never written; records lose their answers to
    eviction one by one and go when empty; a restart over the state decides as the live stage."""
    config = DedupConfig(max_entries=2)
    bodies = [seeds[n] for n in ("000", "001", "002", "003", "004")]
    state = WriteCountingState()
    dedup = Deduplicator(state, config=config)
    with dedup.session():
        run(dedup, *(article(f"s{n}", body) for n, body in enumerate(bodies[:4])))
    assert answers(state) == {"s2": 3, "s3": 4}  # s0 and s1 were evicted before the write
    assert state["meta"]["floor"] == 3
    run(dedup, article("s4", bodies[4]))  # evicts s2: its record keeps s3
    assert answers(state) == {"s3": 4, "s4": 5} and "b:1" in state
    run(dedup, article("s5", wire_copy(bodies[4], seed=6)))  # evicts s3: the record goes
    assert "b:1" not in state and answers(state) == {"s4": 5, "s5": 6}
    restarted = Deduplicator(json.loads(json.dumps(dict(state))), config=config)
    probe = [article("p1", wire_copy(bodies[4], seed=8)), article("p2", wire_copy(bodies[3]))]
    assert run(restarted, *probe) == run(dedup, *probe)


def test_answers_below_the_floor_are_not_rebuilt_and_a_dead_record_is_deleted(
    seeds: dict[str, str],
) -> None:
    """A crash can leave a record whose answers were all evicted (its delete was lost): the
    floor in meta keeps them out of the index, and the next write deletes the record."""
    config = DedupConfig(max_entries=1)
    state: dict[str, Any] = {}
    dedup = Deduplicator(state, config=config)
    run(dedup, article("A", seeds["000"]))
    kept = dict(state)
    run(dedup, article("B", seeds["001"]))
    state["b:1"] = kept["b:1"]  # A's record, deleted at its eviction, is back
    restarted = Deduplicator(state, config=config)
    (copy_of_a,) = run(restarted, article("C", wire_copy(seeds["000"], seed=2)))
    assert copy_of_a.status == "unique", "A was evicted: nothing to be a copy of"
    assert "b:1" not in state


def test_a_long_session_writes_a_record_each_time_it_reaches_the_size_bound(
    seeds: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record stays a bounded changelog message: a session writes one whenever its pending
    rows reach ``RECORD_BYTES``, and the rest (and meta) when it ends."""
    import akhbar.pipeline.stages.dedup as dedup_module

    stream = session_stream(seeds)
    plain: dict[str, Any] = {}
    expected = run(Deduplicator(plain), *stream)
    monkeypatch.setattr(dedup_module, "RECORD_BYTES", 5000)  # about two indexed rows
    state = WriteCountingState()
    dedup = Deduplicator(state)
    with dedup.session():
        assert run(dedup, *stream) == expected
    assert 1 < state.writes["b"] < 6 and state.writes["meta"] == 1
    assert answers(state) == answers(plain)
