"""Production volume on the real instance: dynamic partitions, the UI's GraphQL, a sensor tick over a
bucket of 1M objects, and catalog upserts.

Starts its own PostgreSQL (Dagster instance via dagster-postgres, and the proxygen catalog), SeaweedFS and
a dagster-webserver, then:
- partitions: adds N dynamic partitions to ``frames`` in chunks (what the sensor does per tick), lists
  them, checks one; records materializations of ``proxy_record`` for some of them;
- GraphQL: times the UI's queries over HTTP (asset header counts, the partitions tab's status lists,
  one partition's materializations) at each partition count;
- sensor: fills the bucket with ``--objects`` keys, evaluates the real ``s3_new_frames`` sensor tick after
  tick over a first sweep (every object new) and a steady-state sweep (a few new objects among known
  ones): time per tick, objects listed per tick, cursor size;
- catalog: upserts rows in step-sized transactions (24 rows + events) and reports rows/s.
Usage: python benchmarks/bench_scale.py [--partitions 100000 1000000] [--objects 1000000] [--rows 20000]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Pool
from pathlib import Path

HEADER_QUERY = """{ assetNodeOrError(assetKey: {path: ["proxy_record"]}) { ... on AssetNode {
  partitionStats { numMaterialized numPartitions numFailed numMaterializing } } } }"""
STATUS_QUERY = """{ assetNodeOrError(assetKey: {path: ["proxy_record"]}) { ... on AssetNode {
  assetPartitionStatuses { ... on DefaultPartitionStatuses { materializedPartitions failedPartitions
  materializingPartitions unmaterializedPartitions } } } } }"""
ONE_QUERY = """query One($p: [String!]) { assetOrError(assetKey: {path: ["proxy_record"]}) { ... on Asset {
  assetMaterializations(partitions: $p, limit: 1) { runOrError { __typename } timestamp partition } } } }"""


def graphql(port: int, query: str, variables: dict | None = None) -> tuple[float, dict, int]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(request, timeout=900) as response:
        raw = response.read()
    elapsed = time.perf_counter() - t
    data = json.loads(raw)
    if data.get("errors"):
        raise RuntimeError(f"GraphQL errors: {data['errors'][:2]}")
    return elapsed, data["data"], len(raw)


def ui_figures(port: int, count: int, probe: str) -> None:
    """The three queries the asset page makes, cold (first) and warm (second) each."""
    for name, query, variables in (("header counts (partitionStats)", HEADER_QUERY, None),
                                   ("partitions tab (assetPartitionStatuses)", STATUS_QUERY, None),
                                   ("one partition's materializations", ONE_QUERY, {"p": [probe]})):
        times = []
        for _ in range(2):
            elapsed, data, size = graphql(port, query, variables)
            times.append(elapsed)
        node = data.get("assetNodeOrError") or data.get("assetOrError") or {}
        detail = ""
        if "partitionStats" in node:
            stats = node["partitionStats"]
            assert stats["numPartitions"] == count, stats
            detail = f" -> {stats['numMaterialized']:,} of {stats['numPartitions']:,} materialized"
        elif "assetPartitionStatuses" in node:
            statuses = node["assetPartitionStatuses"]
            detail = (f" -> {len(statuses['materializedPartitions']):,} materialized + "
                      f"{len(statuses['unmaterializedPartitions']):,} not")
        else:
            assert node["assetMaterializations"][0]["partition"] == probe
        print(f"  GraphQL at {count:,} partitions: {name}: {times[0]:.2f} s cold, {times[1]:.2f} s warm, "
              f"{size / 1e6:.1f} MB{detail}", flush=True)


def seed_slice(args: tuple[int, str, int, int, str]) -> int:
    """Zero-byte objects written through the filer's HTTP API (3.5x the S3 PUT rate here, no SigV4; the
    filer takes writes with a token signed by this server's own key only); S3 lists them like any other."""
    port, prefix, lo, hi, token = args
    local = threading.local()

    def put(i: int) -> None:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        local.conn.request("PUT", f"/buckets/{prefix}{object_key(i)}", body=b"x",
                           headers={"Authorization": f"Bearer {token}"})
        response = local.conn.getresponse()
        response.read()
        if response.status >= 300:
            raise RuntimeError(f"filer PUT {i}: HTTP {response.status}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(lo, hi)))
    return hi - lo


def object_key(i: int) -> str:
    return f"show/sh{i // 1000:04d}/plate.{i:07d}.exr"


def sweep(label: str, instance, sensor, storage, cursor: str | None, max_ticks: int) -> tuple[str | None, int]:
    """Evaluates the sensor tick after tick until its sweep ends, applying what the daemon would apply."""
    from dagster import SensorResult, build_sensor_context

    from proxygen_dagster.definitions import defs

    # the catalog and event bus record skipped objects (none here: every object is a frame)
    resources = {"storage": storage, "catalog": defs.resources["catalog"], "events": defs.resources["events"]}
    from proxygen_dagster.names import TAG

    ticks, found, times, sizes = 0, 0, [], []
    while ticks < max_ticks:
        with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as ctx:
            t = time.perf_counter()
            result = sensor(ctx)
            times.append(time.perf_counter() - t)
            if isinstance(result, SensorResult):
                for request in result.dynamic_partitions_requests:
                    instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
                found += sum(int(r.tags.get(TAG.keys, 1)) for r in result.run_requests)
                cursor = result.cursor
            else:
                cursor = ctx.cursor
        ticks += 1
        sizes.append(len(cursor or ""))
        if not json.loads(json.loads(cursor)["scan"])["after"]:
            break
    print(f"  {label}: {ticks} ticks for one sweep, {found:,} keys requested; tick {statistics.median(times):.2f} s "
          f"median, {max(times):.2f} s max, {sum(times):.0f} s in all; cursor {max(sizes):,} bytes at most",
          flush=True)
    return cursor, found


def filer_write_token(data_dir: str | os.PathLike[str], seconds: int = 3600) -> str:
    """A bearer token for the filer's HTTP writes (HS256 with the filer signing key of this server's
    security.toml, ``services/seaweedfs.write_security``), for this benchmark's bulk seeding only."""
    import base64
    import hashlib
    import hmac
    import re

    text = (Path(data_dir) / "security.toml").read_text()
    key = re.search(r'\[jwt\.filer_signing\][^\[]*?key = "([^"]+)"', text).group(1)
    def encode(raw):
        return (base64.urlsafe_b64encode(raw).rstrip(b"=").decode())
    head = encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = encode(json.dumps({"exp": int(time.time()) + seconds}).encode())
    signature = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{encode(signature)}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--materialized", type=int, default=10_000, help="partitions given a materialization")
    parser.add_argument("--objects", type=int, default=1_000_000, help="objects in the bucket for the sensor ticks")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=5000, help="partitions added per call (sensor tick bound)")
    args = parser.parse_args()

    from proxygen_core.services.postgres import postgres_dsn, start_postgres
    from proxygen_core.services.process import free_port, stop_process, wait_for_port
    from proxygen_core.services.seaweedfs import start_seaweedfs
    from proxygen_core.settings import env_name
    from proxygen_dagster.names import PARTITION
    LOCAL_ACCESS, LOCAL_SECRET = "proxygen-bench", "proxygen-bench-secret"  # noqa: N806 (this run's own server)

    work = Path(tempfile.mkdtemp(prefix="proxygen-scale-"))
    work.chmod(0o755)
    password = "bench"
    s3_port = free_port()
    bucket = "scale-bench"
    pg = start_postgres(work / "pg", password, databases=("proxygen", "dagster"))
    weed = start_seaweedfs(work / "weed", LOCAL_ACCESS, LOCAL_SECRET, s3_port, isolate=False)  # seeds via the filer port
    webserver = None
    try:
        port = pg.ports["postgres"]
        home = work / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text("storage:\n  postgres:\n    postgres_url: "
                                           f"postgresql+psycopg2://proxygen:{password}@127.0.0.1:{port}/dagster\n"
                                           "telemetry:\n  enabled: false\n")
        os.environ.update({"DAGSTER_HOME": str(home), env_name("s3_endpoint_url"): f"http://127.0.0.1:{s3_port}",
                           env_name("s3_bucket"): bucket, env_name("cache_dir"): str(work / "cache"),
                           env_name("sqlite_path"): str(work / "catalog.db"),
                           env_name("batch_settle_seconds"): "0",  # ticks run back to back here: count every key
                           "AWS_ACCESS_KEY_ID": LOCAL_ACCESS, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET})
        from dagster import AssetMaterialization, DagsterInstance

        ui_port = free_port()
        with DagsterInstance.get() as instance:
            total = 0
            for target in sorted(args.partitions):
                before = total
                t = time.perf_counter()
                while total < target:
                    n = min(args.chunk, target - total)
                    instance.add_dynamic_partitions(PARTITION.frames, [f"shots/sh{(total + i) // 1000:04d}/plate.{total + i:07d}.exr"
                                                               for i in range(n)])
                    total += n
                added = time.perf_counter() - t
                t = time.perf_counter()
                keys = instance.get_dynamic_partitions(PARTITION.frames)
                listed = time.perf_counter() - t
                t = time.perf_counter()
                instance.has_dynamic_partition(PARTITION.frames, keys[len(keys) // 2])
                has_one = time.perf_counter() - t
                t = time.perf_counter()
                instance.get_existing_dynamic_partitions(PARTITION.frames, keys[::max(1, len(keys) // 5000)][:5000])
                member = time.perf_counter() - t
                print(f"partitions {len(keys):>9,}: added {total - before:,} in chunks of {args.chunk} in {added:.1f} s "
                      f"({(total - before) / max(added, 1e-9):,.0f}/s); list all {listed:.2f} s; "
                      f"has one {has_one * 1000:.1f} ms; membership of 5,000 keys {member * 1000:.0f} ms", flush=True)
                if webserver is None:
                    t = time.perf_counter()
                    with ThreadPoolExecutor(4) as pool:
                        list(pool.map(lambda key: instance.report_runless_asset_event(
                            AssetMaterialization("proxy_record", partition=key)), keys[:args.materialized]))
                    took = time.perf_counter() - t
                    print(f"  recorded {args.materialized:,} materializations of proxy_record in {took:.1f} s "
                          f"({args.materialized / took:,.0f}/s)", flush=True)
                    log = (work / "webserver.log").open("ab")
                    webserver = subprocess.Popen([str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1",
                                                  "-p", str(ui_port), "-m", "proxygen_dagster.definitions"],
                                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                    wait_for_port(ui_port, 180, webserver)
                ui_figures(ui_port, len(keys), keys[0])
            stop_process(webserver)
            webserver = None

            if args.objects:
                from dagster_aws.s3 import S3Resource

                from proxygen_dagster.definitions import defs
                from proxygen_dagster.resources import MediaStorage

                s3_new_frames = defs.get_sensor_def("s3_new_frames")

                s3 = S3Resource(endpoint_url=f"http://127.0.0.1:{s3_port}", aws_access_key_id=LOCAL_ACCESS,
                                aws_secret_access_key=LOCAL_SECRET, region_name="us-east-1")
                storage = MediaStorage(s3=s3, bucket=bucket, cache_dir=str(work / "cache"))
                store = storage.store()
                store.client.create_bucket(Bucket=bucket)
                filer, token = weed.ports["filer.port"], filer_write_token(work / "weed")
                t = time.perf_counter()
                step = -(-args.objects // 4)
                with Pool(4) as pool:
                    pool.map(seed_slice, [(filer, f"{bucket}/", lo, min(lo + step, args.objects), token)
                                          for lo in range(0, args.objects, step)])
                print(f"sensor over a bucket of {args.objects:,} objects (seeded in {time.perf_counter() - t:.0f} s), "
                      f"max_keys_per_tick 5,000, batch 24:", flush=True)
                max_ticks = args.objects // 1000 + 10
                time.sleep(3)  # the next sweep's window starts after the seeding (LastModified has 1 s steps)
                cursor, found = sweep("first sweep (every object new)", instance, s3_new_frames, storage, None, max_ticks)
                assert found == args.objects, found
                new = [f"show/sh{(i * 7919) % max(1, args.objects // 1000):04d}/plate.new{i:03d}.exr" for i in range(100)]
                for key in new:
                    store.put_bytes(key, b"x")
                cursor, found = sweep("steady state (100 new among known)", instance, s3_new_frames, storage, cursor,
                                      max_ticks)
                assert found == len(new), found
        from proxygen_core.catalog import conform
        from proxygen_core.catalog.postgres import PostgresCatalog
        from proxygen_core.events.schema import build_event
        from proxygen_core.store.keys import proxy_id

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
        if webserver is not None:
            stop_process(webserver)
        weed.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
