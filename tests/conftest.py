"""Shared test fixtures: seed articles, and one embedded broker per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEEDS_DIR = REPO / "tests" / "data" / "seeds"


@pytest.fixture(scope="session")
def seed_paths() -> list[Path]:
    """The five seed articles the owner handed over (copied into tests/data/seeds)."""
    paths = sorted(SEEDS_DIR.glob("*.txt"))
    assert len(paths) == 5, f"expected 5 seeds in {SEEDS_DIR}"
    return paths


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """An embedded Tansu broker on a free loopback port for the whole session; yields bootstrap."""
    from akhbar.common.broker import start_broker

    embedded = start_broker(None)
    try:
        yield embedded.bootstrap
    finally:
        embedded.stop()
