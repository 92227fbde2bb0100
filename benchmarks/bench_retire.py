"""A studio's year of frame partitions, retired: live partitions kept near PROXYGEN_LIVE_FRAME_PARTITIONS.

Starts its own PostgreSQL (the Dagster instance via dagster-postgres, as a farm runs it) and a SQLite catalog,
then, for each ``--partitions`` total:
- adds that many frame partitions in chunks of 5,000 (the sensor's bound) and as many catalog rows (one per key,
  one second apart: the key's age);
- times what the S3 sensor pays per tick at that count (membership of 5,000 keys) and the UI's asset header
  and partitions tab over GraphQL (a dagster-webserver of its own), before and after;
- runs retention's retirement passes (``retire_partitions``, ``retire_per_pass`` each) until the live count is
  ``--keep``, timing each pass.
Then ``--days`` simulated days of ``--per-day`` new frames (a 10M-frame year is ~27,400 a day), one retirement
pass a day, printing the live count, the pass time and the sensor's membership time each day: the steady state.
Usage: python benchmarks/bench_retire.py [--partitions 1000000] [--keep 100000] [--days 10] [--per-day 27400]
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_scale import HEADER_QUERY, STATUS_QUERY, graphql  # noqa: E402

CHUNK = 5000


def key_of(i: int) -> str:
    return f"shows/demo/sq{i // 100_000:03d}/sh{i // 1000 % 100:03d}/comp/v001/plate.{i:08d}.exr"


def add(instance, catalog_path: Path, start: int, count: int, base: datetime) -> float:
    """``count`` partitions and catalog rows from index ``start``; the seconds the partitions took."""
    from proxygen_dagster.names import PARTITION

    rows = [(f"p{i:09d}", key_of(i), "frames", "ok", (base + timedelta(seconds=i)).isoformat(), "review")
            for i in range(start, start + count)]
    with sqlite3.connect(catalog_path) as db:
        db.executemany("INSERT INTO proxy_outputs (proxy_id, s3_key, s3_bucket, status, generated_timestamp, "
                       "output_profile) VALUES (?, ?, ?, ?, ?, ?)", rows)
    t = time.perf_counter()
    for lo in range(start, start + count, CHUNK):
        instance.add_dynamic_partitions(PARTITION.frames, [key_of(i) for i in range(lo, min(lo + CHUNK, start + count))])
    return time.perf_counter() - t


def membership_ms(instance, newest: int) -> float:
    """What the S3 sensor pays per tick: which of 5,000 keys (the newest ones, as a sweep finds) are partitions."""
    from proxygen_dagster.names import PARTITION

    keys = [key_of(i) for i in range(max(0, newest - CHUNK), newest)]
    t = time.perf_counter()
    instance.get_existing_dynamic_partitions(PARTITION.frames, keys)
    return (time.perf_counter() - t) * 1000


def one_pass(instance, catalog, args) -> tuple[int, float]:
    """One retention pass's retirement: (partitions retired, seconds)."""
    from proxygen_dagster.housekeeping.retention import RetentionReport, retire_partitions

    report = RetentionReport()
    t = time.perf_counter()
    retire_partitions(instance, catalog, args.keep, args.per_pass, report)
    return report.partitions_retired, time.perf_counter() - t


def ui(port: int, label: str) -> None:
    for name, query in (("asset header (partitionStats)", HEADER_QUERY),
                        ("partitions tab (assetPartitionStatuses)", STATUS_QUERY)):
        times = [graphql(port, query)[0] for _ in range(2)]
        size = graphql(port, query)[2]
        print(f"  UI {label}: {name}: {times[0]:.2f} s cold, {times[1]:.2f} s warm, {size / 1e6:.1f} MB", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, default=1_000_000)
    parser.add_argument("--keep", type=int, default=100_000)
    parser.add_argument("--per-pass", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--per-day", type=int, default=27_400)
    parser.add_argument("--no-ui", action="store_true", help="skip the webserver's GraphQL figures")
    args = parser.parse_args()

    from proxygen_core.catalog import SQLiteCatalog
    from proxygen_core.services.postgres import start_postgres
    from proxygen_core.services.process import free_port, stop_process, wait_for_port
    from proxygen_dagster.names import PARTITION

    work = Path(tempfile.mkdtemp(prefix="proxygen-retire-"))
    work.chmod(0o755)
    pg = start_postgres(work / "pg", "bench", databases=("dagster",))
    webserver = None
    try:
        home = work / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text("storage:\n  postgres:\n    postgres_url: postgresql+psycopg2://proxygen:"
                                           f"bench@127.0.0.1:{pg.ports['postgres']}/dagster\n"
                                           "telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = str(home)
        catalog_path = work / "catalog.db"
        catalog = SQLiteCatalog(catalog_path)
        catalog.ensure()
        base = datetime(2026, 1, 1, tzinfo=UTC)
        from dagster import DagsterInstance

        with DagsterInstance.get() as instance:
            took = add(instance, catalog_path, 0, args.partitions, base)
            total = args.partitions
            print(f"{total:,} frame partitions and catalog rows; partitions added in {took:.0f} s "
                  f"({total / took:,.0f}/s); the sensor's membership of 5,000 keys {membership_ms(instance, total):.0f} ms",
                  flush=True)
            port = free_port()
            if not args.no_ui:
                log = (work / "webserver.log").open("ab")
                webserver = subprocess.Popen([str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1",
                                              "-p", str(port), "-m", "proxygen_dagster.definitions"],
                                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                wait_for_port(port, 180, webserver)
                ui(port, f"at {total:,} live")
            passes, started = 0, time.perf_counter()
            while True:
                retired, took = one_pass(instance, catalog, args)
                passes += 1
                print(f"  retirement pass {passes}: {retired:,} retired in {took:.1f} s", flush=True)
                if retired < args.per_pass or passes > 100:
                    break
            live = len(instance.get_dynamic_partitions(PARTITION.frames))
            print(f"retired to {live:,} live in {passes} pass(es), {time.perf_counter() - started:.0f} s; the sensor's "
                  f"membership of 5,000 keys {membership_ms(instance, total):.0f} ms; catalog rows "
                  f"{catalog.count('rows'):,}", flush=True)
            if webserver is not None:
                ui(port, f"at {live:,} live")
            for day in range(1, args.days + 1):
                add(instance, catalog_path, total, args.per_day, base)
                total += args.per_day
                retired, took = one_pass(instance, catalog, args)
                live = len(instance.get_dynamic_partitions(PARTITION.frames))
                print(f"  day {day}: +{args.per_day:,} frames, {retired:,} retired in {took:.1f} s, "
                      f"{live:,} live after ({args.keep + args.per_day:,} before the pass at most), catalog "
                      f"{total:,} rows; membership {membership_ms(instance, total):.0f} ms", flush=True)
            if webserver is not None:
                ui(port, f"steady state, {live:,} live")
    finally:
        if webserver is not None:
            stop_process(webserver)
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
