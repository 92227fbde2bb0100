"""What Dagster's automation sensor costs per tick as the frames partitions grow.

A throwaway SQLite Dagster instance gets N dynamic ``frames`` partitions, a tenth of them with the whole
chain materialized (runless events, as a finished batch leaves them); then the automation conditions of the
code location (``eager()`` on the frame assets) are evaluated tick after tick, as the daemon's
``proxygen_automation`` sensor does every ``PROXYGEN_AUTOMATION_INTERVAL_SECONDS``: wall and CPU per tick.
    .venv/bin/python benchmarks/bench_automation.py [--partitions 10000 100000]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--ticks", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import describe

    print("machine:", describe(), flush=True)
    for n in args.partitions:
        with tempfile.TemporaryDirectory() as home:
            os.environ["DAGSTER_HOME"] = home
            Path(home, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            import dagster as dg

            from proxygen_dagster.definitions import defs

            instance = dg.DagsterInstance.get()
            keys = [f"shot/f.{i:07d}.exr" for i in range(n)]
            for i in range(0, n, 10_000):
                instance.add_dynamic_partitions("frames", keys[i:i + 10_000])
            done = keys[: n // 10]
            for asset in ("source_frame", "working_frame", "thumbnail", "proxy", "proxy_record"):
                for key in done:
                    instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=key))
            cursor = None
            for tick in range(args.ticks):
                t, c = time.perf_counter(), cpu()
                result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
                cursor = result.cursor
                print(f"{n:>8} partitions ({len(done)} done): tick {tick + 1} {time.perf_counter() - t:6.2f} s wall, "
                      f"{cpu() - c:6.2f} CPU-s, requested {result.total_requested}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
