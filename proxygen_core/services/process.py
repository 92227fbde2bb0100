"""Service processes: free ports, waiting for a port, and stopping a whole process group by PID (SIGKILL
after a grace period), since background servers may ignore SIGINT/SIGTERM."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class ServiceError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"process exited with {proc.returncode} before port {port} opened")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise ServiceError(f"port {port} did not open within {timeout:.0f} s")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stop_process(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever of the group is left.

    The group, not only its leader: a leader that exits on SIGTERM can leave children that ignore it (the
    Dagster daemon's code server did), and they would outlive the test or demo that started them.
    """
    stop_processes([proc], grace)


def stop_processes(procs: Sequence[subprocess.Popen], grace: float = 5.0) -> None:
    """Stop several process groups at once: one grace period for all of them, not one after another (a
    stack of four servers that each take 2-3 s to stop cleanly would otherwise take ten)."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    while any(_group_alive(p.pid) for p in procs) and time.monotonic() < deadline:
        for proc in procs:
            proc.poll()  # reap a leader that exited, so its group can read as gone
        time.sleep(0.1)
    for proc in procs:
        if _group_alive(proc.pid):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for proc in procs:
        try:
            proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            pass


@dataclass
class Service:
    proc: subprocess.Popen
    log: Path
    ports: dict[str, int] = field(default_factory=dict)
    start_again: Callable[[], Service] | None = None  # same binary, ports, data: for supervisors and tests

    def stop(self) -> None:
        stop_process(self.proc)

    def wait_ready(self, name: str, ready: Callable[[], None]) -> Service:
        """Wait until it serves. A start that fails, times out or is interrupted (Ctrl-C) stops it, so a server
        that never became ready is not left running; the error names the server and ends with its log."""
        try:
            ready()
        except Exception as exc:
            self.stop()
            raise ServiceError(f"{name} did not start: {exc}\n{self.log_tail()}") from exc
        except BaseException:
            self.stop()
            raise
        return self

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

