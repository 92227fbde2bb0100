"""The local run's supervisor and instance settings (no Dagster processes needed)."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from proxygen_core.services.process import Service


def _sleeper(seconds: float, log: Path, starts: list) -> Service:
    starts.append(time.monotonic())
    proc = subprocess.Popen(["sleep", str(seconds)], start_new_session=True)
    return Service(proc, log, {}, lambda: _sleeper(30, log, starts))


def test_a_crashed_service_is_restarted_not_the_end(tmp_path):
    from proxygen_dagster.launch.local import supervise

    starts: list[float] = []
    services = {"broker": _sleeper(0.2, tmp_path / "b.log", starts)}
    try:
        code = supervise(services, poll=0.1, until=lambda: len(starts) >= 2 and services["broker"].proc.poll() is None)
        assert code == 0 and len(starts) == 2
        assert services["broker"].proc.poll() is None  # the new process runs
    finally:
        services["broker"].stop()


def test_a_crash_loop_stops_everything(tmp_path, capsys):
    from proxygen_dagster.launch import local

    def crashing() -> Service:
        proc = subprocess.Popen(["false"], start_new_session=True)
        return Service(proc, tmp_path / "c.log", {}, crashing)

    deadline = time.monotonic() + 30
    assert local.supervise({"s3": crashing()}, poll=0.05, until=lambda: time.monotonic() > deadline) == 1
    assert f"exited with 1 {local.MAX_RESTARTS} times" in capsys.readouterr().err


def test_instance_settings_retry_dead_runs_but_not_bad_content(tmp_path):
    from dagster import DagsterInstance

    from proxygen_dagster.launch.local import prepare_home

    prepare_home(tmp_path / "home")
    with DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 3
        assert instance.run_retries_retry_on_asset_or_op_failure is False
        assert instance.nux_enabled is False


def test_automation_sensor_runs_by_default(dagster_defs):
    from dagster import DefaultSensorStatus

    sensor = dagster_defs.resolve_sensor_def("proxygen_automation")
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert {s.name for s in dagster_defs.sensors} >= {"s3_new_frames", "sequence_clips", "outbox_publisher"}


def test_stopping_a_service_also_stops_children_that_ignore_sigterm(tmp_path):
    """The leader exits on SIGTERM, its child ignores it (as the daemon's code server did): both end."""
    import os

    from proxygen_core.services.process import stop_process

    pid_file = tmp_path / "child.pid"
    proc = subprocess.Popen(["sh", "-c", f'(trap "" TERM; exec sleep 60) & echo $! > {pid_file}; wait'],
                            start_new_session=True)
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    stop_process(proc, grace=1.0)
    assert proc.poll() is not None
    gone = time.monotonic() + 5
    while time.monotonic() < gone:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{child}/stat") as fh:  # reaped by init shortly after SIGKILL; a zombie counts as gone
            if fh.read().split(")")[1].split()[0] == "Z":
                break
        time.sleep(0.05)
    else:
        raise AssertionError(f"child {child} still running after stop_process")
