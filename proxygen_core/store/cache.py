"""The local cache of the S3 door: one folder per living process, and a sweep of the folders of dead ones.

Why per process, with a lock: a run worker that is SIGKILLed or OOM-killed runs no ``finally``; its source copy
and scratch folder would stay in the cache for ever. Each process works in its own ``proc-<pid>-<random>/`` folder
and holds an exclusive ``flock`` on a file inside it for as long as it lives. The kernel drops that lock the
moment the process dies, however it dies, so any later process can tell a dead owner's folder (lock free) from a
living one's (lock held) without trusting process ids, which the system reuses. ``sweep`` removes the dead
ones: every new run worker calls it when it first needs the cache, and ``proxygen local`` at its start, so
nothing of a killed worker outlives the next run.
"""
from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path

LOCK_NAME = ".owner.lock"
_PREFIX = "proc-"
# What older versions left at the cache's top level (source copies named by digest, their partial downloads,
# scratch folders): swept too, once they are older than a run could be using them.
_LEGACY = re.compile(r"^([0-9a-f]{24}(\.[^/]*)?|proxygen-[A-Za-z0-9_]+|\.proc-[0-9]+-[0-9a-f]+)$")
LEGACY_AGE_SECONDS = 3600.0

_owned: dict[tuple[str, int], tuple[Path, int]] = {}  # (root, pid) -> (folder, lock fd): one per process
_lock = threading.Lock()


def process_folder(root: str | os.PathLike[str]) -> Path:
    """This process's own folder under ``root``, created (and the dead ones swept) on first use.

    Keyed by process id as well as root, so a forked child (the run launcher forks its workers) never works
    in its parent's folder: the child takes its own lock, which dies with it.
    """
    root = Path(root)
    key = (str(root.resolve()), os.getpid())
    with _lock:
        held = _owned.get(key)
        if held is not None:
            if held[0].is_dir():
                return held[0]
            os.close(held[1])  # its folder was removed under us: drop the lock of a folder that is gone
            del _owned[key]
        sweep(root)
        name = f"{_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        # Made under a name the sweep ignores and renamed once locked: a sweep never sees it unlocked.
        making = root / f".{name}"
        making.mkdir(parents=True)
        fd = os.open(making / LOCK_NAME, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        folder = root / name
        making.rename(folder)
        _owned[key] = (folder, fd)
        return folder


def _owner_alive(folder: Path) -> bool:
    """Whether a living process holds the folder's lock (a folder is only ever named ``proc-`` once locked)."""
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing our descriptor drops the lock we may just have taken
    return False


def _age(path: Path) -> float:
    try:
        return time.time() - path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


def sweep(root: str | os.PathLike[str]) -> list[Path]:
    """Remove the folders of processes that are gone (and old top-level leftovers of earlier versions);
    returns what was removed. Never touches a folder whose owner lives, nor anything not named like ours."""
    root = Path(root)
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except FileNotFoundError:
        return removed
    mine = {folder for (_, pid), (folder, _) in _owned.items() if pid == os.getpid()}
    for entry in entries:
        if entry in mine:
            continue
        if entry.name.startswith(_PREFIX) and entry.is_dir() and not entry.is_symlink():
            if _owner_alive(entry):
                continue
        elif not (_LEGACY.match(entry.name) and _age(entry) > LEGACY_AGE_SECONDS):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        if not entry.exists():
            removed.append(entry)
    return removed
