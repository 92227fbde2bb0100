"""A run launcher whose run workers are forked from a warm process instead of started cold.

Dagster's default launcher asks the code server for each run, and the code server starts a fresh
interpreter ("spawn") that imports Dagster, dagster-aws, boto3, SQLAlchemy and the media libraries again:
2.2 CPU-seconds per run on the 2-core machine, ~0.09 CPU-s a frame at 24 keys a run (docs/benchmarks.md).
Here a resident fork server (Python's ``forkserver``) imports those third-party modules once and forks one
child per run; the child runs ``dagster api execute_run``, the command Dagster's container launchers run,
so the run loads the code location (our modules) fresh from its origin: changed code is picked up by the
next run, as with the default launcher.

The worker is found again by the process id and start time kept in the run's tags, from any process (the
webserver terminates, the daemon's monitoring checks health), and on one host only (the local run; the
several-host run keeps Dagster's launcher and Celery).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster._core.launcher.base import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from proxygen_dagster.names import TAG

WORKER_TAG = TAG.run_worker  # host:pid:start-time of the forked run worker
GO_TIMEOUT_SECONDS = 120.0  # a forked worker waits this long for its launcher to tag the run

# What a run worker imports before its first frame that does not change with our code. Not proxygen's own
# modules: those are imported by each run from its code origin, so an edit needs no restart.
PRELOAD = ("dagster", "dagster._cli.api", "dagster._core.execution.api", "dagster._core.storage.runs",
           "dagster._core.storage.event_log", "dagster_aws.s3", "boto3", "botocore.client", "s3transfer.manager",
           "sqlalchemy", "alembic.command", "numpy", "OpenImageIO", "PyOpenColorIO", "av")


@dataclass(frozen=True)
class WorkerId:
    """A process named so that a reused process id is not mistaken for the run's worker."""

    host: str
    pid: int
    started: int  # clock ticks after boot, /proc/<pid>/stat field 22

    def tag(self) -> str:
        return f"{self.host}:{self.pid}:{self.started}"

    @classmethod
    def parse(cls, text: str) -> WorkerId:
        host, pid, started = text.rsplit(":", 2)
        return cls(host, int(pid), int(started))

    def alive(self) -> bool:
        """This very process still runs (not a zombie, not a newer process with the same id)."""
        started = start_ticks(self.pid)
        return started is not None and started == self.started


def start_ticks(pid: int) -> int | None:
    """A process's start time from /proc, or None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def run_worker(input_json: str, go: Any) -> None:
    """The forked child: what `dagster api execute_run` does, in a process that has the libraries loaded.
    It starts once the launcher has tagged the run with this process: Dagster writes tags by rewriting the
    whole run record (read, merge, write), which must not race the worker's own status writes."""
    from dagster._cli.api import execute_run_command
    from dagster._utils.interrupts import setup_interrupt_handlers

    try:
        confirmed = go.poll(GO_TIMEOUT_SECONDS) and go.recv()
    except EOFError:  # the launcher closed its end without confirming: tagging the run failed
        confirmed = False
    if not confirmed:  # (or it died): the run never starts here; Dagster fails its launch or its start
        raise SystemExit(f"run worker not confirmed by its launcher within {GO_TIMEOUT_SECONDS} s")
    setup_interrupt_handlers()  # SIGTERM is an interrupt, as in the `dagster` command: the run ends CANCELED
    run = execute_run_command.callback  # click's command callback: typed Optional, always set on a command
    assert run is not None
    run(input_json=input_json, compressed_input_json=None)


class ForkedRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run in a child of a warm fork server (see the module docstring for why)."""

    def __init__(self, inst_data: ConfigurableClassData | None = None, preload_modules: Sequence[str] = PRELOAD):
        self._inst_data = inst_data
        self._preload = list(preload_modules)
        self._context: Any = None
        self._workers: dict[str, multiprocessing.process.BaseProcess] = {}
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        from dagster import Array, Field

        return {"preload_modules": Field(Array(str), is_required=False, default_value=list(PRELOAD),
                                         description="Modules the fork server imports once for every run.")}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> ForkedRunLauncher:
        return cls(inst_data=inst_data, preload_modules=config_value.get("preload_modules", PRELOAD))

    def _fork_server(self) -> Any:
        if self._context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(self._preload)
            self._context = context
        return self._context

    def launch_run(self, context: LaunchRunContext) -> None:
        from dagster._grpc.types import ExecuteRunArgs
        from dagster._serdes import serialize_value

        run = context.dagster_run
        if run.job_code_origin is None:
            raise ValueError(f"run {run.run_id} has no code origin to load its job from")
        args = ExecuteRunArgs(job_origin=run.job_code_origin, run_id=run.run_id,
                              instance_ref=self._instance.get_ref(), set_exit_code_on_failure=True)
        forks = self._fork_server()
        go, confirm = forks.Pipe(duplex=False)
        worker = forks.Process(target=run_worker, args=(serialize_value(args), go),
                               name=f"dagster-run-{run.run_id[:8]}", daemon=False)
        worker.start()
        go.close()
        self._workers[run.run_id] = worker
        pid = int(worker.pid or 0)  # set by start()
        started = start_ticks(pid)
        try:
            self._instance.add_run_tags(run.run_id, {WORKER_TAG: WorkerId(socket.gethostname(), pid,
                                                                          started or 0).tag()})
            confirm.send(True)
        finally:
            confirm.close()  # unconfirmed (the tag failed): the worker exits, the run fails to launch
        self._forget_finished()

    def _forget_finished(self) -> None:
        for run_id, worker in list(self._workers.items()):
            if not worker.is_alive():
                del self._workers[run_id]

    def _worker(self, run_id: str) -> WorkerId | None:
        run = self._instance.get_run_by_id(run_id)
        text = run.tags.get(WORKER_TAG) if run else None
        return WorkerId.parse(text) if text else None

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        worker = self._worker(run_id)
        if worker is None or worker.host != socket.gethostname() or not worker.alive():
            self._instance.report_engine_event(f"run worker {worker.tag() if worker else '(never started)'} is "
                                               "not running here: nothing to stop", run, cls=self.__class__)
            return False
        os.kill(worker.pid, signal.SIGTERM)  # an interrupt to Dagster: the run ends CANCELED, its steps clean up
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: Any) -> CheckRunHealthResult:
        worker = self._worker(run.run_id)
        if worker is None:
            return CheckRunHealthResult(WorkerStatus.NOT_FOUND, "no run worker recorded for this run")
        if worker.host != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"run worker on {worker.host}, checked from "
                                        f"{socket.gethostname()}")
        if worker.alive():
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=worker.tag())
        mine = self._workers.get(run.run_id)
        code = mine.exitcode if mine is not None else None
        if code == 0:
            return CheckRunHealthResult(WorkerStatus.SUCCESS, run_worker_id=worker.tag())
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {worker.pid} is gone"
                                    + (f" (exit code {code})" if code is not None else ""), run_worker_id=worker.tag())

    def dispose(self) -> None:
        self._workers.clear()
