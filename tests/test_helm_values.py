"""deploy/helm-values.yaml against Dagster's Helm chart (issue 27, point 5).

No cluster and no network here, so the values are checked two ways: against our own hand-written subset of the
chart's schema (deploy/helm/values-subset.schema.json, always), and against the chart's full
values.schema.json when PROXYGEN_HELM_SCHEMA names one (opt-in; nothing fetched from upstream is committed).
Then the values that keep the service unattended are checked one by one: a schema only says a key is allowed,
not that run monitoring frees slots or that the run Jobs get the render slot's memory.
"""
from __future__ import annotations

import ast
import copy
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from proxygen_dagster.names import POOL

ROOT = Path(__file__).resolve().parent.parent
VALUES = ROOT / "deploy" / "helm-values.yaml"
SUBSET_SCHEMA = ROOT / "deploy" / "helm" / "values-subset.schema.json"
SETTINGS = ROOT / "proxygen_core" / "settings.py"
RENDER_POOL = "proxygen_render"
FALLBACK_BUDGET_MIB = 2048  # the documented slot, used until proxygen_core/settings.py has the field
HEADROOM_MIB = 512  # deploy/helm-values.yaml says what it covers
UPSTREAM_SCHEMA = os.environ.get("PROXYGEN_HELM_SCHEMA", "")

_UNITS_MIB = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024,
              "k": 1000 / 2**20, "M": 10**6 / 2**20, "G": 10**9 / 2**20, "": 1 / 2**20}


@dataclass(frozen=True)
class Memory:
    """One Kubernetes memory quantity, in MiB, and the text it came from (for messages)."""
    text: str
    mib: float


def memory(quantity: Any) -> Memory:
    """Parse a Kubernetes memory quantity ("2560Mi", "2Gi", 1073741824); a CPU-style or bad one fails clearly."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G)?", str(quantity))
    if not match:
        raise ValueError(f"{VALUES}: {quantity!r} is not a memory quantity")
    return Memory(str(quantity), float(match.group(1)) * _UNITS_MIB[match.group(2) or ""])


def load_values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())


def subset_validator() -> Any:
    schema = json.loads(SUBSET_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors(validator: Any, values: dict[str, Any]) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(values)]


def budget_default_mib() -> int:
    """PROXYGEN_MAX_FRAME_MEMORY's default, read from proxygen_core/settings.py (the field max_frame_memory)
    without importing it, so the sizing follows the code; the documented 2048 until the field exists."""
    for node in ast.walk(ast.parse(SETTINGS.read_text())):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and node.target.id == "max_frame_memory" and node.value is not None):
            value = ast.literal_eval(node.value)
            if not isinstance(value, int):
                raise TypeError(f"{SETTINGS}: max_frame_memory default is {value!r}, not an int of MiB")
            return value
    return FALLBACK_BUDGET_MIB


def test_values_validate_against_the_subset_schema() -> None:
    assert errors(subset_validator(), load_values()) == []


@pytest.mark.parametrize("path, wrong", [
    (("dagsterDaemon", "runMonitoring"), "runMonitorng"),  # misspelled key
    (("runLauncher", "config", "k8sRunLauncher", "resources"), "resource"),
    (("concurrency", "pools", "defaultLimit"), "default_limit"),  # the dagster.yaml spelling, not the chart's
    (("dagsterDaemon",), "dagsterDeamon"),
    (("retention", "sensor", "purgeAfterDays", "skipped"), "skiped"),
])
def test_a_misspelled_key_fails_validation(path: tuple[str, ...], wrong: str) -> None:
    values = copy.deepcopy(load_values())
    parent = values
    for key in path[:-1]:
        parent = parent[key]
    parent[wrong] = parent.pop(path[-1])
    found = errors(subset_validator(), values)
    assert any(wrong in e for e in found), found


def test_resources_at_a_wrong_nesting_fail_validation() -> None:
    values = copy.deepcopy(load_values())
    values["runLauncher"]["resources"] = values["runLauncher"]["config"]["k8sRunLauncher"].pop("resources")
    assert any("resources" in e for e in errors(subset_validator(), values))


def test_run_retries_are_on_and_never_retry_bad_content() -> None:
    retries = load_values()["dagsterDaemon"]["runRetries"]
    assert retries["enabled"] is True
    assert retries["maxRetries"] >= 1
    assert retries["retryOnAssetOrOpFailure"] is False


def test_run_monitoring_frees_a_dead_runs_slots() -> None:
    monitoring = load_values()["dagsterDaemon"]["runMonitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["freeSlotsAfterRunEndSeconds"] > 0
    # A crashed in-process run worker cannot be resumed; it must fail so that run retries start it again.
    assert monitoring["maxResumeRunAttempts"] == 0


def test_the_render_pool_is_limited_to_the_run_slots() -> None:
    values = load_values()
    concurrency = values["concurrency"]
    assert concurrency["enabled"] is True
    # The chart has one pool limit for every pool; proxygen_render is the frame step's pool (frames/assets.py).
    assert POOL.render == RENDER_POOL
    assert "pool=POOL.render" in (ROOT / "proxygen_dagster" / "frames" / "assets.py").read_text()
    limit = concurrency["pools"]["defaultLimit"]
    assert isinstance(limit, int) and limit >= 1
    assert concurrency["runs"]["maxConcurrentRuns"] == limit  # one frame step per run Job
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert (coordinator["enabled"], coordinator["type"]) == (True, "QueuedRunCoordinator")
    # The chart's template refuses a maxConcurrentRuns in both places.
    assert coordinator["config"]["queuedRunCoordinator"].get("maxConcurrentRuns") is None


def test_tick_history_is_purged_as_in_the_instance_files() -> None:
    """Skipped ticks after 7 days, the others after 90: the same rule as dagster.yaml and the cluster's file."""
    retention = load_values()["retention"]
    assert retention["enabled"] is True
    by_status = {"skipped": 7, "success": 90, "failure": 90, "started": 90}
    for kind in ("sensor", "schedule"):
        assert retention[kind]["purgeAfterDays"] == by_status
        for instance_file in ("dagster.yaml", "deploy/dagster.cluster.yaml"):
            instance = yaml.safe_load((ROOT / instance_file).read_text())
            assert instance["retention"][kind]["purge_after_days"] == by_status, instance_file


def test_the_postgresql_password_comes_from_a_secret() -> None:
    values = load_values()
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    assert "postgresqlPassword" not in values["postgresql"]
    assert values["postgresql"]["enabled"] is False


def test_run_jobs_get_the_render_slot_sized_from_the_memory_budget() -> None:
    launcher = load_values()["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    budget = budget_default_mib()
    assert f"PROXYGEN_MAX_FRAME_MEMORY={budget}" in k8s["envVars"]
    requests, limits = k8s["resources"]["requests"], k8s["resources"]["limits"]
    assert memory(limits["memory"]).mib == budget + HEADROOM_MIB
    assert memory(requests["memory"]).mib == memory(limits["memory"]).mib  # Guaranteed memory: a whole slot
    assert requests["cpu"]


def test_the_code_server_has_modest_resources_of_its_own() -> None:
    values = load_values()
    deployment = values["dagster-user-deployments"]["deployments"][0]
    resources = deployment["resources"]
    run_limit = memory(values["runLauncher"]["config"]["k8sRunLauncher"]["resources"]["limits"]["memory"])
    assert memory(resources["requests"]["memory"]).mib > 0
    assert memory(resources["limits"]["memory"]).mib < run_limit.mib  # it renders nothing


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of a values file over the chart's defaults: mappings merge, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.mark.skipif(not UPSTREAM_SCHEMA, reason="set PROXYGEN_HELM_SCHEMA to the chart's values.schema.json "
                    "(helm/dagster/values.schema.json of dagster-io/dagster at the pinned release) to run this")
def test_values_validate_against_the_full_upstream_schema() -> None:
    """The chart validates the merged values, so ours are merged over the values.yaml beside the schema.
    Kubernetes definitions the schema refers to by URL are not fetched (no network): they validate as open."""
    schema_path = Path(UPSTREAM_SCHEMA)
    defaults_path = schema_path.with_name("values.yaml")
    schema = without_remote_refs(json.loads(schema_path.read_text()))
    defaults = yaml.safe_load(defaults_path.read_text())
    validator = jsonschema.Draft7Validator(schema)
    assert errors(validator, deep_merge(defaults, load_values())) == []


def without_remote_refs(node: Any) -> Any:
    """The schema with every "$ref" to a URL (the Kubernetes definitions) dropped: those stay open here."""
    if isinstance(node, dict):
        return {k: without_remote_refs(v) for k, v in node.items()
                if not (k == "$ref" and isinstance(v, str) and v.startswith(("http://", "https://")))}
    if isinstance(node, list):
        return [without_remote_refs(v) for v in node]
    return node
