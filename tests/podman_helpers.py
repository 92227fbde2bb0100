"""Podman and the image builds, as the image and compose tests use them on these machines (runc, cgroupfs, no
default ulimits: docs/deployment.md, "Container image")."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROXYGEN_IMAGE = "localhost/proxygen:dev"
POSTGRES_IMAGE = "localhost/proxygen-postgres:15"
# podman and every podman that podman-compose (and conmon's clean-up) starts read this through CONTAINERS_CONF.
CONTAINERS_CONF = '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'

needs_podman = pytest.mark.skipif(
    shutil.which("podman") is None or os.geteuid() != 0,
    reason="container tests: need podman, mmdebstrap and runc (scripts/bootstrap.sh installs them as root) and root")


@dataclass(frozen=True)
class Podman:
    """podman with this machine's settings; ``env`` is also what podman-compose must run with."""

    env: dict[str, str]

    @classmethod
    def at(cls, folder: Path) -> Podman:
        conf = folder / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        return cls({**os.environ, "CONTAINERS_CONF": str(conf)})

    def run(self, *args: str, timeout: float = 600, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, env=self.env,
                              input=stdin)


@dataclass(frozen=True)
class Build:
    """One scripts/build-image.sh run: what it printed and how long it took."""

    tag: str
    seconds: float
    mib: int


def build_image(tag: str, postgres: bool = False, flags: str = "", timeout: float = 1800) -> Build:
    """Build (or, with podman's layer cache, reuse) an image with the project's own script."""
    start = time.monotonic()
    args = ["bash", str(ROOT / "scripts" / "build-image.sh"), *(["--postgres"] if postgres else []), tag]
    env = {**os.environ, "PROXYGEN_BUILD_FLAGS": flags}
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(f"built {tag}: ")), None)
    assert line is not None, done.stdout[-2000:]
    return Build(tag, time.monotonic() - start, int(line.split(": ")[1].split()[0]))
