"""SeaweedFS (``weed mini``) as the S3 server of the local run and the tests: only its S3 port (SigV4 credentials)
reachable by other local users, the rest in private namespaces (``netns.py``) behind a relay (``forward.py``)."""
from __future__ import annotations

import functools
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from proxygen_core.services import netns
from proxygen_core.services.binaries import verified_weed
from proxygen_core.services.process import (
    Service,
    ServiceError,
    free_port,
    wait_for_port,
)


def write_security(data: Path) -> Path:
    """``security.toml`` in the server's working folder: JWT keys (new at every start; they only sign the
    server's own short-lived tokens) for reads and writes on the volume and filer ports, so even where those
    ports can be reached (without namespaces, ``SeaweedService.exposure``) the filer and volume HTTP serve no
    read, write or delete without a token. The master's HTTP and every gRPC port check nothing: only the
    private network namespace keeps them from other users (docs/pipeline.md, "Storage")."""
    sections = (("jwt.signing", "volume writes"), ("jwt.signing.read", "volume reads"),
                ("jwt.filer_signing", "filer writes"), ("jwt.filer_signing.read", "filer reads"))
    path = data / "security.toml"
    path.write_text("".join(f'[{name}]  # {what}\nkey = "{secrets.token_hex(24)}"\nexpires_after_seconds = 10\n'
                            for name, what in sections))
    path.chmod(0o600)
    return path


GRPC_SOCKETS = {"master.port.grpc": "master", "volume.port.grpc": "volume", "filer.port.grpc": "filer",
                "s3.port.grpc": "s3", "admin.port.grpc": "admin"}  # weed's /tmp/seaweedfs-<kind>-grpc-<port>.sock
EXPOSED = "storage internal ports are reachable by local users"


@dataclass
class SeaweedService(Service):
    """The running server. ``isolated``: only its S3 port is reachable from the host (the rest is in a private
    network namespace); otherwise ``exposure`` says so, for the start banner."""

    isolated: bool = False
    socket_dir: Path | None = None  # the 0700 folder of its Unix sockets, removed on stop

    @property
    def exposure(self) -> str | None:
        return None if self.isolated else EXPOSED

    def stop(self) -> None:
        super().stop()
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)


def socket_path(data: Path) -> Path:
    """Where the server's sockets live: ``<data>/sockets``, or (a data folder too deep for a socket path's 108
    bytes) a folder in the temp folder named after the data folder; the same at every start, so a start after a
    SIGKILL clears what the killed server left."""
    folder = data / "sockets"
    if len(str(folder / "seaweedfs-volume-grpc-65535.sock")) > 100:
        folder = Path(tempfile.gettempdir()) / f"proxygen-weed-{hashlib.sha256(str(data).encode()).hexdigest()[:12]}"
    return folder


def socket_folder(data: Path) -> Path:
    """``socket_path(data)``, emptied and made 0700 (refused if someone else's)."""
    folder = socket_path(data)
    if folder.is_symlink() or (folder.exists() and folder.lstat().st_uid != os.geteuid()):
        raise ServiceError(f"{folder}: socket folder exists and is not ours; refusing to use it")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700, parents=True)
    folder.chmod(0o700)  # whatever the umask
    return folder


def _keeper(data: Path, folder: Path, server: list[str], relay: str | None, remove: list[Path]) -> list[str]:
    args = [sys.executable, "-m", "proxygen_core.services.forward", "--label", str(data), "--remove", str(folder)]
    args += ["--relay", relay] if relay else []
    args += [a for path in remove for a in ("--remove", str(path))]
    return args + ["--", *server]


def start_seaweedfs(data_dir: str | os.PathLike[str], access_key: str, secret_key: str, s3_port: int | None = None,
                    timeout: float = 60.0, ports: dict[str, int] | None = None, host: str = "127.0.0.1",
                    isolate: bool | None = None) -> SeaweedService:
    """``weed mini`` with SigV4 enforced on S3, every port chosen (free ports unless given), under a keeper
    process (``forward.py``) that removes its sockets when it ends.

    ``isolate`` (default: whenever this process may make namespaces, ``netns.available()``): the server runs in
    private network and mount namespaces, binding its own loopback; only S3 is relayed out, to ``host``:s3 port
    (loopback, or the cluster demo's bridge address). Otherwise (no privileges, or ``isolate=False``) it binds
    ``host`` directly and every port is reachable by local users (``SeaweedService.exposure``); JWT then still
    guards filer and volume HTTP. Either way its Unix sockets are in a 0700 folder (``socket_folder``) except,
    without namespaces, weed's fixed-path gRPC sockets in /tmp, which the keeper removes."""
    data = Path(data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    if ports is None:
        ports = {name: free_port() for name in ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                                                "filer.port", "filer.port.grpc", "s3.port.grpc", "admin.port",
                                                "admin.port.grpc", "webdav.port")}
        ports["s3.port"] = s3_port or free_port()
    ports = dict(ports)
    isolated = netns.available() if isolate is None else isolate
    write_security(data)
    folder = socket_folder(data)
    inner = "127.0.0.1" if isolated else host
    sockets = Path("/tmp") if isolated else folder  # where weed itself sees the folder
    weed = [str(verified_weed()), "mini", f"-dir={netns.DATA_MOUNT if isolated else data}", f"-ip={inner}",
            f"-ip.bind={inner}", "-admin.ui=false", "-master.telemetry=false", "-webdav=false",
            # Iceberg and Lance catalog listeners are unused here; Lance binds a fixed 9101 unless disabled,
            # which made two SeaweedFS (two local stacks, or a test's own) collide.
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.localSocket={sockets / 's3.sock'}", f"-filer.localSocket={sockets / 'filer.sock'}"]
    weed += [f"-{name}={port}" for name, port in ports.items()]
    if isolated:
        (folder / "data").mkdir(mode=0o700)  # netns.DATA_MOUNT inside
        args = _keeper(data, folder, netns.command(folder, data, weed), f"{host}:{ports['s3.port']}={folder}/s3.sock",
                       [])
    else:
        stale = [Path(f"/tmp/seaweedfs-{kind}-grpc-{ports[name]}.sock") for name, kind in GRPC_SOCKETS.items()
                 if name in ports]
        args = _keeper(data, folder, weed, None, stale)
    # TMPDIR: weed's own log files (glog) and temporary files go to the stack's folder too, not /tmp.
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key,
           "TMPDIR": str(sockets)}
    log = data / "weed.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=data, start_new_session=True)
    again = functools.partial(start_seaweedfs, data_dir, access_key, secret_key, timeout=timeout, ports=ports,
                              host=host, isolate=isolate)
    service = SeaweedService(proc, log, ports, again, isolated=isolated, socket_dir=folder)
    service.wait_ready("SeaweedFS", lambda: wait_for_port(ports["s3.port"], timeout, proc, host))
    return service
