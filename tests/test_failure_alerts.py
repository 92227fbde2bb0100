"""Failed runs are classed content or infrastructure, and only infrastructure alerts (proxygen_dagster/alerts.py).

Real Dagster runs on an ephemeral instance: a step that fails with the frame chain's content Failure, one that
raises an unexpected exception, and a run failed the way run monitoring fails a killed worker's run; the real
sensor function evaluates them with a webhook served by the test.
"""
from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.storage.tags import AUTO_RETRY_RUN_ID_TAG, WILL_RETRY_TAG

from proxygen_core.errors import CONTENT, INFRASTRUCTURE, failure_class
from proxygen_dagster.alerts import FAILURE_CLASS, build_failure_alerts, classify
from proxygen_dagster.names import JOB, TAG, TRIGGER

from .webhook import Webhook


@pytest.fixture()
def hook():
    with Webhook() as server:
        yield server


def test_the_rule_content_only_when_every_failure_is_the_sources_own():
    assert failure_class(["unreadable", "too_large", "qc"]) == CONTENT
    assert failure_class(["unreadable", "storage"]) == INFRASTRUCTURE
    assert failure_class(["internal"]) == INFRASTRUCTURE
    assert failure_class([]) == INFRASTRUCTURE  # nothing known about it: someone should look


@dg.op
def broken_frames() -> None:
    raise dg.Failure("1 of 4 frames failed: shot/a.0001.exr: unreadable",
                     metadata={FAILURE_CLASS: failure_class(["unreadable"])})


@dg.op
def catalog_down() -> None:
    raise ConnectionError("the catalog refused the connection")


@dg.job
def proxygen_frames() -> None:
    broken_frames()


@dg.job(name=JOB.clips)
def clips_job() -> None:
    catalog_down()


def _killed_run(instance: dg.DagsterInstance) -> str:
    """A run failed as run monitoring fails one whose worker was SIGKILLed (no step failure of its own)."""
    run = instance.create_run_for_job(proxygen_frames)
    instance.report_run_failed(run, "Run worker proxygen:123:456 is gone (killed or out of memory)")
    return run.run_id


def _tick(instance, sensor, cursor=None):
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        result = sensor(context)
        return result, context.cursor


def test_classes_and_alerts_only_infrastructure(hook):
    with dg.DagsterInstance.ephemeral() as instance:
        content = proxygen_frames.execute_in_process(instance=instance, raise_on_error=False).run_id
        crashed = clips_job.execute_in_process(instance=instance, raise_on_error=False).run_id
        killed = _killed_run(instance)
        for run_id in (content, crashed, killed):
            instance.add_run_tags(run_id, {WILL_RETRY_TAG: "false"})  # the retry decision, as the daemon records it
        assert classify(instance, instance.get_run_by_id(content)).failure == CONTENT
        assert classify(instance, instance.get_run_by_id(crashed)).failure == INFRASTRUCTURE
        gone = classify(instance, instance.get_run_by_id(killed))
        assert gone.failure == INFRASTRUCTURE and "is gone" in gone.message

        sensor = build_failure_alerts([proxygen_frames, clips_job], hook.url)
        result, cursor = _tick(instance, sensor)
        assert "3 failed runs classified (2 infrastructure" in result.skip_message
        tags = {rid: instance.get_run_by_id(rid).tags.get(TAG.failure) for rid in (content, crashed, killed)}
        assert tags == {content: CONTENT, crashed: INFRASTRUCTURE, killed: INFRASTRUCTURE}
        assert sorted(a["run_id"] for a in hook.received) == sorted([crashed, killed])
        assert all(a["failure"] == INFRASTRUCTURE and a["text"].startswith(f"proxygen: run {a['run_id']}")
                   for a in hook.received)
        assert any("catalog refused the connection" in a["message"] for a in hook.received)
        # The next tick alerts nothing again.
        result, cursor = _tick(instance, sensor, cursor)
        assert len(hook.received) == 2 and result.skip_message.startswith("0 failed runs classified")


def test_a_run_waits_for_its_retry_decision_and_a_refused_alert_is_sent_again(hook):
    with dg.DagsterInstance.ephemeral() as instance:
        killed = _killed_run(instance)
        sensor = build_failure_alerts([proxygen_frames], hook.url)
        result, cursor = _tick(instance, sensor)
        # No retry decision yet: untagged (a retry made now would copy the tag), nothing sent.
        assert "1 waiting for their retry decision" in result.skip_message and hook.received == []
        assert TAG.failure not in instance.get_run_by_id(killed).tags
        instance.add_run_tags(killed, {WILL_RETRY_TAG: "true"})  # as Dagster writes it when the run fails
        result, cursor = _tick(instance, sensor, cursor)
        # A retry is coming but not made yet: it would copy a tag written now, so the run still waits.
        assert "1 waiting" in result.skip_message and TAG.failure not in instance.get_run_by_id(killed).tags
        instance.add_run_tags(killed, {AUTO_RETRY_RUN_ID_TAG: "the-retry"})
        hook.status = 500
        with pytest.raises(Exception, match="500"):
            _tick(instance, sensor, cursor)
        assert TAG.failure not in instance.get_run_by_id(killed).tags  # not marked done: it will be sent again
        hook.status = 200
        _tick(instance, sensor, cursor)
        assert [a["run_id"] for a in hook.received] == [killed, killed]
        assert instance.get_run_by_id(killed).tags[TAG.failure] == INFRASTRUCTURE


def test_a_run_failed_at_its_steps_is_never_rerun_whole_whatever_the_instance_says():
    """The Helm chart renders no retry_on_asset_or_op_failure (Dagster's default: retry): the jobs' own tag says
    no, so a batch with a broken frame fails once, while a dead worker's run is still retried."""
    from dagster._core.storage.tags import RETRY_ON_ASSET_OR_OP_FAILURE_TAG

    from proxygen_core.settings import Settings
    from proxygen_dagster.jobs import build_jobs

    jobs = build_jobs(Settings())
    for job in (jobs.frames, jobs.clips):  # the dailies job has never carried the tag
        assert job.tags[RETRY_ON_ASSET_OR_OP_FAILURE_TAG] == "false", job.name


def test_a_retry_that_inherited_the_class_is_classified_itself(hook):
    """Should a retry ever copy its parent's tag (the retry made before the tag could be held back), the class
    names the run it was given to, and the retry is classified on its own."""

    with dg.DagsterInstance.ephemeral() as instance:
        retry = proxygen_frames.execute_in_process(
            instance=instance, raise_on_error=False,
            tags={TAG.failure: INFRASTRUCTURE, TAG.failure_run: "the-parent-run", WILL_RETRY_TAG: "false"}).run_id
        instance.add_run_tags(retry, {WILL_RETRY_TAG: "false"})
        _tick(instance, build_failure_alerts([proxygen_frames], hook.url))
        tags = instance.get_run_by_id(retry).tags
        assert (tags[TAG.failure], tags[TAG.failure_run]) == (CONTENT, retry) and hook.received == []


def test_a_retry_the_daemon_promised_and_never_made_is_requested_once(hook, monkeypatch):
    """Seen on SQLite: of two runs killed within a second, the daemon retried one and never the other (its
    will_retry stayed true, no retry run). Past SETTLE_SECONDS the sensor requests that retry itself, once."""
    import proxygen_dagster.alerts as alerts

    with dg.DagsterInstance.ephemeral() as instance:
        killed = _killed_run(instance)
        instance.add_run_tags(killed, {WILL_RETRY_TAG: "true", TAG.range_start: "a.exr",
                                       TAG.range_end: "d.exr", TAG.keys: "4"})
        sensor = build_failure_alerts([proxygen_frames], hook.url)
        result, cursor = _tick(instance, sensor)
        assert "1 waiting" in result.skip_message  # within SETTLE_SECONDS: the daemon may still make it
        monkeypatch.setattr(alerts, "SETTLE_SECONDS", 0.0)
        result, cursor = _tick(instance, sensor, cursor)
        [request] = result.run_requests
        assert request.run_key == f"{TRIGGER.missed_retry}-{killed}" and request.job_name == JOB.frames
        assert request.tags == {TAG.range_start: "a.exr",
                                TAG.range_end: "d.exr", TAG.keys: "4",
                                TAG.trigger: TRIGGER.missed_retry, TAG.retry_of: killed}
        assert [a["retry_run_id"] for a in hook.received] == [f"(requested by failure_alerts: {request.run_key})"]
        result, cursor = _tick(instance, sensor, cursor)
        assert not getattr(result, "run_requests", None) and len(hook.received) == 1  # once
