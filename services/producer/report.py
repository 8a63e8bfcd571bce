"""What the producer tells a person on stderr: one line per problem, a progress bar on a TTY."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class Reporter:
    """Writes problem lines to stderr and, when asked, draws a progress bar over ``total`` files."""

    def __init__(self, total: int = 0, *, progress: bool = False, stream: TextIO | None = None):
        self._stream = stream or sys.stderr
        self._progress: Progress | None = None
        if progress and total:
            console = Console(file=self._stream)
            self._progress = Progress(
                TextColumn("akhbar produce"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self._task = self._progress.add_task("files", total=total)

    def line(self, text: str) -> None:
        """One line on stderr, printed above the progress bar when there is one."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=self._stream, flush=True)

    def advance(self, files: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, files)

    def __enter__(self) -> Reporter:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()


def wants_progress(progress: bool | None, stream: TextIO | None = None) -> bool:
    """The progress bar is drawn when asked, or by default when stderr is a terminal."""
    if progress is not None:
        return progress
    return (stream or sys.stderr).isatty()
