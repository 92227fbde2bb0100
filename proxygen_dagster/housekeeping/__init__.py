"""Housekeeping jobs: what keeps the instance and the catalog from growing for ever (docs/operations.md)."""
from proxygen_dagster.housekeeping.retention import RETENTION_JOB, RETENTION_SCHEDULE, build_retention, run_retention

__all__ = ["RETENTION_JOB", "RETENTION_SCHEDULE", "build_retention", "run_retention"]
