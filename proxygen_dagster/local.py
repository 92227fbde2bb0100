"""The main job on embedded defaults: SeaweedFS + Dagster (webserver and daemon) on loopback.

``proxygen local`` starts everything, uploads the generated sample sequence and leaves the UI open
until Ctrl-C, then stops every process it started. ``proxygen local --once`` is the headless variant:
it processes what is in the bucket once (sensor evaluations + in-process runs) and exits.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from proxygen_core.samples import write_sequence
from proxygen_core.services import Service, start_seaweedfs, start_tansu, stop_process, wait_for_port
from proxygen_core.settings import env_name
from proxygen_core.storage import ObjectStore, s3_client

LOCAL_ACCESS = "proxygen-local"
LOCAL_SECRET = "proxygen-local-secret"
INSTANCE_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"


def prepare_home(home: Path) -> None:
    """Create DAGSTER_HOME and its SQLite schema once, before several processes touch it."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if INSTANCE_YAML.exists():
        shutil.copyfile(INSTANCE_YAML, target)
    elif not target.exists():
        target.write_text("telemetry:\n  enabled: false\n")
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)):
        pass


def local_env(var: Path, s3_port: int, bucket: str, kafka_port: int | None = None) -> dict[str, str]:
    env = {
        env_name("s3_endpoint_url"): f"http://127.0.0.1:{s3_port}",
        env_name("s3_bucket"): bucket,
        env_name("cache_dir"): str(var / "cache"),
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", LOCAL_ACCESS),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET),
        "DAGSTER_HOME": str(var / "dagster"),
        "PROXYGEN_ENV": "local",
        env_name("sqlite_path"): str(var / "catalog.db"),
    }
    if kafka_port:
        env[env_name("kafka_bootstrap")] = f"127.0.0.1:{kafka_port}"
    return env


def connect(env: dict[str, str], timeout: float = 30.0) -> ObjectStore:
    store = ObjectStore(s3_client(env[env_name("s3_endpoint_url")], access_key_id=env["AWS_ACCESS_KEY_ID"],
                                  secret_access_key=env["AWS_SECRET_ACCESS_KEY"]), env[env_name("s3_bucket")],
                        env[env_name("cache_dir")])
    deadline = time.monotonic() + timeout
    while True:
        try:
            store.ensure_bucket()
            return store
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def upload_samples(store: ObjectStore, var: Path, frames: int, prefix: str = "renders/shot_010") -> list[str]:
    keys = []
    for path in write_sequence(var / "samples", frames=frames):
        key = f"{prefix}/{path.name}"
        if not store.exists(key):
            store.upload_file(path, key)
        keys.append(key)
    return keys


def process_once(max_ticks: int = 1000) -> tuple[int, int]:
    """Headless: evaluate the sensor until it finds nothing new, running each request in-process."""
    from dagster import DagsterInstance, SensorResult, build_sensor_context

    from .definitions import defs
    from .sensors import s3_new_frames

    instance = DagsterInstance.get()
    cursor_file = Path(os.environ["DAGSTER_HOME"]) / "headless.cursor"
    cursor = cursor_file.read_text() if cursor_file.exists() else None
    job = defs.resolve_job_def("proxygen_frames")
    ok = failed = 0
    for _ in range(max_ticks):
        with build_sensor_context(instance=instance, cursor=cursor,
                                  resources={"storage": defs.resources["storage"]}) as ctx:
            result = s3_new_frames(ctx)
        if not isinstance(result, SensorResult):
            break
        for request in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions("frames", list(request.partition_keys))
        for request in result.run_requests:
            run = job.execute_in_process(instance=instance, partition_key=request.partition_key,
                                         tags=dict(request.tags), raise_on_error=False)
            ok += run.success
            failed += not run.success
            print(f"run {run.run_id[:8]} {'ok' if run.success else 'FAILED'} "
                  f"({request.tags.get('proxygen/keys', '1')} keys from {request.tags.get('dagster/asset_partition_range_start', request.partition_key)})",
                  flush=True)
        cursor = result.cursor
        cursor_file.write_text(cursor or "")
    return ok, failed


def run_local(var: str = "var", once: bool = False, frames: int = 12, port: int = 3000, s3_port: int = 8333,
              bucket: str = "frames", samples: bool = True, kafka_port: int = 9092) -> int:
    root = Path(var).resolve()
    services: list[Service | subprocess.Popen] = []
    try:
        broker = start_tansu(root / "tansu", kafka_port)
        services.append(broker)
        env = local_env(root, s3_port, bucket, kafka_port)
        os.environ.update(env)
        print(f"Tansu Kafka on 127.0.0.1:{kafka_port} (events topic {os.environ.get(env_name('event_topic'), 'spaceharbor.proxy')})",
              flush=True)
        weed = start_seaweedfs(root / "seaweedfs", env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], s3_port)
        services.append(weed)
        print(f"SeaweedFS S3 on http://127.0.0.1:{s3_port} (bucket {bucket}, data in {root / 'seaweedfs'})", flush=True)
        prepare_home(Path(env["DAGSTER_HOME"]))
        store = connect(env)
        if samples:
            keys = upload_samples(store, root, frames)
            print(f"uploaded {len(keys)} sample frames to s3://{bucket}/renders/shot_010/", flush=True)
        if once:
            ok, failed = process_once()
            from proxygen_core.catalog import open_catalog
            from proxygen_core.events import publish_pending, producer_config
            from proxygen_core.settings import load_settings

            settings = load_settings()
            report = publish_pending(open_catalog(settings.catalog), producer_config(settings.events.kafka_bootstrap))
            print(f"{ok} runs ok, {failed} failed; catalog {settings.catalog.sqlite_path}; "
                  f"{report.sent} waiting events published", flush=True)
            return 1 if failed else 0
        bin_dir = Path(sys.executable).parent
        module = ["-m", "proxygen_dagster.definitions"]
        web = subprocess.Popen([str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), *module],
                               env={**os.environ}, start_new_session=True)
        services.append(web)
        daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", *module], env={**os.environ},
                                  start_new_session=True)
        services.append(daemon)
        wait_for_port(port, 120, web)
        print(f"Dagster UI: http://127.0.0.1:{port}/asset-groups  (sensor s3_new_frames is on; Ctrl-C stops all)",
              flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all((s.proc if isinstance(s, Service) else s).poll() is None for s in services):
            time.sleep(1)
        print("a service exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping", flush=True)
        return 0
    finally:
        for s in reversed(services):
            s.stop() if isinstance(s, Service) else stop_process(s)
