#!/opt/proxygen/venv/bin/python
"""The image's entrypoint (/usr/local/bin/proxygen-entrypoint): get a container's Dagster home ready, then exec the
command.

Why an entrypoint and not compose alone: a file mounted into $DAGSTER_HOME makes that folder root-owned (the
non-root user can then not write its compute logs), podman-compose before podman 4.6 ignores `depends_on:
condition: service_healthy`, and the webserver and daemon starting together would both create the instance
schema in an empty PostgreSQL at once. So, each only when its variable is set (a bare `podman run` of the image
does nothing here):

- ``PROXYGEN_INSTANCE_SOURCE``: copy that instance file (mounted read-only anywhere else) to
  ``$DAGSTER_HOME/dagster.yaml``, atomically (several containers may share the home volume);
- ``PROXYGEN_DAGSTER_PG_URL`` / ``PROXYGEN_POSTGRES_DSN``: wait, at most ``PROXYGEN_WAIT_SECONDS`` (default 120),
  until PostgreSQL accepts a login to each database; then create the Dagster instance schema once, under a
  PostgreSQL advisory lock, so concurrent containers never race on it.

A wait that runs out exits 1 with the host and the last error (never the password); the restart policy then
starts the container again.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA_LOCK = 0x70726F78  # "prox": the advisory lock every container takes to create the instance schema
POLL_SECONDS = 1.0


class EntrypointError(RuntimeError):
    """The container cannot start; the message names what and why."""


@dataclass(frozen=True)
class Target:
    """A PostgreSQL database to wait for, named by the variable that holds its DSN."""

    variable: str
    dsn: str

    @property
    def libpq_dsn(self) -> str:
        # SQLAlchemy's URL names its driver (postgresql+psycopg2://, +psycopg://); libpq wants the bare scheme.
        scheme, sep, rest = self.dsn.partition("://")
        if sep and scheme.split("+", 1)[0] in ("postgresql", "postgres"):
            return f"postgresql://{rest}"
        return self.dsn

    def where(self) -> str:
        from psycopg2.extensions import parse_dsn

        parts = parse_dsn(self.libpq_dsn)
        return f"{parts.get('host', '?')}:{parts.get('port', '5432')}/{parts.get('dbname', '?')} ({self.variable})"


def place_instance_file(source: Path, home: Path) -> Path:
    """Copy the instance file into the Dagster home; the home stays owned by the container's user."""
    if not source.is_file():
        raise EntrypointError(f"PROXYGEN_INSTANCE_SOURCE={source}: no such file (mount the instance file there)")
    home.mkdir(parents=True, exist_ok=True)
    if not os.access(home, os.W_OK):
        raise EntrypointError(f"DAGSTER_HOME={home} is not writable by uid {os.getuid()}: use a named volume, and "
                              "mount the instance file elsewhere (PROXYGEN_INSTANCE_SOURCE)")
    target = home / "dagster.yaml"
    partial = home / f".dagster.yaml.{os.getpid()}"
    partial.write_bytes(source.read_bytes())
    partial.replace(target)
    return target


def wait_for(target: Target, deadline: float) -> None:
    """Log in to the database until it answers or the deadline passes."""
    import psycopg2

    last = "no attempt"
    while True:
        try:
            psycopg2.connect(target.libpq_dsn, connect_timeout=3).close()
            return
        except psycopg2.OperationalError as exc:
            last = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if time.monotonic() >= deadline:
            raise EntrypointError(f"PostgreSQL at {target.where()} did not accept a login in time: {last}")
        time.sleep(POLL_SECONDS)


def create_instance_schema(target: Target) -> None:
    """Create (or migrate to) the instance schema while holding the advisory lock: one container at a time."""
    import psycopg2
    from dagster import DagsterInstance

    conn = psycopg2.connect(target.libpq_dsn, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        with DagsterInstance.get():
            pass
    finally:
        conn.close()  # ends the session, and with it the lock


def prepare(env: dict[str, str]) -> None:
    """Everything the variables ask for, in order: instance file, databases, schema."""
    deadline = time.monotonic() + float(env.get("PROXYGEN_WAIT_SECONDS", "120"))
    if env.get("PROXYGEN_INSTANCE_SOURCE"):
        if not env.get("DAGSTER_HOME"):
            raise EntrypointError("PROXYGEN_INSTANCE_SOURCE is set but DAGSTER_HOME is not")
        place_instance_file(Path(env["PROXYGEN_INSTANCE_SOURCE"]), Path(env["DAGSTER_HOME"]))
    targets = [Target(name, env[name]) for name in ("PROXYGEN_DAGSTER_PG_URL", "PROXYGEN_POSTGRES_DSN")
               if env.get(name)]
    for target in targets:
        wait_for(target, deadline)
    instance = next((t for t in targets if t.variable == "PROXYGEN_DAGSTER_PG_URL"), None)
    if instance is not None and env.get("PROXYGEN_INSTANCE_SOURCE"):
        create_instance_schema(instance)


def main(argv: list[str]) -> int:
    if not argv:
        argv = ["proxygen", "--help"]
    try:
        prepare(dict(os.environ))
    except EntrypointError as exc:
        print(f"proxygen-entrypoint: error: {exc}", file=sys.stderr, flush=True)
        return 1
    os.execvp(argv[0], argv)
    return 127  # not reached: execvp replaces this process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
