"""The deploy files agree with the code: compose stack, Prometheus, alert rules and Grafana.

No Docker engine is needed: the files are parsed and checked against the settings, topic layout
and metrics that akhbar declares. tests/integration/test_promtool.py runs promtool on them.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client import REGISTRY, CollectorRegistry

import akhbar.common.metrics  # noqa: F401  (registers the akhbar_* metrics on REGISTRY)
from akhbar.common.settings import Settings
from akhbar.common.topics import topic_layout
from akhbar.pipeline.sensors import create_metrics

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = REPO / "docker-compose.yml"
PROMETHEUS_FILE = DEPLOY / "prometheus.yml"
ALERTS_FILE = DEPLOY / "prometheus" / "alerts.yml"
ALERTS_TEST_FILE = DEPLOY / "prometheus" / "alerts.test.yml"
GRAFANA = DEPLOY / "grafana"
DASHBOARD_FILE = GRAFANA / "dashboards" / "akhbar.json"
DATASOURCE_FILE = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDER_FILE = GRAFANA / "provisioning" / "dashboards" / "akhbar.yml"

# Series Prometheus writes itself for every target and for alerts.
PROMETHEUS_SYNTHETIC = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
}
# The names a metric family exposes, by family type (a labelled family with no children yet
# yields no samples, so the names are derived from the type rather than read from samples).
SUFFIXES_BY_TYPE: dict[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}
PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "atan2", "inf", "nan",
}  # fmt: skip
IDENTIFIER = re.compile(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)")


# --- helpers -----------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def exposed_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name a scrape of ``registry`` can contain."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES_BY_TYPE[family.type])
        names.update(sample.name for sample in family.samples)
    return names


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers that are not functions, keywords,
    label names or values, durations or Grafana variables."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "[]", text)  # ranges, subqueries, Grafana's $__range
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", " ", text)
    names: set[str] = set()
    for match in IDENTIFIER.finditer(text):
        name = match.group(1)
        is_call = text[match.end() :].lstrip().startswith("(")
        if not is_call and name.lower() not in PROMQL_KEYWORDS:
            names.add(name)
    return names


def dashboard_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels", []))


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    return [
        target["expr"]
        for panel in dashboard_panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS_FILE)["groups"] for rule in group["rules"]]


def host_path(source: str) -> Path:
    return (REPO / source).resolve()


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(host source, container target, create_host_path) of a service's bind mounts."""
    mounts: list[tuple[str, str, bool]] = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            if len(parts) >= 2 and parts[0].startswith((".", "/")):
                mounts.append((parts[0], parts[1], True))
        elif volume.get("type") == "bind":
            create = bool(volume.get("bind", {}).get("create_host_path", False))
            mounts.append((volume["source"], volume["target"], create))
    return mounts


def volume_targets(service: dict[str, Any]) -> set[str]:
    targets: set[str] = set()
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            targets.add(parts[1] if len(parts) >= 2 else parts[0])
        else:
            targets.add(volume["target"])
    return targets


def mount_target_of(service: dict[str, Any], source: str) -> str:
    for mount_source, target, _ in bind_mounts(service):
        if host_path(mount_source) == host_path(source):
            return target
    raise AssertionError(f"{source} is not bind-mounted")


def scrape_job(name: str) -> dict[str, Any]:
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS_FILE)["scrape_configs"]}
    return jobs[name]


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    parsed: dict[str, Any] = load_yaml(COMPOSE_FILE)
    return parsed


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


@pytest.fixture(scope="module")
def declared_metric_names() -> set[str]:
    """akhbar's metrics (with the default collectors on REGISTRY), Faust's sensor metrics and
    the series Prometheus writes itself."""
    faust_registry = CollectorRegistry()
    create_metrics(faust_registry)  # the faust_* series the worker serves
    return exposed_names(REGISTRY) | exposed_names(faust_registry) | PROMETHEUS_SYNTHETIC


def settings_in(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The Settings a service's container builds: the defaults plus its compose environment."""
    for key in list(os.environ):
        if key.startswith("AKHBAR_"):
            monkeypatch.delenv(key)
    for key, value in service.get("environment", {}).items():
        monkeypatch.setenv(key, str(value))
    return Settings()


# --- PromQL name extraction --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'histogram_quantile(0.99, sum by (stage, le) (rate(a_seconds_bucket{stage="x"}[5m])))',
            {"a_seconds_bucket"},
        ),
        (
            "sum by (method) (rate(d_total[$__rate_interval]))"
            ' / ignoring(method) group_left sum(rate(p_total{stage="publish"}[5m]))',
            {"d_total", "p_total"},
        ),
        ("deriv(sum(lag)[10m:]) > 0 and sum(lag) > 1e3", {"lag"}),
        ('absent(up{job="akhbar-worker"} == 1) unless on() vector(0)', {"up"}),
        ("sum(increase(a_total[$__range])) offset 1d", {"a_total"}),
    ],
)
def test_promql_names_skip_functions_keywords_labels_and_durations(
    expr: str, names: set[str]
) -> None:
    assert promql_metric_names(expr) == names


# --- compose -----------------------------------------------------------------------------------


def test_compose_defines_the_production_stack(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"kafka", "kafka-init", "worker", "producer", "prometheus", "grafana"}


def test_compose_bind_mounts_point_at_existing_files(services: dict[str, dict[str, Any]]) -> None:
    missing = [
        f"{name}: {source}"
        for name, service in services.items()
        for source, _, create in bind_mounts(service)
        if not create and not host_path(source).exists()
    ]
    assert not missing, f"bind mounts of missing paths: {missing}"


def test_compose_builds_from_an_existing_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    builds = [service["build"] for service in services.values() if "build" in service]
    assert builds, "no service builds the akhbar image"
    for build in builds:
        context = host_path(build["context"])
        assert (context / build.get("dockerfile", "Dockerfile")).is_file()


def test_dockerfile_runs_akhbar_as_a_non_root_user() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    assert final_stage.startswith("python:3.11-slim")
    users = re.findall(r"^USER\s+(\S+)", final_stage, flags=re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r'^ENTRYPOINT \["akhbar"\]$', final_stage, flags=re.MULTILINE)


def test_dockerignore_keeps_what_pip_install_needs() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "!"))
    ]
    needed = ["pyproject.toml", "README.md", "services", "services/common/metrics.py", "schemas"]
    excluded = [
        (path, pattern)
        for path in needed
        for pattern in patterns
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.split("/")[0], pattern)
    ]
    assert not excluded


def test_worker_and_producer_run_the_akhbar_commands(services: dict[str, dict[str, Any]]) -> None:
    entrypoint = ["akhbar"]  # deploy/Dockerfile's ENTRYPOINT
    worker = entrypoint + services["worker"]["command"]
    producer = entrypoint + services["producer"]["command"]
    assert shlex.join(worker) == "akhbar worker"
    assert shlex.join(producer) == "akhbar produce --watch /inbox"
    assert "/inbox" in volume_targets(services["producer"])


def test_worker_can_scale_without_name_or_host_port_clash(
    services: dict[str, dict[str, Any]],
) -> None:
    worker = services["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker


def test_worker_data_dir_is_a_volume(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_in(services["worker"], monkeypatch)
    assert str(settings.data_dir) in volume_targets(services["worker"])


def test_producer_ledger_lives_on_a_named_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_in(services["producer"], monkeypatch)
    named = {
        volume.split(":")[0]
        for volume in services["producer"]["volumes"]
        if isinstance(volume, str) and volume.split(":")[1] == str(settings.data_dir)
    }
    assert len(named) == 1
    assert named <= set(compose["volumes"])


def test_clients_bootstrap_from_the_advertised_listener(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    broker = advertised.removeprefix("PLAINTEXT://")
    for name in ("worker", "producer"):
        assert settings_in(services[name], monkeypatch).bootstrap_servers == broker, name


def test_startup_waits_for_a_healthy_broker_and_created_topics(
    services: dict[str, dict[str, Any]],
) -> None:
    assert "healthcheck" in services["kafka"]
    assert services["kafka-init"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in ("worker", "producer"):
        depends_on = services[name]["depends_on"]
        assert depends_on["kafka-init"]["condition"] == "service_completed_successfully", name


def test_kafka_init_creates_the_configured_topic_layout(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    script = " ".join(services["kafka-init"]["command"])
    created: dict[str, int] = {}
    for line in script.splitlines():
        words = shlex.split(line)
        if "--topic" in words:
            topic = words[words.index("--topic") + 1]
            created[topic] = int(words[words.index("--partitions") + 1])
    assert created == topic_layout(settings_in(services["worker"], monkeypatch))


# --- Prometheus targets ------------------------------------------------------------------------


def test_worker_scrape_port_is_the_worker_web_port(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_in(services["worker"], monkeypatch)
    job = scrape_job("akhbar-worker")
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == ["worker"]
    assert discovery["type"] == "A"
    assert discovery["port"] == settings.web_port
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_producer_scrape_target_is_the_producer_metrics_port(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_in(services["producer"], monkeypatch)
    (static,) = scrape_job("akhbar-producer")["static_configs"]
    assert static["targets"] == [f"producer:{settings.producer_metrics_port}"]


def test_metrics_servers_listen_beyond_loopback(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings_in(services["worker"], monkeypatch).web_host == "0.0.0.0"
    assert settings_in(services["producer"], monkeypatch).metrics_host == "0.0.0.0"


def test_healthchecks_probe_the_metrics_ports(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = settings_in(services["worker"], monkeypatch)
    producer = settings_in(services["producer"], monkeypatch)
    expected = {
        "worker": f"http://127.0.0.1:{worker.web_port}/metrics",
        "producer": f"http://127.0.0.1:{producer.producer_metrics_port}/metrics",
    }
    for name, url in expected.items():
        assert url in " ".join(services[name]["healthcheck"]["test"]), name


def test_prometheus_rule_file_is_the_mounted_alerts_file(
    services: dict[str, dict[str, Any]],
) -> None:
    prometheus = services["prometheus"]
    config_target = mount_target_of(prometheus, "deploy/prometheus.yml")
    (rule_file,) = load_yaml(PROMETHEUS_FILE)["rule_files"]
    # Prometheus resolves rule files against the config file's folder, here and in the container.
    assert (PROMETHEUS_FILE.parent / rule_file).resolve() == ALERTS_FILE
    in_container = str(Path(config_target).parent / rule_file)
    assert mount_target_of(prometheus, "deploy/prometheus/alerts.yml") == in_container


# --- metric names ------------------------------------------------------------------------------


def test_alert_rules_use_declared_metrics(declared_metric_names: set[str]) -> None:
    for rule in alert_rules():
        used = promql_metric_names(rule["expr"])
        assert used, f"{rule['alert']}: no metric found in {rule['expr']!r}"
        assert used <= declared_metric_names, f"{rule['alert']}: {used - declared_metric_names}"


def test_dashboard_queries_use_declared_metrics(declared_metric_names: set[str]) -> None:
    exprs = dashboard_exprs()
    assert exprs
    for expr in exprs:
        used = promql_metric_names(expr)
        assert used, f"no metric found in {expr!r}"
        assert used <= declared_metric_names, f"{expr!r}: {used - declared_metric_names}"


def test_alert_unit_tests_feed_declared_metrics(declared_metric_names: set[str]) -> None:
    fed = {
        series["series"].split("{")[0]
        for test in load_yaml(ALERTS_TEST_FILE)["tests"]
        for series in test["input_series"]
    }
    assert fed <= declared_metric_names, fed - declared_metric_names


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for test in load_yaml(ALERTS_TEST_FILE)["tests"]:
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = {rule["alert"] for rule in alert_rules()}
    assert alerts <= firing, f"never seen firing: {alerts - firing}"
    assert alerts <= quiet, f"never seen quiet: {alerts - quiet}"


# --- Grafana -----------------------------------------------------------------------------------


def test_dashboard_panels_use_the_provisioned_datasource() -> None:
    (datasource,) = load_yaml(DATASOURCE_FILE)["datasources"]
    dashboard = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    uids = {
        (node["datasource"]["type"], node["datasource"]["uid"])
        for panel in dashboard_panels(dashboard["panels"])
        for node in [panel, *panel.get("targets", [])]
    }
    assert uids == {(datasource["type"], datasource["uid"])}


def test_datasource_points_at_the_compose_prometheus(services: dict[str, dict[str, Any]]) -> None:
    (datasource,) = load_yaml(DATASOURCE_FILE)["datasources"]
    url = urlsplit(datasource["url"])
    assert url.hostname in services
    assert services[url.hostname]["image"].startswith("prom/prometheus:")
    assert url.port == 9090  # Prometheus's default --web.listen-address


def test_datasource_interval_is_the_scrape_interval() -> None:
    (datasource,) = load_yaml(DATASOURCE_FILE)["datasources"]
    scrape_interval = load_yaml(PROMETHEUS_FILE)["global"]["scrape_interval"]
    assert datasource["jsonData"]["timeInterval"] == scrape_interval


def test_dashboard_provider_reads_the_mounted_dashboards(
    services: dict[str, dict[str, Any]],
) -> None:
    grafana = services["grafana"]
    (provider,) = load_yaml(DASHBOARD_PROVIDER_FILE)["providers"]
    assert provider["options"]["path"] == mount_target_of(grafana, "deploy/grafana/dashboards")
    provisioning = mount_target_of(grafana, "deploy/grafana/provisioning")
    assert provisioning == "/etc/grafana/provisioning"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD_FILE.name}"


def test_dashboard_panel_ids_are_unique_and_every_panel_queries() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    panels = list(dashboard_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    assert all(panel.get("targets") for panel in panels if panel["type"] != "row")
