"""``akhbar bench``: baselines, the full pipeline and the offline chain, on an embedded broker.

One run starts its own Tansu broker on a free port, measures the raw-aiokafka and naive-Faust
pass-throughs and then the akhbar worker on the same corpus, times the chain offline, and writes
one JSON report. ``--offline`` skips the broker; ``--quick`` is a small run that checks it works.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
from pathlib import Path

from akhbar.bench import corpus
from akhbar.bench.baselines import run_baseline
from akhbar.bench.corpus import BenchArticle
from akhbar.bench.offline import run_offline
from akhbar.bench.pipeline_run import run_pipeline
from akhbar.bench.process import ProcessFailed
from akhbar.bench.report import BenchReport, write
from akhbar.common.broker import BrokerError, start_broker
from akhbar.common.settings import Settings

QUICK_ARTICLES = 50
RATE_SECONDS, QUICK_RATE_SECONDS = 20.0, 3.0
WARM_UP_ARTICLES = 20
# Offline, every chain first runs this many articles untimed: the tagger's per-word caches then
# hold the corpus vocabulary, as in a worker that has been up for a while.
OFFLINE_WARM_UP_ARTICLES = 200
WARM_UP_SEED = 7


def say(message: str) -> None:
    print(f"akhbar bench: {message}", file=sys.stderr, flush=True)


def burst_timeout(articles: int) -> float:
    """Seconds to wait for a burst's last output: generous, a timeout shows up as lost articles."""
    return 60.0 + articles / 10


def articles_for(args: argparse.Namespace, settings: Settings, count: int) -> list[BenchArticle]:
    if args.corpus:
        return corpus.load(Path(args.corpus), count, max_bytes=settings.max_article_bytes)
    return corpus.generate(count)


async def measure(
    report: BenchReport,
    settings: Settings,
    warm: list[BenchArticle],
    burst: list[BenchArticle],
    steady: list[BenchArticle],
    rate: float,
    workdir: Path,
    workers: int = 1,
) -> None:
    """Raw baseline, naive-Faust baseline, then the pipeline, each on fresh topics."""
    # SIGTERM cancels the run like Ctrl-C does, so the finally blocks stop the broker and every
    # process the bench started instead of leaving them running.
    main = asyncio.current_task()
    assert main is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    broker = start_broker(None, log_path=workdir / "broker.log")
    timeout = burst_timeout(len(burst))
    try:
        say(f"broker on {broker.bootstrap}; raw aiokafka pass-through, {len(burst)} articles")
        report.raw = await run_baseline(
            "raw",
            broker.bootstrap,
            warm,
            burst,
            partitions=settings.partitions,
            workdir=workdir,
            timeout=timeout,
        )
        say("naive Faust pass-through (worker start-up takes a few seconds)")
        report.naive_faust = await run_baseline(
            "faust",
            broker.bootstrap,
            warm,
            burst,
            partitions=settings.partitions,
            workdir=workdir,
            timeout=timeout,
        )
        say(f"{workers} akhbar worker(s): burst of {len(burst)}, then {len(steady)} at {rate:g}/s")
        report.pipeline = await run_pipeline(
            settings,
            broker.bootstrap,
            warm,
            burst,
            steady,
            rate=rate,
            workdir=workdir,
            timeout=timeout,
            workers=workers,
        )
    finally:
        broker.stop()


def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    """Entry point for ``akhbar bench``; exit code 1 when a run failed or lost articles."""
    count = QUICK_ARTICLES if args.quick else args.articles
    if count < 1 or args.rate <= 0:
        print("akhbar: --articles and --rate must be positive", file=sys.stderr)
        return 2
    if not 1 <= args.workers <= settings.partitions:
        # A worker beyond the raw topic's partition count would sit idle (and the bench would
        # wait forever for it to own a partition).
        print(
            f"akhbar: --workers must be between 1 and the {settings.partitions} raw partitions",
            file=sys.stderr,
        )
        return 2
    steady_count = (
        0
        if args.offline
        else max(1, round(args.rate * (QUICK_RATE_SECONDS if args.quick else RATE_SECONDS)))
    )
    try:
        articles = articles_for(args, settings, count + steady_count)
    except (OSError, ValueError) as exc:
        print(f"akhbar: cannot read the corpus: {exc}", file=sys.stderr)
        return 2
    warm = corpus.generate(WARM_UP_ARTICLES, seed=WARM_UP_SEED, prefix="warm")
    burst, steady = articles[:count], articles[count:]
    report = BenchReport(articles=count, corpus=args.corpus or "generated", workers=args.workers)
    if not args.offline:
        with tempfile.TemporaryDirectory(prefix="akhbar-bench-") as workdir:
            try:
                asyncio.run(
                    measure(
                        report,
                        settings,
                        warm,
                        burst,
                        steady,
                        args.rate,
                        Path(workdir),
                        args.workers,
                    )
                )
            except (ProcessFailed, BrokerError, TimeoutError) as exc:
                print(f"akhbar: bench failed: {exc}", file=sys.stderr)
                return 1
            except asyncio.CancelledError:
                print("akhbar: bench stopped by SIGTERM; nothing written", file=sys.stderr)
                return 143
    say(f"offline chain, {count} articles")
    offline_warm = corpus.generate(
        WARM_UP_ARTICLES if args.quick else OFFLINE_WARM_UP_ARTICLES,
        seed=WARM_UP_SEED,
        prefix="warm",
    )
    report.offline = run_offline(settings, offline_warm, burst)
    write(report.to_dict(), Path(args.output))
    if report.lost:
        print(f"akhbar: bench lost {report.lost} articles (see the report)", file=sys.stderr)
        return 1
    return 0
