"""The Celery app a worker host runs: ``celery -A proxygen_dagster.launch.celery_app worker -Q render,io``.

dagster-celery's own app reads its broker from a module on the path; this one reads it from proxygen's
settings (the same PROXYGEN_CELERY_* variables the run's executor uses), so a worker host and the runs
can never disagree on the broker, the queues or acknowledgement.
"""
from __future__ import annotations

from dagster_celery.config import dict_wrapper
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from proxygen_core.settings import load_settings
from proxygen_dagster.jobs import celery_config

_execution = load_settings().execution
app = make_app({"broker": _execution.celery_broker, "backend": _execution.celery_backend or _execution.celery_broker,
                "include": [], "config_source": dict_wrapper(celery_config(_execution))})
execute_plan = create_task(app)
