"""Probes run AS ANOTHER LOCAL USER by tests/test_storage_lockdown.py: standard library only (that user cannot
run the project's interpreter), a JSON list of probes on stdin, a JSON list of outcomes on stdout.

Each outcome is a string: an HTTP status ("403"), "open" (a TCP or Unix connect that succeeded), or the
name of the error that stopped it ("ConnectionRefusedError", "PermissionError", "FileNotFoundError", ...).
"""
from __future__ import annotations

import ctypes
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

CLONE_NEWNET = 0x40000000


def tcp(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=3):
            return "open"
    except OSError as exc:
        return type(exc).__name__


def unix(path: str) -> str:
    address = "\0" + path[1:] if path.startswith("@") else path  # /proc/net/unix writes abstract names as @name
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(3)
        try:
            s.connect(address)
            return "open"
        except OSError as exc:
            return type(exc).__name__


def http(method: str, url: str, body: str | None = None, headers: dict[str, str] | None = None) -> str:
    request = urllib.request.Request(url, data=body.encode() if body is not None else None, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return str(resp.status)
    except urllib.error.HTTPError as exc:
        return str(exc.code)
    except urllib.error.URLError as exc:
        return type(exc.reason).__name__ if isinstance(exc.reason, OSError) else "URLError"
    except OSError as exc:
        return type(exc).__name__


def setns(pid: int) -> str:
    """Enter the network namespace of ``pid`` (where SeaweedFS's internal ports are)."""
    try:
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    except OSError as exc:
        return type(exc).__name__
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            return os.strerror(ctypes.get_errno())
        return "open"
    finally:
        os.close(fd)


def listdir(path: str) -> str:
    try:
        os.listdir(path)
        return "open"
    except OSError as exc:
        return type(exc).__name__


def read(path: str) -> str:
    """Read a file of the stack (its keys): "open" if that user could."""
    try:
        with open(path, "rb") as fh:
            fh.read(1)
        return "open"
    except OSError as exc:
        return type(exc).__name__


def weed_shell(weed: str, master: str, filer: str, commands: list[str], home: str) -> str:
    """``weed shell`` with no security settings: its whole output (the test checks it shows and did nothing)."""
    try:
        done = subprocess.run([weed, "shell", f"-master={master}", f"-filer={filer}"], input="\n".join(commands)
                              + "\nexit\n", capture_output=True, text=True, timeout=20, env={"HOME": home,
                                                                                              "PATH": "/usr/bin:/bin"})
        return done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"") + (exc.stderr or b"")
        return "TimeoutExpired " + (out.decode(errors="replace") if isinstance(out, bytes) else out)


KINDS = {"tcp": tcp, "unix": unix, "http": http, "setns": setns, "listdir": listdir, "read": read,
         "weed_shell": weed_shell}


def main() -> int:
    probes = json.load(sys.stdin)
    json.dump([KINDS[p["kind"]](*p["args"]) for p in probes], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
