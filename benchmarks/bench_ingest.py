"""End-to-end ingest: upload N synthetic 2K EXRs to a local SeaweedFS and let the real sensor, daemon and
run launcher process them. Prints files/minute, wall time (first upload -> last record), every run, and
CPU-seconds per frame by process kind (run workers, code servers, daemon, storage) against the CPU per
frame of the pure render of the same frames in one process.
The daemon loads the code from one shared code server, as `proxygen local` runs it; ``--code-server
managed`` lets the daemon start (and every 60 s replace) its own, as before.
Usage: python benchmarks/bench_ingest.py [--frames 240] [--batch 24] [--code-server shared|managed]
       [--sensor-interval 2] [--followup-interval N]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from machine import describe  # benchmarks/machine.py
from proc_cpu import CpuSampler  # benchmarks/proc_cpu.py

from proxygen_core.media.samples import CHROMATICITIES, chart, write_exr
from proxygen_core.pipeline.folder import render_file
from proxygen_core.services.process import free_port, stop_process
from proxygen_core.services.seaweedfs import start_seaweedfs
from proxygen_core.settings import RenderSettings, Settings
from proxygen_dagster.names import TAG, TRIGGER


def make_frames(folder: Path, count: int, width: int = 2048, height: int = 1080) -> list[Path]:
    base, _ = chart(width, height)
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        img = base + rng.normal(0, 0.01, base.shape).astype(np.float32)
        path = folder / f"ingest.{1001 + i:04d}.exr"
        write_exr(path, img, CHROMATICITIES["ACEScg"], alpha=True)
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--code-server", choices=("shared", "managed"), default="shared")
    parser.add_argument("--sensor-interval", type=int, default=2,
                        help="seconds between sensor ticks, discovery and follow-up alike (a user's stack: 5 and 30)")
    parser.add_argument("--followup-interval", type=int, default=None, help="the follow-up sensors' own interval")
    args = parser.parse_args()
    from dagster import AssetKey, DagsterInstance

    from proxygen_dagster.launch.code_server import start_code_server
    from proxygen_dagster.launch.local import connect, local_env, prepare_home

    print("machine:", describe(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        frames = make_frames(var / "frames", args.frames)
        render_file(frames[0], var / "warm", Settings(render=RenderSettings()))  # as a run worker's 2nd frame
        t, cpu0 = time.perf_counter(), own_cpu()
        for f in frames:
            render_file(f, var / "pure", Settings(render=RenderSettings()))
        pure, pure_cpu = time.perf_counter() - t, own_cpu() - cpu0

        s3_port = free_port()
        env = local_env(var, s3_port, "ingest")
        env.update({"PROXYGEN_BATCH_SIZE": str(args.batch), "PROXYGEN_SENSOR_INTERVAL_SECONDS": str(args.sensor_interval),
                    "PROXYGEN_FOLLOWUP_SENSOR_INTERVAL_SECONDS": str(args.followup_interval or args.sensor_interval)})
        os.environ.update(env)
        weed = start_seaweedfs(var / "seaweedfs", env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], s3_port)
        daemon = code = None
        try:
            prepare_home(Path(env["DAGSTER_HOME"]))
            store = connect(env)
            target = ["-m", "proxygen_dagster.definitions"]
            if args.code_server == "shared":
                code = start_code_server(Path(env["DAGSTER_HOME"]), var / "code-server.log")
                target = ["-w", str(code.workspace)]
            daemon = subprocess.Popen([str(Path(sys.executable).with_name("dagster-daemon")), "run", *target],
                                      env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
            time.sleep(5)  # let the daemon load the code location before the clock starts
            t0 = time.time()
            with CpuSampler() as cpu:
                with ThreadPoolExecutor(4) as pool:
                    list(pool.map(lambda p: store.upload_file(p, f"bench/shot_100/{p.name}"), frames))
                uploaded = time.time() - t0
                instance = DagsterInstance.get()
                deadline = time.monotonic() + args.timeout
                done = 0
                while time.monotonic() < deadline and daemon.poll() is None:
                    done = len(instance.get_materialized_partitions(AssetKey("proxy_record")))
                    if done >= args.frames:
                        break
                    time.sleep(1)
            event = instance.get_latest_materialization_event(AssetKey("proxy_record"))
            wall = (event.timestamp if event else time.time()) - t0
            records = instance.get_run_records()
            runs = len(records)
            for r in sorted(records, key=lambda r: r.create_timestamp.timestamp()):
                created = r.create_timestamp.timestamp()
                start, end = r.start_time or created, r.end_time or created
                print(f"run {r.dagster_run.run_id[:8]} {r.dagster_run.tags.get('proxygen/keys', '1'):>3} keys: "
                      f"created +{created - t0:6.1f} s, queued {start - created:5.1f} s, ran {end - start:5.1f} s, "
                      f"{r.dagster_run.status.value} "
                      f"{r.dagster_run.tags.get('proxygen/trigger') or r.dagster_run.tags.get('dagster/sensor_name', '')} "
                      f"{r.dagster_run.tags.get('dagster/partition', '')}")
        finally:
            if daemon is not None:
                stop_process(daemon)
            if code is not None:
                code.service.stop()
                code.remove()
            weed.stop()
    follow_ups = sum(1 for r in records if r.dagster_run.tags.get(TAG.trigger) == TRIGGER.follow_upstream)
    print(f"frames {args.frames} (2048x1080 half RGBA), batch {args.batch}, code server {args.code_server}, "
          f"runs {runs} (of which follow-up runs: {follow_ups}), processed {done}")
    print(f"upload {uploaded:.1f} s; wall first upload -> last record {wall:.1f} s; "
          f"{done / wall * 60:.1f} files/min")
    per = pure_cpu / args.frames
    print(f"pure render in one process: {pure:.1f} s wall ({pure / args.frames:.3f} s/frame), "
          f"{pure_cpu:.1f} CPU-s ({per:.3f} CPU-s/frame)")
    print("CPU-seconds during the ingest, by process kind (sampled from /proc every 0.2 s):")
    for kind, (seconds, count) in sorted(cpu.by_kind().items(), key=lambda kv: -kv[1][0]):
        ratio = f", {seconds / args.frames / per:.2f}x the pure render's" if kind == "run workers" else ""
        print(f"  {kind:<20} {seconds:7.1f} CPU-s over {count:3d} processes = {seconds / args.frames:.3f} "
              f"CPU-s/frame{ratio}")
    return 0 if done >= args.frames else 1


def own_cpu() -> float:
    """This process's CPU-seconds, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
