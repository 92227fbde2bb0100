"""The local stack's shared code server: loads our definitions, answers on its socket, comes back after a
crash on the same socket (the workspace the webserver and daemon read stays valid)."""
from __future__ import annotations

import os
import signal
import stat

import pytest
import yaml


def _repositories(socket: str) -> list[str]:
    from dagster._grpc.client import DagsterGrpcClient
    from dagster._grpc.types import ListRepositoriesResponse
    from dagster_shared.serdes import deserialize_value

    response = deserialize_value(DagsterGrpcClient(socket=socket).list_repositories())
    assert isinstance(response, ListRepositoriesResponse), response  # not a load error
    return [symbol.repository_name for symbol in response.repository_symbols]


@pytest.mark.services
def test_a_crashed_code_server_comes_back_on_the_same_socket(tmp_path, monkeypatch):
    from proxygen_dagster.launch.code_server import LOCATION, start_code_server
    from proxygen_dagster.launch.local import prepare_home

    home = tmp_path / "dagster"
    prepare_home(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    code = start_code_server(home, tmp_path / "code.log", timeout=120)
    service = code.service
    try:
        assert yaml.safe_load(code.workspace.read_text()) == {
            "load_from": [{"grpc_server": {"socket": str(code.socket), "location_name": LOCATION}}]}
        assert stat.S_IMODE(code.socket.parent.stat().st_mode) == 0o700 and len(str(code.socket)) < 108
        assert _repositories(str(code.socket)) == ["__repository__"]

        os.killpg(service.proc.pid, signal.SIGKILL)
        assert service.proc.wait(timeout=10) == -signal.SIGKILL
        service = service.start_again()  # as the local run's supervisor does
        assert _repositories(str(code.socket)) == ["__repository__"]
    finally:
        service.stop()
        code.remove()
    assert service.proc.poll() is not None and not code.socket.parent.exists()


@pytest.mark.services
def test_a_code_server_that_does_not_answer_in_time_is_not_left_running(tmp_path):
    import re
    import subprocess
    from pathlib import Path

    from proxygen_core.services.process import ServiceError
    from proxygen_dagster.launch.code_server import start_code_server

    with pytest.raises(ServiceError, match="did not answer on .*code.sock within 0 s") as failed:
        start_code_server(tmp_path, tmp_path / "code.log", timeout=0.3)  # loading the code takes seconds
    sock = re.search(r"did not answer on (\S+code\.sock)", str(failed.value)).group(1)
    assert subprocess.run(["pgrep", "-f", sock], capture_output=True, text=True).stdout == ""  # stopped
    assert not Path(sock).parent.exists() and not (tmp_path / "workspace.yaml").exists()
