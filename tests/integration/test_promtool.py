"""promtool accepts the Prometheus config, the alert rules and the dashboard's queries, and the
alert rules pass their unit tests (deploy/prometheus/alerts.test.yml).

`make test` installs promtool (Debian's prometheus package); a missing promtool fails these
tests unless AKHBAR_ALLOW_MISSING_PROMTOOL=1 says to skip them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DASHBOARD_FILE = DEPLOY / "grafana" / "dashboards" / "akhbar.json"
# Grafana's variables, replaced by a duration so that the query parses as plain PromQL.
GRAFANA_RANGE_VARIABLE = re.compile(r"\$__rate_interval|\$__range|\$__interval")


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("AKHBAR_ALLOW_MISSING_PROMTOOL") == "1":
            pytest.skip("promtool is not installed (AKHBAR_ALLOW_MISSING_PROMTOOL=1)")
        pytest.fail(
            "promtool is not installed: `make test` installs it (apt-get install -y prometheus); "
            "set AKHBAR_ALLOW_MISSING_PROMTOOL=1 to skip these tests instead"
        )
    return path


def run(promtool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_succeeds(result: subprocess.CompletedProcess[str]) -> None:
    output = f"$ {' '.join(result.args)}\n{result.stdout}{result.stderr}"
    assert result.returncode == 0, output


def panels(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from panels(node.get("panels", []))


def test_prometheus_config_is_valid(promtool: str) -> None:
    assert_succeeds(run(promtool, "check", "config", DEPLOY / "prometheus.yml"))


def test_alert_rules_are_valid(promtool: str) -> None:
    assert_succeeds(run(promtool, "check", "rules", DEPLOY / "prometheus" / "alerts.yml"))


def test_alert_rules_pass_their_unit_tests(promtool: str) -> None:
    assert_succeeds(run(promtool, "test", "rules", DEPLOY / "prometheus" / "alerts.test.yml"))


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    rules = [
        {
            "record": f"dashboard:panel_{panel['id']}:{target['refId']}",
            "expr": GRAFANA_RANGE_VARIABLE.sub("5m", target["expr"]),
        }
        for panel in panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]
    assert rules
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert_succeeds(run(promtool, "check", "rules", rule_file))
