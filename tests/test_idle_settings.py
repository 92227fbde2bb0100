"""What keeps an idle stack cheap (docs/benchmarks.md, "An idle stack"): the sensors that follow finished work tick
on their own, longer interval, and the local instance runs no daemon loop it has no use for."""
from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from proxygen_core.settings import PipelineSettings, Settings, instance_file, load_settings
from proxygen_dagster.definitions import build_definitions
from proxygen_dagster.names import SENSOR

FOLLOWUPS = {SENSOR.sequence_clips, SENSOR.cut_conform, SENSOR.follow_upstream}
DISCOVERY = {SENSOR.s3_new_frames, SENSOR.s3_notifications}


def intervals(settings: Settings) -> dict[str, int]:
    return {s.name: s.minimum_interval_seconds for s in build_definitions(settings).sensors}


def test_the_followup_interval_defaults_to_30_s_and_reads_its_variable():
    assert PipelineSettings().followup_sensor_interval_seconds == 30
    assert PipelineSettings().sensor_interval_seconds == 5
    loaded = load_settings(env={"PROXYGEN_FOLLOWUP_SENSOR_INTERVAL_SECONDS": "12"})
    assert loaded.pipeline.followup_sensor_interval_seconds == 12
    assert loaded.pipeline.sensor_interval_seconds == 5


@pytest.mark.parametrize("value", ["0", "-5"])
def test_an_interval_below_one_second_is_refused_naming_its_variable(value):
    with pytest.raises(ValueError, match="PROXYGEN_FOLLOWUP_SENSOR_INTERVAL_SECONDS"):
        load_settings(env={"PROXYGEN_FOLLOWUP_SENSOR_INTERVAL_SECONDS": value})
    with pytest.raises(ValueError, match="PROXYGEN_SENSOR_INTERVAL_SECONDS"):
        load_settings(env={"PROXYGEN_SENSOR_INTERVAL_SECONDS": value})


def test_each_sensor_gets_the_interval_of_its_kind():
    base = Settings()
    settings = replace(base, pipeline=replace(base.pipeline, sensor_interval_seconds=7,
                                              followup_sensor_interval_seconds=41))
    found = intervals(settings)
    assert {name: found[name] for name in DISCOVERY} == {name: 7 for name in DISCOVERY}
    assert {name: found[name] for name in FOLLOWUPS} == {name: 41 for name in FOLLOWUPS}
    assert found[SENSOR.outbox_publisher] == 30 and found[SENSOR.failure_alerts] == 15  # their own, unchanged


def test_the_tracker_publisher_follows_on_the_followup_interval():
    settings = load_settings(env={"PROXYGEN_TRACKER": "kitsu", "PROXYGEN_KITSU_URL": "http://127.0.0.1:1/api",
                                  "PROXYGEN_FOLLOWUP_SENSOR_INTERVAL_SECONDS": "23"})
    assert intervals(settings)[SENSOR.tracker_publisher] == 23


def test_the_local_instance_keeps_run_monitoring_and_runs_no_unused_daemon(tmp_path):
    from dagster import DagsterInstance

    config = yaml.safe_load(instance_file().read_text())
    assert config["run_monitoring"]["enabled"] is True  # a killed run's pool slots are freed only with it
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    (tmp_path / "dagster.yaml").write_text(instance_file().read_text())
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        daemons = set(instance.get_required_daemon_types())
    assert {"SENSOR", "QUEUED_RUN_COORDINATOR", "MONITORING", "EVENT_LOG_CONSUMER"} <= daemons
    assert not daemons & {"ASSET", "FRESHNESS_DAEMON"}
