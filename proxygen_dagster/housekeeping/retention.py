"""Bounded history: the daily ``proxygen_retention`` job deletes old runs, old compute logs and old catalog history.

Without it Dagster's home grows with every run (run rows, the event log, one SQLite file per run on a local
instance, the steps' stdout/stderr) and the catalog's history with every replaced row, for ever. The rules and
what each keeps are in docs/operations.md ("Retention"); the limits are ``proxygen_core.settings.RetentionSettings``.

What must survive: the UI's per-partition status is computed from the event log, and ``delete_run`` removes a
run's events with it. So a finished run is deleted only when every (asset, partition) it materialized or planned
has a later materialization or planned attempt in another run: the run holding the latest materialization of any
partition (what the partition page shows) or its latest attempt (what makes a partition read failed) stays,
however old. Runs that are not finished (queued, starting, running, cancelling) are never candidates.
"""

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    JobDefinition,
    OpExecutionContext,
    RunsFilter,
    ScheduleDefinition,
    in_process_executor,
    job,
    op,
)
from dagster._core.storage.event_log import SqlEventLogStorage, SqliteEventLogStorage
from dagster._core.storage.event_log.schema import DynamicPartitionsTable
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

from proxygen_core.catalog import Catalog
from proxygen_core.pipeline.chain import STAGES
from proxygen_core.settings import RetentionSettings, Settings
from proxygen_dagster.names import JOB, PARTITION, SCHEDULE
from proxygen_dagster.resources import CatalogResource

RETENTION_JOB, RETENTION_SCHEDULE = JOB.retention, SCHEDULE.retention
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
# The events a partition's status is read from: its latest materialization and its latest attempt.
STATUS_EVENTS = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_MATERIALIZATION_PLANNED}
PAGE_SIZE = 100  # run records per query
MAX_RUNS = 10_000  # runs inspected per pass; the next pass goes on from there (a cursor kept in the instance)
MAX_LOG_FILES = 200_000  # compute log files looked at per pass
CURSOR_KEY = "proxygen/retention_run_cursor"
RETIRE_CURSOR = "proxygen/retired_partitions_cursor"  # (timestamp, key) of the last catalog row looked at
RETIRE_CHUNK = 1000  # keys per membership query
FRAME_ASSETS = frozenset(STAGES)  # the assets partitioned by frame key (one partition per source object)


@dataclass
class RetentionReport:
    """What one pass deleted and kept (the run's log and the benchmark print it)."""

    runs_deleted: int = 0
    runs_kept: int = 0  # finished and old, but holding the latest materialization or attempt of a partition
    log_files_deleted: int = 0
    log_bytes_deleted: int = 0
    catalog_rows_deleted: int = 0
    partitions_retired: int = 0  # frame partitions deleted from Dagster (their catalog rows stay)


def cutoff(now: datetime, days: int) -> datetime | None:
    """The moment a rule deletes before; None when the rule is off (0 days keeps everything)."""
    return now - timedelta(days=days) if days > 0 else None


def _latest_runs(instance: DagsterInstance, event_type: DagsterEventType, key: AssetKey,
                 partitions: set[str | None]) -> set[str]:
    """The runs holding the newest event of this kind for each of these partitions of the asset. Compared by
    run, not by storage id: a local instance numbers a run's own event file and its index apart."""
    named = {p for p in partitions if p is not None}
    ids = list(instance.get_latest_storage_id_by_partition(key, event_type, named).values()) if named else []
    runs: set[str] = set()
    if ids:
        fetch = (instance.fetch_materializations if event_type == DagsterEventType.ASSET_MATERIALIZATION
                 else instance.fetch_planned_materializations)
        runs.update(r.run_id for r in fetch(AssetRecordsFilter(asset_key=key, storage_ids=ids), limit=len(ids)).records)
    if None in partitions:  # an unpartitioned asset: its asset record names the run of the newest of each kind
        records = instance.get_asset_records([key])
        entry = records[0].asset_entry if records else None
        if entry is not None and event_type == DagsterEventType.ASSET_MATERIALIZATION:
            runs.add(entry.last_materialization_record.run_id if entry.last_materialization_record else "")
        elif entry is not None:
            runs.add(entry.last_planned_materialization_run_id or "")
    return runs


def holds_latest(instance: DagsterInstance, run_id: str) -> bool:
    """Whether deleting the run would change what the UI shows for a partition: it holds the latest
    materialization or the latest planned attempt of at least one (asset, partition) that is still live (a
    retired frame partition is shown nowhere: its catalog row is the record)."""
    mine: dict[tuple[DagsterEventType, AssetKey], set[str | None]] = defaultdict(set)
    for record in instance.get_records_for_run(run_id, of_type=STATUS_EVENTS).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.asset_key is not None:
            mine[(event.event_type, event.asset_key)].add(event.partition)
    frame_keys = {p for (_, key), partitions in mine.items() if key.path[-1] in FRAME_ASSETS
                  for p in partitions if p is not None}
    if frame_keys:  # one bounded membership query: the frame partitions of this run still live
        live = instance.get_existing_dynamic_partitions(PARTITION.frames, list(frame_keys))
        mine = {(kind, key): ({p for p in v if p is None or p in live} if key.path[-1] in FRAME_ASSETS else v)
                for (kind, key), v in mine.items()}
    return any(run_id in _latest_runs(instance, event_type, key, partitions)
               for (event_type, key), partitions in mine.items())


def retire_partitions(instance: DagsterInstance, catalog: Catalog, keep: int, per_pass: int,
                      report: RetentionReport) -> None:
    """Delete the frame partitions of keys older than the ``keep`` newest catalog rows (at most ``per_pass``,
    oldest first, from a cursor kept in the instance): Dagster's partition pages stay near ``keep`` live
    partitions however many frames a year brings. The catalog keeps every row, history and output, the bucket
    every file; a retired key comes back with ``proxygen partitions restore`` or by a new upload."""
    if keep <= 0:
        return
    stored = instance.daemon_cursor_storage.get_cursor_values({RETIRE_CURSOR}).get(RETIRE_CURSOR)
    after = tuple(json.loads(stored)) if stored else None
    found = catalog.retired_keys(keep, (str(after[0]), str(after[1])) if after else None, per_pass)
    for start in range(0, len(found), RETIRE_CHUNK):
        chunk = [key for _, key in found[start:start + RETIRE_CHUNK]]
        live = sorted(instance.get_existing_dynamic_partitions(PARTITION.frames, chunk))
        delete_partitions(instance, PARTITION.frames, live)
        report.partitions_retired += len(live)
    if found:
        instance.daemon_cursor_storage.set_cursor_values({RETIRE_CURSOR: json.dumps(list(found[-1]))})


def delete_partitions(instance: DagsterInstance, name: str, keys: list[str]) -> None:
    """Delete these dynamic partitions: one statement per chunk on a SQL instance (SQLite, PostgreSQL: the same
    table ``delete_dynamic_partition`` deletes from one key at a time, ~1-2 ms each on PostgreSQL, 30 minutes
    for a million), else Dagster's own call per key."""
    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage) or not keys:
        for key in keys:
            instance.delete_dynamic_partition(name, key)
        return
    table = DynamicPartitionsTable
    for start in range(0, len(keys), RETIRE_CHUNK):
        chunk = keys[start:start + RETIRE_CHUNK]
        with storage.index_connection() as conn:
            conn.execute(table.delete().where((table.c.partitions_def_name == name) & table.c.partition.in_(chunk)))


def restore_partitions(instance: DagsterInstance, keys: list[str]) -> list[str]:
    """Retired keys made frame partitions again (the ones not live yet): re-processed then by key, as any."""
    live = instance.get_existing_dynamic_partitions(PARTITION.frames, keys)
    new = [k for k in dict.fromkeys(keys) if k not in live]
    if new:
        instance.add_dynamic_partitions(PARTITION.frames, new)
    return new


def delete_run(instance: DagsterInstance, run_id: str) -> None:
    """The run, its events, its compute logs (no one can open them once the run is gone) and, on a local
    instance, its own event-log file: ``delete_run`` empties that file but leaves it (~130 KB each)."""
    instance.delete_run(run_id)
    instance.compute_log_manager.delete_logs(prefix=[run_id])
    storage = instance.event_log_storage
    if isinstance(storage, SqliteEventLogStorage):
        shard = storage.path_for_shard(run_id)
        for path in (shard, f"{shard}-wal", f"{shard}-shm"):
            Path(path).unlink(missing_ok=True)


def _old_finished_runs(instance: DagsterInstance, before: datetime, cursor: str | None,
                       page_size: int) -> list[str]:
    """One page of finished runs last updated before ``before``, oldest first, after ``cursor``."""
    records = instance.get_run_records(RunsFilter(statuses=FINISHED, updated_before=before), limit=page_size,
                                       ascending=True, cursor=cursor)
    return [r.dagster_run.run_id for r in records]


def prune_runs(instance: DagsterInstance, before: datetime, report: RetentionReport,
               page_size: int = PAGE_SIZE, max_runs: int = MAX_RUNS) -> None:
    """Delete the finished runs last updated before ``before`` that hold no partition's latest event.

    At most ``max_runs`` are inspected, oldest first from where the last pass stopped (a cursor kept in the
    instance, back to the start once the end is reached): a kept run may become deletable when its partitions
    are made again, so every pass must not stop at the same first ``max_runs`` kept ones. The cursor is always
    a kept run: a deleted one could not be paged from."""
    stored = instance.daemon_cursor_storage.get_cursor_values({CURSOR_KEY}).get(CURSOR_KEY)
    cursor = stored or None
    for _ in range(max(1, max_runs // page_size)):
        page = _old_finished_runs(instance, before, cursor, page_size)
        for run_id in page:
            if holds_latest(instance, run_id):
                report.runs_kept += 1
                cursor = run_id
            else:
                delete_run(instance, run_id)
                report.runs_deleted += 1
        if len(page) < page_size:
            cursor = None  # the end: the next pass starts again from the oldest
            break
    instance.daemon_cursor_storage.set_cursor_values({CURSOR_KEY: cursor or ""})


def _log_files(base: Path, max_files: int) -> Iterator[Path]:
    """The compute log files under a local compute log manager's folder (``<run id>/compute_logs/*``): only
    those, since the same folder can hold other things (the default IO manager's outputs)."""
    for count, path in enumerate(base.glob("*/compute_logs/*")):
        if count >= max_files:
            return
        yield path


def prune_compute_logs(instance: DagsterInstance, before: datetime, report: RetentionReport,
                       max_files: int = MAX_LOG_FILES) -> None:
    """Delete local compute log files last written before ``before``, and the run folders left empty. Other
    compute log managers (S3, Azure, GCS) keep their logs in a bucket: a lifecycle rule there bounds them."""
    manager = instance.compute_log_manager
    if not isinstance(manager, LocalComputeLogManager):
        return
    base = Path(manager._base_dir)  # no public accessor in Dagster 1.13
    limit = before.timestamp()
    folders: set[Path] = set()
    for path in _log_files(base, max_files):
        stat = path.stat()
        if path.is_file() and stat.st_mtime < limit:
            path.unlink(missing_ok=True)
            report.log_files_deleted += 1
            report.log_bytes_deleted += stat.st_size
            folders.add(path.parent)
    for folder in folders:  # <run id>/compute_logs, then <run id>, when nothing else is in them
        for empty in (folder, folder.parent):
            if empty.is_dir() and not any(empty.iterdir()):
                os.rmdir(empty)


def run_retention(instance: DagsterInstance, catalog: Catalog | None, rules: RetentionSettings,
                  now: datetime | None = None) -> RetentionReport:
    """One pass of every rule whose limit is not 0; ``now`` is a parameter so that tests can move the clock."""
    now = now or datetime.now(UTC)
    report = RetentionReport()
    if catalog is not None:  # first: the runs of retired partitions may then go in this same pass
        retire_partitions(instance, catalog, rules.live_frame_partitions, rules.retire_per_pass, report)
    runs_before = cutoff(now, rules.run_retention_days)
    if runs_before is not None:
        prune_runs(instance, runs_before, report)
    logs_before = cutoff(now, rules.log_retention_days)
    if logs_before is not None:
        prune_compute_logs(instance, logs_before, report)
    history_before = cutoff(now, rules.history_retention_days)
    if history_before is not None and catalog is not None:
        report.catalog_rows_deleted = catalog.prune(history_before)
    return report


def build_retention(settings: Settings) -> tuple[JobDefinition, ScheduleDefinition]:
    """The retention job (one op, in the run's own process: it needs the instance's files, not a worker host)
    and its daily schedule at ``retention_hour`` UTC, running by default."""
    rules = settings.retention

    @op(name="prune_history", description="Deletes finished runs, compute logs and catalog history older than "
                                          "their limits (docs/operations.md, Retention).")
    def prune_history(context: OpExecutionContext, catalog: CatalogResource) -> None:
        report = run_retention(context.instance, catalog.open(), rules)
        context.log.info(f"retention: {asdict(report)}")

    @job(name=RETENTION_JOB, executor_def=in_process_executor,
         description=f"Keeps history bounded: runs {rules.run_retention_days} days, compute logs "
                     f"{rules.log_retention_days} days, catalog history {rules.history_retention_days} days "
                     "(0: kept). Never a running run, nor the run holding a partition's latest materialization.")
    def retention_job() -> None:
        prune_history()

    schedule = ScheduleDefinition(
        name=RETENTION_SCHEDULE, job=retention_job, cron_schedule=f"0 {rules.retention_hour} * * *",
        execution_timezone="UTC", default_status=DefaultScheduleStatus.RUNNING,
        description=f"Runs {RETENTION_JOB} every day at {rules.retention_hour:02d}:00 UTC.")
    return retention_job, schedule
