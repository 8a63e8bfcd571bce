"""A real Prometheus scrapes a real worker: deploy/prometheus.yml's worker job and alert rules work.

The config is deploy/prometheus.yml with the worker job's Docker DNS discovery replaced by the
test worker's address, 1-second intervals, and the rule files given by absolute path. `make test`
installs Prometheus (Debian's package); a missing binary fails these tests unless
AKHBAR_ALLOW_MISSING_PROMTOOL=1 says to skip them.

Prometheus only sees a counter increase between two scrapes of an existing series (a series that
first appears at 5 has a rate of 0), so the fixture publishes the seeds in two batches: the
second one after Prometheus has scraped the first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from akhbar.common.broker import free_port
from tests.integration.kafka_helpers import AkhbarProcess, akhbar_env, run_akhbar, start_akhbar

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
WORKER_JOB = "akhbar-worker"
ALERTS = {
    "AkhbarConsumerLagGrowing",
    "AkhbarDeadLetterRateHigh",
    "AkhbarNoOutput",
    "AkhbarNoWorkerUp",
}
T = TypeVar("T")


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        if os.environ.get("AKHBAR_ALLOW_MISSING_PROMTOOL") == "1":
            pytest.skip("prometheus is not installed (AKHBAR_ALLOW_MISSING_PROMTOOL=1)")
        pytest.fail(
            "prometheus is not installed: `make test` installs it (apt-get install -y "
            "prometheus); set AKHBAR_ALLOW_MISSING_PROMTOOL=1 to skip these tests instead"
        )
    return path


def scrape_config(worker: str) -> dict[str, Any]:
    """deploy/prometheus.yml, scraping only the worker at ``worker`` every second."""
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"] = {
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "evaluation_interval": "1s",
    }
    config["rule_files"] = [str((DEPLOY / path).resolve()) for path in config["rule_files"]]
    [job] = [job for job in config["scrape_configs"] if job["job_name"] == WORKER_JOB]
    assert "dns_sd_configs" in job, "the worker job no longer uses DNS discovery: update this test"
    del job["dns_sd_configs"]
    job["static_configs"] = [{"targets": [worker]}]
    config["scrape_configs"] = [job]
    return config


def poll(probe: Callable[[], T | None], what: str, timeout: float, check: Callable[[], None]) -> T:
    """``probe()`` until it returns something other than None; ``check()`` between tries."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check()
        result = probe()
        if result is not None:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


class Scraped:
    """The worker and the Prometheus that scrapes it, for the tests to query."""

    def __init__(
        self,
        tmp: Path,
        worker: AkhbarProcess,
        worker_port: int,
        prometheus: subprocess.Popen[bytes],
        prometheus_port: int,
    ) -> None:
        self.tmp = tmp
        self.worker = worker
        self.worker_port = worker_port
        self.prometheus = prometheus
        self.prometheus_url = f"http://127.0.0.1:{prometheus_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.worker_port}/metrics"

    def alive(self) -> None:
        """Fail at once, with the logs, if the worker or Prometheus has exited."""
        for name, process, log in [
            ("worker", self.worker.process, self.worker.log),
            ("prometheus", self.prometheus, self.tmp / "prometheus.log"),
        ]:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise AssertionError(f"{name} exited with {process.returncode}:\n{tail}")

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query through Prometheus's HTTP API; the result vector."""
        url = f"{self.prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        body = get_json(url)
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, expr: str, test: Callable[[float], bool], timeout: float = 30.0) -> float:
        """Poll ``expr`` (a single-value vector) until ``test(value)`` holds; the value."""

        def probe() -> float | None:
            try:
                result = self.query(expr)
            except urllib.error.URLError:  # Prometheus still starting
                return None
            if result and test(float(result[0]["value"][1])):
                return float(result[0]["value"][1])
            return None

        return poll(probe, f"{expr} to pass its test", timeout, self.alive)


@pytest.fixture(scope="module")
def scraped(
    broker: str, tmp_path_factory: pytest.TempPathFactory, seed_paths: list[Path]
) -> Iterator[Scraped]:
    """A worker on unique topics, a Prometheus scraping it, and the seeds published in 2 batches."""
    binary = prometheus_binary()
    tmp = tmp_path_factory.mktemp("scrape")
    suffix = uuid.uuid4().hex[:8]
    worker_port, prometheus_port = free_port(), free_port()
    env = akhbar_env(
        broker,
        app_id=f"akhbar-scrape-{suffix}",
        topic_raw=f"s{suffix}.raw",
        topic_enriched=f"s{suffix}.enriched",
        topic_dlq=f"s{suffix}.dlq",
        topic_duplicates=f"s{suffix}.duplicates",
        topic_staged=f"s{suffix}.staged",
        data_dir=tmp / "state",
        web_port=worker_port,
    )
    created = run_akhbar(["topics"], env)
    assert created.returncode == 0, created.stderr
    config = tmp / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(f"127.0.0.1:{worker_port}")), encoding="utf-8")
    worker = start_akhbar(["worker"], env, tmp / "worker.log")
    prometheus = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        stdout=(tmp / "prometheus.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    stack = Scraped(tmp, worker, worker_port, prometheus, prometheus_port)
    try:
        stack.wait_for(f'up{{job="{WORKER_JOB}"}}', lambda up: up == 1)
        first = run_akhbar(["produce", *map(str, seed_paths[:2])], env)
        assert first.returncode == 0, first.stderr
        published = 'sum(akhbar_articles_total{stage="publish"})'
        stack.wait_for(published, lambda n: n >= 2)
        second = run_akhbar(["produce", *map(str, seed_paths[2:])], env)
        assert second.returncode == 0, second.stderr
        yield stack
    finally:
        prometheus.terminate()
        try:
            prometheus.wait(15)
        except subprocess.TimeoutExpired:
            prometheus.kill()
            prometheus.wait()
        code = worker.stop()
        print(worker.log.read_text(errors="replace")[-3000:])
    assert code == 0, f"worker exited with {code}"


def test_prometheus_scrapes_the_worker_job(scraped: Scraped) -> None:
    [target] = get_json(f"{scraped.prometheus_url}/api/v1/targets")["data"]["activeTargets"]
    assert target["labels"]["job"] == WORKER_JOB
    assert target["health"] == "up", target.get("lastError")
    assert scraped.query(f'up{{job="{WORKER_JOB}"}} == 1')


def test_alert_rules_load(scraped: Scraped) -> None:
    groups = get_json(f"{scraped.prometheus_url}/api/v1/rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {rule["name"] for rule in rules} == ALERTS
    assert all(rule["health"] != "err" for rule in rules), rules


def test_publish_rate_becomes_positive(scraped: Scraped) -> None:
    rate = scraped.wait_for(
        'sum(rate(akhbar_articles_total{stage="publish"}[30s]))', lambda value: value > 0
    )
    assert rate > 0


@pytest.mark.parametrize(
    "metric",
    [
        "akhbar_consumer_lag_messages",
        "akhbar_end_to_end_seconds_bucket",
        "akhbar_top_entity_articles",
    ],
)
def test_series_exist(scraped: Scraped, metric: str) -> None:
    count = scraped.wait_for(f"count({metric})", lambda n: n > 0)
    assert count > 0


def test_top_entity_gauge_has_at_most_ten_series_ranked_from_one(scraped: Scraped) -> None:
    scraped.wait_for("count(akhbar_top_entity_articles)", lambda n: n > 0)
    series = scraped.query("akhbar_top_entity_articles")
    ranks = sorted(int(s["metric"]["rank"]) for s in series)
    assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) <= 10
    first = next(s for s in series if s["metric"]["rank"] == "1")
    assert {"entity_id", "name", "type"} <= set(first["metric"])
    assert float(first["value"][1]) >= 1


def test_status_once_shows_the_rate_and_a_top_entity(scraped: Scraped) -> None:
    scraped.wait_for('sum(akhbar_articles_total{stage="publish"})', lambda n: n >= 5)
    top = get_json(f"http://127.0.0.1:{scraped.worker_port}/entities/top?n=1")
    assert top["window_seconds"] > 0 and len(top["entities"]) == 1
    result = run_akhbar(
        ["status", "--once", "--interval", "0.5", "--url", scraped.metrics_url], dict(os.environ)
    )
    assert result.returncode == 0, result.stderr
    match = re.search(
        r"^rate out +(\d+\.\d\d) articles/s \((\d+) published\)$", result.stdout, re.MULTILINE
    )
    assert match, result.stdout
    assert int(match.group(2)) >= 5
    assert re.search(r"^rate in +\d+\.\d\d articles/s$", result.stdout, re.MULTILINE)
    assert top["entities"][0]["name"] in result.stdout
