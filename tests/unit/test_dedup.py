"""Unit tests of the dedup stage: exact and wire copies, replays, chains, eviction, restarts."""

from __future__ import annotations

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
    assert set(state) == {"meta", "a:A", "a:B"}  # each signature inside its answer
    assert state["meta"]["version"] == 2


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
    assert state.reads == {"meta": 1, "a": 1}


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
    assert state == plain  # the same answers, signatures and meta (seq, now, evictions)
    assert state.reads == {"meta": 1, "a": 1}  # meta once, and the replay's answer
    assert state.writes == {"a": 6, "meta": 1}  # one write per new article, meta once


def test_a_session_that_fails_leaves_meta_behind_and_numbering_goes_on(
    seeds: dict[str, str],
) -> None:
    """Meta is not written when the session ends in an error; the answers written before the
    error are numbered past it, and the next article counts on from them."""
    state: dict[str, Any] = {}
    dedup = Deduplicator(state)
    run(dedup, article("A", seeds["000"]))
    with pytest.raises(RuntimeError), dedup.session():
        run(dedup, article("B", seeds["004"]), article("C", seeds["001"]))
        raise RuntimeError("the worker stops mid-bundle")
    assert state["meta"]["seq"] == 1
    (copy_of_c,) = run(dedup, article("D", wire_copy(seeds["001"], seed=5)))
    assert (copy_of_c.status, copy_of_c.duplicate_of) == ("duplicate", "C")
    assert state["meta"]["seq"] == 4
    assert sorted(v[0] for k, v in state.items() if k.startswith("a:")) == [1, 2, 3, 4]


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
    """The same state as a version-1 stage wrote it: signatures under ``s:`` keys."""
    old: dict[str, Any] = {"meta": {**state["meta"], "version": 1}}
    for key, value in state.items():
        if key.startswith("a:"):
            *answer, shingles = value
            old[key] = answer
            if shingles is not None:
                old["s:" + key[2:]] = shingles
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
    assert old["meta"]["version"] == 2
    assert [k for k in old if k.startswith(("a:", "s:"))] == ["a:C", "s:C", "a:D", "a:E", "a:F"]
    assert len(old["a:D"]) == 9 and old["a:D"][-1] is not None


def test_a_state_of_an_unknown_version_is_refused(seeds: dict[str, str]) -> None:
    state: dict[str, Any] = {}
    run(Deduplicator(state), article("A", seeds["000"]))
    state["meta"] = {**state["meta"], "version": 3}
    with pytest.raises(IncompatibleStateError):
        Deduplicator(state)
