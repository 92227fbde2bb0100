"""Bounded history (docs/operations.md, "Retention"): the settings, catalog prune on every backend, and the
``proxygen_retention`` job against a real Dagster instance: old finished runs go, the run holding a partition's
latest materialization or attempt stays, running and recent runs stay, old compute logs go, the catalog's history
and sent events go but never a current row or an unpublished event."""
from __future__ import annotations

import os
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetRecordsFilter,
    AssetSpec,
    BackfillPolicy,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultScheduleStatus,
    Definitions,
    DynamicPartitionsDefinition,
    Failure,
    define_asset_job,
    multi_asset,
)

from proxygen_core.catalog import SQLiteCatalog, proxy_id
from proxygen_core.events.schema import build_clip_event, build_event, clip_event_id, event_id
from proxygen_core.rows import ClipRow, FrameRow
from proxygen_core.settings import RetentionSettings, Settings, load_settings
from proxygen_dagster.housekeeping import RETENTION_JOB, RETENTION_SCHEDULE, build_retention
from proxygen_dagster.housekeeping.retention import (
    RetentionReport,
    cutoff,
    prune_compute_logs,
    prune_runs,
    run_retention,
)
from proxygen_dagster.resources import CatalogResource

from .test_catalog import _postgres, _sqlite, _vast_fake  # the catalog contract tests' catalogs

OLD_SENT = "2020-01-01T00:00:00.000+00:00"
DAY = timedelta(days=1)


# --- settings ----------------------------------------------------------------------------------------------------

def test_retention_settings_defaults_environment_and_refusals(tmp_path):
    rules = load_settings(env={}).retention
    assert (rules.run_retention_days, rules.log_retention_days, rules.history_retention_days,
            rules.retention_hour) == (90, 14, 90, 3)
    cfg = tmp_path / "p.yaml"
    cfg.write_text("retention:\n  run_retention_days: 30\n  retention_hour: 5\n")
    rules = load_settings(cfg, env={"PROXYGEN_LOG_RETENTION_DAYS": "0"}).retention
    assert (rules.run_retention_days, rules.log_retention_days, rules.retention_hour) == (30, 0, 5)
    with pytest.raises(ValueError, match=r"retention_hour \(PROXYGEN_RETENTION_HOUR\): 24: an hour"):
        load_settings(env={"PROXYGEN_RETENTION_HOUR": "24"})
    with pytest.raises(ValueError, match=r"history_retention_days \(PROXYGEN_HISTORY_RETENTION_DAYS\): -1"):
        load_settings(env={"PROXYGEN_HISTORY_RETENTION_DAYS": "-1"})
    with pytest.raises(ValueError, match="PROXYGEN_RUN_RETENTION_DAYS"):
        load_settings(env={"PROXYGEN_RUN_RETENTION_DAYS": "ninety"})


def test_zero_days_turns_a_rule_off():
    now = datetime(2026, 12, 1, 3, tzinfo=UTC)
    assert cutoff(now, 0) is None
    assert cutoff(now, 14) == datetime(2026, 11, 17, 3, tzinfo=UTC)


# --- catalog prune -----------------------------------------------------------------------------------------------

CATALOGS = [pytest.param(_sqlite, id="sqlite"), pytest.param(_postgres, id="postgres"),
            pytest.param(_vast_fake, id="vast-fake")]


@pytest.fixture(autouse=True)
def _server_for_backend(request):
    """The session's PostgreSQL only for the postgres cases (marked services by conftest)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("make") is _postgres:
        request.getfixturevalue("postgres_server")


def _row(key: str, etag: str) -> FrameRow:
    row = FrameRow.from_record({"proxy_id": proxy_id("frames", key, "review"), "file_id": "f" * 16, "s3_key": key,
                   "s3_bucket": "frames", "asset_id": key[:16], "status": "ok", "output_profile": "review",
                   "thumbnail_s3_key": "x/.proxies/a_thumb.jpg", "proxy_s3_key": "x/.proxies/a_proxy.mp4",
                   "generated_timestamp": "2026-11-21T10:00:00+00:00", "etag": etag, "render_settings_hash": "abc"})
    return row.but(event_id=event_id(row))


def _two_versions(catalog, key: str) -> tuple[str, str]:
    """Write a source's first and second version (the first goes to the history); their event ids."""
    first, second = _row(key, "e1"), _row(key, "e2")
    catalog.write([first], [build_event(first, "t")])
    catalog.write([second], [build_event(second, "t")])
    return first.event_id or "", second.event_id or ""


def _clip(catalog) -> str:
    clip = {"clip_id": "c1", "sequence": "s/beauty.####.exr", "s3_bucket": "frames", "output_profile": "review",
            "clip_s3_key": "s/.proxies/beauty_clip.mp4", "status": "ok", "frames_fingerprint": "f1",
            "render_settings_hash": "abc", "generated_timestamp": "2026-11-21T10:00:00+00:00"}
    row = ClipRow.from_record(clip)
    row = row.but(event_id=clip_event_id(row))
    catalog.write_clips([row], [build_clip_event(row, "t")])
    return row.event_id or ""


@pytest.mark.parametrize("make", CATALOGS)
def test_prune_deletes_old_history_and_sent_events_only(make, tmp_path):
    catalog = make(tmp_path)
    a1, a2 = _two_versions(catalog, "shot/a.0001.exr")  # history row replaced before the cut
    time.sleep(0.02)
    cut = datetime.now(UTC)
    time.sleep(0.02)
    b1, b2 = _two_versions(catalog, "shot/b.0001.exr")  # history row replaced after the cut
    clip = _clip(catalog)
    catalog.mark_sent([a1, a2, b2, clip], OLD_SENT)  # b1 stays pending: never published
    rows_before = sorted(catalog.rows(), key=lambda r: r.s3_key)

    assert catalog.prune(cut) == 2  # a's old version and a1, its event (sent, named by no current row)
    assert [h.s3_key for h in catalog.history()] == ["shot/b.0001.exr"]
    assert sorted(e.event_id for e in catalog.events()) == sorted([a2, b1, b2, clip])
    assert [e.event_id for e in catalog.pending_events()] == [b1]
    assert sorted(catalog.rows(), key=lambda r: r.s3_key) == rows_before  # current rows untouched
    assert catalog.prune(cut) == 0  # nothing left before the cut

    # Everything removable: b's old version goes; the events current rows and the clip name, and the unpublished
    # one, stay whatever their age.
    assert catalog.prune(datetime.now(UTC) + DAY) == 1
    assert catalog.history() == [] and sorted(e.event_id for e in catalog.events()) == sorted([a2, b1, b2, clip])
    assert (catalog.count("rows"), catalog.count("clips"), catalog.count("pending")) == (2, 1, 1)


def test_prune_takes_a_naive_moment_as_utc(tmp_path):
    catalog = _sqlite(tmp_path)
    _two_versions(catalog, "shot/a.0001.exr")
    local_tomorrow = (datetime.now(UTC) + DAY).replace(tzinfo=None)
    assert catalog.prune(local_tomorrow - 2 * DAY) == 0 and catalog.prune(local_tomorrow) == 1


# --- runs --------------------------------------------------------------------------------------------------------

FAIL: set[str] = set()


def _frames_job(names: tuple[str, str] = ("src", "rec")):
    """Two frame-like assets on dynamic partitions, made in one step per batch like the frame chain: a key in
    FAIL is planned but not materialized, and the step fails (the partition reads failed). ``names``: the
    frame chain's own stage names where a test needs them (retired partitions)."""
    frames = DynamicPartitionsDefinition(name="frames")
    src, rec = names

    @multi_asset(specs=[AssetSpec(src, partitions_def=frames), AssetSpec(rec, partitions_def=frames, deps=[src])],
                 partitions_def=frames, backfill_policy=BackfillPolicy.single_run(), can_subset=True)
    def chain(context):
        for key in context.partition_keys:
            if key not in FAIL:
                yield AssetMaterialization(asset_key=src, partition=key)
                yield AssetMaterialization(asset_key=rec, partition=key)
        if FAIL & set(context.partition_keys):
            raise Failure("a broken frame")

    defs = Definitions(assets=[chain], jobs=[define_asset_job("frames_job", selection=[src, rec])])
    return defs.resolve_job_def("frames_job"), frames


def _run(job, instance, keys: list[str], fail: tuple[str, ...] = ()) -> str:
    FAIL.clear()
    FAIL.update(fail)
    known = set(instance.get_dynamic_partitions("frames"))
    instance.add_dynamic_partitions("frames", [k for k in keys if k not in known])
    tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert result.success is not bool(fail)
    return result.run_id


def _status(instance, frames, keys):
    return {a: instance.get_status_by_partition(AssetKey(a), keys, frames) for a in ("src", "rec")}


def _latest_runs(instance, keys):
    return {k: instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey("rec"), asset_partitions=[k]),
                                               limit=1).records[0].run_id for k in keys}


def _add_unfinished(instance, status) -> str:
    run = DagsterRun(job_name="frames_job", run_id=str(uuid.uuid4()), status=status)
    instance.add_run(run)
    return run.run_id


def test_old_superseded_runs_go_the_latest_running_and_recent_stay(instance):
    job, frames = _frames_job()
    old_both = _run(job, instance, ["k1", "k2"])  # superseded for k1 and for k2 below: deleted
    old_k1 = _run(job, instance, ["k1"])  # superseded by the recent runs: deleted
    old_k2 = _run(job, instance, ["k2"])  # k2's latest materialization: kept
    old_k3_failed = _run(job, instance, ["k3"], fail=("k3",))  # k3's latest attempt (never made): kept
    old_k4_failed = _run(job, instance, ["k4"], fail=("k4",))  # a failure made good later: deleted
    old_k4 = _run(job, instance, ["k4"])  # k4's latest: kept
    running = _add_unfinished(instance, DagsterRunStatus.STARTED)
    cancelling = _add_unfinished(instance, DagsterRunStatus.CANCELING)
    time.sleep(0.05)
    cut = datetime.now(UTC)
    time.sleep(0.05)
    recent_k1 = _run(job, instance, ["k1"])  # superseded, but recent: kept
    latest_k1 = _run(job, instance, ["k1"])
    keys = ["k1", "k2", "k3", "k4"]
    status, latest = _status(instance, frames, keys), _latest_runs(instance, ["k1", "k2", "k4"])

    rules = RetentionSettings(run_retention_days=90, log_retention_days=0, history_retention_days=0)
    report = run_retention(instance, None, rules, now=cut + timedelta(days=90))

    left = {r.run_id for r in instance.get_runs()}
    assert left == {old_k2, old_k3_failed, old_k4, running, cancelling, recent_k1, latest_k1}
    assert not {old_both, old_k1, old_k4_failed} & left
    assert (report.runs_deleted, report.runs_kept) == (3, 3)
    assert _status(instance, frames, keys) == status  # the UI's per-partition truth is unchanged
    assert status["rec"]["k3"].value == "FAILED" and status["rec"]["k2"].value == "MATERIALIZED"
    assert _latest_runs(instance, ["k1", "k2", "k4"]) == latest == {"k1": latest_k1, "k2": old_k2, "k4": old_k4}
    assert instance.get_records_for_run(old_k1).records == []  # its events went with it


def test_run_passes_are_bounded_and_go_on_where_the_last_stopped(instance):
    job, _ = _frames_job()
    only_ka = _run(job, instance, ["ka"])  # ka's latest: kept for good
    superseded = [_run(job, instance, ["k1"]) for _ in range(3)]
    latest = _run(job, instance, ["k1"])
    later = datetime.now(UTC) + DAY
    passes = []
    for _ in range(5):
        report = RetentionReport()
        prune_runs(instance, later, report, page_size=2, max_runs=2)
        passes.append((report.runs_deleted, report.runs_kept))
    # one page per pass: [ka kept, 1st deleted], [2nd, 3rd deleted], [latest kept] (the end: start again),
    # [ka, latest kept], [] (the end)
    assert passes == [(1, 1), (2, 0), (0, 1), (0, 2), (0, 0)]
    assert {r.run_id for r in instance.get_runs()} == {only_ka, latest}
    assert not set(superseded) & {r.run_id for r in instance.get_runs()}


# --- compute logs and the local instance's files -----------------------------------------------------------------

def test_a_deleted_run_takes_its_event_file_and_logs_on_a_local_instance(tmp_path):
    job, _ = _frames_job()
    with DagsterInstance.local_temp(tempdir=str(tmp_path)) as instance:
        first, second = (_run(job, instance, ["k1"]) for _ in range(2))
        storage, shards = tmp_path / "storage", tmp_path / "history" / "runs"
        assert all((shards / f"{r}.db").exists() and (storage / r / "compute_logs").is_dir() for r in (first, second))
        report = RetentionReport()
        prune_runs(instance, datetime.now(UTC) + DAY, report)
        assert (report.runs_deleted, report.runs_kept) == (1, 1)  # first: superseded for k1 by second
        assert not (shards / f"{first}.db").exists() and not (storage / first).exists()
        assert (shards / f"{second}.db").exists() and (storage / second / "compute_logs").is_dir()
        assert [r.run_id for r in instance.get_runs()] == [second]


def _log(path: Path, size: int, days_old: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    moment = time.time() - days_old * 86400
    os.utime(path, (moment, moment))
    return path


def test_compute_logs_older_than_the_limit_go_newer_and_other_files_stay(tmp_path):
    with DagsterInstance.local_temp(tempdir=str(tmp_path)) as instance:
        storage = tmp_path / "storage"  # the local compute log manager's folder: <run id>/compute_logs/<step>.*
        logs_a = storage / "run-a" / "compute_logs"
        old = [_log(logs_a / f"step.{ext}", n, 20) for ext, n in (("out", 13), ("err", 875))]
        old_b = _log(storage / "run-b" / "compute_logs" / "step.err", 100, 15)
        new_b = _log(storage / "run-b" / "compute_logs" / "later.err", 7, 13)  # within the 14 days: stays
        other = _log(storage / "run-c" / "outputs" / "result", 10, 20)  # the default IO manager's kind: not a log
        report = RetentionReport()
        prune_compute_logs(instance, datetime.now(UTC) - timedelta(days=14), report)
        assert (report.log_files_deleted, report.log_bytes_deleted) == (3, 13 + 875 + 100)
        assert not (storage / "run-a").exists()  # its folders went with its last file
        assert not old_b.exists() and new_b.read_bytes() == b"x" * 7 and other.read_bytes() == b"x" * 10
        assert all(not p.exists() for p in old)


# --- the job and its schedule ------------------------------------------------------------------------------------

def test_the_job_prunes_the_catalog_and_the_schedule_runs_daily(instance, tmp_path):
    path = tmp_path / "catalog.db"
    catalog = SQLiteCatalog(path)
    catalog.ensure()
    _two_versions(catalog, "shot/a.0001.exr")
    _two_versions(catalog, "shot/b.0001.exr")
    with sqlite3.connect(path) as db:  # one replaced 100 days ago, one today
        db.execute("UPDATE proxy_outputs_history SET replaced_at = ? WHERE s3_key = 'shot/a.0001.exr'",
                   [(datetime.now(UTC) - 100 * DAY).isoformat(timespec="milliseconds")])
    settings = Settings(retention=RetentionSettings(retention_hour=5))
    job, schedule = build_retention(settings)
    assert (job.name, schedule.name, schedule.job_name) == (RETENTION_JOB, RETENTION_SCHEDULE, RETENTION_JOB)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 5 * * *", "UTC")
    assert schedule.default_status == DefaultScheduleStatus.RUNNING

    result = job.execute_in_process(instance=instance, resources={"catalog": CatalogResource(sqlite_path=str(path))})
    assert result.success
    assert [h.s3_key for h in catalog.history()] == ["shot/b.0001.exr"]
    logged = [e.message for e in instance.all_logs(result.run_id) if "retention:" in (e.message or "")]
    assert logged and "'catalog_rows_deleted': 1" in logged[0]


def test_the_code_location_registers_the_job_and_schedule():
    from proxygen_dagster.definitions import build_definitions

    defs = build_definitions(Settings(retention=RetentionSettings(retention_hour=7)))
    assert defs.resolve_job_def("proxygen_retention").name == "proxygen_retention"
    assert defs.resolve_schedule_def("proxygen_retention_schedule").cron_schedule == "0 7 * * *"


@pytest.mark.parametrize("instance_file", ["dagster.yaml", "deploy/dagster.cluster.yaml"])
def test_the_instance_files_purge_tick_history_in_dagsters_own_schema(instance_file):
    import yaml
    from dagster._config import process_config
    from dagster._core.instance.config import retention_config_schema

    retention = yaml.safe_load((Path(__file__).resolve().parents[1] / instance_file).read_text())["retention"]
    assert process_config(retention_config_schema().config_type, retention).success
    by_status = {"skipped": 7, "success": 90, "failure": 90, "started": 90}
    assert retention == {"schedule": {"purge_after_days": by_status}, "sensor": {"purge_after_days": by_status}}


def test_old_frame_partitions_retire_their_runs_can_go_and_a_retired_key_comes_back(instance, tmp_path):
    """live_frame_partitions=5 over 10 frames in two runs: the 5 oldest by their catalog rows retire (the rows
    stay), so the run that made only those holds no live partition and goes, the other stays; a second pass
    retires nothing more; a restored key is a partition again and stays; the catalog ranks by age, not key."""
    from proxygen_core.pipeline.chain import RECORD, SOURCE
    from proxygen_dagster.housekeeping.retention import restore_partitions

    job, _ = _frames_job((SOURCE, RECORD))
    catalog = SQLiteCatalog(tmp_path / "catalog.db")
    catalog.ensure()
    keys = [f"shows/demo/sh010/k{n:02d}.exr" for n in range(10)]
    rows = [_row(k, "e1").but(generated_timestamp=f"2026-11-21T10:00:{59 - n:02d}+00:00") for n, k in
            enumerate(reversed(keys))]  # k00 the oldest
    catalog.write(rows, [])
    old_run, new_run = _run(job, instance, keys[:5]), _run(job, instance, keys[5:])
    later = datetime.now(UTC) + timedelta(days=3)
    rules = RetentionSettings(run_retention_days=1, log_retention_days=0, history_retention_days=0,
                              live_frame_partitions=5)
    report = run_retention(instance, catalog, rules, now=later)
    assert report.partitions_retired == 5 and sorted(instance.get_dynamic_partitions("frames")) == keys[5:]
    assert len(catalog.rows(100)) == 10  # the catalog keeps every row
    assert report.runs_deleted == 1 and instance.get_run_by_id(old_run) is None
    assert instance.get_run_by_id(new_run) is not None  # it holds the live partitions' latest materializations
    again = run_retention(instance, catalog, rules, now=later)
    assert again.partitions_retired == 0 and again.runs_deleted == 0
    assert restore_partitions(instance, [keys[1], keys[7]]) == [keys[1]]  # k07 was live
    assert run_retention(instance, catalog, rules, now=later).partitions_retired == 0  # restored: it stays
    assert keys[1] in instance.get_dynamic_partitions("frames")
    assert catalog.retired_keys(5, None, 100) == [(r.generated_timestamp, r.s3_key) for r in
                                                  sorted(rows, key=lambda r: r.generated_timestamp)][:5]
    assert catalog.retired_keys(10, None, 100) == [] and catalog.retired_keys(0, None, 100) == []


@pytest.mark.parametrize("make", CATALOGS)
def test_retired_keys_are_the_rows_older_than_the_newest_n_oldest_first_from_a_cursor(make, tmp_path):
    catalog = make(tmp_path)
    keys = [f"shows/demo/k{n:02d}.exr" for n in range(8)]
    catalog.write([_row(k, "e1").but(generated_timestamp=f"2026-11-21T10:00:{10 + n:02d}+00:00")
                   for n, k in enumerate(keys)], [])
    first = catalog.retired_keys(3, None, 2)
    assert [k for _, k in first] == keys[:2]
    assert [k for _, k in catalog.retired_keys(3, first[-1], 100)] == keys[2:5]  # the 3 newest stay
    assert catalog.retired_keys(8, None, 100) == [] and catalog.retired_keys(0, None, 100) == []


def test_proxygen_partitions_restores_retired_keys_and_counts_the_live_ones(tmp_path, monkeypatch, capsys):
    from dagster import DagsterInstance

    from proxygen_dagster.cli import main

    (tmp_path / "dagster.yaml").write_text("")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("frames", ["a/live.exr"])
    assert main(["partitions", "restore", "a/old.exr", "a/live.exr"]) == 0
    assert "restored 1 frame partition(s); 1 were live" in capsys.readouterr().out
    assert main(["partitions", "count"]) == 0 and capsys.readouterr().out.strip() == "2"
    assert main(["partitions", "restore"]) == 2  # no key: refused
