"""SeaweedFS's keeper (proxygen_core/services/forward.py) and its two modes: the relay passes bytes unchanged both
ways, a stop of the keeper's process only (as the local run stops its stack) leaves no socket file, a crashed
server is seen and restarted on the same port with its data; without namespaces the exposure is reported."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proxygen_core.services.process import free_port, stop_processes, wait_for_port

ECHO = """
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
while True:
    c, _ = s.accept()
    while data := c.recv(65536):
        c.sendall(data)
    c.shutdown(socket.SHUT_WR); c.close()
"""


def _store(service, bucket: str):
    from proxygen_core.store.s3 import ObjectStore, s3_client

    return ObjectStore(s3_client(f"http://127.0.0.1:{service.ports['s3.port']}", access_key_id="AK",
                                 secret_access_key="SK-isolation"), bucket).wait_ready(30)


@pytest.mark.services
def test_the_relay_passes_bytes_both_ways_and_the_keeper_removes_its_folder(tmp_path):
    folder = tmp_path / "sockets"
    folder.mkdir(mode=0o700)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "proxygen_core.services.forward", "--relay",
                             f"127.0.0.1:{port}={folder / 'echo.sock'}", "--remove", str(folder), "--",
                             sys.executable, "-c", ECHO, str(folder / "echo.sock")], start_new_session=True)
    try:
        wait_for_port(port, 20, proc)
        payload = bytes(range(256)) * 12288  # 3 MiB
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)  # the half-close reaches the server, which then ends its reply
            got = bytearray()
            while chunk := conn.recv(1 << 16):
                got += chunk
        assert bytes(got) == payload
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not folder.exists()
    finally:
        stop_processes([proc], grace=2)


@pytest.mark.services
def test_without_namespaces_the_exposure_is_reported_and_no_socket_is_left(tmp_path):
    from proxygen_core.services.seaweedfs import EXPOSED, GRPC_SOCKETS, start_seaweedfs

    service = start_seaweedfs(tmp_path / "weed", "AK", "SK-isolation", isolate=False)
    grpc = [Path(f"/tmp/seaweedfs-{kind}-grpc-{service.ports[name]}.sock") for name, kind in GRPC_SOCKETS.items()]
    try:
        assert service.exposure == EXPOSED and not service.isolated
        assert _store(service, "exposed-bucket").exists("nothing") is False
        assert any(p.exists() for p in grpc)  # weed's fixed-path sockets, which the keeper must remove
        assert (service.socket_dir / "s3.sock").is_socket()
        assert oct(service.socket_dir.stat().st_mode & 0o777) == "0o700"
        stop_processes([service.proc])  # the process only, as proxygen local's stop_stack does
        assert [p for p in grpc if p.exists()] == [] and not service.socket_dir.exists()
    finally:
        service.stop()


def _no_namespaces() -> bool:
    from proxygen_core.services import netns

    return not netns.available()


@pytest.mark.services
# a string condition: evaluated when the test is set up, so a deselected test never probes the kernel
@pytest.mark.skipif("_no_namespaces()",
                    reason="this process cannot make private network namespaces (needs root or user namespaces)")
def test_an_isolated_server_that_crashes_is_seen_and_comes_back_with_its_data(tmp_path):
    from proxygen_core.services.seaweedfs import start_seaweedfs

    service = start_seaweedfs(tmp_path / "weed", "AK", "SK-isolation")
    again = None
    try:
        assert service.isolated and service.exposure is None
        _store(service, "kept-bucket").put_bytes("a/b.exr", b"kept")
        weed = subprocess.run(["pgrep", "-P", str(service.proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(weed) == 1
        subprocess.run(["kill", "-KILL", weed[0]], check=True)
        assert service.proc.wait(timeout=10) != 0  # the keeper ends with it: the supervisor sees a crash
        again = service.start_again()
        assert again.ports == service.ports and again.isolated
        assert _store(again, "kept-bucket").get_bytes("a/b.exr") == b"kept"
    finally:
        for s in (service, again):
            if s is not None:
                s.stop()
    assert not service.socket_dir.exists()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and subprocess.run(["pgrep", "-f", str(tmp_path)]).returncode == 0:
        time.sleep(0.1)
    assert subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True).returncode == 1
