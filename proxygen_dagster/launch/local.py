"""The main job on embedded defaults: SeaweedFS, Tansu and Dagster (one code server, webserver, daemon) on loopback.

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
from collections.abc import Callable
from pathlib import Path
from typing import cast

from proxygen_core.media.samples import write_sequence
from proxygen_core.services.process import Service, stop_processes, wait_for_port
from proxygen_core.services.seaweedfs import SeaweedService, start_seaweedfs
from proxygen_core.services.tansu import S3Storage, start_tansu
from proxygen_core.settings import deployment, env_name, instance_file
from proxygen_core.store.cache import sweep
from proxygen_core.store.s3 import ObjectStore, s3_client
from proxygen_dagster.launch.code_server import CodeServer, start_code_server
from proxygen_dagster.names import JOB, PARTITION, SENSOR, TAG

CREDENTIALS_FILE = "s3-credentials"  # in the var folder, 0600: this stack's own S3 keys, made at its first start
KAFKA_BUCKET = "proxygen-kafka"  # the local broker's log, on the local SeaweedFS: it survives restarts
UI_TOKEN_FILE = "ui-token"  # in the var folder, 0600: the Dagster UI's token of the running stack
MAX_RESTARTS = 5  # per service and per 10 minutes; past that the local run gives up and stops everything


def prepare_home(home: Path) -> None:
    """Create DAGSTER_HOME and its SQLite schema once, before several processes touch it."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if instance_file().exists():
        shutil.copyfile(instance_file(), target)
    elif not target.exists():
        target.write_text("telemetry:\n  enabled: false\n")
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)):
        pass


def local_credentials(var: Path) -> tuple[str, str]:
    """This stack's S3 keys: random, made at its first start and kept in a file only this user can read.

    Why not fixed values: the S3 port is the one SeaweedFS port another local user can reach, and SigV4 with keys
    printed in the README would let anyone on the machine delete the bucket through it.
    """
    path = var / CREDENTIALS_FILE
    if not path.exists():
        import secrets

        var.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"proxygen-{secrets.token_hex(6)}\n{secrets.token_urlsafe(30)}\n")
    access, secret = path.read_text().split()
    return access, secret


def local_env(var: Path, s3_port: int, bucket: str, kafka_port: int | None = None, s3_endpoint: str | None = None,
              kafka_bootstrap: str | None = None) -> dict[str, str]:
    """The environment of the local run. Its own SeaweedFS gets this stack's own keys (``local_credentials``; a
    user's real AWS keys are never handed to it or printed); an existing endpoint uses the AWS_* variables."""
    if s3_endpoint and not (os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY")):
        raise ValueError("--s3-endpoint needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
    access, secret = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]) if s3_endpoint \
        else local_credentials(var)
    env = {
        env_name("s3_endpoint_url"): s3_endpoint or f"http://127.0.0.1:{s3_port}",
        env_name("s3_bucket"): bucket,
        env_name("cache_dir"): str(var / "cache"),
        "AWS_ACCESS_KEY_ID": access,
        "AWS_SECRET_ACCESS_KEY": secret,
        "DAGSTER_HOME": str(var / "dagster"),
        "PROXYGEN_ENV": deployment(),  # production: the same run against real services
        env_name("sqlite_path"): str(var / "catalog.db"),
        # frames arrive together here: build a sequence's clip 5 s after its last frame, not 30 s
        env_name("clip_settle_seconds"): os.environ.get(env_name("clip_settle_seconds"), "5"),
    }
    if kafka_bootstrap or kafka_port:
        env[env_name("kafka_bootstrap")] = kafka_bootstrap or f"127.0.0.1:{kafka_port}"
    return env


def connect(env: dict[str, str], timeout: float = 30.0) -> ObjectStore:
    store = ObjectStore(s3_client(env[env_name("s3_endpoint_url")], access_key_id=env["AWS_ACCESS_KEY_ID"],
                                  secret_access_key=env["AWS_SECRET_ACCESS_KEY"]), env[env_name("s3_bucket")],
                        env[env_name("cache_dir")])
    return store.wait_ready(timeout)


def upload_samples(store: ObjectStore, var: Path, frames: int, prefix: str = "renders/shot_010") -> list[str]:
    """Upload the sample frames the bucket does not have yet; returns the keys uploaded now."""
    uploaded = []
    for path in write_sequence(var / "samples", frames=frames):
        key = f"{prefix}/{path.name}"
        if not store.exists(key):
            store.upload_file(path, key)
            uploaded.append(key)
    return uploaded


def write_pointer(env: dict[str, str], var: Path, ports: dict[str, int]) -> Path:
    """Tell `proxygen records/events/clips/dailies` where this stack keeps its catalog and bucket: a stack file in
    its own var folder (found from any folder inside the checkout) and a copy as the account's pointer (the last
    stack started, for folders outside every stack). report.LocalStack says why both."""
    import yaml

    from proxygen_core.report import SETTINGS_FILE, STACK_FILE, local_pointer

    settings = var / SETTINGS_FILE
    settings.write_text(yaml.safe_dump({
        "catalog": {"sqlite_path": env[env_name("sqlite_path")]},
        "storage": {"s3_endpoint_url": env[env_name("s3_endpoint_url")], "s3_bucket": env[env_name("s3_bucket")]},
    }))
    text = yaml.safe_dump({"var": str(var), "settings": str(settings), "ports": ports}, sort_keys=False)
    (var / STACK_FILE).write_text(text)
    pointer = local_pointer()
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_text(text)
    return pointer


def write_ui_token(var: Path) -> str:
    """A new token for the UI (launch/webserver.py), in a file only this user can read."""
    import secrets

    token = secrets.token_urlsafe(24)
    path = var / UI_TOKEN_FILE
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    return token


def spawn(name: str, args: list[str], log: Path, port: int | None = None, timeout: float = 120.0) -> Service:
    """A Dagster process (webserver, daemon) as a restartable Service, in its own process group."""
    with log.open("ab") as fh:
        proc = subprocess.Popen(args, env={**os.environ}, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    service = Service(proc, log, {name: port} if port else {},
                      lambda: spawn(name, args, log, port, timeout))
    return service.wait_ready(f"the Dagster {name}", lambda: wait_for_port(port, timeout, proc)) if port else service


def supervise(services: dict[str, Service], poll: float = 1.0, until: Callable[[], bool] = lambda: False) -> int:
    """Restart any service that exits (same ports, same data) until Ctrl-C (or ``until()``); give up on a
    crash loop."""
    restarts: dict[str, list[float]] = {name: [] for name in services}
    while not until():
        time.sleep(poll)
        for name, service in list(services.items()):
            code = service.proc.poll()
            if code is None:
                continue
            now = time.monotonic()
            recent = [t for t in restarts[name] if now - t < 600]
            if len(recent) >= MAX_RESTARTS or service.start_again is None:
                print(f"{name} exited with {code} {len(recent)} times in 10 minutes; stopping everything "
                      f"(log: {service.log})", file=sys.stderr, flush=True)
                return 1
            print(f"{name} exited with {code}; restarting it (log: {service.log})", file=sys.stderr, flush=True)
            try:
                services[name] = service.start_again()
            except Exception as exc:  # the next poll sees it still down and counts another try
                print(f"{name} did not restart: {exc}", file=sys.stderr, flush=True)
            restarts[name] = recent + [now]
    return 0


def process_once(max_ticks: int = 1000) -> tuple[int, int]:
    """Headless: evaluate the frames sensor until it finds nothing new, then the sequence sensor, running
    each request in-process (frames first, then the clips of the sequences they completed, then, with a tracker,
    their publish)."""
    from dataclasses import replace

    from dagster import DagsterInstance

    from proxygen_core.settings import load_settings
    from proxygen_dagster.definitions import build_definitions

    # Headless, once: what is in the bucket now is the whole burst, and every frame of it has finished when
    # the clips are asked for, so nothing is held for a burst or a sequence to settle.
    settings = load_settings()
    settings = replace(settings, pipeline=replace(settings.pipeline, batch_settle_seconds=0, clip_settle_seconds=0))
    defs = build_definitions(settings, deployment())
    instance = DagsterInstance.get()
    home = Path(os.environ["DAGSTER_HOME"])
    ok = failed = 0
    drains = [
        (SENSOR.s3_new_frames, JOB.frames, PARTITION.frames, ("storage", "catalog", "events"), "headless.cursor"),
        (SENSOR.sequence_clips, JOB.clips, PARTITION.sequences, ("storage",), "headless.clips.cursor")]
    if settings.trackers.enabled:  # then the publish of the clips just built (docs/trackers.md)
        drains.append((SENSOR.tracker_publisher, JOB.publish, PARTITION.sequences, ("catalog",),
                       "headless.publish.cursor"))
    for sensor_name, job_name, partitions, resources, cursor_name in drains:
        o, f = _drain_sensor(defs, instance, sensor_name, job_name, partitions, resources, home / cursor_name,
                             max_ticks)
        ok, failed = ok + o, failed + f
    return ok, failed


def _drain_sensor(defs, instance, sensor_name: str, job_name: str, partitions: str, resources: tuple[str, ...],
                  cursor_file: Path, max_ticks: int) -> tuple[int, int]:
    """Tick one sensor until it asks for nothing more (at most ``max_ticks``), running its requests."""
    from dagster import SensorResult, build_sensor_context

    sensor = next(s for s in defs.sensors if s.name == sensor_name)
    job = defs.resolve_job_def(job_name)
    cursor = cursor_file.read_text() if cursor_file.exists() else None
    ok = failed = 0
    for _ in range(max_ticks):
        with build_sensor_context(instance=instance, cursor=cursor,
                                  resources={k: defs.resources[k] for k in resources}) as ctx:
            result = sensor(ctx)
        if not isinstance(result, SensorResult) or not (result.run_requests or result.dynamic_partitions_requests):
            break
        for added in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(partitions, list(added.partition_keys))
        for request in result.run_requests or []:
            run = job.execute_in_process(instance=instance, partition_key=request.partition_key,
                                         tags=dict(request.tags), raise_on_error=False,
                                         # INFO: not a DEBUG line per materialization on the terminal
                                         run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}})
            ok += run.success
            failed += not run.success
            first = request.tags.get(TAG.range_start, request.partition_key)
            print(f"run {run.run_id[:8]} {'ok' if run.success else 'FAILED'} ({job_name}: "
                  f"{request.tags.get(TAG.keys, '1')} keys from {first})", flush=True)
        cursor = result.cursor
        cursor_file.write_text(cursor or "")
    return ok, failed


def run_local(var: str = "var", once: bool = False, frames: int = 12, port: int = 3000, s3_port: int = 8333,
              bucket: str = "frames", samples: bool = True, kafka_port: int = 9092, s3_endpoint: str | None = None,
              kafka_bootstrap: str | None = None) -> int:
    """The main job on embedded defaults; ``s3_endpoint`` / ``kafka_bootstrap`` use a team's existing S3 and
    Kafka instead of starting SeaweedFS / Tansu."""
    root = Path(var).resolve()
    services: dict[str, Service] = {}
    code: CodeServer | None = None
    if not once:
        # From the first moment, so a signal during start-up stops what was started too. SIGINT as well: a
        # shell starts background jobs with SIGINT ignored, and Python then installs no handler of its own.
        def stop(*_):
            return ((_ for _ in ()).throw(KeyboardInterrupt()))
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    try:
        env = local_env(root, s3_port, bucket, kafka_port, s3_endpoint, kafka_bootstrap)
        os.environ.update(env)
        endpoint = env[env_name("s3_endpoint_url")]
        if s3_endpoint:
            print(f"using S3 at {endpoint}, bucket {bucket} (credentials from AWS_ACCESS_KEY_ID / "
                  "AWS_SECRET_ACCESS_KEY)", flush=True)
        else:
            services["seaweedfs"] = start_seaweedfs(root / "seaweedfs", env["AWS_ACCESS_KEY_ID"],
                                                    env["AWS_SECRET_ACCESS_KEY"], s3_port)
            print(f"SeaweedFS S3 on {endpoint}  bucket {bucket}  AWS_ACCESS_KEY_ID={env['AWS_ACCESS_KEY_ID']}  "
                  f"AWS_SECRET_ACCESS_KEY={env['AWS_SECRET_ACCESS_KEY']}  (this stack's own keys, kept in "
                  f"{root / CREDENTIALS_FILE}; data in "
                  f"{root / 'seaweedfs'})", flush=True)
            weed = cast(SeaweedService, services["seaweedfs"])
            print(f"WARNING: {weed.exposure} (no private network namespace could be made; docs/pipeline.md, "
                  "Storage)" if weed.exposure else "storage: only S3 (signed requests) is reachable; SeaweedFS's "
                  "other ports are in a private network namespace", flush=True)
        store = connect(env)
        topic = os.environ.get(env_name("event_topic"), "spaceharbor.proxy")
        if kafka_bootstrap:
            print(f"using Kafka at {kafka_bootstrap} (events topic {topic})", flush=True)
        else:
            ObjectStore(store.client, KAFKA_BUCKET).ensure_bucket()
            services["tansu"] = start_tansu(root / "tansu", kafka_port, storage=S3Storage(
                endpoint, KAFKA_BUCKET, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]))
            print(f"Tansu Kafka on 127.0.0.1:{kafka_port} (events topic {topic}; log kept in "
                  f"s3://{KAFKA_BUCKET}/)", flush=True)
            print("WARNING: the local Kafka broker (Tansu) is open to local users: any topic can be read or "
                  "written; production must use SASL_SSL (docs/pipeline.md, Storage)", flush=True)
        prepare_home(Path(env["DAGSTER_HOME"]))
        swept = sweep(root / "cache")  # what killed run workers of an earlier start left (store/cache.py)
        if swept:
            print(f"removed {len(swept)} cache folders of run workers that are gone", flush=True)
        write_pointer(env, root, {"ui": port, "s3": s3_port, "kafka": kafka_port} if not once else
                      {"s3": s3_port, "kafka": kafka_port})
        if samples:
            new = upload_samples(store, root, frames)
            print(f"uploaded {len(new)} new sample frames to s3://{bucket}/renders/shot_010/"
                  if new else f"sample frames already in s3://{bucket}/renders/shot_010/", flush=True)
        if once:
            ok, failed = process_once()

            from proxygen_core.catalog import open_catalog
            from proxygen_core.events.outbox import Publisher
            from proxygen_core.settings import load_settings

            settings = load_settings()
            report = Publisher.from_settings(settings.events).drain(open_catalog(settings.catalog))
            print(f"{ok} runs ok, {failed} failed; catalog {settings.catalog.sqlite_path}; "
                  f"{report.sent if report else 0} waiting events published", flush=True)
            return 1 if failed else 0
        bin_dir = Path(sys.executable).parent
        logs = root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        code = start_code_server(Path(env["DAGSTER_HOME"]), logs / "code-server.log")
        services["dagster-code-server"] = code.service
        token = write_ui_token(root)
        services["dagster-webserver"] = spawn("webserver", [
            sys.executable, "-m", "proxygen_dagster.launch.webserver", "--host", "127.0.0.1", "--port", str(port),
            "--workspace", str(code.workspace), "--token-file", str(root / UI_TOKEN_FILE)],
            logs / "webserver.log", port)
        services["dagster-daemon"] = spawn("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w",
                                                      str(code.workspace)], logs / "daemon.log")
        print(f"Dagster UI: http://127.0.0.1:{port}/asset-groups?token={token}  (the token is new at every start and "
              f"guards the UI from other local users; sensor s3_new_frames is on; logs in {logs}; Ctrl-C stops all)",
              flush=True)
        return supervise(services)
    except KeyboardInterrupt:
        print("stopping", flush=True)
        return 0
    finally:
        stop_stack(services)
        if code is not None:
            code.remove()


def stop_stack(services: dict[str, Service]) -> None:
    """Dagster's processes first, then the broker, then the object store: the broker keeps its log in the
    store, and the daemon's runs write to both. Each stage at once, so Ctrl-C takes seconds, not the sum."""
    last = ("tansu", "seaweedfs")
    for stage in ([name for name in services if name not in last], *([name] for name in last)):
        stop_processes([services[name].proc for name in stage if name in services])
