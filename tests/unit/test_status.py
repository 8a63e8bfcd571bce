"""``akhbar status``: numbers parsed from a metrics text fixture, rendering, and exit codes."""

from __future__ import annotations

import io
import urllib.error
from collections.abc import Iterator
from dataclasses import replace
from email.message import Message

import orjson
import pytest
from rich.console import Console

from akhbar.common.broker import free_port
from akhbar.consumer.status import (
    Snapshot,
    entities_url,
    parse_metrics,
    plain_text,
    quantile,
    rich_view,
    run_status,
    summarize,
)

URL = "http://worker:6066/metrics"

FIRST = """\
# HELP akhbar_articles_total Articles handled, by pipeline stage and outcome.
# TYPE akhbar_articles_total counter
akhbar_articles_total{outcome="ok",stage="consume"} 10.0
akhbar_articles_total{outcome="ok",stage="normalize"} 9.0
akhbar_articles_total{outcome="unique",stage="publish"} 6.0
akhbar_articles_total{outcome="duplicate",stage="publish"} 2.0
# HELP akhbar_consumer_lag_messages Messages behind.
# TYPE akhbar_consumer_lag_messages gauge
akhbar_consumer_lag_messages{partition="0",topic="akhbar.articles.raw"} 30.0
akhbar_consumer_lag_messages{partition="1",topic="akhbar.articles.raw"} 12.0
# HELP akhbar_end_to_end_seconds Producer send to enriched event.
# TYPE akhbar_end_to_end_seconds histogram
akhbar_end_to_end_seconds_bucket{le="0.01"} 0.0
akhbar_end_to_end_seconds_bucket{le="0.05"} 4.0
akhbar_end_to_end_seconds_bucket{le="0.1"} 8.0
akhbar_end_to_end_seconds_bucket{le="0.5"} 8.0
akhbar_end_to_end_seconds_bucket{le="+Inf"} 8.0
akhbar_end_to_end_seconds_count 8.0
akhbar_end_to_end_seconds_sum 0.4
# HELP faust_messages_received_total Faust's own sensor.
# TYPE faust_messages_received_total counter
faust_messages_received_total 123.0
"""

SECOND = """\
# TYPE akhbar_articles_total counter
akhbar_articles_total{outcome="ok",stage="consume"} 30.0
akhbar_articles_total{outcome="dead_letter",stage="decode"} 3.0
akhbar_articles_total{outcome="unique",stage="publish"} 20.0
akhbar_articles_total{outcome="duplicate",stage="publish"} 4.0
# TYPE akhbar_consumer_lag_messages gauge
akhbar_consumer_lag_messages{partition="0",topic="akhbar.articles.raw"} 5.0
akhbar_consumer_lag_messages{partition="1",topic="akhbar.articles.raw"} 2.0
# TYPE akhbar_end_to_end_seconds histogram
akhbar_end_to_end_seconds_bucket{le="0.01"} 0.0
akhbar_end_to_end_seconds_bucket{le="0.05"} 4.0
akhbar_end_to_end_seconds_bucket{le="0.1"} 16.0
akhbar_end_to_end_seconds_bucket{le="0.5"} 24.0
akhbar_end_to_end_seconds_bucket{le="+Inf"} 24.0
akhbar_end_to_end_seconds_count 24.0
akhbar_end_to_end_seconds_sum 4.0
# TYPE akhbar_dead_letters_total counter
akhbar_dead_letters_total{reason="malformed_json",stage="decode"} 2.0
akhbar_dead_letters_total{reason="not_arabic",stage="normalize"} 1.0
akhbar_dead_letters_total{reason="malformed_json",stage="normalize"} 4.0
"""

ENTITIES = {
    "window_seconds": 900.0,
    "entities": [
        {
            "id": "per:sergey-lavrov",
            "name": "سيرغي لافروف",
            "type": "PER",
            "articles": 6,
            "surge": 3.0,
        },
        {"id": "loc:moscow", "name": "موسكو", "type": "LOC", "articles": 2, "surge": None},
    ],
}


def test_parse_reduces_the_exposition_to_the_summary_inputs() -> None:
    snap = parse_metrics(SECOND, at=7.0)
    assert (snap.at, snap.consumed, snap.published, snap.duplicates) == (7.0, 30, 24, 4)
    assert snap.lag == 7
    assert snap.latency_buckets[-1] == (float("inf"), 24)
    assert snap.dead_letters == {
        ("decode", "malformed_json"): 2,
        ("normalize", "not_arabic"): 1,
        ("normalize", "malformed_json"): 4,
    }


def test_summary_numbers_from_two_scrapes() -> None:
    summary = summarize(parse_metrics(FIRST, at=100.0), parse_metrics(SECOND, at=104.0))
    assert summary.rate_in == pytest.approx(5.0)  # (30 - 10) / 4 s
    assert summary.rate_out == pytest.approx(4.0)  # (24 - 8) / 4 s
    assert summary.lag == 7
    # Between the scrapes: 8 observations in (0.05, 0.1], 8 in (0.1, 0.5].
    assert summary.p50 == pytest.approx(0.1)
    assert summary.p99 == pytest.approx(0.1 + 0.4 * (0.99 * 16 - 8) / 8)
    assert summary.latency_scope == "last 4 s"
    assert summary.duplicate_ratio == pytest.approx(4 / 24)


def test_latency_falls_back_to_since_start_when_nothing_new_was_observed() -> None:
    same = parse_metrics(FIRST, at=1.0)
    summary = summarize(same, parse_metrics(FIRST, at=3.0))
    assert summary.latency_scope == "since start"
    assert summary.p50 == pytest.approx(0.05)  # rank 4 of 8 ends the (0.01, 0.05] bucket
    assert summary.rate_out == 0.0


def test_a_counter_reset_gives_no_rate() -> None:
    summary = summarize(parse_metrics(SECOND, at=0.0), parse_metrics(FIRST, at=2.0))
    assert summary.rate_in is None and summary.rate_out is None


@pytest.mark.parametrize(
    ("buckets", "q", "expected"),
    [
        ([], 0.5, None),
        ([(1.0, 0.0), (float("inf"), 0.0)], 0.5, None),
        ([(1.0, 10.0), (float("inf"), 10.0)], 0.5, 0.5),
        ([(1.0, 2.0), (2.0, 4.0), (float("inf"), 10.0)], 0.99, 2.0),  # in +Inf: largest bound
    ],
)
def test_quantile_like_histogram_quantile(
    buckets: list[tuple[float, float]], q: float, expected: float | None
) -> None:
    assert quantile(q, buckets) == (expected if expected is None else pytest.approx(expected))


def test_plain_text_shows_every_number() -> None:
    summary = summarize(parse_metrics(FIRST, at=100.0), parse_metrics(SECOND, at=104.0))
    text = plain_text(replace(summary, entities=ENTITIES["entities"]), URL)
    lines = text.splitlines()
    assert lines[0] == f"akhbar status  {URL}  (rates over 4.0 s)"
    assert "rate in       5.00 articles/s" in lines
    assert "rate out      4.00 articles/s (24 published)" in lines
    assert "consumer lag  7 messages" in lines
    assert "latency p50   100 ms (last 4 s)" in lines
    assert "latency p99   492 ms (last 4 s)" in lines
    assert "duplicates    16.7% of published" in lines
    assert (
        "dead letters  7: malformed_json (normalize): 4, malformed_json (decode): 2, "
        "not_arabic (normalize): 1"
    ) in lines
    assert "  1  سيرغي لافروف  PER per:sergey-lavrov  6  x3.00" in lines
    assert "  2  موسكو  LOC loc:moscow  2  new" in lines


def test_rich_view_renders_the_same_rows() -> None:
    summary = summarize(parse_metrics(FIRST, at=100.0), parse_metrics(SECOND, at=104.0))
    console = Console(file=io.StringIO(), width=160, record=True)
    console.print(rich_view(summary, URL, error="cannot reach it"))
    text = console.export_text()
    assert "5.00 articles/s" in text and "16.7% of published" in text
    assert "cannot reach it" in text


class FakeWorker:
    """Serves FIRST then SECOND on /metrics, and ENTITIES (or an error) on /entities/top."""

    def __init__(self, entities: object = ENTITIES) -> None:
        self.pages: Iterator[str | Exception] = iter([FIRST, SECOND])
        self.entities = entities
        self.slept: list[float] = []
        self.now = 100.0

    def fetch(self, url: str) -> str:
        if url == URL:
            page = next(self.pages)
            if isinstance(page, Exception):
                raise page
            return page
        if url == entities_url(URL):
            if isinstance(self.entities, Exception):
                raise self.entities
            return orjson.dumps(self.entities).decode()
        raise AssertionError(url)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_once_scrapes_twice_an_interval_apart_and_prints_a_summary() -> None:
    worker, out = FakeWorker(), io.StringIO()
    code = run_status(
        URL,
        interval=4.0,
        once=True,
        out=out,
        fetch=worker.fetch,
        sleep=worker.sleep,
        clock=worker.clock,
    )
    assert code == 0
    assert worker.slept == [4.0]
    text = out.getvalue()
    assert "rate out      4.00 articles/s (24 published)" in text
    assert "سيرغي لافروف" in text


def test_entities_url_is_on_the_metrics_host() -> None:
    assert entities_url("http://10.0.0.5:6066/metrics") == "http://10.0.0.5:6066/entities/top?n=10"


def test_a_worker_without_the_entities_page_still_gets_a_summary() -> None:
    missing = urllib.error.HTTPError(entities_url(URL), 404, "Not Found", Message(), None)
    worker, out = FakeWorker(entities=missing), io.StringIO()
    code = run_status(
        URL,
        interval=1.0,
        once=True,
        out=out,
        fetch=worker.fetch,
        sleep=worker.sleep,
        clock=worker.clock,
    )
    assert code == 0
    assert "top entities  unavailable" in out.getvalue()


def test_without_a_terminal_it_prints_a_summary_per_refresh_until_ctrl_c(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A failed refresh is one stderr line; the loop goes on and prints again once it recovers."""
    worker, out = FakeWorker(), io.StringIO()
    refused = urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
    worker.pages = iter([FIRST, SECOND, refused, SECOND])
    refreshes = 0

    def sleep(seconds: float) -> None:
        nonlocal refreshes
        refreshes += 1
        if refreshes == 4:
            raise KeyboardInterrupt
        worker.sleep(seconds)

    code = run_status(
        URL, interval=1.0, out=out, fetch=worker.fetch, sleep=sleep, clock=worker.clock
    )
    assert code == 0
    assert out.getvalue().count("akhbar status  ") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "retrying every 1 s" in err


def test_unreachable_url_is_one_line_and_exit_code_3(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"
    code = run_status(url, interval=0.1, once=True, sleep=lambda _: None)
    assert code == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(f"akhbar: cannot reach {url}: ")


def test_a_page_that_is_not_metrics_is_exit_code_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_status(URL, once=True, fetch=lambda _: "<html>hello</html>", sleep=lambda _: None)
    assert code == 1
    assert "does not serve Prometheus metrics" in capsys.readouterr().err


def test_snapshot_defaults_are_empty() -> None:
    assert parse_metrics("", at=0.0) == Snapshot(at=0.0)
