"""Run a server in a private network and mount namespace: it binds only its own ``lo``, so no other local user
can reach a TCP port it opens, and its ``/tmp`` is a 0700 folder of ours, so its Unix sockets land there.

Why: SeaweedFS's master HTTP has no credential check (``[guard]`` is by IP) and its gRPC ports take any
``weed shell``; binding them to 127.0.0.1 still lets every local user in. In a namespace of its own only what
we relay out (the S3 socket, see ``forward.py``) is reachable. ``weed`` also makes gRPC sockets at fixed
``/tmp/seaweedfs-<kind>-grpc-<port>.sock`` paths (no flag moves them) and leaves some after a stop; with a
private ``/tmp`` they are created in, and removed with, the stack's own folder.

As root the namespaces are made directly; as another user inside a new user namespace that maps only that
user to root (``unshare --user --map-root-user``), where the kernel allows it. ``python -m
proxygen_core.services.netns --tmp DIR --data DIR -- CMD...`` sets this up and execs CMD (same PID, so a
stop by PID or process group reaches the server); ``--probe`` only checks that it can be set up.
"""
from __future__ import annotations

import argparse
import ctypes
import fcntl
import functools
import os
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
DATA_MOUNT = "/tmp/data"  # where the server sees its data folder inside the namespace
FAILED = 97  # exit code of a setup that could not be done (the probe's "no")


class NamespaceError(OSError):
    pass


def _libc_call(name: str, *args: object) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise NamespaceError(err, f"{name}: {os.strerror(err)}")


def _unshare() -> str:
    """Enter new network and mount namespaces; returns how ("root" or "user namespace")."""
    if os.geteuid() == 0:
        try:
            _libc_call("unshare", CLONE_NEWNET | CLONE_NEWNS)
            return "root"
        except NamespaceError:
            pass  # root without CAP_SYS_ADMIN (a container): a user namespace may still be allowed
    uid, gid = os.geteuid(), os.getegid()
    _libc_call("unshare", CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS)
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
    return "user namespace"


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sh22x", b"lo", 0))[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | IFF_UP))


def _private_tmp(tmp: Path, data: Path | None) -> None:
    """``tmp`` becomes ``/tmp``; ``data`` (which may itself be under the old ``/tmp``) is bound at DATA_MOUNT."""
    data_fd = os.open(data, os.O_RDONLY | os.O_DIRECTORY) if data else None
    try:
        _libc_call("mount", b"none", b"/", None, MS_REC | MS_PRIVATE, None)
        _libc_call("mount", str(tmp).encode(), b"/tmp", None, MS_BIND, None)
        if data_fd is not None:
            os.makedirs(DATA_MOUNT, exist_ok=True)
            _libc_call("mount", f"/proc/self/fd/{data_fd}".encode(), DATA_MOUNT.encode(), None, MS_BIND | MS_REC, None)
            os.chdir(DATA_MOUNT)
    finally:
        if data_fd is not None:
            os.close(data_fd)


def enter(tmp: Path, data: Path | None) -> str:
    how = _unshare()
    _loopback_up()
    _private_tmp(tmp, data)
    return how


@functools.cache
def available() -> bool:
    """Whether this process may run a server in private namespaces (tried once, in a child)."""
    with tempfile.TemporaryDirectory(prefix="proxygen-nsprobe-") as tmp:
        try:
            done = subprocess.run([sys.executable, "-m", __name__, "--probe", "--tmp", tmp, "--data", tmp],
                                  capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return done.returncode == 0


def command(tmp: Path, data: Path, args: list[str]) -> list[str]:
    """The command line that runs ``args`` in private namespaces with ``tmp`` as its /tmp."""
    return [sys.executable, "-m", __name__, "--tmp", str(tmp), "--data", str(data), "--", *args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="netns", description=__doc__.splitlines()[0])
    parser.add_argument("--tmp", type=Path, required=True, help="a 0700 folder that becomes /tmp")
    parser.add_argument("--data", type=Path, help=f"a folder bound at {DATA_MOUNT} (the working folder)")
    parser.add_argument("--probe", action="store_true", help="only check that the namespaces can be made")
    parser.add_argument("cmd", nargs="*")
    opts = parser.parse_args(argv)
    if not opts.probe and not opts.cmd:
        parser.error("no command to run")
    # Opened before /tmp is replaced: the binary may itself live under the old /tmp (a checkout or CI clone there),
    # which the server no longer sees once its private /tmp is in place. Executed through its descriptor.
    binary = None if opts.probe else os.open(opts.cmd[0], os.O_RDONLY)
    try:
        enter(opts.tmp, opts.data)
    except OSError as exc:
        print(f"netns: cannot make private namespaces: {exc}", file=sys.stderr, flush=True)
        return FAILED
    if binary is None:
        return 0
    os.execv(f"/proc/self/fd/{binary}", opts.cmd)
    return FAILED  # not reached


if __name__ == "__main__":
    sys.exit(main())
