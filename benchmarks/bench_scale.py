"""Production volume on the real instance: dynamic partitions (add, list, lookup) and catalog upserts.

Starts its own PostgreSQL (Dagster instance via dagster-postgres, and the proxygen catalog), then:
- adds N dynamic partitions to ``frames`` in chunks (what the sensor does per tick), lists them, checks one;
- upserts catalog rows in step-sized transactions (24 rows + events) and reports rows/s.
Usage: python benchmarks/bench_scale.py [--partitions 100000 1000000] [--rows 20000]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=5000, help="partitions added per call (sensor tick bound)")
    args = parser.parse_args()
    from dagster import DagsterInstance

    from proxygen_core.catalog import conform
    from proxygen_core.catalog.postgres import PostgresCatalog
    from proxygen_core.events import build_event
    from proxygen_core.keys import proxy_id
    from proxygen_core.services import postgres_dsn, start_postgres

    work = Path(tempfile.mkdtemp(prefix="proxygen-scale-"))
    work.chmod(0o755)
    password = "bench"
    pg = start_postgres(work / "pg", password, databases=("proxygen", "dagster"))
    try:
        port = pg.ports["postgres"]
        home = work / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text("storage:\n  postgres:\n    postgres_url: "
                                           f"postgresql+psycopg2://proxygen:{password}@127.0.0.1:{port}/dagster\n"
                                           "telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = str(home)
        with DagsterInstance.get() as instance:
            total = 0
            for target in sorted(args.partitions):
                name = "frames"
                before = total
                t = time.perf_counter()
                while total < target:
                    n = min(args.chunk, target - total)
                    instance.add_dynamic_partitions(name, [f"shots/sh{(total + i) // 1000:04d}/plate.{total + i:07d}.exr"
                                                           for i in range(n)])
                    total += n
                added = time.perf_counter() - t
                t = time.perf_counter()
                keys = instance.get_dynamic_partitions(name)
                listed = time.perf_counter() - t
                t = time.perf_counter()
                instance.has_dynamic_partition(name, keys[len(keys) // 2])
                has_one = time.perf_counter() - t
                print(f"partitions {len(keys):>9,}: added {total - before:,} in chunks of {args.chunk} in {added:.1f} s "
                      f"({(total - before) / max(added, 1e-9):,.0f}/s); list all {listed:.2f} s; "
                      f"has one {has_one * 1000:.1f} ms",
                      flush=True)
        catalog = PostgresCatalog(postgres_dsn("127.0.0.1", port, password, "proxygen"))
        catalog.ensure()
        t = time.perf_counter()
        for start in range(0, args.rows, 24):
            rows = []
            for i in range(start, min(start + 24, args.rows)):
                key = f"shots/sh{i // 1000:04d}/plate.{i:07d}.exr"
                rows.append({"proxy_id": proxy_id("frames", key, "review"), "s3_key": key, "s3_bucket": "frames",
                             "status": "ok", "etag": "e", "file_id": f"{i:016x}", "asset_id": f"{i:016x}",
                             "generated_timestamp": "2026-11-22T00:00:00+00:00", "render_settings_hash": "h"})
            rows = [conform(r) for r in rows]
            catalog.write(rows, [build_event(r, "spaceharbor.proxy") for r in rows])
        upsert = time.perf_counter() - t
        print(f"catalog on PostgreSQL: {args.rows:,} rows + events in transactions of 24: {upsert:.1f} s = "
              f"{args.rows / upsert:,.0f} rows/s (one connection)", flush=True)
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
