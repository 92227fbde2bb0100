"""Bytes of history per frame: Dagster's home (run DB, event log, compute logs) and the catalog, after an ingest
of N frames through the in-process pipeline (the frames job, batch by batch, as tests/test_dagster_pipeline.py
runs it, on a SQLite DAGSTER_HOME made from the checkout's dagster.yaml and a local SeaweedFS), after a second
version of every frame is made (new pixels, so new etags: the first pass's runs are superseded and its catalog
rows go to the history), and after one pass of the retention job with limits that remove everything removable
(every age limit 1 day, the clock 2 days ahead). The published state of the events is simulated (no broker: they
are marked sent). The baseline is the state before retention: the last column is after / before.
SQLite files keep their size when rows are deleted (their pages are reused by later rows), so both are printed:
the files' bytes and the bytes in use (pages not on the free list).
Usage: python benchmarks/bench_history.py [--frames 240] [--batch 24] [--size 2048x1080]
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from machine import describe  # benchmarks/machine.py

from proxygen_core.media.samples import CHROMATICITIES, chart, write_exr
from proxygen_core.services.process import free_port
from proxygen_core.services.seaweedfs import start_seaweedfs

ASSETS = ("source_frame", "working_frame", "thumbnail", "proxy", "proxy_record")
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def make_frames(folder: Path, count: int, width: int, height: int, seed: int) -> list[Path]:
    """The chart with a little noise: a new seed is a new version of every frame (new pixels, new etag)."""
    base, _ = chart(width, height)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"history.{1001 + i:04d}.exr"
        write_exr(path, base + rng.normal(0, 0.01, base.shape).astype(np.float32), CHROMATICITIES["ACEScg"])
        paths.append(path)
    return paths


def sqlite_bytes(paths: list[Path]) -> tuple[int, int]:
    """The files' bytes (with their write-ahead logs) and the bytes their live pages hold."""
    size = live = 0
    for path in paths:
        size += sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            page, count, free = (db.execute(f"PRAGMA {p}").fetchone()[0]
                                 for p in ("page_size", "page_count", "freelist_count"))
        live += (count - free) * page
    return size, live


def measure(home: Path, catalog: Path) -> dict[str, tuple[int, int]]:
    """Bytes by part: (file bytes, live bytes); plain files count the same in both."""
    logs = sum(p.stat().st_size for p in (home / "storage").rglob("*") if p.is_file())
    parts = {"runs DB": sqlite_bytes([home / "history" / "runs.db"]),
             "event index": sqlite_bytes([home / "history" / "runs" / "index.db"]),
             "event per run": sqlite_bytes(sorted(p for p in (home / "history" / "runs").glob("*.db")
                                                  if p.name != "index.db")),
             "compute logs": (logs, logs),
             "schedules DB": sqlite_bytes(sorted((home / "schedules").glob("*.db")))}
    parts["Dagster total"] = (sum(v[0] for v in parts.values()), sum(v[1] for v in parts.values()))
    parts["catalog"] = sqlite_bytes([catalog])
    return parts


def show(label: str, parts: dict[str, tuple[int, int]], frames: int, runs: int,
         baseline: dict[str, tuple[int, int]] | None = None) -> None:
    print(f"{label}: {runs} runs, bytes per frame (file / in use)"
          + (", after / before retention" if baseline else ""))
    for name, (size, live) in parts.items():
        ratio = ""
        if baseline:
            ratio = f"   {size / max(baseline[name][0], 1):.2f}x / {live / max(baseline[name][1], 1):.2f}x"
        print(f"  {name:<14} {size / frames / 1024:9.1f} KiB / {live / frames / 1024:9.1f} KiB{ratio}")


def ingest(defs, instance, store, frames: list[Path], prefix: str, batch: int) -> float:
    """Upload the frames and run the frames job over them batch by batch (one ranged run per batch)."""
    from dagster import AssetKey

    start = time.perf_counter()
    keys = [f"{prefix}/{p.name}" for p in frames]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda pair: store.upload_file(*pair), zip(frames, keys, strict=True)))
    known = set(instance.get_dynamic_partitions("frames"))
    instance.add_dynamic_partitions("frames", [k for k in keys if k not in known])
    job = defs.resolve_job_def("proxygen_frames")
    for i in range(0, len(keys), batch):
        part = keys[i:i + batch]
        result = job.execute_in_process(instance=instance, tags={RANGE_START: part[0], RANGE_END: part[-1]},
                                        asset_selection=[AssetKey(a) for a in ASSETS], raise_on_error=False)
        if not result.success:
            raise SystemExit(f"batch {i // batch} failed: run {result.run_id}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--size", default="2048x1080")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    print("machine:", describe(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        from proxygen_dagster.launch.local import local_env

        env = local_env(var, free_port(), "history")
        env.update({"PROXYGEN_BATCH_SIZE": str(args.batch)})
        os.environ.update(env)
        weed = start_seaweedfs(var / "seaweedfs", env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                               int(env["PROXYGEN_S3_ENDPOINT_URL"].rsplit(":", 1)[1]))
        try:
            return run(args, var, width, height, env)
        finally:
            weed.stop()


def run(args: argparse.Namespace, var: Path, width: int, height: int, env: dict[str, str]) -> int:
    from dagster import DagsterInstance

    from proxygen_core.catalog import SQLiteCatalog
    from proxygen_core.catalog.sql import utc_iso
    from proxygen_core.settings import RetentionSettings
    from proxygen_dagster.definitions import defs
    from proxygen_dagster.housekeeping.retention import run_retention
    from proxygen_dagster.launch.local import connect, prepare_home

    home, catalog_path = Path(env["DAGSTER_HOME"]), Path(env["PROXYGEN_SQLITE_PATH"])
    prepare_home(home)
    store = connect(env)
    n = args.frames
    with DagsterInstance.get() as instance:
        first = ingest(defs, instance, store, make_frames(var / "v1", n, width, height, 7), "bench/shot_100", args.batch)
        show(f"after the ingest of {n} frames ({width}x{height}, batch {args.batch}, {first:.0f} s)",
             measure(home, catalog_path), n, len(instance.get_run_records()))
        second = ingest(defs, instance, store, make_frames(var / "v2", n, width, height, 8), "bench/shot_100",
                        args.batch)
        catalog = SQLiteCatalog(catalog_path)
        pending = [e.event_id for e in catalog.pending_events(limit=10 * n)]
        catalog.mark_sent(pending, utc_iso())  # what a drain does once the broker acknowledged them
        before = measure(home, catalog_path)
        show(f"after a second version of every frame ({second:.0f} s; {len(pending)} events marked sent)", before, n,
             len(instance.get_run_records()))
        rules = RetentionSettings(run_retention_days=1, log_retention_days=1, history_retention_days=1)
        start = time.perf_counter()
        report = run_retention(instance, catalog, rules, now=datetime.now(UTC) + timedelta(days=2))
        took = time.perf_counter() - start
        print(f"retention ({took:.1f} s): {report}")
        show("after retention", measure(home, catalog_path), n, len(instance.get_run_records()), before)
        print(f"catalog: {catalog.count('rows')} rows, {catalog.count('history')} history rows, "
              f"{catalog.count('events')} events ({catalog.count('pending')} pending)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
