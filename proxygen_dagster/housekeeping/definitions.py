"""The housekeeping domain's definitions: the retention job and its daily schedule."""
from __future__ import annotations

from dagster import Definitions

from proxygen_core.settings import Settings
from proxygen_dagster.housekeeping.retention import build_retention


def build_housekeeping_defs(settings: Settings) -> Definitions:
    """The retention job and its daily schedule (housekeeping/retention.py)."""
    job, schedule = build_retention(settings)
    return Definitions(jobs=[job], schedules=[schedule])
