"""A killed process's cache folder is swept by the next process; a living one's never is (store/cache.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from proxygen_core.store.cache import LOCK_NAME, process_folder, sweep

CHILD = """
import sys, time
from proxygen_core.store.cache import process_folder
folder = process_folder(sys.argv[1])
(folder / "beauty.0001.exr").write_bytes(b"x" * 1000)   # a source copy
(folder / "proxygen-scratch").mkdir()                     # a scratch folder
print(folder, flush=True)
time.sleep(60)
"""


def _child(root: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(root)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line, "the child made no cache folder"
    return proc, Path(line)


def test_a_killed_worker_folder_is_swept_and_a_living_one_kept(tmp_path):
    root = tmp_path / "cache"
    killed, dead_folder = _child(root)
    living, live_folder = _child(root)
    try:
        os.kill(killed.pid, signal.SIGKILL)  # no finally, no atexit: only the kernel drops its lock
        killed.wait(10)
        # an old leftover of an earlier version (source copy named by digest), and a user's own file
        legacy = root / "0123456789abcdef01234567.exr"
        legacy.write_bytes(b"old")
        os.utime(legacy, (time.time() - 7200, time.time() - 7200))
        (root / "notes.txt").write_text("not ours")
        removed = sweep(root)
        assert sorted(removed) == sorted([dead_folder, legacy])
        assert not dead_folder.exists() and live_folder.is_dir() and (live_folder / "beauty.0001.exr").exists()
        assert (root / "notes.txt").exists()
    finally:
        living.kill()
        living.wait(10)
    assert sweep(root) == [live_folder]


def test_one_folder_per_process_and_a_forked_child_gets_its_own(tmp_path):
    root = tmp_path / "cache"
    mine = process_folder(root)
    assert process_folder(root) == mine and (mine / LOCK_NAME).exists()
    assert sweep(root) == []  # our own folder is never swept
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a run worker forked by the launcher
        try:
            os.write(write, str(process_folder(root)).encode())
        finally:
            os._exit(0)
    os.close(write)
    child_folder = Path(os.read(read, 4096).decode())
    os.close(read)
    os.waitpid(pid, 0)
    assert child_folder != mine and child_folder.parent == root
    assert sweep(root) == [child_folder]  # the child exited: its folder goes, ours stays
    assert mine.is_dir()
