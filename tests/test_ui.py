"""The Dagster UI shows the asset graph: headless Chromium against a real dagster-webserver."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proxygen_core.services.process import free_port, stop_process, wait_for_port

ASSETS = ["source_frame", "working_frame", "thumbnail", "proxy", "proxy_record"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1600,1000", "--virtual-time-budget=20000"]


@pytest.fixture()
def webserver(tmp_path, s3_env):
    from proxygen_dagster.launch.local import prepare_home

    home = tmp_path / "dagster_home"
    prepare_home(home)
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    exe = Path(sys.executable).with_name("dagster-webserver")
    log = (tmp_path / "webserver.log").open("wb")
    proc = subprocess.Popen([str(exe), "-h", "127.0.0.1", "-p", str(port), "-m", "proxygen_dagster.definitions"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, 120, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
        log.close()
        assert proc.poll() is not None


def _shown(name: str, dom: str) -> bool:
    """The asset's own name as a whole token: "proxy" must not pass on "proxygen" or "proxy_record"."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", dom) is not None


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/bootstrap.sh installs Debian's "
                                              "chromium as root)")
def test_asset_graph_in_the_ui(webserver, tmp_path):
    chromium = CHROMIUM
    profile = tmp_path / "profile"
    url = f"{webserver}/asset-groups"
    dom = ""
    for _ in range(3):  # a loaded machine can need more than one page load before the graph renders
        dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120).stdout
        if all(_shown(name, dom) for name in ASSETS):
            break
    for name in ASSETS:
        assert _shown(name, dom), f"{name} not in the rendered asset graph"
    shot = tmp_path / "asset_graph.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
