"""Failed runs get their failure class (``proxygen/failure=content|infrastructure``); only infrastructure alerts.

Why: a batch run with one broken frame stays FAILURE, since that is what marks the frame's partitions failed in the
UI (per-partition truth, Dagster issue 17836), so "alert on every failed run" would page someone for every bad
frame. The class says who has to act: ``content`` (every failed key is the source's own fault: errors.CONTENT_KINDS;
its rows and proxy.failed events already say so) or ``infrastructure`` (storage, the catalog, the broker, an
unexpected exception, a killed or OOM-killed worker, a start or run timeout).

Why a sensor of our own rather than Dagster's ``run_failure_sensor``: a run killed with its worker is retried by the
daemon, which copies the failed run's tags into the retry. Tagging it before the retry exists would mark the retry
(which may well succeed) as failed too, so a failed run is classified only once its retry decision is taken
(``dagster/will_retry`` set, or a retry run named). The same tick sends the alert (``PROXYGEN_ALERT_WEBHOOK_URL``:
one JSON POST per infrastructure failure, Slack-compatible ``text``) and logs it; a content failure sends nothing.
"""
from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from dagster import (
    DagsterEventType,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.tags import AUTO_RETRY_RUN_ID_TAG, RUN_FAILURE_REASON_TAG, WILL_RETRY_TAG

from proxygen_core.errors import CONTENT, INFRASTRUCTURE
from proxygen_dagster.common import tick_instance
from proxygen_dagster.names import SENSOR, TAG, TRIGGER

FIRST_LOOK_BACK_SECONDS = 600.0  # a new deployment classifies the failures of its last 10 minutes, not of a day
# TRIGGER.missed_retry: the trigger of a run this sensor requests for a failed run whose promised retry the daemon
# never made (seen on SQLite: of two killed runs failed within a second, one got its retry and the other never did).
# Like a retry, it takes the keys that already finished from their state (frames.assets.frame_chain).
_RUN_SHAPE_TAGS = (TAG.range_start, TAG.range_end, TAG.keys)
FAILURE_CLASS = "failure_class"  # the key of a step Failure's metadata that says which it was
SETTLE_SECONDS = 60.0  # a failed run whose retry decision never shows (retries off) is classified after this
MAX_RUNS_PER_TICK = 100


@dataclass(frozen=True)
class FailedRun:
    """What an alert says of one failed run."""

    run_id: str
    job: str
    failure: str  # content | infrastructure
    reason: str  # Dagster's failure reason (STEP_FAILURE, UNEXPECTED_TERMINATION, START_TIMEOUT, ...)
    message: str
    retry_run_id: str | None

    @property
    def text(self) -> str:
        retry = f"; retried as {self.retry_run_id}" if self.retry_run_id else "; not retried"
        return (f"proxygen: run {self.run_id} of {self.job} failed ({self.failure}, {self.reason}): "
                f"{self.message}{retry}")


def classify(instance: Any, run: DagsterRun) -> FailedRun:
    """Content only when the run failed at its steps and every failed step says its failures were content."""
    reason = run.tags.get(RUN_FAILURE_REASON_TAG, "UNKNOWN")
    steps = instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE)
    classes, messages = [], []
    for record in steps:
        data = record.dagster_event.step_failure_data if record.dagster_event else None
        user = data.user_failure_data if data else None
        entry = (user.metadata if user else {}).get(FAILURE_CLASS)
        classes.append(getattr(entry, "value", entry) or INFRASTRUCTURE)
        messages.append((user.description if user else None) or (_innermost(data.error) if data and data.error
                                                                 else record.message))
    if not messages:
        failures = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)
        messages = [failures[-1].message if failures else "no failure event recorded"]
    content = reason == "STEP_FAILURE" and classes and all(c == CONTENT for c in classes)
    return FailedRun(run.run_id, run.job_name, CONTENT if content else INFRASTRUCTURE, reason,
                     " | ".join(m for m in messages if m)[:1000], run.tags.get(AUTO_RETRY_RUN_ID_TAG))


def _innermost(error: Any) -> str:
    """The exception the step raised, not Dagster's wrapper around it (``Error occurred while executing op``)."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def _ours(run: DagsterRun, jobs: frozenset[str]) -> bool:
    """Our jobs' runs, and the runs the UI or a backfill launch on our assets (Dagster's implicit asset jobs)."""
    return run.job_name in jobs or run.job_name.startswith("__ASSET_JOB")


def missed_retry(run: DagsterRun, end_time: float | None, now: float) -> RunRequest | None:
    """The run the daemon promised (``dagster/will_retry=true``) and never made, once ``SETTLE_SECONDS`` have
    passed: the same job, assets and keys, once (its run key names the failed run)."""
    if run.tags.get(WILL_RETRY_TAG) != "true" or AUTO_RETRY_RUN_ID_TAG in run.tags or run.job_name.startswith("__"):
        return None
    if end_time is None or now - end_time <= SETTLE_SECONDS:
        return None
    return RunRequest(run_key=f"{TRIGGER.missed_retry}-{run.run_id}", job_name=run.job_name,
                      partition_key=run.tags.get(TAG.partition),
                      asset_selection=sorted(run.asset_selection, key=str) if run.asset_selection else None,
                      tags={**{k: run.tags[k] for k in _RUN_SHAPE_TAGS if k in run.tags},
                            TAG.trigger: TRIGGER.missed_retry, TAG.retry_of: run.run_id})


def _settled(run: DagsterRun, end_time: float | None, now: float) -> bool:
    """Whether the daemon's retry of this run exists or never will (so tagging it cannot leak into its retry).

    Dagster writes ``dagster/will_retry`` when the run fails; the retry daemon copies the run's tags into the retry
    a few seconds later and then names it (``dagster/auto_retry_run_id``). So ``will_retry=true`` waits for the
    retry's id; only past ``SETTLE_SECONDS`` (no daemon, retries off) is a run classified without either.
    """
    if AUTO_RETRY_RUN_ID_TAG in run.tags or run.tags.get(WILL_RETRY_TAG) == "false":
        return True
    return end_time is not None and now - end_time > SETTLE_SECONDS


def send_alert(url: str, failed: FailedRun, timeout: float = 10.0) -> None:
    """POST the alert as JSON (``text`` for Slack and Teams webhooks, the fields for anything else)."""
    body = json.dumps({"text": failed.text, **asdict(failed)}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


def evaluate(context: SensorEvaluationContext, jobs: frozenset[str],
             webhook_url: str | None) -> SkipReason | SensorResult:
    """One tick: classify and tag the failed runs of ``jobs`` not tagged yet, alert on infrastructure ones.

    The cursor is the run-storage update time up to which every failed run has been seen (a run still waiting for
    its retry decision holds it back), so each run is alerted once and tagged once, across daemon restarts too.
    The alert goes out before the tag is written: a webhook that refuses fails the tick, and the run is tried again.
    """
    now = time.time()
    since = float(context.cursor) if context.cursor else now - FIRST_LOOK_BACK_SECONDS
    # updated_after is strict: a second of overlap, so a run that held the cursor back is seen again
    records = tick_instance(context).get_run_records(
        RunsFilter(statuses=[DagsterRunStatus.FAILURE],
                   updated_after=datetime.fromtimestamp(since - 1.0, UTC)),
        limit=MAX_RUNS_PER_TICK, order_by="update_timestamp", ascending=True)
    waiting: list[float] = []
    done: list[FailedRun] = []
    requests: list[RunRequest] = []
    newest = since
    for record in records:
        run, updated = record.dagster_run, record.update_timestamp.timestamp()
        if _ours(run, jobs) and run.tags.get(TAG.failure_run) != run.run_id:
            if not _settled(run, record.end_time, now):
                waiting.append(updated)
                continue
            failed = classify(tick_instance(context), run)
            again = missed_retry(run, record.end_time, now)
            if again is not None:
                requests.append(again)
                failed = replace(failed, retry_run_id=f"(requested by failure_alerts: {again.run_key})")
            if failed.failure == INFRASTRUCTURE:
                context.log.error(failed.text)
                if webhook_url:
                    send_alert(webhook_url, failed)
            tick_instance(context).add_run_tags(run.run_id, {TAG.failure: failed.failure, TAG.failure_run: run.run_id})
            done.append(failed)
        newest = max(newest, updated)
        context.update_cursor(str(min([newest, *waiting])))  # what is done stays done if a later alert fails
    infra = sum(f.failure == INFRASTRUCTURE for f in done)
    if requests:
        return SensorResult(run_requests=requests)
    return SkipReason(f"{len(done)} failed runs classified ({infra} infrastructure, alerted; "
                      f"{len(done) - infra} content); {len(waiting)} waiting for their retry decision")


def build_failure_alerts(jobs: Sequence[Any], webhook_url: str | None,
                         interval_seconds: int = 15) -> SensorDefinition:
    """The ``failure_alerts`` sensor (on by default): tags every failed run of ``jobs`` (and of the UI's asset jobs)
    and alerts on infrastructure; requests a retry the daemon promised and never made."""
    job_names = frozenset(job.name for job in jobs)

    @sensor(name=SENSOR.failure_alerts, minimum_interval_seconds=interval_seconds, jobs=list(jobs),
            default_status=DefaultSensorStatus.RUNNING,
            description="Tags each failed proxygen run proxygen/failure=content|infrastructure and alerts "
                        "(PROXYGEN_ALERT_WEBHOOK_URL) on infrastructure failures only.")
    def failure_alerts(context: SensorEvaluationContext) -> SkipReason | SensorResult:
        return evaluate(context, job_names, webhook_url)

    return failure_alerts
