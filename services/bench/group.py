"""N ``akhbar worker`` processes in one consumer group, and how to tell that the group has settled.

Every worker shares the app id (so one consumer group: the raw topic's partitions are split
between them and exactly one of them owns the single-partition staged topic and dedup table) but
has its own data dir and web port. A rebalance during a timed run would re-deliver what was not
committed yet and double outputs, so the bench waits, before timing anything, until each worker's
``/metrics`` shows no rebalance in progress, the same count of finished rebalances for a few
seconds, and raw partitions of its own (Faust clears its per-partition gauge at each rebalance,
so a worker that received raw events since then has been assigned some).
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from akhbar.bench.process import Subprocess
from akhbar.common.broker import free_port
from akhbar.common.settings import Settings

# How long the finished-rebalance counts must stay unchanged before the group counts as settled.
SETTLE_SECONDS = 3.0
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class WorkerState:
    """What one worker's ``/metrics`` says about its place in the group and its work so far."""

    rebalancing: bool
    rebalances_done: int
    raw_partitions: frozenset[int]
    counters: dict[str, float] = field(default_factory=dict)
    stages: dict[str, tuple[float, float]] = field(default_factory=dict)


def parse_state(text: str, raw_topic: str) -> WorkerState:
    """A ``WorkerState`` from one scrape of a worker's metrics text."""
    rebalancing = 0.0
    done = 0.0
    partitions: set[int] = set()
    counters: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels = sample.name, sample.labels
            if name in ("faust_total_rebalances", "faust_total_rebalances_recovering"):
                rebalancing += sample.value  # gauges of rebalances under way, not totals
            elif name == "faust_rebalance_done_latency_count":
                done = sample.value
            elif name == "faust_messages_received_per_topics_partition":
                if labels.get("topic") == raw_topic:
                    partitions.add(int(labels["partition"]))
            elif name == "akhbar_articles_total":
                key = f"{labels.get('stage')}/{labels.get('outcome')}"
                counters[key] = counters.get(key, 0.0) + sample.value
    return WorkerState(
        rebalancing > 0,
        int(done),
        frozenset(partitions),
        counters,
        stage_totals(text),
    )


def stage_totals(metrics_text: str) -> dict[str, tuple[float, float]]:
    """stage -> (seconds, count) from ``akhbar_stage_seconds_sum`` and ``_count``."""
    totals: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            stage = sample.labels.get("stage")
            if stage is None or not sample.name.startswith("akhbar_stage_seconds_"):
                continue
            pair = totals.setdefault(stage, [0.0, 0.0])
            if sample.name.endswith("_sum"):
                pair[0] += sample.value
            elif sample.name.endswith("_count"):
                pair[1] += sample.value
    return {stage: (pair[0], pair[1]) for stage, pair in totals.items()}


def settled(before: Sequence[WorkerState], after: Sequence[WorkerState]) -> bool:
    """True when no worker rebalanced between two scrapes and each owns raw partitions.

    The raw partitions must be disjoint too: two workers reading one partition would mean one of
    them still holds an assignment the group has since moved.
    """
    if any(s.rebalancing for s in (*before, *after)):
        return False
    if [s.rebalances_done for s in before] != [s.rebalances_done for s in after]:
        return False
    owned = [s.raw_partitions for s in after]
    if not all(owned) or sum(map(len, owned)) != len(frozenset().union(*owned)):
        return False
    return all(s.rebalances_done >= 1 for s in after)


def joined(before: Sequence[WorkerState], after: Sequence[WorkerState]) -> bool:
    """True when every worker has finished a rebalance and none started another in between."""
    if any(s.rebalancing or s.rebalances_done < 1 for s in (*before, *after)):
        return False
    return [s.rebalances_done for s in before] == [s.rebalances_done for s in after]


def total_stages(states: Sequence[WorkerState]) -> dict[str, tuple[float, float]]:
    """stage -> (seconds, count) summed over the workers."""
    totals: dict[str, tuple[float, float]] = {}
    for state in states:
        for stage, (seconds, count) in state.stages.items():
            old = totals.get(stage, (0.0, 0.0))
            totals[stage] = (old[0] + seconds, old[1] + count)
    return totals


@dataclass
class WorkerGroup:
    """The worker processes and the settings each one runs with."""

    configs: list[Settings]
    processes: list[Subprocess]

    @classmethod
    def start(cls, config: Settings, count: int, workdir: Path, env: dict[str, str]) -> WorkerGroup:
        """Start ``count`` workers of ``config``'s app id, each with its own data dir and port.

        ``env`` is the environment every worker gets before its own AKHBAR_DATA_DIR and
        AKHBAR_WEB_PORT are set.
        """
        group = cls([], [])
        for number in range(count):
            own = config.model_copy(
                update={"data_dir": config.data_dir / f"w{number}", "web_port": free_port()}
            )
            own_env = env | {
                "AKHBAR_DATA_DIR": str(own.data_dir),
                "AKHBAR_WEB_PORT": str(own.web_port),
            }
            name = f"akhbar worker {number}"
            log = workdir / f"worker-{number}.log"
            group.configs.append(own)
            group.processes.append(Subprocess.start(name, "akhbar.cli", ["worker"], own_env, log))
        return group

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()

    async def states(self) -> list[WorkerState]:
        """One scrape of every worker (raises ``OSError`` while a web server is not up yet)."""

        def get(config: Settings) -> WorkerState:
            url = f"http://{config.web_host}:{config.web_port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                return parse_state(response.read().decode(), config.topic_raw)

        return list(await asyncio.gather(*(asyncio.to_thread(get, c) for c in self.configs)))

    async def wait_joined(self, timeout: float) -> float:
        """Wait until every worker is in the group and it stayed put ``SETTLE_SECONDS``.

        Done before any article is sent, so the rebalances of start-up move an empty dedup table.
        Returns the seconds it took.
        """
        started = time.monotonic()
        quiet_since: float | None = None
        previous: list[WorkerState] | None = None
        while True:
            self.check_alive()
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{len(self.processes)} workers did not join within {timeout}s")
            try:
                current = await self.states()
            except OSError:
                current = None
            if current is None or previous is None or not joined(previous, current):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= SETTLE_SECONDS:
                return time.monotonic() - started
            previous = current
            await asyncio.sleep(POLL_SECONDS)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
