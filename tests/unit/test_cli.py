"""The command line: help texts, usage errors as one line with exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from akhbar.cli import build_parser, main

COMMANDS = [
    "broker",
    "topics",
    "worker",
    "produce",
    "enrich",
    "tail",
    "tag",
    "bench",
    "status",
    "run",
]


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_its_own_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert "usage: akhbar " + command in capsys.readouterr().out


def test_produce_without_paths_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["produce"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("akhbar: ")


def test_produce_with_paths_and_watch_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["produce", "a.txt", "--watch", "inbox"]) == 2
    assert "not both" in capsys.readouterr().err


def test_tag_with_a_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tag", "--conll", "/nonexistent/file.conll"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bootstrap_option_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from akhbar.cli import load_settings

    monkeypatch.setenv("AKHBAR_BOOTSTRAP_SERVERS", "env-host:1")
    args = build_parser().parse_args(["topics", "--bootstrap", "cli-host:2"])
    assert load_settings(args).bootstrap_servers == "cli-host:2"
    args = build_parser().parse_args(["topics"])
    assert load_settings(args).bootstrap_servers == "env-host:1"


BAD_REGEX = '{"trailing_furniture": {"patterns": ["("]}}'


@pytest.mark.parametrize("content", [None, "{not json", BAD_REGEX])
def test_worker_with_a_bad_boilerplate_rules_file_is_one_line_and_exit_2(
    tmp_path: Path, content: str | None
) -> None:
    """Checked before anything starts (no broker needed): the stage processes would otherwise
    fail to load, one by one, far from the user's mistake."""
    rules = tmp_path / "rules.json"
    if content is not None:
        rules.write_text(content, encoding="utf-8")
    env = {**os.environ, "AKHBAR_BOILERPLATE_RULES": str(rules), "AKHBAR_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "akhbar.cli", "worker", "--bootstrap", "127.0.0.1:1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("akhbar: boilerplate rules"), done.stderr
