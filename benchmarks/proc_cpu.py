"""CPU-seconds by process kind, sampled from /proc while a benchmark runs.

Every `interval` the sampler walks all processes, keeps each one's latest utime+stime under the kind its
command line names (run worker, code server, daemon, storage, ...), and sums them at the end. A process
that exits between two samples loses at most its last interval of CPU: the figures are a slight floor.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")

def kind_of(argv: Sequence[str], parent_argv: Sequence[str] = ()) -> str | None:
    """The process kind from its command line: the executable for the servers, the arguments for Python.
    A forked child keeps its parent's command line: a fork server's children are the run workers."""
    exe = os.path.basename(argv[0]) if argv else ""
    rest = " ".join(argv[1:])
    if "multiprocessing.forkserver" in rest:
        return "run workers" if "multiprocessing.forkserver" in " ".join(parent_argv) else "fork server"
    if exe == "weed":
        return "storage (SeaweedFS)"
    if "dagster-daemon" in exe or "dagster-daemon" in rest:
        return "daemon"
    if "dagster-webserver" in exe or "dagster-webserver" in rest:
        return "webserver"
    if not exe.startswith("python") and "dagster" not in exe:
        return None
    # runs start as children of the code server (multiprocessing spawn), or as `dagster api execute_run`,
    # or forked from proxygen's fork server (above)
    if "spawn_main" in rest or "execute_run" in rest or "execute_step" in rest:
        return "run workers"
    if "grpc" in rest or "code-server" in rest:
        return "code servers"
    return None


class CpuSampler:
    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.latest: dict[int, tuple[str, float]] = {}
        self.before: dict[int, float] = {}  # processes already running at the start: only what they use after
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self.sample()
        self.before = {pid: cpu for pid, (_, cpu) in self.latest.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        me = os.getpid()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            try:
                argv = [a for a in (entry / "cmdline").read_bytes().decode(errors="replace").split("\0") if a]
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parent = Path(f"/proc/{fields[1]}/cmdline").read_bytes().decode(errors="replace").split("\0")
                kind = kind_of(argv, parent)
                if kind is None:
                    continue
                cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
            except (OSError, IndexError, ValueError):
                continue
            pid = int(entry.name)
            if cpu >= self.latest.get(pid, ("", 0.0))[1]:
                self.latest[pid] = (kind, cpu)

    def by_kind(self) -> dict[str, tuple[float, int]]:
        """kind -> (CPU-seconds, processes seen)"""
        out: dict[str, tuple[float, int]] = {}
        for pid, (kind, cpu) in self.latest.items():
            total, count = out.get(kind, (0.0, 0))
            out[kind] = (total + cpu - self.before.get(pid, 0.0), count + 1)
        return out
