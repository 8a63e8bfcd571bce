"""``akhbar enrich``: the worker's chain over files or stdin, no broker, enriched JSONL out."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import orjson
import pytest

from akhbar.common import events
from akhbar.common.settings import Settings
from akhbar.pipeline.app import chain_config
from akhbar.pipeline.chain import Chain, build_chain
from akhbar.pipeline.offline import enrich, enrich_stream, file_outcomes, stdin_outcomes


@pytest.fixture(scope="module")
def tagger() -> object:
    return dict(build_chain(chain_config(Settings()), {}).stages)["entities"]


@pytest.fixture()
def chain(tagger: object) -> Chain:
    """A fresh chain (empty dedup state) sharing the once-loaded entity model."""
    return build_chain(chain_config(Settings()), {}, tagger=tagger)  # type: ignore[arg-type]


def run(chain: Chain, outcomes: object) -> tuple[list[dict[str, object]], list[str], int]:
    out, err = io.StringIO(), io.StringIO()
    refused = enrich_stream(chain, outcomes, out, err)  # type: ignore[arg-type]
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    return lines, err.getvalue().splitlines(), refused


def test_seeds_come_out_enriched_in_input_order(chain: Chain, seed_paths: list[Path]) -> None:
    outcomes = file_outcomes([seed_paths[0].parent], None, 262_144)
    lines, err, refused = run(chain, outcomes)
    assert refused == 0 and err == []
    assert [e["title"] for e in lines] == [
        p.read_text().splitlines()[0].strip() for p in seed_paths
    ]
    for event in lines:
        events.validate(event)
    by_name = {p.name[:3]: e for p, e in zip(seed_paths, lines, strict=True)}
    assert by_name["000"]["dedup"]["status"] == "unique"
    assert by_name["004"]["dedup"]["status"] == "unique"


def test_dedup_state_carries_across_inputs(
    chain: Chain, seed_paths: list[Path], tmp_path: Path
) -> None:
    copy = tmp_path / "copy" / "again.txt"
    copy.parent.mkdir()
    shutil.copyfile(seed_paths[3], copy)
    outcomes = file_outcomes([seed_paths[3], copy], None, 262_144)
    (first, second), _, _ = run(chain, outcomes)
    assert second["dedup"] == {
        "status": "duplicate",
        "duplicate_of": first["id"],
        "similarity": 1.0,
        "method": "exact",
    }


def test_stdin_jsonl_with_optional_fields(chain: Chain, seed_paths: list[Path]) -> None:
    body = seed_paths[4].read_text()
    stdin = io.BytesIO(orjson.dumps({"id": "x1", "text": body}) + b"\n\n" + b"{broken\n")
    lines, err, refused = run(chain, stdin_outcomes(stdin, 262_144))
    assert [e["id"] for e in lines] == ["x1"]
    assert refused == 1 and len(err) == 1 and "malformed_jsonl_line" in err[0]


def test_non_arabic_text_is_refused_with_one_line(chain: Chain) -> None:
    text = "This is an English article about the weather, long enough to pass the length gate."
    stdin = io.BytesIO(orjson.dumps({"id": "en1", "title": "Weather", "text": text}) + b"\n")
    lines, err, refused = run(chain, stdin_outcomes(stdin, 262_144))
    assert lines == [] and refused == 1
    assert err == [err[0]] and "en1" in err[0] and "not_arabic" in err[0]


def test_exit_code_is_1_when_anything_was_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe not utf-8")
    assert enrich(Settings(), [str(bad)], source=None) == 1
    assert "not_utf8" in capsys.readouterr().err


def test_missing_path_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert enrich(Settings(), ["/nonexistent/dir"], source=None) == 2
    assert capsys.readouterr().err.startswith("akhbar: ")
