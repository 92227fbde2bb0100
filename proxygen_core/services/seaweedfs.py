"""SeaweedFS (``weed mini``) as the S3 server of the local run and the tests: loopback, SigV4 credentials."""
from __future__ import annotations

import functools
import os
import secrets
import subprocess
from pathlib import Path

from proxygen_core.services.binaries import verified_weed
from proxygen_core.services.process import (
    Service,
    free_port,
    wait_for_port,
)


def write_security(data: Path) -> Path:
    """``security.toml`` in the server's working folder: JWT keys (new at every start; they only sign the
    server's own short-lived tokens) for reads and writes on the volume and filer ports. Only the S3 port,
    with its SigV4 credentials, then serves data: the filer, volume and master ports answer no read, write
    or delete without a token (tests/test_storage_lockdown.py)."""
    sections = (("jwt.signing", "volume writes"), ("jwt.signing.read", "volume reads"),
                ("jwt.filer_signing", "filer writes"), ("jwt.filer_signing.read", "filer reads"))
    path = data / "security.toml"
    path.write_text("".join(f'[{name}]  # {what}\nkey = "{secrets.token_hex(24)}"\nexpires_after_seconds = 10\n'
                            for name, what in sections))
    path.chmod(0o600)
    return path


def filer_write_token(data_dir: str | os.PathLike[str], seconds: int = 3600) -> str:
    """A bearer token for the filer's HTTP writes (HS256 with the filer signing key of this server's
    security.toml), for bulk seeding by the project's own benchmark; never handed to anyone else."""
    import base64
    import hashlib
    import hmac
    import json
    import re
    import time

    text = (Path(data_dir) / "security.toml").read_text()
    key = re.search(r'\[jwt\.filer_signing\][^\[]*?key = "([^"]+)"', text).group(1)
    encode = (lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode())
    head = encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = encode(json.dumps({"exp": int(time.time()) + seconds}).encode())
    signature = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{encode(signature)}"


def start_seaweedfs(data_dir: str | os.PathLike[str], access_key: str, secret_key: str, s3_port: int | None = None,
                    timeout: float = 60.0, ports: dict[str, int] | None = None, host: str = "127.0.0.1") -> Service:
    """``weed mini`` on ``host`` (loopback, or the cluster demo's private address) with every port chosen
    (free ports unless given); SigV4 enforced on S3, JWT on the filer and volume ports (``write_security``)."""
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    if ports is None:
        ports = {name: free_port() for name in ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                                                "filer.port", "filer.port.grpc", "s3.port.grpc", "admin.port",
                                                "webdav.port")}
        ports["s3.port"] = s3_port or free_port()
    ports = dict(ports)
    write_security(data)
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
    return service.wait_ready("SeaweedFS", lambda: wait_for_port(ports["s3.port"], timeout, proc, host))

