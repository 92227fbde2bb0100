"""The jobs (one per domain, typed as ``Jobs``) and the executor the frame and clip jobs run on: in process on one
host, Celery across several."""
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dagster import (
    AssetSelection,
    ExecutorDefinition,
    define_asset_job,
    in_process_executor,
)

from proxygen_core.pipeline.chain import stages_for
from proxygen_core.settings import ExecutionSettings, Settings
from proxygen_dagster.common import clip_asset_key
from proxygen_dagster.names import ASSET, EXECUTOR_CELERY, JOB, TAG

if TYPE_CHECKING:  # what define_asset_job returns; Dagster does not export the name
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def executor_for(execution: ExecutionSettings) -> ExecutorDefinition:
    """One host: the run's own process (orchestration paid once per batch). Several hosts: Celery.

    With Celery each step of a run is one task on the step's queue, taken by whichever worker host is free.
    Tasks are acknowledged only after they finish (``task_acks_late``) and handed back when their worker
    dies (``task_reject_on_worker_lost``); Redis redelivers an unacknowledged task after the visibility
    timeout, so a killed worker host delays its batch but never loses it.
    """
    if execution.executor != "celery":
        return in_process_executor
    from dagster_celery import celery_executor

    return celery_executor.configured({
        "broker": _secret_source("celery_broker", execution.celery_broker),
        "backend": _secret_source("celery_backend", execution.celery_backend)
        or _secret_source("celery_broker", execution.celery_broker),
        "config_source": celery_config(execution),
    }, name=EXECUTOR_CELERY)


def _secret_source(field: str, value: str | None) -> str | dict | None:
    """A broker URL carries its password: bind it to its environment variable when it comes from there,
    so the job's stored definition (and the UI) shows the variable's name, not the value."""
    from proxygen_core.settings import env_name, from_environment

    return {"env": env_name(field)} if value and from_environment(field, value) else value


def celery_config(execution: ExecutionSettings) -> dict:
    """Celery settings shared by the executor (the run) and the workers (scripts/cluster-demo.sh, docs)."""
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # a host takes one batch at a time: idle hosts get the next one
        "worker_concurrency": execution.worker_concurrency,  # batches one worker host runs at once
        "broker_transport_options": {"visibility_timeout": execution.redelivery_seconds},
        "task_default_queue": execution.render_queue,
    }


# A run that failed at its steps is never re-run whole, whatever the instance says (the Helm chart renders no
# retry_on_asset_or_op_failure, and Dagster's default is to retry): bad content fails the same way again, and storage
# outages are retried inside the step. Runs whose worker died are still retried by run_retries.
NO_STEP_FAILURE_RETRY = {TAG.retry_on_asset_or_op_failure: "false"}


@dataclass(frozen=True)
class Jobs:
    """The code location's jobs, by domain: each sensor and schedule takes the one it requests runs of."""

    frames: "UnresolvedAssetJobDefinition"
    clips: "UnresolvedAssetJobDefinition"
    dailies: "UnresolvedAssetJobDefinition"

    def __iter__(self) -> Iterator["UnresolvedAssetJobDefinition"]:
        return iter((self.frames, self.clips, self.dailies))


def build_jobs(settings: Settings) -> Jobs:
    """The frames job (the whole frame chain of a batch in one step: orchestration cost is paid per batch,
    not per file), the clips job (one sequence's deliverables; partitions: sequence patterns) and the dailies
    job (the daily review of one day)."""
    executor = executor_for(settings.execution)
    frames_job = define_asset_job(
        JOB.frames, selection=AssetSelection.assets(*stages_for(settings)), executor_def=executor,
        tags=NO_STEP_FAILURE_RETRY,
        description="Source -> working frame -> thumbnail + proxy -> record, for one key or a range of keys.")
    clips_job = define_asset_job(
        JOB.clips, selection=AssetSelection.assets(*(clip_asset_key(p.name) for p in settings.pipeline.profiles())),
        executor_def=executor, tags=NO_STEP_FAILURE_RETRY,
        description="The deliverables (one per enabled clip profile) and poster of one image sequence, from its "
                    "frames' working frames.")
    dailies_job = define_asset_job(JOB.dailies, selection=AssetSelection.assets(ASSET.daily_review),
                                   description="The daily review of one day.")
    return Jobs(frames=frames_job, clips=clips_job, dailies=dailies_job)
