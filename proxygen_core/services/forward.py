"""Keeper of a server process: runs it as its child, relays one TCP port of the host to one of its Unix
sockets, and removes the server's socket files once it ends.

Why a process of its own, and the server's parent: a server in private namespaces (``netns.py``) is reachable
only through what is relayed out of it, and the relay must live and die with it. As the parent, in the
server's process group, the keeper is what a ``Service`` holds: one PID whose group stop (SIGTERM, then
SIGKILL) reaches both, whose exit the local run's supervisor sees when the server crashes (the keeper exits
with the server's code), and which cleans the socket files SeaweedFS leaves behind.

The relay moves bytes with ``splice(2)`` through a pipe (no copy into Python), two threads per connection;
the TCP listener opens only once the Unix socket accepts, so "port open" still means "server ready".

``python -m proxygen_core.services.forward [--relay HOST:PORT=SOCKET] [--remove PATH]... [--label TEXT] -- CMD...``
"""
from __future__ import annotations

import argparse
import errno
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20  # bytes per splice: the pipe is sized to hold it
F_SETPIPE_SZ = 1031


class Stop(Exception):
    """SIGTERM or SIGINT reached the keeper."""


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    socket: Path

    @classmethod
    def parse(cls, text: str) -> Relay:
        """``HOST:PORT=SOCKET``; a clear error for anything else."""
        try:
            address, path = text.split("=", 1)
            host, port = address.rsplit(":", 1)
            return cls(host, int(port), Path(path))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"--relay {text!r}: expected HOST:PORT=SOCKET ({exc})") from exc


def _pump_splice(src: socket.socket, dst: socket.socket) -> None:
    r, w = os.pipe()
    try:
        try:
            fcntl.fcntl(w, F_SETPIPE_SZ, CHUNK)
        except OSError:
            pass  # the default pipe size only means more calls
        while True:
            n = os.splice(src.fileno(), w, CHUNK)
            if n == 0:
                return
            while n:
                n -= os.splice(r, dst.fileno(), n)
    finally:
        os.close(r)
        os.close(w)


def _pump_copy(src: socket.socket, dst: socket.socket) -> None:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while n := src.recv_into(buf):
        dst.sendall(view[:n])


PUMP = _pump_splice if hasattr(os, "splice") else _pump_copy


class Connection:
    """One relayed connection: a pump each way; the sockets close when both have ended."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.sockets = (client, server)
        self.left = 2
        self.lock = threading.Lock()
        for src, dst in ((client, server), (server, client)):
            threading.Thread(target=self._run, args=(src, dst), daemon=True).start()

    def _run(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            PUMP(src, dst)
            dst.shutdown(socket.SHUT_WR)  # a half-close passes through: the other way may still be sending
        except OSError:
            for s in self.sockets:  # a reset or broken pipe ends the connection both ways
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        with self.lock:
            self.left -= 1
            if self.left == 0:
                for s in self.sockets:
                    s.close()


def _connect_unix(path: Path) -> socket.socket | None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return s
    except OSError:
        s.close()
        return None


def serve(relay: Relay, listener: socket.socket) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EBADF, errno.EINVAL):
                return  # the listener was closed: the keeper is stopping
            time.sleep(0.05)  # EMFILE and the like: do not spin
            continue
        server = _connect_unix(relay.socket)
        if server is None:
            client.close()
            continue
        Connection(client, server)


def _listen(relay: Relay, child: subprocess.Popen) -> socket.socket | None:
    """The TCP listener, once the Unix socket accepts; None if the server ended first."""
    while child.poll() is None:
        probe = _connect_unix(relay.socket)
        if probe is not None:
            probe.close()
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((relay.host, relay.port))
            listener.listen(256)
            return listener
        time.sleep(0.1)
    return None


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _raise_stop(*_: object) -> None:
    raise Stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="forward", description=__doc__.splitlines()[0])
    parser.add_argument("--relay", type=Relay.parse, help="HOST:PORT=SOCKET: relay that TCP port to that socket")
    parser.add_argument("--remove", type=Path, action="append", default=[], help="removed once the server ends")
    parser.add_argument("--label", help="names what this keeps (e.g. the data folder), for ps and pgrep")
    parser.add_argument("--grace", type=float, default=4.0, help="seconds the server gets to stop on SIGTERM")
    parser.add_argument("cmd", nargs="+")
    opts = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    child = subprocess.Popen(opts.cmd)  # same process group: a group stop reaches it as well
    listener = None
    try:
        if opts.relay:
            listener = _listen(opts.relay, child)
            if listener is not None:
                threading.Thread(target=serve, args=(opts.relay, listener), daemon=True).start()
        return child.wait()
    except Stop:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group stop may send another; this one is in hand
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(opts.grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return 0
    finally:
        if child.poll() is None:  # the keeper itself failed (its port taken, ...): never leave the server behind
            child.kill()
            child.wait()
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread
            except OSError:
                pass
            listener.close()
        _remove(opts.remove)


if __name__ == "__main__":
    sys.exit(main())
