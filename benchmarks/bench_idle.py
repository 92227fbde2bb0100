"""What an idle stack costs: `proxygen local --no-samples` (embedded defaults, empty bucket) is started as a user
starts it, left to settle, then every process of its tree (SeaweedFS and its keeper, Tansu, the code server and
its gRPC child, webserver, daemon, the supervisor itself) is read from /proc (utime + stime) over a window.
Prints CPU-seconds per process kind and the total as a fraction of one core; ``--threads`` adds the busiest
threads of each Python process (by their CPU time in /proc/<pid>/task).

    .venv/bin/python benchmarks/bench_idle.py [--settle 60] [--seconds 120] [--threads]

The stack is stopped at the end (its supervisor by SIGTERM, then every process group of its tree by PID), also
on an error or Ctrl-C. Settings for the stack come only from ``--env NAME=VALUE`` (no PROXYGEN_* is inherited);
the stack runs this checkout's code (PYTHONPATH), whichever checkout the shared virtualenv was installed from.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # this checkout: its code and dagster.yaml, not another's install
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]
from machine import describe  # noqa: E402  (benchmarks/machine.py)

TICK = os.sysconf("SC_CLK_TCK")


def read_stat(pid: int | str) -> tuple[int, float] | None:
    """(parent pid, CPU-seconds) of a process (or a task), or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def argv_of(pid: int) -> list[str]:
    try:
        return [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return []


def tree(root: int) -> dict[int, tuple[int, float]]:
    """Every process under ``root`` (itself included): pid -> (parent, CPU-seconds)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = read_stat(entry.name)
            if stat is not None:
                stats[int(entry.name)] = stat
    inside, grew = {root}, True
    while grew:
        more = {pid for pid, (parent, _) in stats.items() if parent in inside} - inside
        grew = bool(more)
        inside |= more
    return {pid: stats[pid] for pid in inside if pid in stats}


def kind_of(argv: list[str], parent_argv: list[str]) -> str:
    exe, rest = (os.path.basename(argv[0]) if argv else ""), " ".join(argv[1:])
    if exe == "weed":
        return "storage (weed mini)"
    if "proxygen_core.services.forward" in rest or "proxygen_core.services.netns" in rest:
        return "storage keeper (S3 relay)"
    if exe == "tansu":
        return "broker (Tansu)"
    if "dagster-daemon" in exe or "dagster-daemon" in rest:
        return "daemon"
    if "proxygen_dagster.launch.webserver" in rest or "dagster-webserver" in rest:
        return "webserver"
    if "code-server" in rest:
        return "code server"
    if "api grpc" in rest or "grpc" in rest:
        return "code server gRPC child"
    if "multiprocessing.forkserver" in rest or "multiprocessing" in rest:
        return "fork server / run workers"
    if exe == "proxygen" or rest.startswith("local") or " local " in f" {rest} ":
        return "supervisor (proxygen local)"
    if "dagster-daemon" in " ".join(parent_argv):
        return "daemon children"
    return f"other ({exe})"


class TreeSampler:
    """The tree's processes, read every ``interval``: a process that starts inside the window counts from 0, one
    that ends loses at most its last interval (a slight floor)."""

    def __init__(self, root: int, interval: float = 1.0) -> None:
        self.root, self.interval = root, interval
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.kinds: dict[int, str] = {}
        self.groups: set[int] = set()

    def sample(self, baseline: bool = False) -> None:
        for pid, (parent, cpu) in tree(self.root).items():
            if pid not in self.kinds:
                self.kinds[pid] = kind_of(argv_of(pid), argv_of(parent))
                try:
                    self.groups.add(os.getpgid(pid))
                except ProcessLookupError:
                    pass
                self.first[pid] = 0.0
            if baseline:
                self.first[pid] = cpu
            self.last[pid] = max(cpu, self.last.get(pid, 0.0))

    def by_kind(self) -> dict[str, tuple[float, int]]:
        out: dict[str, tuple[float, int]] = {}
        for pid, kind in self.kinds.items():
            total, count = out.get(kind, (0.0, 0))
            out[kind] = (total + self.last.get(pid, 0.0) - self.first.get(pid, 0.0), count + 1)
        return out


def thread_times(pid: int) -> dict[str, float]:
    """CPU-seconds per thread name of one process (threads of one name summed)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICK
    return out


def ticks_between(home: Path, start: float, end: float) -> dict[str, dict[str, int]]:
    """Sensor and schedule ticks the daemon recorded in the window: name -> status -> count (a failing sensor
    would look cheap: the figures count only if its ticks are SKIPPED or SUCCESS)."""
    import sqlite3

    out: dict[str, dict[str, int]] = {}
    with contextlib.closing(sqlite3.connect(f"file:{home / 'schedules' / 'schedules.db'}?mode=ro", uri=True)) as db:
        for status, body in db.execute("SELECT status, tick_body FROM job_ticks"):
            tick = json.loads(body)
            if not start <= tick.get("timestamp", 0.0) <= end:
                continue
            name = tick.get("job_name", "?")  # TickData.instigator_name, under its storage name
            out.setdefault(name, {}).setdefault(status, 0)
            out[name][status] += 1
    return out


def start_stack(var: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    from proxygen_core.services.process import free_port

    clean = {k: v for k, v in os.environ.items() if not k.startswith("PROXYGEN_")}
    clean.update(XDG_CONFIG_HOME=str(var / "config"), PYTHONPATH=str(ROOT), **env)
    log = var / "local.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("proxygen")), "local", "--var", str(var / "var"),
                                 "--no-samples", "--port", str(free_port()), "--s3-port", str(free_port()),
                                 "--kafka-port", str(free_port())], env=clean, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc, log


def stop_all(proc: subprocess.Popen, groups: set[int], grace: float = 60.0) -> None:
    """SIGTERM the supervisor (it stops its own stack in order), then SIGKILL whatever group of the tree is left."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    for group in groups | {proc.pid}:
        if group == os.getpgid(0):
            continue
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc.poll() is None:
        proc.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settle", type=float, default=60.0, help="seconds after the UI is up before the window")
    parser.add_argument("--seconds", type=float, default=120.0, help="the measured window")
    parser.add_argument("--threads", action="store_true", help="also the busiest threads of each process")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a setting for the stack")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    print("machine:", describe(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        proc, log = start_stack(Path(tmp), env)
        sampler = TreeSampler(proc.pid)
        threads0: dict[int, dict[str, float]] = {}
        try:
            deadline = time.monotonic() + 300
            while b"Dagster UI:" not in log.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
                    return 1
                time.sleep(0.5)
            sampler.sample()
            time.sleep(args.settle)
            sampler.sample(baseline=True)
            if args.threads:
                threads0 = {pid: thread_times(pid) for pid in sampler.kinds}
            t0, wall0 = time.monotonic(), time.time()
            while time.monotonic() - t0 < args.seconds:
                time.sleep(min(sampler.interval, args.seconds - (time.monotonic() - t0)))
                sampler.sample()
            window = time.monotonic() - t0
            threads1 = {pid: thread_times(pid) for pid in threads0}
            ticks = ticks_between(Path(tmp) / "var" / "dagster", wall0, time.time())
            if proc.poll() is not None:
                print(f"the stack exited during the window:\n{log.read_text(errors='replace')[-3000:]}",
                      file=sys.stderr)
                return 1
        finally:
            sampler.sample()
            stop_all(proc, sampler.groups)
    print(f"idle stack (no uploads, empty bucket), settle {args.settle:.0f} s, window {window:.1f} s"
          + (f", env {' '.join(args.env)}" if args.env else ""))
    total = 0.0
    for kind, (seconds, count) in sorted(sampler.by_kind().items(), key=lambda kv: -kv[1][0]):
        total += seconds
        print(f"  {kind:<30} {seconds:6.2f} CPU-s over {count:2d} processes = {seconds / window:.4f} core")
    print(f"  {'total':<30} {total:6.2f} CPU-s = {total / window:.4f} of one core")
    print("ticks in the window: " + "; ".join(f"{name} " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(by.items()))
                                            for name, by in sorted(ticks.items())))
    if args.threads:
        for pid, before in threads0.items():
            after = threads1.get(pid, {})
            busy = sorted(((after[n] - before.get(n, 0.0), n) for n in after), reverse=True)[:5]
            if busy and busy[0][0] > 0:
                print(f"  {sampler.kinds[pid]} ({pid}): " + ", ".join(f"{n} {s:.2f}" for s, n in busy if s > 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
