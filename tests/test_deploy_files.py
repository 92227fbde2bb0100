"""Quick checks of the deploy files that need no container: the lock file still satisfies pyproject.toml, the
compose file keeps its promises (restart policies, healthchecks, loopback-only ports, no secret in it), and the
image's entrypoint places the instance file and gives up on PostgreSQL in time with a clear error.
tests/test_compose.py brings the same files up for real (slow)."""
from __future__ import annotations

import importlib.util
import re
import socket
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def _entrypoint():
    spec = importlib.util.spec_from_file_location("proxygen_entrypoint", DEPLOY / "entrypoint.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def _locked() -> dict[str, str]:
    text = (DEPLOY / "requirements.lock").read_text()
    return {re.sub(r"[-_.]+", "-", m[1]).lower(): m[2]
            for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+) \\", text, re.M)}


def test_the_lock_pins_every_image_requirement_within_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    locked = _locked()
    for line in project["dependencies"] + extras["services"] + extras["cluster"]:
        req = Requirement(line)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in locked, f"{req.name} is not in deploy/requirements.lock: run bash scripts/lock-image.sh"
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"deploy/requirements.lock has {name}=={locked[name]}, pyproject.toml wants {line}: "
            "run bash scripts/lock-image.sh")
    assert "setuptools" in locked  # the build backend: the image builds the project without an unpinned download
    assert (DEPLOY / "requirements.lock").read_text().count("--hash=sha256:") >= len(locked)


def test_the_compose_file_restarts_checks_and_publishes_on_loopback_only():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "webserver", "daemon", "seaweedfs", "tansu"}
    assert {n for n, s in services.items() if "demo" in s.get("profiles", [])} == {"seaweedfs", "tansu"}
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"][0] == "CMD", name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert not services["postgres"].get("ports") and not services["tansu"].get("ports")
    for name in ("webserver", "daemon"):
        env = services[name]["environment"]
        assert env["PROXYGEN_INSTANCE_SOURCE"] == "/etc/proxygen/dagster.yaml"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert not any(v.split(":")[1].startswith("/home/proxygen/dagster/") for v in services[name]["volumes"]), (
            "a file mounted into the Dagster home makes it root-owned")
    text = (DEPLOY / "compose.yaml").read_text()
    assert not re.search(r"(PASSWORD|SECRET|postgresql\S*://\S+:\S+@)\s*[:=]\s*\S", text), "a secret in compose.yaml"


def test_the_cluster_instance_file_frees_a_dead_runs_slots():
    instance = yaml.safe_load((DEPLOY / "dagster.cluster.yaml").read_text())
    assert instance["run_launcher"]["class"] == "ForkedRunLauncher"
    assert instance["run_monitoring"]["enabled"] is True
    assert instance["run_monitoring"]["free_slots_after_run_end_seconds"] == 30
    assert instance["run_retries"]["enabled"] is True


def test_the_env_example_names_the_driver_and_holds_placeholders_only():
    values = dict(line.split("=", 1) for line in (DEPLOY / "proxygen.env.example").read_text().splitlines()
                  if line and not line.startswith("#"))
    assert values["PROXYGEN_DAGSTER_PG_URL"].startswith("postgresql+psycopg2://")
    for key in ("POSTGRES_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert values[key].startswith("<") and values[key].endswith(">"), key


def test_the_entrypoint_copies_the_instance_file_into_a_writable_home(tmp_path):
    entry = _entrypoint()
    source = tmp_path / "etc" / "dagster.yaml"
    source.parent.mkdir()
    source.write_text("telemetry:\n  enabled: false\n")
    target = entry.place_instance_file(source, tmp_path / "home")
    assert target.read_text() == source.read_text() and target.parent == tmp_path / "home"
    assert [p.name for p in target.parent.iterdir()] == ["dagster.yaml"]  # no partial file left
    with pytest.raises(entry.EntrypointError, match="PROXYGEN_INSTANCE_SOURCE=.*missing.yaml: no such file"):
        entry.place_instance_file(tmp_path / "missing.yaml", tmp_path / "home")


def test_the_entrypoint_gives_up_on_postgres_in_time_without_the_password(monkeypatch):
    entry = _entrypoint()
    monkeypatch.setattr(entry, "POLL_SECONDS", 0.05)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = entry.Target("PROXYGEN_POSTGRES_DSN", f"postgresql://proxygen:s3cret-pw@127.0.0.1:{port}/proxygen")
    start = time.monotonic()
    with pytest.raises(entry.EntrypointError) as err:
        entry.wait_for(target, time.monotonic() + 0.3)
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert f"127.0.0.1:{port}/proxygen (PROXYGEN_POSTGRES_DSN)" in message and "s3cret-pw" not in message


@pytest.mark.parametrize("dsn", ["postgresql+psycopg2://u:p@db:5432/dagster", "postgresql+psycopg://u:p@db:5432/dagster",
                                 "postgresql://u:p@db:5432/dagster", "postgres://u:p@db:5432/dagster"])
def test_the_entrypoint_reads_every_sqlalchemy_driver_spelling(dsn):
    target = _entrypoint().Target("PROXYGEN_DAGSTER_PG_URL", dsn)
    assert target.libpq_dsn == "postgresql://u:p@db:5432/dagster"
    assert target.where() == "db:5432/dagster (PROXYGEN_DAGSTER_PG_URL)"
