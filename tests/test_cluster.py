"""Several hosts on one machine (network namespaces), Celery workers, PostgreSQL, one shared bucket.

The same topology as scripts/cluster-demo.sh, smaller: two worker hosts, one killed while it holds a batch.
Needs root (ip netns) and Debian's postgresql and redis-server (scripts/bootstrap.sh installs them).
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from proxygen_core.services.postgres import postgres_bin
from proxygen_core.services.process import ServiceError


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip") or not shutil.which("redis-server"):
        return "iproute2 or redis-server not installed (scripts/bootstrap.sh installs them)"
    try:
        postgres_bin("initdb")
    except ServiceError as exc:
        return str(exc)
    return None


@pytest.mark.skipif(_missing() is not None, reason=f"cluster test: {_missing()}")
@pytest.mark.slow
@pytest.mark.services
def test_two_worker_hosts_and_one_killed_mid_batch_lose_nothing():
    from proxygen_dagster.launch.cluster import run_demo

    # The first host seen holding a batch is killed (which one Celery hands the first batch to is its choice).
    summary = run_demo(frames=8, hosts=2, batch=4, width=512, height=270, kill="any", timeout=300,
                       redelivery_seconds=15)
    assert summary["killed"] in ("worker-a", "worker-b")
    survivor = ({"worker-a", "worker-b"} - {summary["killed"]}).pop()
    # Every frame ends with exactly one row, ok, and one event sent, although a host died holding a batch.
    assert summary["rows_ok"] == summary["rows"] == 8
    assert summary["events"] == summary["events_sent"] == 8
    # The killed host died before writing a record of the batch it held: the survivor wrote all 8, its own
    # batch and the one redelivered from the dead host.
    assert summary["hosts"] == {summary["killed"]: 0, survivor: 8}
    # Nothing it started is left: namespaces and processes are gone.
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"pg{summary['network']}" not in netns
    leftover = subprocess.run(
        ["pgrep", "-f", "proxygen_dagster.launch.celery_app"], capture_output=True, text=True
    ).stdout
    assert leftover.strip() == ""
