"""The five seed articles clean to their hand-checked expected text."""

from __future__ import annotations

from pathlib import Path

import pytest

from akhbar.pipeline.stages.article import Article, Dateline
from akhbar.pipeline.stages.boilerplate import BoilerplateRules
from akhbar.pipeline.stages.normalize import Normalizer

TESTS = Path(__file__).resolve().parents[1]
LOCAL_SEEDS = TESTS / "data" / "seeds"
SHARED_SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
SEEDS = LOCAL_SEEDS if LOCAL_SEEDS.is_dir() else SHARED_SEEDS
EXPECTED = TESTS / "data" / "seeds_expected"
NAMES = sorted(p.stem for p in SEEDS.glob("*.txt"))


def load(name: str) -> Article:
    title, _, body = (SEEDS / f"{name}.txt").read_text(encoding="utf-8").partition("\n")
    return Article(id=name, title=title, body=body)


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer(BoilerplateRules.load())


def test_all_five_seeds_are_present() -> None:
    """The seed copy holds the five articles the owner handed over."""
    assert len(NAMES) == 5


@pytest.mark.parametrize("name", NAMES)
def test_seed_cleans_to_expected_text(normalizer: Normalizer, name: str) -> None:
    """Every article paragraph stays and every piece of furniture goes."""
    expected = (EXPECTED / f"{name}.clean.txt").read_text(encoding="utf-8").rstrip("\n")
    assert normalizer(load(name)).text == expected


@pytest.mark.parametrize(
    ("name", "chars"),
    [("000_de031abb77a1a437", 0), ("002_cfbd479925494924", 32), ("004_64475bd69043668f", 7)],
)
def test_seed_boilerplate_count(normalizer: Normalizer, name: str, chars: int) -> None:
    """boilerplate_chars counts exactly the removed footer lines."""
    assert normalizer(load(name)).boilerplate_chars == chars


def test_seed_003_dateline(normalizer: Normalizer) -> None:
    """Seed 003's `أستانا-موسكو-سانا` is parsed into places and agency."""
    dateline = normalizer(load("003_ad60626dc4c55167")).dateline
    assert dateline == Dateline(raw="أستانا-موسكو-سانا", places=["أستانا", "موسكو"], agency="سانا")


def test_seed_003_keeps_its_mid_article_subheading(normalizer: Normalizer) -> None:
    """The `لافروف: ...` subheading inside seed 003 is article, not furniture."""
    text = normalizer(load("003_ad60626dc4c55167")).text
    assert "\nلافروف: الاجتماع يهدف إلى مناقشة الخطوات العملية" in text
    assert "تيلغرام" not in text and "انظر ايضاً" not in text and "http" not in text


def test_seed_001_byline(normalizer: Normalizer) -> None:
    """Seed 001's `| وكالات` becomes the byline."""
    assert normalizer(load("001_41cab735c99e6ba3")).byline == "وكالات"


def test_seed_spelling_variants_meet_in_matching_form(normalizer: Normalizer) -> None:
    """`الروسى` (003) and `الروسي` (000) fold to the same matching word."""
    assert " الروسي " in normalizer(load("003_ad60626dc4c55167")).match_text
    assert " الروسي " in normalizer(load("000_de031abb77a1a437")).match_text
