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


_sigterm_requested = False


def _remember_sigterm(signum: int, frame: Any) -> None:
    global _sigterm_requested
    _sigterm_requested = True


def defer_sigterm() -> None:
    """Until the worker's event loop handles SIGTERM, remember one instead of dying of it.

    Without this a SIGTERM in the first seconds (an orchestrator scaling down right after a
    start) killed the worker with the default action and reported a crash (-15 / 143). The
    handler only sets a flag: raising SystemExit at an arbitrary point of start-up could leave
    Faust or the stage processes half-started and the process hanging at exit. The worker reads
    the flag (:func:`sigterm_requested`) where stopping is safe, and once Faust has installed its
    own handlers, which replace this one.
    """
    signal.signal(signal.SIGTERM, _remember_sigterm)


def sigterm_requested() -> bool:
    return _sigterm_requested


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
