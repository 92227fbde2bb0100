"""Redis (Debian's) as the Celery broker of the several-host run, password required."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from proxygen_core.services.process import (
    Service,
    ServiceError,
    free_port,
    wait_for_port,
)


def start_redis(data_dir: str | os.PathLike[str], password: str, port: int | None = None,
                hosts: tuple[str, ...] = ("127.0.0.1",), timeout: float = 30.0) -> Service:
    """Redis (Debian's redis-server) as the Celery broker: password required, bound to ``hosts`` only,
    append-only file on, so queued batches survive a broker restart."""
    port = port or free_port()
    exe = shutil.which("redis-server")
    if not exe:
        raise ServiceError("redis-server not found: apt-get install redis-server (scripts/bootstrap.sh installs it)")
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
    return service.wait_ready("Redis", lambda: wait_for_port(port, timeout, proc, hosts[0]))


def redis_url(host: str, port: int, password: str, db: int = 0) -> str:
    return f"redis://:{password}@{host}:{port}/{db}"

