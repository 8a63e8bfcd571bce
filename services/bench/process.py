"""The process under test: a Python subprocess with its own log, exit check and peak memory."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LOG_TAIL_CHARS = 3000


class ProcessFailed(Exception):
    """The process under test exited early or never produced its first output."""


@dataclass
class Subprocess:
    """``python -m MODULE ARGS`` running in the background, stdout and stderr in ``log``."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(
        cls, name: str, module: str, args: list[str], env: dict[str, str], log: Path
    ) -> Subprocess:
        with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        return cls(name, process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def check_alive(self) -> None:
        """Raise ``ProcessFailed`` with the end of the log when the process has exited."""
        if not self.alive():
            raise ProcessFailed(
                f"{self.name} exited with code {self.process.returncode}:\n{self.log_tail()}"
            )

    def log_tail(self) -> str:
        return self.log.read_text("utf-8", errors="replace")[-LOG_TAIL_CHARS:]

    def peak_rss_mb(self) -> float | None:
        """The high-water mark of resident memory (VmHWM), in MiB; None when unavailable."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return None

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; returns the exit code."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
