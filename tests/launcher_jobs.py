"""Jobs the forked run launcher test starts by their code origin (a module, as the real code location).
No `from __future__ import annotations`: Dagster reads the op's config class from its annotation."""

import json
import os
import sys
import time
from pathlib import Path

import dagster as dg


class Where(dg.Config):
    folder: str
    wait_seconds: float = 0.0  # until <folder>/go exists, at most this long


@dg.op
def report_process(config: Where) -> None:
    """Writes who ran it (its process and parent, the modules the fork server had loaded), then waits."""
    folder = Path(config.folder)
    info = {"pid": os.getpid(), "ppid": os.getppid(), "preloaded_boto3": "boto3" in sys.modules,
            "parent_cmdline": Path(f"/proc/{os.getppid()}/cmdline").read_bytes().decode(errors="replace")}
    (folder / "worker.json").write_text(json.dumps(info))
    deadline = time.monotonic() + config.wait_seconds
    while time.monotonic() < deadline and not (folder / "go").exists():
        time.sleep(0.05)


@dg.job(executor_def=dg.in_process_executor)  # as the frame job: the op runs in the run worker
def report_job() -> None:
    report_process()
