"""pyproject.toml lists every package folder under services/, so a wheel install has them all."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(("akhbar", *init.parent.relative_to(REPO / "services").parts)).rstrip(".")
        for init in (REPO / "services").rglob("__init__.py")
    }
    assert folders == listed


def test_package_data_covers_the_shipped_data_files() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]
    assert "schemas/*.json" in patterns["akhbar.common"]
    assert "kb/*.tsv" in patterns["akhbar.pipeline.ner"]
    assert "data/*.json" in patterns["akhbar.pipeline.stages"]
