"""The code location: loads the settings once and merges what each domain builds from them (frames, sequences,
dailies, trackers), the jobs, the outbox and failure-alert sensors and the resources.

``PROXYGEN_ENV`` picks the resource set (resources.build_resources); ``defs`` is what workspace.yaml, the
code server and the tests load.
"""
from __future__ import annotations

from dagster import Definitions

from proxygen_core.settings import Settings, deployment, load_settings
from proxygen_dagster.alerts import build_failure_alerts
from proxygen_dagster.cuts.definitions import build_cuts_defs
from proxygen_dagster.dailies.definitions import build_dailies_defs
from proxygen_dagster.frames.definitions import build_frames_defs
from proxygen_dagster.housekeeping.definitions import build_housekeeping_defs
from proxygen_dagster.jobs import build_jobs
from proxygen_dagster.outbox import outbox_publisher
from proxygen_dagster.resources import build_resources
from proxygen_dagster.sequences.definitions import build_sequences_defs
from proxygen_dagster.trackers.definitions import build_trackers_defs


def build_definitions(settings: Settings, env: str = "local") -> Definitions:
    jobs = build_jobs(settings)
    housekeeping = build_housekeeping_defs(settings)
    alerted = [*jobs, *(housekeeping.jobs or [])]  # a failed retention run is an operator's matter too
    return Definitions.merge(
        build_frames_defs(settings, jobs),
        build_sequences_defs(settings, jobs),
        build_dailies_defs(settings, jobs),
        build_trackers_defs(settings),
        build_cuts_defs(settings),
        housekeeping,
        Definitions(jobs=list(jobs),
                    sensors=[outbox_publisher, build_failure_alerts(alerted, settings.execution.alert_webhook_url)],
                    resources=build_resources(settings, env)),
    )


defs = build_definitions(load_settings(), deployment())
