"""The ``akhbar`` command line: broker, topics, worker, produce, enrich, tail, tag, run."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from akhbar import __version__

EPILOG = "Configuration comes from AKHBAR_* environment variables (see README, Configuration)."


def fail(message: str, code: int = 2) -> int:
    """Print one clear line on stderr and return the exit code."""
    print(f"akhbar: {message}", file=sys.stderr)
    return code


def load_settings(args: argparse.Namespace) -> Any:
    """Build the one Settings object; command-line options override the environment."""
    from akhbar.common.settings import Settings

    overrides: dict[str, Any] = {}
    if getattr(args, "bootstrap", None):
        overrides["bootstrap_servers"] = args.bootstrap
    return Settings(**overrides)


def cmd_broker(args: argparse.Namespace) -> int:
    import threading

    from akhbar.common.broker import BrokerError, start_broker

    try:
        broker = start_broker(args.port or None, args.host)
    except BrokerError as exc:
        return fail(str(exc), 1)
    print(f"akhbar: embedded broker (Tansu, in memory) serving on {broker.bootstrap}", flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    while not stopping.wait(0.5):
        if broker.process.poll() is not None:
            return fail(f"the broker exited with code {broker.process.returncode}", 1)
    broker.stop()
    print("akhbar: broker stopped", flush=True)
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from akhbar.common.topics import ensure_topics

    settings = load_settings(args)
    try:
        created = asyncio.run(ensure_topics(settings))
    except Exception as exc:  # aiokafka raises several connection error types
        return fail(f"cannot reach the broker at {settings.bootstrap_servers}: {exc}", 3)
    print(f"akhbar: topics ready ({len(created)} created)")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from akhbar.common.processes import defer_sigterm

    defer_sigterm()  # before the slow imports below, too
    from akhbar.pipeline.stages.boilerplate import BoilerplateRules
    from akhbar.pipeline.worker import run_worker

    settings = load_settings(args)
    if settings.boilerplate_rules is not None:
        # Loaded again by every stage process; a bad file must stop the worker here, once.
        try:
            BoilerplateRules.load(settings.boilerplate_rules)
        except (OSError, ValueError) as exc:
            return fail(f"boilerplate rules {settings.boilerplate_rules}: {exc}")
    return run_worker(settings, loglevel=args.loglevel)


def cmd_produce(args: argparse.Namespace) -> int:
    from akhbar.producer.run import produce, watch

    settings = load_settings(args)
    if args.watch:
        if args.paths:
            return fail("give either PATH... or --watch DIR, not both")
        return watch(settings, Path(args.watch), source=args.source)
    if not args.paths:
        return fail("nothing to produce: give PATH... or --watch DIR")
    return produce(settings, [Path(p) for p in args.paths], source=args.source)


def cmd_enrich(args: argparse.Namespace) -> int:
    from akhbar.pipeline.offline import enrich

    return enrich(load_settings(args), args.paths or ["-"], source=args.source)


def cmd_tail(args: argparse.Namespace) -> int:
    from akhbar.consumer.tail import follow

    settings = load_settings(args)
    try:
        asyncio.run(follow(settings, from_beginning=args.from_beginning, as_json=args.json))
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # connection errors come in several types
        return fail(
            f"cannot follow {settings.topic_enriched} at {settings.bootstrap_servers}: {exc}", 3
        )
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    from akhbar.pipeline.ner.conll import tag_conll
    from akhbar.pipeline.stages.entities import EntityTagger

    path = Path(args.conll)
    if args.conll != "-" and not path.is_file():
        return fail(f"no such file: {path}")
    tagger = EntityTagger.load_default()
    try:
        lines = sys.stdin if args.conll == "-" else path.open(encoding="utf-8")
        with lines:
            for line in tag_conll(lines, tagger):
                sys.stdout.write(line + "\n")
    except UnicodeDecodeError as exc:
        return fail(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})", 1)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from akhbar.bench.run import run_bench

    return run_bench(load_settings(args), args)


def cmd_status(args: argparse.Namespace) -> int:
    from akhbar.consumer.status import run_status

    return run_status(args.url, interval=args.interval, once=args.once)


def cmd_run(args: argparse.Namespace) -> int:
    from akhbar.run import run_all

    return run_all(Path(args.inbox), port=args.port, samples=not args.no_samples)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="akhbar",
        description="Stream Arabic news articles through Kafka and publish them enriched.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"akhbar {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=EPILOG)
        return p

    def with_bootstrap(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--bootstrap",
            metavar="HOST:PORT",
            help="Kafka bootstrap servers (default: AKHBAR_BOOTSTRAP_SERVERS or 127.0.0.1:9092)",
        )

    p = command("broker", "Run the embedded Kafka-protocol broker (Tansu, in memory) until Ctrl-C.")
    p.add_argument(
        "--port", type=int, default=9092, help="port to listen on (default 9092; 0 = a free port)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.set_defaults(func=cmd_broker)

    p = command("topics", "Create akhbar's topics on the broker if they are missing.")
    with_bootstrap(p)
    p.set_defaults(func=cmd_topics)

    p = command("worker", "Run the Faust pipeline worker: normalise, tag entities, de-duplicate.")
    with_bootstrap(p)
    p.add_argument("--loglevel", default="warning", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_worker)

    p = command("produce", "Publish article files (.txt, .jsonl) to the raw topic.")
    with_bootstrap(p)
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to publish")
    p.add_argument("--watch", metavar="DIR", help="keep publishing new files that appear in DIR")
    p.add_argument(
        "--source", help="source name recorded on each article (default: the folder name)"
    )
    p.set_defaults(func=cmd_produce)

    p = command("enrich", "Run the enrichment chain offline (no broker); write enriched JSONL.")
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="article .txt files, raw-event .jsonl files, or - for JSONL on stdin",
    )
    p.add_argument("--source", help="source name for .txt files (default: the folder name)")
    p.set_defaults(func=cmd_enrich)

    p = command("tail", "Follow the enriched topic: one line per article, or the raw JSON.")
    with_bootstrap(p)
    p.add_argument("--from-beginning", action="store_true", help="start at the oldest event")
    p.add_argument("--json", action="store_true", help="print each event's JSON")
    p.set_defaults(func=cmd_tail)

    p = command("tag", "Tag a CoNLL file (token per line) with PERS/LOC/ORG BIO tags.")
    p.add_argument(
        "--conll", required=True, metavar="FILE", help="CoNLL input (first column the token), or -"
    )
    p.set_defaults(func=cmd_tag)

    p = command("bench", "Benchmark the pipeline and its baselines on the embedded broker (JSON).")
    p.add_argument("--articles", type=int, default=2000, help="articles to feed (default 2000)")
    p.add_argument(
        "--corpus", metavar="DIR|JSONL", help="articles to use (default: a generated corpus)"
    )
    p.add_argument(
        "--rate", type=float, default=50.0, help="steady feed rate for the latency run (articles/s)"
    )
    p.add_argument("--offline", action="store_true", help="time the stage chain alone, no broker")
    p.add_argument("--output", default="bench-results/bench.json", help="where to write the JSON")
    p.add_argument("--quick", action="store_true", help="a tiny run that checks the bench works")
    p.add_argument(
        "--workers", type=int, default=1, help="akhbar worker processes in one group (default 1)"
    )
    p.set_defaults(func=cmd_bench)

    p = command("status", "A refreshing terminal summary read from a worker's /metrics.")
    p.add_argument("--url", default="http://127.0.0.1:6066/metrics", help="worker metrics URL")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")
    p.add_argument("--once", action="store_true", help="print one summary and exit")
    p.set_defaults(func=cmd_status)

    p = command("run", "All in one: embedded broker, worker, producer watching an inbox, and tail.")
    p.add_argument(
        "--inbox",
        default="var/inbox",
        help="folder to watch (default var/inbox; pre-filled with the samples)",
    )
    p.add_argument("--port", type=int, default=0, help="broker port (default: a free port)")
    p.add_argument(
        "--no-samples", action="store_true", help="do not copy the sample articles into the inbox"
    )
    p.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
