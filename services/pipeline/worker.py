"""``akhbar worker``: run the Faust app until SIGINT/SIGTERM."""

from __future__ import annotations

import faust
from prometheus_client import disable_created_metrics

from akhbar.common.settings import Settings
from akhbar.pipeline.app import build_app


def run_worker(settings: Settings, *, loglevel: str = "warning") -> int:
    """Build the pipeline and hand it to a Faust worker (which installs the signal handlers)."""
    disable_created_metrics()
    pipeline = build_app(settings)
    worker = faust.Worker(pipeline.app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
    return 0
