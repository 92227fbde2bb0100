"""The production image builds (scripts/build-image.sh) and runs `proxygen render` and `proxygen local --once`
inside, as a non-root user. Slow (minutes on a cold build): marked `slow`; needs podman and root."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TAG = "localhost/proxygen:test"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.services,
    pytest.mark.skipif(shutil.which("podman") is None or os.geteuid() != 0,
                       reason="image smoke test: needs podman (apt-get install podman mmdebstrap runc) and root"),
]


def _podman(tmp_path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    conf = tmp_path / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    return subprocess.run(["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "CONTAINERS_CONF": str(conf)})


def test_image_builds_and_runs_render_and_the_local_run_as_non_root(tmp_path):
    build = subprocess.run(["bash", str(ROOT / "scripts" / "build-image.sh"), TAG], capture_output=True, text=True,
                           timeout=1800)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert f"built {TAG}" in build.stdout
    run = _podman(tmp_path, "run", "--rm", "--network=none", TAG, "sh", "-c",
                  "id -u && proxygen samples --out /tmp/s --frames 2 --width 640 --height 360 >/dev/null"
                  " && proxygen render /tmp/s/beauty.1001.exr /tmp/s/beauty.1002.exr --out /tmp/o -q"
                  " && python -c \"import json; r = json.load(open('/tmp/o/beauty.1001.json'));"
                  " print(r['status'], r['proxy']['resolution'], r['source_colorspace'])\""
                  " && ls /tmp/o")
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.split()
    assert lines[0] == "10001"  # not root
    assert "ok 640x360 ACEScg" in run.stdout and "beauty.exr_clip.mp4" in lines
    local = _podman(tmp_path, "run", "--rm", "--network=none", TAG, "sh", "-c",
                    "proxygen local --once --var /home/proxygen/var --frames 3 && proxygen records")
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]
    assert "2 runs ok, 0 failed" in local.stdout and "3 rows" in local.stdout
