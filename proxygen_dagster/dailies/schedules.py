"""The dailies schedule: at ``dailies_hour`` (UTC) it assembles the day's review, on days that have review clips.

The daily partitions are dynamic (``days``): the schedule adds the day when it finds review clips finished on it
and skips a day without any, so a stack installed today shows no partition before its first clip (a daily
time-window definition from a fixed start date showed every day since that date beside "Materialize all").
"""
from datetime import UTC

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from proxygen_core.pipeline.dailies import day_clips
from proxygen_core.settings import Settings
from proxygen_dagster.jobs import Jobs
from proxygen_dagster.names import PARTITION, SCHEDULE
from proxygen_dagster.resources import CatalogResource


def dailies_tick(context: ScheduleEvaluationContext, catalog: CatalogResource) -> RunRequest | SkipReason:
    """One tick: the scheduled day (UTC) becomes a partition and its review is requested, if clips finished on it.
    The run key is the day, so a day is requested once."""
    day = context.scheduled_execution_time.astimezone(UTC).date()  # the daemon's tick time (or the UI's test time)
    if not day_clips(catalog.open(), day):
        return SkipReason(f"no review clip finished on {day}: no daily review")
    key = day.isoformat()
    if not context.instance.has_dynamic_partition(PARTITION.days, key):
        context.instance.add_dynamic_partitions(PARTITION.days, [key])
    return RunRequest(run_key=key, partition_key=key)


def build_dailies_schedule(settings: Settings, jobs: Jobs) -> ScheduleDefinition:
    hour = settings.pipeline.dailies_hour

    @schedule(name=SCHEDULE.dailies, job=jobs.dailies, cron_schedule=f"0 {hour} * * *", execution_timezone="UTC",
              default_status=DefaultScheduleStatus.RUNNING,
              description=f"Assembles the day's review at {hour:02d}:00 UTC, on days with review clips.")
    def proxygen_dailies_schedule(context: ScheduleEvaluationContext,
                                  catalog: CatalogResource) -> RunRequest | SkipReason:
        return dailies_tick(context, catalog)

    return proxygen_dailies_schedule
