"""Stopping processes politely: SIGTERM first, SIGKILL only when they do not exit."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any


def stop_process(process: subprocess.Popen[Any], timeout: float) -> int:
    """SIGTERM ``process``, SIGKILL it if it has not exited after ``timeout`` s; its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _stop_before_start(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def exit_cleanly_on_sigterm() -> None:
    """Until Faust installs its own handlers, SIGTERM ends the worker with exit code 0.

    Nothing has been consumed or produced before Faust starts, so there is nothing to flush;
    without this a SIGTERM in the first second or two (an orchestrator scaling down right after
    a start) killed the process with the default action and reported a crash (-15 / 143).
    Once Faust runs, its loop handlers replace this one and shut the worker down gracefully.
    """
    signal.signal(signal.SIGTERM, _stop_before_start)


def descendants(pid: int) -> list[int]:
    """The pids of a process's children, their children and so on (Linux /proc); [] if gone."""
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(children)
            stack.extend(children)
    return found


def status_field(pid: int, name: str) -> str | None:
    """The value of one line of /proc/PID/status (``VmHWM``, ``SigCgt``...); None if gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    prefix = f"{name}:"
    for line in status.splitlines():
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return None
