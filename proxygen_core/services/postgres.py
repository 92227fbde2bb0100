"""PostgreSQL 15 (Debian's) for the several-host catalog and Dagster instance, in its own data folder."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from proxygen_core.services.process import (
    Service,
    ServiceError,
    free_port,
    wait_for_port,
)


def postgres_bin(name: str) -> Path:
    """A PostgreSQL server program (Debian keeps them under /usr/lib/postgresql/<version>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1]
    which = shutil.which(name)
    if which:
        return Path(which)
    raise ServiceError(f"PostgreSQL's {name} not found: apt-get install postgresql (scripts/bootstrap.sh installs it)")


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

    def ready() -> None:
        wait_for_port(port, timeout, proc, hosts[0])
        create_databases(hosts[0], port, password, databases, timeout)

    return service.wait_ready("PostgreSQL", ready)


def postgres_dsn(host: str, port: int, password: str, database: str = "proxygen") -> str:
    return f"postgresql://proxygen:{password}@{host}:{port}/{database}"


def create_databases(host: str, port: int, password: str, databases: tuple[str, ...], timeout: float) -> None:
    """Create the databases that do not exist yet (owner ``proxygen``), waiting for logins up to ``timeout``."""
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

