"""Dagster orchestration over proxygen_core: assets, IO managers, checks, sensors, definitions."""
