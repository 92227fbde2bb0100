"""What completing part-way chains costs per tick as the frames partitions grow: the follow_upstream sensor
against Dagster's automation sensor with eager() on the frame assets (what the pipeline used before issue 20),
in one run, on the same instance.

A throwaway SQLite Dagster instance gets N dynamic ``frames`` partitions, a tenth of them with the whole chain
materialized (runless events, as finished batches leave them), and one key with source_frame alone (a real
run of that asset only). Each
approach then ticks three times (the first builds its cursor): wall and CPU per tick, requests made.
    .venv/bin/python benchmarks/bench_follow.py [--partitions 1000 10000 20000]
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
    parser.add_argument("--partitions", type=int, nargs="+", default=[1000, 10_000, 20_000])
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
            from dagster._core.definitions.partitions.context import partition_loading_context

            from proxygen_dagster.definitions import defs
            from proxygen_dagster.names import PARTITION

            instance = dg.DagsterInstance.get()
            keys = [f"shot/f.{i:07d}.exr" for i in range(n)]
            for i in range(0, n, 10_000):
                instance.add_dynamic_partitions(PARTITION.frames, keys[i:i + 10_000])
            chain = defs.get_assets_def("source_frame")
            eager = dg.Definitions(assets=[chain.map_asset_specs(
                lambda spec: spec.replace_attributes(automation_condition=dg.AutomationCondition.eager())
                if spec.deps else spec)], resources=defs.resources)
            sensor = defs.resolve_sensor_def("follow_upstream")
            cursors: dict[str, object] = {"eager": None, "follow_upstream": None}

            def tick(name: str) -> int:
                if name == "eager":
                    result = dg.evaluate_automation_conditions(defs=eager, instance=instance,
                                                               cursor=cursors[name])
                    cursors[name] = result.cursor
                    return result.total_requested
                with dg.build_sensor_context(instance=instance, cursor=cursors[name], definitions=defs) as ctx, \
                        partition_loading_context(dynamic_partitions_store=instance):
                    result = sensor.evaluate_tick(ctx)
                cursors[name] = result.cursor
                return len(result.run_requests or [])

            for name in cursors:
                tick(name)  # first tick: cursors start
            for asset in ("source_frame", "working_frame", "thumbnail", "proxy", "proxy_record"):
                for key in keys[: n // 10]:
                    instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=key))
            # one key's source_frame materialized alone, by a real run (as from the UI)
            from proxygen_dagster.partitions import frames

            @dg.asset(name="source_frame", partitions_def=frames)
            def source_alone():
                return dg.MaterializeResult()

            assert dg.materialize([source_alone], instance=instance, partition_key=keys[-1]).success
            for t in range(args.ticks):
                for name in cursors:
                    w, c = time.perf_counter(), cpu()
                    requested = tick(name)
                    print(f"{n:>7} partitions, {name:<16} tick {t + 1}: {time.perf_counter() - w:6.2f} s wall, "
                          f"{cpu() - c:6.2f} CPU-s, {requested} requested", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
