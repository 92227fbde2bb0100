"""The tracker publisher sensor: requests the publish of each clip whose row is due (pending, past its backoff).

The tick is a module-level function of (context, catalog, settings); ``build_tracker_sensors`` only wraps it.
The run key names the clip, the build that wrote its row (``planned_at``) and its attempt count, so a tick that sees
the same due row again (its run not yet started) requests nothing new, a retry after a backoff (one more attempt)
is a new run, and so is a rebuild's publish (its row starts again at no attempts)."""
from datetime import UTC, datetime

from dagster import RunRequest, SensorDefinition, SensorEvaluationContext, SensorResult, SkipReason

from proxygen_core.settings import Settings
from proxygen_dagster.common import every_interval, tick_resources
from proxygen_dagster.names import ASSET, JOB, SENSOR, TAG, TRIGGER
from proxygen_dagster.resources import CatalogResource

DUE_PER_TICK = 50  # clips requested per tick at most (the rest on the next)


def publish_requests(catalog: CatalogResource, now: datetime | None = None) -> list[RunRequest]:
    now = now or datetime.now(UTC)
    due = catalog.open().tracker_due(now.replace(microsecond=0).isoformat(), DUE_PER_TICK)
    return [RunRequest(run_key=f"publish-{row.clip_id}-{row.planned_at}-{row.tracker_attempts or 0}",
                       job_name=JOB.publish, partition_key=row.sequence, tags={TAG.trigger: TRIGGER.tracker_due})
            for row in due]


def tracker_publisher_tick(context: SensorEvaluationContext, catalog: CatalogResource) -> SensorResult | SkipReason:
    requests = publish_requests(catalog)
    if not requests:
        return SkipReason("no clip waits for its tracker publish")
    return SensorResult(run_requests=requests)


def build_tracker_sensors(settings: Settings, job) -> list[SensorDefinition]:
    @every_interval(settings, SENSOR.tracker_publisher, job,
                    f"Requests the {settings.trackers.tracker} publish ({ASSET.tracker_publish}) of each clip whose "
                    "row waits for it: just built, or retried after its backoff while the tracker was down.",
                    followup=True)
    def tracker_publisher(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        with tick_resources(context, ("catalog",)) as r:
            return tracker_publisher_tick(context, r["catalog"])

    return [tracker_publisher]
