"""Stopping child processes politely: SIGTERM first, SIGKILL only when they do not exit."""

from __future__ import annotations

import subprocess
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
