"""What the dailies domain adds to the code location."""
from dagster import Definitions

from proxygen_core.settings import Settings
from proxygen_dagster.dailies.assets import build_daily_review
from proxygen_dagster.dailies.schedules import build_dailies_schedule
from proxygen_dagster.jobs import Jobs


def build_dailies_defs(settings: Settings, jobs: Jobs) -> Definitions:
    return Definitions(assets=[build_daily_review(settings)], schedules=[build_dailies_schedule(settings, jobs)])
