"""``akhbar enrich``: the worker's chain, run in-process over files or stdin, with no broker."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from akhbar.common import events
from akhbar.common.settings import Settings
from akhbar.pipeline.app import chain_config
from akhbar.pipeline.chain import Chain, build_chain
from akhbar.pipeline.stages.article import Article
from akhbar.pipeline.stages.errors import StageError
from akhbar.producer.documents import Outcome, RawDocument, Rejection, parse_jsonl_line
from akhbar.producer.exceptions import UsageError
from akhbar.producer.files import discover, read_file


def stdin_outcomes(stream: BinaryIO, max_bytes: int) -> Iterator[Outcome]:
    """Raw-event JSONL on standard input, one outcome per non-blank line."""
    now = time.time()
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield parse_jsonl_line(
                line.rstrip(b"\r\n"),
                number,
                source="stdin",
                key="stdin",
                origin_path="-",
                ingested_at=now,
                max_bytes=max_bytes,
            )


def file_outcomes(paths: list[Path], source: str | None, max_bytes: int) -> Iterator[Outcome]:
    """Every document in the given files and folders, in input order."""
    for file in discover(paths, source):
        yield from read_file(file, max_bytes=max_bytes).outcomes


def enrich_stream(chain: Chain, outcomes: Iterator[Outcome], out: TextIO, err: TextIO) -> int:
    """Run the chain over each document; enriched JSONL to ``out``, one line per refusal to ``err``.

    Returns the number of refused documents.
    """
    refused = 0
    for outcome in outcomes:
        if isinstance(outcome, Rejection):
            refused += 1
            print(
                f"akhbar: rejected {outcome.article_id or '-'}: {outcome.reason} "
                f"({outcome.detail})",
                file=err,
            )
            continue
        article = to_article(outcome)
        try:
            article = chain.run(article)
        except StageError as exc:
            refused += 1
            print(
                f"akhbar: rejected {article.id}: {exc.stage} {exc.reason} ({exc.detail})", file=err
            )
            continue
        out.write(events.dumps(events.enriched_event(article, time.time())).decode() + "\n")
    return refused


def to_article(document: RawDocument) -> Article:
    """The article a raw event decodes to (the same decoding the worker does)."""
    return events.decode_raw(events.dumps(document.event))


def enrich(settings: Settings, paths: list[str], *, source: str | None) -> int:
    """Entry point for ``akhbar enrich``; exit code 1 when any document was refused."""
    chain = build_chain(chain_config(settings), {})
    try:
        if paths == ["-"]:
            outcomes = stdin_outcomes(sys.stdin.buffer, settings.max_article_bytes)
        else:
            outcomes = file_outcomes([Path(p) for p in paths], source, settings.max_article_bytes)
        refused = enrich_stream(chain, outcomes, sys.stdout, sys.stderr)
    except UsageError as exc:
        print(f"akhbar: {exc}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    return 1 if refused else 0
