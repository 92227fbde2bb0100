"""Zou (Kitsu's API server, PyPI ``zou`` 1.0.97) on the project's PostgreSQL and Redis, served by gunicorn on
loopback: the real tracker the Kitsu publisher is tested against, and what ``scripts/kitsu-demo.sh`` starts.

Why a virtual environment of its own (``.venv-zou``, made by scripts/bootstrap.sh): zou pins exact versions of
numpy, opencv, psycopg, redis and more that clash with ours; we talk to it over HTTP only.

What it needs, from ``zou/app/config.py`` (checked on 1.0.97): ``DB_*`` (a database of its own, created here),
``KV_HOST``/``KV_PORT``/``KV_PASSWORD`` (Redis: the token blacklist and the cache), ``PREVIEW_FOLDER`` and
``TMP_DIR`` (the stored movies and pictures), ``SECRET_KEY`` (zou refuses to serve with the public default; one
per data folder, kept there, so a restart keeps the tokens it signed). ``ENABLE_JOB_QUEUE`` stays off, so a
preview is processed inside its upload request (the file's status is final when the call returns), and
``INDEXER_KEY`` unset keeps the search indexer (Meilisearch) off. zou imports a module named ``event_handlers``
from its working folder: it runs in an empty one inside the data folder. One Redis per zou: zou's Redis
database numbers (0-4: token blacklist, memoized rows, events, jobs, config) are fixed, and two zous sharing a
Redis serve each other's cached rows.
"""
from __future__ import annotations

import functools
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from proxygen_core.services.postgres import create_databases
from proxygen_core.services.process import Service, ServiceError, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
ZOU_VERSION = "1.0.97"


def zou_venv() -> Path:
    """Zou's virtual environment: ``PROXYGEN_ZOU_VENV``, else ``.venv-zou`` at the repository root (bootstrap
    makes it there). ServiceError when it has no ``zou`` and ``gunicorn``."""
    venv = Path(os.environ.get("PROXYGEN_ZOU_VENV") or REPO_ROOT / ".venv-zou")
    for exe in ("zou", "gunicorn"):
        if not (venv / "bin" / exe).is_file():
            raise ServiceError(f"{venv / 'bin' / exe} not found: scripts/bootstrap.sh makes zou's venv "
                               f"(zou=={ZOU_VERSION} and gunicorn; PROXYGEN_SKIP_KITSU=1 skips it)")
    return venv


@dataclass
class ZouServer:
    """A running zou: its root URL (gazu's host: no ``/api`` prefix without Kitsu's nginx), the admin's login,
    and how long it took from launch to answering (``started_seconds``)."""

    service: Service
    url: str
    email: str
    password: str
    started_seconds: float
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def proc(self) -> subprocess.Popen:
        return self.service.proc

    @property
    def port(self) -> int:
        return self.service.ports["zou"]

    def stop(self) -> None:
        self.service.stop()


def zou_environment(data_dir: Path, postgres: tuple[str, int, str], redis: tuple[str, int, str],
                    database: str) -> dict[str, str]:
    """Zou's configuration as environment variables (names from zou/app/config.py)."""
    pg_host, pg_port, pg_password = postgres
    kv_host, kv_port, kv_password = redis
    secret = data_dir / "secret_key"
    if not secret.exists():
        secret.write_text(secrets.token_hex(32))
        secret.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "KV_", "INDEXER_", "PYTHON"))}
    env.update({
        "DB_HOST": pg_host, "DB_PORT": str(pg_port), "DB_USERNAME": "proxygen", "DB_PASSWORD": pg_password,
        "DB_DATABASE": database, "DB_POOL_SIZE": "5", "DB_MAX_OVERFLOW": "10",
        "KV_HOST": kv_host, "KV_PORT": str(kv_port), "KV_PASSWORD": kv_password,
        "PREVIEW_FOLDER": str(data_dir / "previews"), "TMP_DIR": str(data_dir / "tmp"), "FS_BACKEND": "local",
        "SECRET_KEY": secret.read_text().strip(), "ENABLE_JOB_QUEUE": "false", "MAIL_ENABLED": "false",
        # no DNS look-up of the admin's mail domain (create-admin refused example.com once, accepted it another
        # time: a resolver's answer, not a rule); this zou sends no mail
        "MAIL_CHECK_DELIVERABILITY": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def start_zou(data_dir: str | os.PathLike[str], postgres: tuple[str, int, str], redis: tuple[str, int, str],
              admin_email: str, admin_password: str, port: int | None = None, timeout: float = 120.0,
              venv: str | os.PathLike[str] | None = None, workers: int = 2, database: str = "zoudb",
              domain: str = "vfx") -> ZouServer:
    """Zou on 127.0.0.1: its database created on ``postgres`` (host, port, the ``proxygen`` user's password),
    schema and base data (task types, statuses for ``domain``) and the admin made, then served by gunicorn.

    Safe to call again on the same data folder and database (a restart): init-db, init-data and create-admin
    leave what is there, and are skipped when this folder already ran them on that database. Returns once zou
    answers HTTP (bounded by ``timeout``)."""
    began = time.monotonic()
    bindir = Path(venv).resolve() / "bin" if venv else zou_venv() / "bin"
    data = Path(data_dir).resolve()
    work = data / "work"  # empty: zou imports event_handlers from its working folder
    for folder in (data, work, data / "previews", data / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    pg_host, pg_port, pg_password = postgres
    create_databases(pg_host, pg_port, pg_password, (database,), min(timeout, 60.0))
    env = zou_environment(data, postgres, redis, database)
    log = data / "zou.log"
    deadline = began + timeout
    steps: list[list[str]] = [["init-db"], ["init-data", "--domain", domain],
                              ["create-admin", admin_email, "--password", admin_password]]
    # A restart of the same folder on the same database skips the three (each is a zou CLI process importing
    # the whole app: about a third of the start); they are idempotent, so a missing stamp only costs time.
    stamp, done_marker = data / "initialized", f"{database}@{pg_host}:{pg_port} {admin_email} {domain}"
    if stamp.exists() and stamp.read_text() == done_marker:
        steps = []
    for step in steps:
        left = deadline - time.monotonic()
        try:
            done = subprocess.run([str(bindir / "zou"), *step], cwd=work, env=env, capture_output=True, text=True,
                                  timeout=max(left, 1.0))
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(f"zou {step[0]} did not finish within {timeout:.0f} s") from exc
        with log.open("a") as fh:
            fh.write(f"$ zou {step[0]}\n{done.stdout}{done.stderr}")
        if done.returncode:
            output = (done.stdout + done.stderr).strip()[-800:]
            raise ServiceError(f"zou {step[0]} failed ({done.returncode}): {output}")
    stamp.write_text(done_marker)
    with log.open("ab") as fh:
        # --no-control-socket: gunicorn >= 23 otherwise opens a control socket under $HOME (one per server).
        proc = subprocess.Popen([str(bindir / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                                 "--timeout", "600", "--no-control-socket", "zou.app:create_app()"],
                                cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    service = Service(proc, log, {"zou": port})
    url = f"http://127.0.0.1:{port}"
    service.wait_ready("zou", lambda: _wait_http(url, deadline, proc))
    server = ZouServer(service, url, admin_email, admin_password, time.monotonic() - began, env)
    service.start_again = functools.partial(_restart, data_dir, postgres, redis, admin_email, admin_password, port,
                                            timeout, venv, workers, database, domain)
    return server


def _restart(*args: object) -> Service:
    return start_zou(*args).service  # type: ignore[arg-type]


def _wait_http(url: str, deadline: float, proc: subprocess.Popen) -> None:
    """Until ``GET /`` answers (zou's root route; any HTTP status means the app loaded in a worker)."""
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"gunicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/", timeout=5):
                return
        except urllib.error.HTTPError:
            return
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise ServiceError(f"no answer from {url} before the deadline (last: {last})")


__all__ = ["ZouServer", "start_zou", "zou_environment", "zou_venv"]
