"""Dagster orchestration over proxygen_core: frame and clip assets, checks, sensors, jobs, definitions."""
