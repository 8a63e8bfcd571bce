"""``akhbar run``: broker, worker, watching producer and tail in one command, stopped by Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from akhbar.common.broker import start_broker
from akhbar.common.settings import Settings
from akhbar.common.topics import ensure_topics
from akhbar.consumer.tail import follow

SAMPLES = Path(__file__).resolve().parent.parent / "deploy" / "samples"


def copy_samples(inbox: Path) -> int:
    """Copy the sample articles into the inbox (skipping ones already there)."""
    inbox.mkdir(parents=True, exist_ok=True)
    copied = 0
    for sample in sorted(SAMPLES.glob("*.txt")):
        target = inbox / sample.name
        if not target.exists():
            shutil.copyfile(sample, target)
            copied += 1
    return copied


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``akhbar ARGS`` as a child process in its own process group."""
    return subprocess.Popen(
        [sys.executable, "-m", "akhbar.cli", *args], env=env, start_new_session=True
    )


def stop_children(children: list[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM every child, then SIGKILL the ones still running after ``timeout``."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def run_all(inbox: Path, *, port: int = 0, samples: bool = True) -> int:
    """Run the whole service until Ctrl-C. The broker keeps data in memory, so each run starts
    from empty topics, a fresh worker state and a fresh producer ledger (kept in a temp folder)."""
    started = time.monotonic()
    if samples:
        copied = copy_samples(inbox)
        print(f"akhbar: inbox {inbox} ({copied} sample articles copied in)", flush=True)
    broker = start_broker(port or None)
    state_dir = Path(tempfile.mkdtemp(prefix="akhbar-run-"))
    env = {
        **os.environ,
        "AKHBAR_BOOTSTRAP_SERVERS": broker.bootstrap,
        "AKHBAR_DATA_DIR": str(state_dir),
        "AKHBAR_SETTLE_SECONDS": os.environ.get("AKHBAR_SETTLE_SECONDS", "0.3"),
        # One record per producer batch on the embedded broker (Settings.producer_max_batch_bytes).
        "AKHBAR_PRODUCER_MAX_BATCH_BYTES": "1",
    }
    settings = Settings(bootstrap_servers=broker.bootstrap, data_dir=state_dir)
    print(
        f"akhbar: broker on {broker.bootstrap}; starting worker and producer "
        "(Ctrl-C stops everything)",
        flush=True,
    )
    children: list[subprocess.Popen[bytes]] = []
    try:
        asyncio.run(ensure_topics(settings))
        children.append(spawn(["worker"], env))
        children.append(spawn(["produce", "--watch", str(inbox)], env))
        first = {"seen": False}

        def on_event(_: dict[str, Any]) -> None:
            if not first["seen"]:
                first["seen"] = True
                elapsed = time.monotonic() - started
                print(f"akhbar: first enriched article {elapsed:.1f}s after start", flush=True)

        asyncio.run(tail_until_interrupted(settings, children, on_event))
    except KeyboardInterrupt:
        pass
    finally:
        print("akhbar: stopping", flush=True)
        stop_children(children)
        broker.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    return 0


async def tail_until_interrupted(
    settings: Settings,
    children: list[subprocess.Popen[bytes]],
    on_event: Callable[[dict[str, Any]], None],
) -> None:
    """Print enriched events until SIGINT/SIGTERM or until a child process dies."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async def watch_children() -> None:
        while not stop.is_set():
            for child in children:
                if child.poll() is not None:
                    print(
                        f"akhbar: child process {child.pid} exited with code {child.returncode}",
                        file=sys.stderr,
                        flush=True,
                    )
                    stop.set()
            await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch_children())
    await follow(settings, from_beginning=True, as_json=False, stop=stop, on_event=on_event)
    watcher.cancel()
