"""The run launcher of the local run: runs forked from a warm fork server (proxygen_dagster/launch/forked.py).

Runs are started, stopped and checked through a real DagsterInstance configured with the launcher, as the
daemon and the webserver do; the run process is a real fork, checked through /proc.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.launcher.base import WorkerStatus

from proxygen_dagster.launch.forked import WORKER_TAG, WorkerId, start_ticks
from tests import launcher_jobs  # importable in the forked run worker: the fork server gets our sys.path

TERMINAL = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@pytest.fixture()
def instance(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nrun_launcher:\n  module: proxygen_dagster.launch.forked\n"
        "  class: ForkedRunLauncher\n")
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


def launch(instance: dg.DagsterInstance, folder: Path, wait_seconds: float = 0.0) -> str:
    recon = dg.reconstructable(launcher_jobs.report_job)
    run = instance.create_run_for_job(
        job_def=launcher_jobs.report_job, job_code_origin=recon.get_python_origin(),
        run_config={"ops": {"report_process": {"config": {"folder": str(folder), "wait_seconds": wait_seconds}}}})
    instance.launch_run(run.run_id, workspace=None)
    return run.run_id


def wait_for(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def finished(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    return wait_for(lambda: (r := instance.get_run_by_id(run_id)).status in TERMINAL and r, f"run {run_id} to end")


def worker_info(folder: Path) -> dict:
    path = folder / "worker.json"
    return wait_for(lambda: path.exists() and path.read_text() and json.loads(path.read_text()), "the run worker")


@pytest.mark.services  # starts a fork server and a run worker process
def test_a_run_is_a_child_of_the_fork_server_with_its_libraries_loaded(instance, tmp_path):
    run_id = launch(instance, tmp_path)
    run = finished(instance, run_id)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    info = worker_info(tmp_path)
    assert info["pid"] != os.getpid() and info["ppid"] != os.getpid()
    assert "multiprocessing.forkserver" in info["parent_cmdline"]  # forked by the server, not spawned by us
    assert info["preloaded_boto3"]  # the job never imports boto3: it came with the fork
    worker = WorkerId.parse(run.tags[WORKER_TAG])
    assert (worker.host, worker.pid) == (socket.gethostname(), info["pid"])
    wait_for(lambda: not worker.alive(), "the worker to exit after its run", timeout=20)  # it ends after the run
    health = instance.run_launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.SUCCESS, health


@pytest.mark.services  # starts a fork server and a run worker process
def test_terminate_stops_the_worker_and_the_run_ends_canceled(instance, tmp_path):
    run_id = launch(instance, tmp_path, wait_seconds=60)
    info = worker_info(tmp_path)
    run = instance.get_run_by_id(run_id)
    assert run.status == dg.DagsterRunStatus.STARTED
    assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    assert instance.run_launcher.terminate(run_id) is True
    assert finished(instance, run_id).status == dg.DagsterRunStatus.CANCELED
    wait_for(lambda: start_ticks(info["pid"]) is None, "the worker process to exit", timeout=20)
    assert instance.run_launcher.terminate(run_id) is False  # already over: nothing to stop


@pytest.mark.services  # starts a fork server and a run worker process
def test_a_killed_worker_is_reported_failed_and_the_monitor_fails_the_run(instance, tmp_path):
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    run_id = launch(instance, tmp_path, wait_seconds=60)
    info = worker_info(tmp_path)
    os.kill(info["pid"], signal.SIGKILL)  # out of memory, or killed by hand: no clean-up in the worker
    wait_for(lambda: start_ticks(info["pid"]) is None, "the killed worker to be reaped", timeout=20)
    run = instance.get_run_by_id(run_id)
    assert run.status == dg.DagsterRunStatus.STARTED  # nobody told Dagster
    health = instance.run_launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.FAILED and f"process {info['pid']} is gone" in health.msg
    (record,) = instance.get_run_records(dg.RunsFilter(run_ids=[run_id]))
    monitor_started_run(instance, None, record, logging.getLogger("test"))  # what the daemon does each poll
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE


@pytest.mark.services  # starts a fork server and a run worker process
def test_a_worker_whose_run_could_not_be_tagged_never_runs(instance, tmp_path, monkeypatch):
    """Dagster fails the launch; the forked worker waits for the tag and exits without running anything."""
    spawned = []

    def refuse(run_id, tags):
        spawned.append(int(tags[WORKER_TAG].split(":")[1]))
        raise OSError("run storage is read-only")

    monkeypatch.setattr(instance, "add_run_tags", refuse)
    with pytest.raises(OSError, match="read-only"):
        launch(instance, tmp_path)
    (pid,) = spawned
    wait_for(lambda: start_ticks(pid) is None, "the unconfirmed worker to exit", timeout=20)
    assert not (tmp_path / "worker.json").exists()


def test_a_reused_process_id_is_not_taken_for_the_worker():
    me = WorkerId(socket.gethostname(), os.getpid(), start_ticks(os.getpid()))
    assert me.alive()
    assert not WorkerId(me.host, me.pid, me.started + 1).alive()  # same id, another process start
    assert WorkerId.parse(me.tag()) == me
    assert start_ticks(2 ** 22 + 1) is None  # above pid_max: no such process
