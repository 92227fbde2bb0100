"""The dailies schedule: assembles the day's review at ``dailies_hour`` (UTC)."""
from dagster import DefaultScheduleStatus, ScheduleDefinition, build_schedule_from_partitioned_job

from proxygen_core.settings import Settings
from proxygen_dagster.jobs import Jobs
from proxygen_dagster.names import SCHEDULE


def build_dailies_schedule(settings: Settings, jobs: Jobs) -> ScheduleDefinition:
    schedule: ScheduleDefinition = build_schedule_from_partitioned_job(
        jobs.dailies, hour_of_day=settings.pipeline.dailies_hour, minute_of_hour=0, name=SCHEDULE.dailies,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Assembles the day's review at {settings.pipeline.dailies_hour:02d}:00 UTC.")
    return schedule
