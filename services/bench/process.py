"""The process under test: a Python subprocess with its own log, exit check and peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from akhbar.common.processes import descendants, status_field, stop_process

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
        """The high-water mark of resident memory (VmHWM) in MiB, summed over the process and
        the processes it started (a worker's stage processes); None when unavailable."""
        peaks = [peak_rss_kib(pid) for pid in [self.pid, *descendants(self.pid)]]
        known = [peak for peak in peaks if peak is not None]
        return round(sum(known) / 1024, 1) if known else None

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; returns the exit code."""
        return stop_process(self.process, timeout)


def peak_rss_kib(pid: int) -> int | None:
    """One process's VmHWM in KiB; None when it is gone."""
    value = status_field(pid, "VmHWM")
    return int(value.split()[0]) if value else None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process and the processes it started have used so far
    (those still running; 0 when it is gone)."""
    return sum(own_cpu_seconds(p) for p in [pid, *descendants(pid)])


def own_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds one process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores of the machine have spent busy (not idle, not waiting on I/O)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuWatch:
    """CPU used by one process and by the whole machine since the watch started."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.process_start = cpu_seconds(pid)
        self.machine_start = machine_busy_seconds()

    def shares(self, wall_seconds: float) -> tuple[float, float]:
        """(cores the process used, cores the whole machine used) over ``wall_seconds``."""
        if wall_seconds <= 0:
            return 0.0, 0.0
        process = cpu_seconds(self.pid) - self.process_start
        machine = machine_busy_seconds() - self.machine_start
        return round(process / wall_seconds, 3), round(machine / wall_seconds, 3)
