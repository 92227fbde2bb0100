"""The local run: its supervisor and instance settings, and how it stops."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from proxygen_core.services.process import Service
from proxygen_dagster.names import JOB, PARTITION, SENSOR, TAG, TRIGGER


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


@pytest.mark.parametrize("failure", [TimeoutError("port 1 did not open"), KeyboardInterrupt()])
def test_a_server_that_never_becomes_ready_is_stopped_not_left(tmp_path, failure):
    from proxygen_core.services.process import ServiceError

    log = tmp_path / "s.log"
    log.write_text("listening failed: address in use\n")
    service = _sleeper(60, log, [])

    def ready() -> None:
        raise failure

    expected = (ServiceError, "Broker did not start: port 1 did not open\nlistening failed") \
        if isinstance(failure, Exception) else (KeyboardInterrupt, "")
    with pytest.raises(expected[0]) as raised:
        service.wait_ready("Broker", ready)
    assert str(raised.value).startswith(expected[1])  # names the server and the cause, then its log
    assert service.proc.poll() is not None  # stopped and reaped


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


def test_follow_upstream_sensor_runs_by_default(dagster_defs):
    from dagster import DefaultSensorStatus

    sensor = dagster_defs.resolve_sensor_def(SENSOR.follow_upstream)
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert {s.name for s in dagster_defs.sensors} >= {SENSOR.s3_new_frames, SENSOR.sequence_clips,
                                                       SENSOR.outbox_publisher}


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


@pytest.mark.services
@pytest.mark.parametrize("when", ["running", "starting"])
def test_proxygen_local_started_with_sigint_ignored_still_stops_on_sigint(tmp_path, when):
    """A shell starts background jobs with SIGINT ignored; `proxygen local` must still stop on it, and stop
    every process it started."""
    import os
    import sys

    from proxygen_core.services.process import free_port, stop_process

    exe = Path(sys.executable).with_name("proxygen")
    ui = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXYGEN_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    log = (tmp_path / "local.log").open("wb")
    proc = subprocess.Popen([str(exe), "local", "--var", str(tmp_path / "var"), "--no-samples", "--port", str(ui),
                             "--s3-port", str(free_port()), "--kafka-port", str(free_port())], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        # "running": the whole stack is up; "starting": only its first server is (a signal during start-up
        # must stop what was started so far).
        marker = b"Dagster UI:" if when == "running" else b"SeaweedFS S3 on"
        deadline = time.monotonic() + 180
        while marker not in (tmp_path / "local.log").read_bytes() and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "local.log").read_text()
            time.sleep(0.1)
        started = subprocess.run(["pgrep", "-f", str(tmp_path / "var")], capture_output=True, text=True).stdout.split()
        assert started  # SeaweedFS names the run's folder on its command line
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=60) == 0
        except subprocess.TimeoutExpired:
            pytest.fail("proxygen local ignored SIGINT")
        assert "stopping" in (tmp_path / "local.log").read_text()
        time.sleep(1)
        left = subprocess.run(["pgrep", "-f", str(tmp_path / "var")], capture_output=True, text=True).stdout.split()
        assert left == [], f"still running: {left}"
        import socket

        with socket.socket() as s:  # the webserver is gone too
            assert s.connect_ex(("127.0.0.1", ui)) != 0
    finally:
        if proc.poll() is None:
            stop_process(proc, grace=60)  # time to stop its stack itself, as on Ctrl-C
        log.close()


def test_a_retried_run_can_name_why_the_run_before_it_failed():
    import dagster as dg

    from proxygen_dagster.frames.assets import parent_failure

    @dg.asset
    def doomed() -> None:
        raise RuntimeError("the worker ran out of memory")

    with dg.DagsterInstance.ephemeral() as instance:
        run = dg.materialize([doomed], instance=instance, raise_on_error=False)
        assert not run.success
        assert parent_failure(instance, run.run_id).endswith("failed. Steps failed: ['doomed'].")
        assert parent_failure(instance, "no-such-run") == "no failure recorded"


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # ended meanwhile
        return b""


def _environ_home(pid: str) -> str | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    homes = [e[len(b"DAGSTER_HOME="):].decode() for e in env if e.startswith(b"DAGSTER_HOME=")]
    return homes[0] if homes else None


@pytest.mark.services
def test_frames_uploaded_to_the_running_stack_are_rendered_by_forked_runs(tmp_path):
    """The deployed path end to end: a burst of frames lands in the bucket of a running `proxygen local`, its
    daemon's S3 sensor queues them in batches, the forked run launcher runs each (tagged with its worker
    process), every key is in exactly one run (no duplicate or follow-up run for a key a batch is already
    processing), the catalog gets one row per frame; on SIGTERM nothing of that Dagster home is left running
    (fork server included)."""
    import os
    import socket
    import stat

    import dagster as dg
    import yaml

    from proxygen_core.catalog import SQLiteCatalog
    from proxygen_dagster.launch.forked import WORKER_TAG, WorkerId

    from .local_stack import start_local
    from .test_dagster_pipeline import _upload

    local = start_local(tmp_path, {"PROXYGEN_BATCH_SIZE": "4"})
    proc, var, log_path, home = local.proc, local.var, local.log_path, local.home
    try:
        store = local.store()
        keys = _upload(store, tmp_path, "forked/sh010", [f"plate.{n}.exr" for n in range(1001, 1017)],
                       bad=["plate.1017.exr"])
        catalog = var / "catalog.db"
        rows: list = []
        deadline = time.monotonic() + 240
        while len(rows) < len(keys):
            assert proc.poll() is None and time.monotonic() < deadline, f"rows {rows}\n" + log_path.read_text()[-3000:]
            time.sleep(1)
            rows = [r for r in SQLiteCatalog(catalog).rows() if r.s3_key in keys] if catalog.exists() else []
        assert {r.s3_key: r.status for r in rows} == {**{k: "ok" for k in keys[:16]}, keys[16]: "failed"}
        assert store.exists("forked/sh010/.proxies/plate.1002_proxy.mp4")

        with dg.DagsterInstance.from_config(home) as instance:
            runs = [r for r in instance.get_runs() if r.job_name == JOB.frames]
            assert len(runs) >= 5, [r.tags for r in runs]  # 17 keys in batches of at most 4
            order = instance.get_dynamic_partitions(PARTITION.frames)
            targeted: list[str] = []
            for run in runs:  # every one launched by the forked launcher, on this host, in its own process
                worker = WorkerId.parse(run.tags[WORKER_TAG])
                assert worker.host == socket.gethostname() and worker.pid not in (proc.pid, os.getpid())
                assert run.tags.get(TAG.trigger) != TRIGGER.follow_upstream, run.tags  # nothing left to follow
                if TAG.partition in run.tags:
                    targeted.append(run.tags[TAG.partition])
                else:
                    first = order.index(run.tags[TAG.range_start])
                    targeted += order[first:order.index(run.tags[TAG.range_end]) + 1]
            assert sorted(targeted) == sorted(keys)  # each key in exactly one run
        running = _processes_of(home)
        assert any(b"multiprocessing.forkserver" in _cmdline(pid) for pid in running)  # the check sees it
        # One code server for the webserver and the daemon (neither starts a code process of its own), on a
        # socket in a folder only this user can open.
        servers = [pid for pid in running if b"code-server\0start" in _cmdline(pid)]
        assert len(servers) == 1, {pid: _cmdline(pid) for pid in running}
        assert [_parent(pid) for pid in running if b"api\0grpc" in _cmdline(pid)] == servers
        workspace = yaml.safe_load((var / "dagster" / "workspace.yaml").read_text())
        sock = Path(workspace["load_from"][0]["grpc_server"]["socket"])
        assert sock.is_socket() and stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
        proc.send_signal(signal.SIGTERM)  # as `kill` would: proxygen local stops its stack itself
        assert proc.wait(timeout=60) == 0, log_path.read_text()[-3000:]
        left = {pid: _cmdline(pid).replace(b"\0", b" ")[:120] for pid in _processes_of(home)}
        assert left == {}, f"still running with DAGSTER_HOME={home}"
        assert not sock.parent.exists()
    finally:
        local.stop()


def _parent(pid: str) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]


def _processes_of(home: str) -> list[str]:
    """Every process whose environment names this Dagster home (the stack's servers, fork server, runs)."""
    pids = subprocess.run(["pgrep", "-f", "python|weed|tansu"], capture_output=True, text=True).stdout.split()
    return [pid for pid in pids if _environ_home(pid) == home]
