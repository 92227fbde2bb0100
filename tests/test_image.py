"""The production image builds (scripts/build-image.sh) and runs `proxygen render` and `proxygen local --once`
inside, as a non-root user; built twice from deploy/requirements.lock (the second time with no layer cache) it
holds the same packages. Slow (minutes on a cold build): marked `slow`; needs podman and root."""
from __future__ import annotations

import re

import pytest

from tests.podman_helpers import ROOT, Podman, build_image, needs_podman

TAG = "localhost/proxygen:test"
AGAIN = "localhost/proxygen:repro"

pytestmark = [pytest.mark.slow, pytest.mark.services, needs_podman]


def _normal(name: str) -> str:
    """A distribution name as PEP 503 compares them (pip freeze prints some with `_`, the lock with `-`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _freeze(podman: Podman, tag: str) -> list[str]:
    """Every distribution in the image's venv, pip and setuptools included, as `name==version`."""
    done = podman.run("run", "--rm", "--network=none", tag, "pip", "freeze", "--all", "--disable-pip-version-check")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return sorted(_normal(line.split("==")[0]) + "==" + line.split("==")[1] if "==" in line else line for line in lines)


def _locked() -> set[str]:
    """`name==version` of every package in the lock file."""
    text = (ROOT / "deploy" / "requirements.lock").read_text()
    return {f"{_normal(m[1])}=={m[2]}" for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M)}


def test_image_builds_and_runs_render_and_the_local_run_as_non_root(tmp_path):
    podman = Podman.at(tmp_path)
    build_image(TAG)
    run = podman.run("run", "--rm", "--network=none", TAG, "sh", "-c",
                     "id -u && proxygen samples --out /tmp/s --frames 2 --width 640 --height 360 >/dev/null"
                     " && proxygen render /tmp/s/beauty.1001.exr /tmp/s/beauty.1002.exr --out /tmp/o -q"
                     " && python -c \"import json; r = json.load(open('/tmp/o/beauty.1001.json'));"
                     " print(r['status'], r['proxy']['resolution'], r['source_colorspace'])\""
                     " && ls /tmp/o")
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.split()
    assert lines[0] == "10001"  # not root
    assert "ok 640x360 ACEScg" in run.stdout and "beauty.exr_clip.mp4" in lines
    local = podman.run("run", "--rm", "--network=none", TAG, "sh", "-c",
                       "proxygen local --once --var /home/proxygen/var --frames 3 && proxygen records")
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]
    assert "2 runs ok, 0 failed" in local.stdout and "3 rows" in local.stdout


def test_two_builds_from_the_lock_hold_the_same_packages(tmp_path):
    """The second build downloads and installs everything again (--no-cache); both must hold exactly the
    lock's versions. Prints the image size and its largest packages (docs/deployment.md quotes them)."""
    podman = Podman.at(tmp_path)
    first = build_image(TAG)
    try:
        second = build_image(AGAIN, flags="--no-cache")
        one, two = _freeze(podman, TAG), _freeze(podman, AGAIN)
        assert one == two, sorted(set(one) ^ set(two))
        installed = {line for line in one if not line.startswith(("proxygen ", "proxygen=="))}  # the project itself
        locked = _locked()
        # pip comes from Debian's python3-venv (a Debian package version, not PyPI); everything else is locked.
        assert installed - locked == {next(p for p in installed if p.startswith("pip=="))}, installed - locked
        assert locked <= installed, locked - installed
        space = podman.run("run", "--rm", "--network=none", "--entrypoint", "sh", TAG, "-c",
                           "cd /opt/proxygen/venv/lib/python3.11/site-packages && du -sm * | sort -rn | head -12;"
                           " du -sm /opt/proxygen/venv/bin/weed")
        print(f"image {first.mib} MiB (second build {second.mib} MiB, {second.seconds:.0f} s without cache); "
              f"{len(one)} distributions; largest (MiB):\n{space.stdout}")
    finally:
        podman.run("rmi", AGAIN, timeout=120)
