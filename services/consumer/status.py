"""``akhbar status``: a refreshing terminal summary of one worker, read from its /metrics.

For people without Grafana: rates in and out, consumer lag, end-to-end latency, duplicates,
dead letters and the top entities (``/entities/top`` on the same host). Rates need two scrapes,
so even ``--once`` scrapes twice, ``interval`` seconds apart.
"""

from __future__ import annotations

import math
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import orjson
from prometheus_client.parser import text_string_to_metric_families

UNREACHABLE = 3
NOT_METRICS = 1
TOP_ENTITIES = 10
# Live mode computes rates against the oldest scrape kept, so they are smoothed over ~10 s.
RATE_SECONDS = 10.0
TIMEOUT_SECONDS = 5.0

Fetch = Callable[[str], str]


class StatusError(Exception):
    """The worker's /metrics could not be read; ``code`` is the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Snapshot:
    """What one scrape of a worker's /metrics says, reduced to what the summary shows."""

    at: float
    consumed: float = 0.0
    published: float = 0.0
    duplicates: float = 0.0
    lag: float = 0.0
    # (upper bound, cumulative count), sorted by bound, the last one +Inf
    latency_buckets: tuple[tuple[float, float], ...] = ()
    dead_letters: dict[tuple[str, str], float] = field(default_factory=dict)


def parse_metrics(text: str, at: float) -> Snapshot:
    """Reduce a Prometheus text exposition to a Snapshot taken at ``at`` (monotonic seconds)."""
    consumed = published = duplicates = lag = 0.0
    buckets: dict[float, float] = {}
    dead: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "akhbar_articles_total":
                if labels.get("stage") == "consume":
                    consumed += sample.value
                elif labels.get("stage") == "publish":
                    published += sample.value
                    if labels.get("outcome") == "duplicate":
                        duplicates += sample.value
            elif sample.name == "akhbar_consumer_lag_messages":
                lag += sample.value
            elif sample.name == "akhbar_end_to_end_seconds_bucket":
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
            elif sample.name == "akhbar_dead_letters_total":
                key = (labels.get("stage", "?"), labels.get("reason", "?"))
                dead[key] = dead.get(key, 0.0) + sample.value
    return Snapshot(at, consumed, published, duplicates, lag, tuple(sorted(buckets.items())), dead)


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """``histogram_quantile`` on cumulative buckets: linear inside the bucket, None when empty.

    Like Prometheus, a rank that falls in the +Inf bucket answers the largest finite bound.
    """
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def subtract(
    later: tuple[tuple[float, float], ...], earlier: tuple[tuple[float, float], ...]
) -> tuple[tuple[float, float], ...]:
    """Buckets observed between two scrapes (``later`` unchanged if the bounds differ)."""
    before = dict(earlier)
    if set(before) != {bound for bound, _ in later}:
        return later
    return tuple((bound, count - before[bound]) for bound, count in later)


@dataclass(frozen=True)
class Summary:
    """The numbers the status screen shows, computed from the first and last of some scrapes."""

    seconds: float
    rate_in: float | None
    rate_out: float | None
    published: float
    lag: float
    p50: float | None
    p99: float | None
    latency_scope: str
    duplicate_ratio: float | None
    dead_letters: dict[tuple[str, str], float]
    entities: list[dict[str, Any]] | None = None


def rate(later: float, earlier: float, seconds: float) -> float | None:
    """Counter increase per second; None without a time span or after a counter reset."""
    if seconds <= 0 or later < earlier:
        return None
    return (later - earlier) / seconds


def summarize(first: Snapshot, last: Snapshot) -> Summary:
    """Rates between two scrapes; latency over the scrapes' span, else since the worker started."""
    seconds = last.at - first.at
    recent = subtract(last.latency_buckets, first.latency_buckets)
    scope = f"last {seconds:.0f} s"
    if not recent or recent[-1][1] <= 0:
        recent, scope = last.latency_buckets, "since start"
    return Summary(
        seconds=seconds,
        rate_in=rate(last.consumed, first.consumed, seconds),
        rate_out=rate(last.published, first.published, seconds),
        published=last.published,
        lag=last.lag,
        p50=quantile(0.5, recent),
        p99=quantile(0.99, recent),
        latency_scope=scope,
        duplicate_ratio=last.duplicates / last.published if last.published else None,
        dead_letters=dict(last.dead_letters),
    )


# --- rendering ---------------------------------------------------------------------------------


def seconds_text(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def rate_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} articles/s"


def rows(summary: Summary) -> list[tuple[str, str]]:
    """(label, value) lines of the summary, shared by the plain and the rich renderings."""
    dead = sorted(summary.dead_letters.items(), key=lambda item: (-item[1], item[0]))
    dead_total = sum(count for _, count in dead)
    dead_detail = ", ".join(f"{reason} ({stage}): {count:.0f}" for (stage, reason), count in dead)
    ratio = summary.duplicate_ratio
    return [
        ("rate in", rate_text(summary.rate_in)),
        ("rate out", f"{rate_text(summary.rate_out)} ({summary.published:.0f} published)"),
        ("consumer lag", f"{summary.lag:.0f} messages"),
        ("latency p50", f"{seconds_text(summary.p50)} ({summary.latency_scope})"),
        ("latency p99", f"{seconds_text(summary.p99)} ({summary.latency_scope})"),
        ("duplicates", "-" if ratio is None else f"{ratio:.1%} of published"),
        ("dead letters", f"{dead_total:.0f}" + (f": {dead_detail}" if dead_detail else "")),
    ]


def entity_rows(entities: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    """(rank, name, type and id, articles, surge) for each top entity."""
    out = []
    for rank, entity in enumerate(entities, start=1):
        surge = entity.get("surge")
        out.append(
            (
                str(rank),
                str(entity.get("name", "")),
                f"{entity.get('type', '?')} {entity.get('id', '')}",
                str(entity.get("articles", 0)),
                "new" if surge is None else f"x{surge:.2f}",
            )
        )
    return out


def plain_text(summary: Summary, url: str) -> str:
    """The whole summary as plain text (``--once`` and non-terminal output)."""
    lines = [f"akhbar status  {url}  (rates over {summary.seconds:.1f} s)"]
    lines += [f"{label:<14}{value}" for label, value in rows(summary)]
    if summary.entities is None:
        lines.append("top entities  unavailable (no /entities/top on this worker)")
    elif not summary.entities:
        lines.append("top entities  none in the current window")
    else:
        lines.append("top entities  (rank, name, type and id, articles, surge)")
        lines += ["  " + "  ".join(row) for row in entity_rows(summary.entities)]
    return "\n".join(lines)


def rich_view(summary: Summary, url: str, error: str | None = None) -> Any:
    """The live screen: a metrics table and a top-entities table."""
    from rich.console import Group
    from rich.table import Table

    table = Table(title=f"akhbar status  {url}", caption=error, caption_style="red")
    table.add_column("metric")
    table.add_column("value")
    for label, value in rows(summary):
        table.add_row(label, value)
    entities = Table(title="top entities (current window)")
    for name in ("#", "name", "type / id", "articles", "surge"):
        entities.add_column(name)
    for row in entity_rows(summary.entities or []):
        entities.add_row(*row)
    if summary.entities is None:
        entities.caption = "unavailable (no /entities/top on this worker)"
    return Group(table, entities)


# --- fetching ----------------------------------------------------------------------------------


def fetch_text(url: str) -> str:
    """GET ``url`` and return its body as text."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        body: bytes = response.read()
    return body.decode("utf-8", errors="replace")


def entities_url(metrics_url: str, n: int = TOP_ENTITIES) -> str:
    """/entities/top on the same scheme, host and port as the metrics URL."""
    parts = urlsplit(metrics_url)
    return urlunsplit((parts.scheme, parts.netloc, "/entities/top", f"n={n}", ""))


def scrape(url: str, fetch: Fetch, clock: Callable[[], float]) -> Snapshot:
    """One Snapshot of the worker, or StatusError when it cannot be read."""
    try:
        text = fetch(url)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise StatusError(f"cannot reach {url}: {reason}", UNREACHABLE) from exc
    try:
        return parse_metrics(text, clock())
    except ValueError as exc:
        raise StatusError(f"{url} does not serve Prometheus metrics: {exc}", NOT_METRICS) from exc


def top_entities(url: str, fetch: Fetch) -> list[dict[str, Any]] | None:
    """The worker's top entities, or None when it has no such page (or it cannot be read)."""
    try:
        body = orjson.loads(fetch(entities_url(url)))
    except (urllib.error.URLError, OSError, ValueError):
        return None
    entities = body.get("entities") if isinstance(body, dict) else None
    return entities if isinstance(entities, list) else None


def run_status(
    url: str,
    *,
    interval: float = 2.0,
    once: bool = False,
    out: TextIO | None = None,
    fetch: Fetch = fetch_text,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Show the summary: once (two scrapes ``interval`` apart), or refreshed until Ctrl-C."""
    out = out or sys.stdout
    interval = max(0.1, interval)
    keep = max(2, int(RATE_SECONDS / interval) + 1)
    try:
        scrapes = deque([scrape(url, fetch, clock)], maxlen=keep)
        sleep(interval)
        scrapes.append(scrape(url, fetch, clock))
    except StatusError as exc:
        print(f"akhbar: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 0

    def current() -> Summary:
        return replace(summarize(scrapes[0], scrapes[-1]), entities=top_entities(url, fetch))

    if once:
        print(plain_text(current(), url), file=out, flush=True)
        return 0
    try:
        if out.isatty():
            live_loop(url, scrapes, current, interval, fetch, sleep, clock, out)
        else:
            plain_loop(url, scrapes, current, interval, fetch, sleep, clock, out)
    except KeyboardInterrupt:
        pass
    return 0


def plain_loop(
    url: str,
    scrapes: deque[Snapshot],
    current: Callable[[], Summary],
    interval: float,
    fetch: Fetch,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    out: TextIO,
) -> None:
    """Print a plain summary per refresh (output is not a terminal); failures go to stderr."""
    fresh = True
    while True:
        if fresh:
            print(plain_text(current(), url) + "\n", file=out, flush=True)
        sleep(interval)
        try:
            scrapes.append(scrape(url, fetch, clock))
            fresh = True
        except StatusError as exc:
            print(f"akhbar: {exc} (retrying every {interval:g} s)", file=sys.stderr, flush=True)
            fresh = False


def live_loop(
    url: str,
    scrapes: deque[Snapshot],
    current: Callable[[], Summary],
    interval: float,
    fetch: Fetch,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    out: TextIO,
) -> None:
    """Refresh a rich Live screen; a failed scrape shows in red and the last numbers stay."""
    from rich.console import Console
    from rich.live import Live

    summary = current()
    with Live(rich_view(summary, url), console=Console(file=out), auto_refresh=False) as live:
        while True:
            sleep(interval)
            error = None
            try:
                scrapes.append(scrape(url, fetch, clock))
                summary = current()
            except StatusError as exc:
                error = f"{exc} (retrying every {interval:g} s)"
            live.update(rich_view(summary, url, error), refresh=True)
