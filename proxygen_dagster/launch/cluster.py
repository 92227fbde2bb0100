"""Several hosts on one machine: a control host and Celery worker hosts in network namespaces.

``python -m proxygen_dagster.launch.cluster --frames 48 --hosts 2`` (what ``scripts/cluster-demo.sh`` runs, as
root) builds a private network (a bridge and one veth per worker host, addresses that exist only inside
this machine), starts PostgreSQL (Dagster instance + catalog), Redis (Celery broker), SeaweedFS (S3) and
Tansu (Kafka) on the control host's address, the Dagster daemon there (sensor, run queue, run launcher),
and one Celery worker per namespace. It uploads a generated sequence, prints per-host progress, optionally
kills a worker host mid-batch, then stops everything it started (by PID), removes the network and prints
one JSON line: ``{"frames", "rows_ok", "hosts": {host: frames processed}, "wall_s", ...}``.

Nothing here schedules work: Dagster's sensor and run queue, Celery and Redis do; this module only
plays the operator who starts them on each host.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from proxygen_core.services.postgres import postgres_dsn, start_postgres
from proxygen_core.services.process import Service, ServiceError, stop_processes
from proxygen_core.services.redis import redis_url, start_redis
from proxygen_core.services.seaweedfs import start_seaweedfs
from proxygen_core.services.tansu import start_tansu
from proxygen_core.settings import ExecutionSettings, cluster_file, env_name

ACCESS, SECRET = "proxygen-cluster", "proxygen-cluster-secret"


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["ip", *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


@dataclass
class Network:
    """A bridge on the control host and one namespace per worker host (names unique to this process)."""

    tag: str
    subnet: int  # 10.<subnet>.0.0/24
    hosts: list[str] = field(default_factory=list)

    @property
    def control(self) -> str:
        return f"10.{self.subnet}.0.1"

    def address(self, index: int) -> str:
        return f"10.{self.subnet}.0.{10 + index}"

    @property
    def bridge(self) -> str:
        return f"pgb{self.tag}"

    def create(self, count: int) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.control}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i in range(count):
            ns, outer, inner = f"pg{self.tag}h{i}", f"pg{self.tag}a{i}", f"pg{self.tag}b{i}"
            subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True, timeout=30)
            self.hosts.append(ns)
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", ns)
            _ip("link", "set", outer, "master", self.bridge)
            _ip("link", "set", outer, "up")
            _ip("addr", "add", f"{self.address(i)}/24", "dev", inner, ns=ns)
            _ip("link", "set", inner, "up", ns=ns)
            _ip("link", "set", "lo", "up", ns=ns)

    def remove(self) -> None:
        for i, ns in enumerate(self.hosts):
            subprocess.run(["ip", "link", "del", f"pg{self.tag}a{i}"], capture_output=True, timeout=30)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=30)


def host_name(index: int) -> str:
    return f"worker-{chr(ord('a') + index)}"


@dataclass
class Cluster:
    work: Path
    network: Network
    services: dict[str, Service] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        """Workers and the daemon first (they hold connections), then the services; every PID checked."""
        stop_processes(list(self.procs.values()))
        for service in reversed(list(self.services.values())):
            service.stop()
        self.network.remove()


def _instance_yaml(slots: int) -> str:
    text = cluster_file().read_text()
    return text.replace("max_concurrent_runs: 8", f"max_concurrent_runs: {slots + 1}").replace(
        "default_limit: 8", f"default_limit: {slots}")


def start_cluster(work: Path, hosts: int, batch: int, concurrency: int = 1, redelivery_seconds: int = 30) -> Cluster:
    net = Network(f"{os.getpid() % 100000}", 100 + os.getpid() % 100)
    cluster = Cluster(work, net)
    try:
        net.create(hosts)
        ctl = net.control
        pg_password, redis_password = secrets.token_hex(12), secrets.token_hex(12)
        pg = start_postgres(work / "postgres", pg_password, hosts=("127.0.0.1", ctl), clients=f"10.{net.subnet}.0.0/24",
                            databases=("proxygen", "dagster"))
        cluster.services["postgres"] = pg
        redis = start_redis(work / "redis", redis_password, hosts=("127.0.0.1", ctl))
        cluster.services["redis"] = redis
        weed = start_seaweedfs(work / "seaweedfs", ACCESS, SECRET, host=ctl)
        cluster.services["seaweedfs"] = weed
        tansu = start_tansu(work / "tansu", host=ctl)
        cluster.services["tansu"] = tansu
        home = work / "dagster"
        home.mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").write_text(_instance_yaml(hosts * concurrency))
        pg_port, redis_port = pg.ports["postgres"], redis.ports["redis"]
        cluster.env = {
            "DAGSTER_HOME": str(home),
            # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; dagster-postgres ships psycopg2.
            "PROXYGEN_DAGSTER_PG_URL": postgres_dsn(ctl, pg_port, pg_password, "dagster").replace(
                "postgresql://", "postgresql+psycopg2://"),
            env_name("postgres_dsn"): postgres_dsn(ctl, pg_port, pg_password, "proxygen"),
            env_name("catalog_backend"): "postgres",
            env_name("executor"): "celery",
            env_name("celery_broker"): redis_url(ctl, redis_port, redis_password),
            env_name("worker_concurrency"): str(concurrency),
            env_name("redelivery_seconds"): str(redelivery_seconds),
            env_name("s3_endpoint_url"): f"http://{ctl}:{weed.ports['s3.port']}",
            env_name("s3_bucket"): "frames",
            env_name("kafka_bootstrap"): f"{ctl}:{tansu.ports['kafka']}",
            env_name("batch_size"): str(batch),
            env_name("sensor_interval_seconds"): "2",
            env_name("followup_sensor_interval_seconds"): "2",
            env_name("cache_dir"): str(work / "cache" / "control"),
            "AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": SECRET,
            "PROXYGEN_ENV": "production",
            "PYTHONUNBUFFERED": "1",
        }
        base = {**os.environ, **cluster.env}
        from dagster import DagsterInstance

        os.environ.update(cluster.env)
        with DagsterInstance.get():  # creates the instance schema once, before several processes touch it
            pass
        bin_dir = Path(sys.executable).parent
        logs = work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for i, ns in enumerate(net.hosts):
            name = host_name(i)
            env = {**base, env_name("host_name"): name, env_name("cache_dir"): str(work / "cache" / name)}
            with (logs / f"{name}.log").open("ab") as fh:
                cluster.procs[name] = subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        ns,
                        str(bin_dir / "celery"),
                        "-A",
                        "proxygen_dagster.launch.celery_app",
                        "worker",
                        "-Q",
                        f"{ExecutionSettings.render_queue},{ExecutionSettings.io_queue}",
                        "-n",
                        f"{name}@%h",
                        "-l",
                        "INFO",
                    ],
                    env=env,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        with (logs / "daemon.log").open("ab") as fh:
            cluster.procs["daemon"] = subprocess.Popen(
                [str(bin_dir / "dagster-daemon"), "run", "-m", "proxygen_dagster.definitions"], env=base,
                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        return cluster
    except BaseException:
        cluster.stop()
        raise


def wait_workers_ready(logs: Path, names: list[str], timeout: float = 120.0) -> None:
    """Every worker host has connected to the broker and is consuming (Celery logs "<name>@... ready."), so a
    batch is never queued before the host that should share it exists. A host that never gets there is an
    error naming it, with the end of its log."""
    deadline = time.monotonic() + timeout
    waiting = list(names)
    while waiting and time.monotonic() < deadline:
        waiting = [n for n in waiting if " ready." not in _text(logs / f"{n}.log")]
        if waiting:
            time.sleep(0.5)
    if waiting:
        tails = "; ".join(f"{n}: {_text(logs / f'{n}.log')[-400:]!r}" for n in waiting)
        raise ServiceError(f"worker hosts not ready after {timeout:.0f} s: {tails}")


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def busy(worker_log: Path) -> bool:
    """The worker holds a task it has not finished (Celery logs 'received' and 'succeeded'/'failed')."""
    try:
        text = worker_log.read_text(errors="replace")
    except OSError:
        return False
    return text.count("] received") > text.count("] succeeded") + text.count("] raised")


def frames_by_host(instance) -> tuple[set[str], Counter]:
    """Partitions with a proxy_record, and how many records each host wrote (from the event log)."""
    from dagster import AssetKey, AssetRecordsFilter

    from proxygen_core.pipeline.chain import RECORD

    done: set[str] = set()
    hosts: Counter = Counter()
    cursor = None
    while True:
        result = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(RECORD)), limit=1000,
                                                 cursor=cursor, ascending=True)
        for record in result.records:
            mat = record.asset_materialization
            done.add(mat.partition)
            host = mat.metadata.get("host")
            hosts[host.value if host is not None else "?"] += 1
        if not result.has_more:
            return done, hosts
        cursor = result.cursor


def run_demo(frames: int = 48, hosts: int = 2, batch: int = 8, width: int = 2048, height: int = 1080,
             kill: str | None = None, timeout: float = 1200.0, work: Path | None = None,
             redelivery_seconds: int = 30, log=print) -> dict:
    """Ingest a generated sequence through the cluster; returns the summary (also printed as one JSON line)."""
    from dagster import DagsterInstance

    from proxygen_core.catalog.postgres import PostgresCatalog
    from proxygen_core.media.samples import write_sequence
    from proxygen_core.store.s3 import ObjectStore, s3_client

    own = work is None
    work = Path(tempfile.mkdtemp(prefix="proxygen-cluster-")) if work is None else Path(work)
    work.chmod(0o755)  # PostgreSQL runs as 'postgres' and must reach its folder inside
    saved = dict(os.environ)
    cluster = None
    try:
        sources = write_sequence(work / "frames", frames=frames, width=width, height=height, name="plate")
        cluster = start_cluster(work, hosts, batch, redelivery_seconds=redelivery_seconds)
        env = cluster.env
        store = ObjectStore(s3_client(env[env_name("s3_endpoint_url")], access_key_id=ACCESS, secret_access_key=SECRET),
                            "frames", str(work / "cache" / "uploader"))
        store.wait_ready(60)
        wait_workers_ready(work / "logs", [host_name(i) for i in range(hosts)])
        log(f"control {cluster.network.control}: postgres, redis, seaweedfs, tansu, dagster-daemon; "
            f"workers: {', '.join(f'{host_name(i)} ({cluster.network.address(i)})' for i in range(hosts))}")
        t0 = time.time()
        for path in sources:
            store.upload_file(path, f"shots/sh010/{path.name}")
        killed: str | None = None
        deadline = time.monotonic() + timeout
        done: set[str] = set()
        per_host: Counter = Counter()
        last = ""
        with DagsterInstance.get() as instance:
            while time.monotonic() < deadline:
                done, per_host = frames_by_host(instance)
                line = f"[{time.time() - t0:6.1f} s] {len(done)}/{frames} frames; " + ", ".join(
                    f"{h}: {n}" for h, n in sorted(per_host.items()))
                if line.split("] ")[1] != last:
                    log(line)
                    last = line.split("] ")[1]
                watched = [host_name(i) for i in range(hosts)] if kill == "any" else [kill] if kill else []
                holding = [h for h in watched if busy(work / "logs" / f"{h}.log")]
                if holding and not killed:
                    # Mid-batch: the host has taken a batch's task and not finished it.
                    os.killpg(cluster.procs[holding[0]].pid, signal.SIGKILL)  # a host dies: no shutdown at all
                    killed = holding[0]
                    log(f"killed {killed} (SIGKILL to its process group) mid-batch")
                if len(done) >= frames:
                    break
                time.sleep(0.2 if kill and not killed else 1.0)
            wall = time.time() - t0
            runs = instance.get_run_records()
        catalog = PostgresCatalog(env[env_name("postgres_dsn")])
        rows = catalog.rows(limit=frames * 2)
        events = catalog.events(limit=frames * 2)
        summary = {"frames": frames, "rows_ok": sum(r.ok for r in rows), "rows": len(rows),
                   "events": len(events), "events_sent": sum(e.sent_at is not None for e in events),
                   "network": cluster.network.tag,
                   "hosts": {host_name(i): per_host.get(host_name(i), 0) for i in range(hosts)},
                   "wall_s": round(wall, 1), "runs": len(runs), "killed": killed,
                   "frames_per_min": round(len(done) / wall * 60, 1) if wall else 0.0}
        print(json.dumps(summary), flush=True)
        return summary
    finally:
        if cluster is not None:
            cluster.stop()
        os.environ.clear()
        os.environ.update(saved)
        if own:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m proxygen_dagster.launch.cluster", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8, help="frames per run (one Celery task each)")
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--kill", help="worker host to kill mid-batch, e.g. worker-a, or 'any': the first host "
                                       "seen holding a batch")
    parser.add_argument("--timeout", type=float, default=1200.0)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("error: network namespaces need root (ip netns)", file=sys.stderr)
        return 2
    summary = run_demo(args.frames, args.hosts, args.batch, args.width, args.height, args.kill, args.timeout,
                       log=lambda m: print(m, file=sys.stderr, flush=True))
    return 0 if summary["rows_ok"] == args.frames else 1


if __name__ == "__main__":
    sys.exit(main())
