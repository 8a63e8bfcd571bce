"""TopEntities: sliding-window counts, bounded memory, rank order, surge, a gauge of ≤ 10 series."""

from __future__ import annotations

from typing import cast

import pytest
from prometheus_client import CollectorRegistry, Gauge

from akhbar.pipeline.stages.article import Article, Entity, EntityType
from akhbar.pipeline.top_entities import (
    DEFAULT_REQUESTED,
    MAX_REQUESTED,
    TopEntities,
    publish_gauge,
    requested_count,
)

MINUTE = 60.0


class Clock:
    """A hand-moved clock, so window expiry is tested without sleeping."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def article(*entities: tuple[str, str, str]) -> Article:
    """An article mentioning each (id, name, type) once."""
    tagged = [
        Entity(id=eid, type=cast(EntityType, etype), name=name) for eid, name, etype in entities
    ]
    return Article(id="a", title="عنوان", body="نص", entities=tagged)


LAVROV = ("per:sergey-lavrov", "سيرغي لافروف", "PER")
MOSCOW = ("loc:moscow", "موسكو", "LOC")
SANA = ("org:sana", "سانا", "ORG")


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def top(clock: Clock) -> TopEntities:
    return TopEntities(window_seconds=15 * MINUTE, bucket_seconds=MINUTE, clock=clock)


def test_ranks_by_articles_then_id(top: TopEntities) -> None:
    for _ in range(3):
        top.observe(article(LAVROV, MOSCOW))
    top.observe(article(SANA))
    top.observe(article(MOSCOW))
    ranked = top.top(10)
    assert [(e.id, e.articles) for e in ranked] == [
        ("loc:moscow", 4),
        ("per:sergey-lavrov", 3),
        ("org:sana", 1),
    ]
    assert (ranked[1].name, ranked[1].type) == ("سيرغي لافروف", "PER")
    assert [e.id for e in top.top(2)] == ["loc:moscow", "per:sergey-lavrov"]


def test_one_article_counts_once_per_entity_even_if_listed_twice(top: TopEntities) -> None:
    top.observe(article(LAVROV, LAVROV))
    assert top.top(1)[0].articles == 1


def test_counts_leave_the_window_after_it_passes(top: TopEntities, clock: Clock) -> None:
    top.observe(article(LAVROV))
    clock.now += 10 * MINUTE
    top.observe(article(MOSCOW))
    assert {e.id for e in top.top(10)} == {"per:sergey-lavrov", "loc:moscow"}
    clock.now += 6 * MINUTE  # Lavrov's minute is now 16 minutes old
    assert [e.id for e in top.top(10)] == ["loc:moscow"]


def test_entities_are_forgotten_after_two_windows(top: TopEntities, clock: Clock) -> None:
    top.observe(article(LAVROV, MOSCOW))
    clock.now += 29 * MINUTE
    top.observe(article(SANA))
    assert len(top) == 3  # still in the previous window, kept for the surge ratio
    clock.now += 2 * MINUTE
    top.observe(article(SANA))
    assert len(top) == 1


def test_surge_compares_with_the_previous_window(top: TopEntities, clock: Clock) -> None:
    top.observe(article(LAVROV))
    top.observe(article(LAVROV, MOSCOW))
    clock.now += 15 * MINUTE
    for _ in range(6):
        top.observe(article(LAVROV))
    top.observe(article(SANA))
    by_id = {e.id: e for e in top.top(10)}
    assert by_id["per:sergey-lavrov"].previous == 2
    assert by_id["per:sergey-lavrov"].surge == pytest.approx(3.0)
    assert by_id["org:sana"].surge is None  # new in this window
    assert "loc:moscow" not in by_id  # only in the previous window
    assert by_id["per:sergey-lavrov"].as_json() == {
        "id": "per:sergey-lavrov",
        "name": "سيرغي لافروف",
        "type": "PER",
        "articles": 6,
        "surge": 3.0,
    }


def test_distinct_ids_stay_bounded_and_the_most_mentioned_survive(clock: Clock) -> None:
    top = TopEntities(max_entities=100, clock=clock)
    for _ in range(5):
        top.observe(article(LAVROV))
        top.observe(article(MOSCOW))
    for i in range(1000):
        top.observe(article((f"per:rare-{i}", f"نادر {i}", "PER")))
        assert len(top) <= 100
    assert [e.id for e in top.top(2)] == ["loc:moscow", "per:sergey-lavrov"]
    assert [e.articles for e in top.top(2)] == [5, 5]
    # Among ids with the same count, pruning keeps the most recently seen.
    rare = sorted(int(e.id.removeprefix("per:rare-")) for e in top.top(100) if "rare" in e.id)
    assert rare == list(range(1000 - len(rare), 1000))


def test_json_body_has_the_window_and_at_most_n_entities(top: TopEntities) -> None:
    for eid in ("a", "b", "c"):
        top.observe(article((f"per:{eid}", eid, "PER")))
    body = top.as_json(2)
    assert body["window_seconds"] == 15 * MINUTE
    assert [e["id"] for e in body["entities"]] == ["per:a", "per:b"]
    assert set(body["entities"][0]) == {"id", "name", "type", "articles", "surge"}


def gauge_series(registry: CollectorRegistry) -> list[dict[str, str]]:
    return [
        {**sample.labels, "value": str(int(sample.value))}
        for family in registry.collect()
        for sample in family.samples
    ]


def test_gauge_holds_the_top_ten_only_and_drops_old_label_sets(
    top: TopEntities, clock: Clock
) -> None:
    registry = CollectorRegistry()
    gauge = Gauge(
        "t_top_entity_articles", "test", ["rank", "entity_id", "name", "type"], registry=registry
    )
    for i in range(25):
        for _ in range(i + 1):
            top.observe(article((f"per:e{i:02d}", f"اسم {i}", "PER")))
    publish_gauge(top, gauge)
    series = gauge_series(registry)
    assert len(series) == 10
    assert series[0] == {
        "rank": "1",
        "entity_id": "per:e24",
        "name": "اسم 24",
        "type": "PER",
        "value": "25",
    }
    assert sorted(int(s["rank"]) for s in series) == list(range(1, 11))

    clock.now += 16 * MINUTE  # everyone leaves the window; two newcomers arrive
    top.observe(article(LAVROV))
    top.observe(article(LAVROV, MOSCOW))
    publish_gauge(top, gauge)
    assert [(s["rank"], s["entity_id"], s["value"]) for s in gauge_series(registry)] == [
        ("1", "per:sergey-lavrov", "2"),
        ("2", "loc:moscow", "1"),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, DEFAULT_REQUESTED), ("", DEFAULT_REQUESTED), ("5", 5), (str(MAX_REQUESTED), 100)],
)
def test_requested_count_accepts(value: str | None, expected: int) -> None:
    assert requested_count(value) == expected


@pytest.mark.parametrize("value", ["0", "-3", "abc", str(MAX_REQUESTED + 1), "2.5"])
def test_requested_count_refuses(value: str) -> None:
    with pytest.raises(ValueError, match="n must be"):
        requested_count(value)
