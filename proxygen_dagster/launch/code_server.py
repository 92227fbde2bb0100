"""One code server for the local stack's webserver and daemon, on a Unix socket only this user can open.

Why not let each start its own: a daemon that manages its code server replaces it every 60 s (Dagster
reloads a workspace it manages, to pick up code edits), ~3 CPU-s of imports each time, about 0.03 CPU-s a
frame over a 240-frame ingest; and the webserver keeps a second copy of the same code. A code server started
once (``dagster code-server start``, as Dagster recommends for deployments) serves both; the daemon's refresh
then only asks it for its snapshot. Edits still reach each run at its start (a run imports our modules
afresh); sensors and the UI pick them up on "Reload" in the UI, which restarts the server's code process.

A socket, not a TCP port: the code server runs code on request and has no credentials of its own; a socket
in a 0700 folder is open to this user alone.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from proxygen_core.services.process import Service, ServiceError

LOCATION = "proxygen_dagster.definitions"  # the module, and the location name the UI's links carry


@dataclass(frozen=True)
class CodeServer:
    service: Service
    socket: Path
    workspace: Path  # the workspace.yaml the webserver and daemon load (`-w`)

    def remove(self) -> None:
        """The socket's folder, once the server is stopped."""
        shutil.rmtree(self.socket.parent, ignore_errors=True)


def start_code_server(home: Path, log: Path, timeout: float = 180.0) -> CodeServer:
    """Start the server, wait until it answers (it answers only once the code is loaded), and write the
    workspace that points at it into the Dagster home."""
    # A socket path must fit in 108 bytes: a short temporary folder, not the (possibly deep) Dagster home.
    sock = Path(tempfile.mkdtemp(prefix="proxygen-code-")) / "code.sock"
    try:
        service = _spawn(sock, log, timeout)
    except BaseException:
        shutil.rmtree(sock.parent, ignore_errors=True)
        raise
    workspace = home / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - grpc_server:\n      socket: {sock}\n      location_name: {LOCATION}\n")
    return CodeServer(service, sock, workspace)


def _spawn(sock: Path, log: Path, timeout: float) -> Service:
    args = [str(Path(sys.executable).with_name("dagster")), "code-server", "start", "-m", LOCATION,
            "--location-name", LOCATION, "-s", str(sock)]
    with log.open("ab") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    service = Service(proc, log, {}, lambda: _spawn(sock, log, timeout))
    return service.wait_ready("the Dagster code server", lambda: _wait_until_serving(service, sock, timeout))


def _wait_until_serving(service: Service, sock: Path, timeout: float) -> None:
    from dagster._core.errors import DagsterUserCodeUnreachableError
    from dagster._grpc.client import DagsterGrpcClient

    client = DagsterGrpcClient(socket=str(sock))
    deadline = time.monotonic() + timeout
    while True:
        if service.proc.poll() is not None:
            raise ServiceError(f"it exited with {service.proc.returncode} (log: {service.log})")
        if sock.exists():  # a crashed server's stale file refuses the ping; gRPC replaces it on bind
            try:
                client.ping("")
                return
            except DagsterUserCodeUnreachableError:
                pass
        if time.monotonic() > deadline:
            raise ServiceError(f"it did not answer on {sock} within {timeout:.0f} s (log: {service.log})")
        time.sleep(0.2)
