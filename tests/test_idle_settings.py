"""What keeps an idle stack cheap (docs/benchmarks.md, "An idle stack"): the sensors that follow finished work tick
on their own, longer interval, and the local instance runs no daemon loop it has no use for."""
from __future__ import annotations

from dataclasses import replace

import pytest
import yaml
from dagster import ConfigurableResource

from proxygen_core.settings import PipelineSettings, Settings, instance_file, load_settings
from proxygen_dagster.names import SENSOR

FOLLOWUPS = {SENSOR.sequence_clips, SENSOR.cut_conform, SENSOR.follow_upstream}
DISCOVERY = {SENSOR.s3_new_frames, SENSOR.s3_notifications}


def intervals(settings: Settings) -> dict[str, int]:
    # imported here: proxygen_dagster.definitions reads the settings at import, and the session's whole-stack
    # fixtures (conftest.dagster_defs) must be the first to import it, once their environment is set
    from proxygen_dagster.definitions import build_definitions

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


class _Counted(ConfigurableResource):
    label: str = "thing"

    def setup_for_execution(self, context) -> None:
        BUILT.append(self.label)


BUILT: list[str] = []


def _sensor_defs(fail: list[bool]):
    from dagster import Definitions, SkipReason, sensor

    from proxygen_dagster.common import tick_resources

    seen: list[object] = []

    @sensor(name="counted", minimum_interval_seconds=5)
    def counted(context):
        with tick_resources(context, ("thing",)) as r:
            seen.append(r["thing"])
            if fail and fail.pop():
                raise RuntimeError("storage gone")
            return SkipReason("nothing")

    return Definitions(sensors=[counted], resources={"thing": _Counted()}), counted, seen


def test_a_code_servers_sensor_builds_its_resources_once_per_thread_and_again_after_a_failed_tick():
    import threading

    from dagster import DagsterInstance, build_sensor_context

    BUILT.clear()
    fail: list[bool] = []
    defs, counted, seen = _sensor_defs(fail)
    repo = defs.get_repository_def()
    with DagsterInstance.ephemeral() as instance:
        def tick():
            with build_sensor_context(instance=instance, repository_def=repo) as ctx:
                return counted(ctx)

        tick()
        tick()
        assert BUILT == ["thing"] and seen[0] is seen[1]  # the second tick reused the first one's resource
        other = threading.Thread(target=tick)
        other.start()
        other.join()
        assert len(BUILT) == 2 and seen[2] is not seen[0]  # another thread: its own
        fail.append(True)
        with pytest.raises(Exception, match="storage gone"):
            tick()
        tick()
        assert len(BUILT) == 3 and seen[-1] is not seen[0]  # the failed tick's copy was dropped


def test_a_tests_sensor_context_gets_the_resources_it_was_given_every_tick():
    from dagster import DagsterInstance, build_sensor_context

    BUILT.clear()
    _, counted, seen = _sensor_defs([])
    with DagsterInstance.ephemeral() as instance:
        for label in ("a", "b"):
            with build_sensor_context(instance=instance, resources={"thing": _Counted(label=label)}) as ctx:
                counted(ctx)
    assert BUILT == ["a", "b"] and [r.label for r in seen] == ["a", "b"]


def test_a_sensor_tick_opens_the_instance_from_its_reference_once_per_process(tmp_path, monkeypatch):
    """A code server's ticks carry an instance reference: the instance is opened from it once and served to
    every later tick (and thread), not opened again each tick; a test's context keeps its own instance."""
    import threading

    from dagster import DagsterInstance, SensorEvaluationContext, build_sensor_context

    from proxygen_dagster import common

    (tmp_path / "dagster.yaml").write_text(instance_file().read_text())
    opened: list[object] = []
    real = DagsterInstance.from_ref
    monkeypatch.setattr(DagsterInstance, "from_ref", staticmethod(lambda ref: opened.append(ref) or real(ref)))
    monkeypatch.setattr(common, "_INSTANCES", {})
    with DagsterInstance.from_config(str(tmp_path)) as home:
        home.add_dynamic_partitions("frames", ["a.0001.exr"])

        def tick() -> DagsterInstance:
            context = SensorEvaluationContext(instance_ref=home.get_ref(), last_tick_completion_time=None,
                                              last_run_key=None, cursor=None, log_key=None, repository_name=None)
            return common.tick_instance(context)

        first, second = tick(), tick()
        found: list[DagsterInstance] = []
        other = threading.Thread(target=lambda: found.append(tick()))
        other.start()
        other.join()
        assert first is second is found[0] and len(opened) == 1
        assert first.get_dynamic_partitions("frames") == ["a.0001.exr"]  # the same storage as the reference's
        with DagsterInstance.ephemeral() as own, build_sensor_context(instance=own) as context:
            assert common.tick_instance(context) is own and len(opened) == 1
