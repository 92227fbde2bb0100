"""scripts/kitsu-demo.sh: a shot from the bucket to a real Kitsu, and back.

Starts PostgreSQL, Redis and zou (its own venv, .venv-zou) on loopback, then `proxygen local` with
``PROXYGEN_TRACKER=kitsu`` (its SeaweedFS, Tansu, daemon and sensors); uploads a 24-frame shot in the
version-folder layout; waits (bounded) until its review clip's publish is recorded; asks Kitsu how many revisions
the shot's task holds and downloads the stored movie to count its frames with ffprobe; stops everything it started
(by PID) and ends with one JSON line on stdout::

    {"kitsu": URL, "shot": "sh010", "revisions": 1, "preview_frames": 24, ...}

Progress goes to stderr. Exit 0 only when exactly one revision holds a movie of every frame.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from proxygen_core.media.samples import write_sequence
from proxygen_core.services.process import free_port, stop_process

SHOW, SEQUENCE, SHOT, TASK = "demo", "seq010", "sh010", "comp"
ADMIN = "admin@example.com"  # zou checks an e-mail's domain; example.com passes offline


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _frames_of(path: Path) -> int:
    done = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                           "stream=nb_read_frames", "-of", "json", str(path)], capture_output=True, text=True,
                          timeout=120, check=True)
    return int(json.loads(done.stdout)["streams"][0]["nb_read_frames"])


def run_demo(var: Path, frames: int = 24, timeout: float = 600.0, size: tuple[int, int] = (640, 360)) -> dict:
    from proxygen_core.services.postgres import start_postgres
    from proxygen_core.services.redis import start_redis
    from proxygen_core.services.zou import start_zou

    started: list = []
    stack = None
    try:
        pg_password, redis_password, kitsu_password = (secrets.token_urlsafe(18) for _ in range(3))
        t0 = time.monotonic()
        postgres = start_postgres(var / "postgres", pg_password, databases=("proxygen",))
        started.append(postgres)
        redis = start_redis(var / "redis", redis_password)
        started.append(redis)
        zou = start_zou(var / "zou", ("127.0.0.1", postgres.ports["postgres"], pg_password),
                        ("127.0.0.1", redis.ports["redis"], redis_password), ADMIN, kitsu_password)
        started.append(zou)
        _log(f"zou {zou.url} (PostgreSQL :{postgres.ports['postgres']}, Redis :{redis.ports['redis']}) in "
             f"{time.monotonic() - t0:.0f} s")
        ports = {"ui": free_port(), "s3": free_port(), "kafka": free_port()}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROXYGEN_")}
        env.update(PROXYGEN_TRACKER="kitsu", PROXYGEN_KITSU_URL=zou.url, PROXYGEN_KITSU_USER=ADMIN,
                   PROXYGEN_KITSU_PASSWORD=kitsu_password, PROXYGEN_TRACKER_CREATE="true",
                   PROXYGEN_CLIP_SETTLE_SECONDS="3", XDG_CONFIG_HOME=str(var / "config"))
        stack_var = var / "stack"
        log_path = var / "stack.log"
        with log_path.open("wb") as log:
            stack = subprocess.Popen([str(Path(sys.executable).with_name("proxygen")), "local", "--var",
                                      str(stack_var), "--no-samples", "--port", str(ports["ui"]), "--s3-port",
                                      str(ports["s3"]), "--kafka-port", str(ports["kafka"])], env=env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while b"Dagster UI:" not in log_path.read_bytes():
            if stack.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"proxygen local did not start: {log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
        _log(f"proxygen local: Dagster UI on http://127.0.0.1:{ports['ui']}")
        from proxygen_dagster.launch.local import connect, local_env

        store = connect(local_env(stack_var, ports["s3"], "frames"))
        base = f"shows/{SHOW}/{SEQUENCE}/{SHOT}/{TASK}/v001/{SHOT}_{TASK}_v001"
        for path in write_sequence(var / "frames", frames=frames, width=size[0], height=size[1]):
            store.upload_file(path, f"{base}.{path.name.split('.')[1]}.exr")
        _log(f"uploaded {frames} frames to s3://{store.bucket}/{base}.####.exr")
        row = _wait_publish(stack_var / "catalog.db", f"{base}.####.exr", deadline, stack)
        _log(f"clip {row.clip_id}: tracker {row.tracker_status} {row.tracker_url or row.tracker_error}")
        return {**_kitsu_facts(zou.url, kitsu_password, var), "tracker_status": row.tracker_status,
                "tracker_url": row.tracker_url, "tracker_error": row.tracker_error,
                "seconds": round(time.monotonic() - t0, 1)}
    finally:
        if stack is not None:
            stop_process(stack, grace=60)
        for service in reversed(started):
            service.stop()


def _wait_publish(catalog_path: Path, pattern: str, deadline: float, stack: subprocess.Popen):
    from proxygen_core.catalog import SQLiteCatalog

    while time.monotonic() < deadline:
        if stack.poll() is not None:
            raise RuntimeError(f"proxygen local exited ({stack.returncode}) before the publish")
        if catalog_path.exists():
            for row in SQLiteCatalog(catalog_path).clips(50):
                if row.sequence == pattern and row.tracker_status in ("published", "failed"):
                    return row
        time.sleep(1.0)
    raise RuntimeError(f"{pattern}: no publish recorded in time")


def _kitsu_facts(url: str, password: str, var: Path) -> dict:
    """What Kitsu holds for the shot's task, read back through gazu: revisions, and the stored movie's frames."""
    import gazu

    from proxygen_core.trackers.kitsu import open_kitsu

    c = open_kitsu(url, ADMIN, password).client
    project = gazu.project.get_project_by_name(SHOW, client=c)
    shot = gazu.shot.get_shot_by_name(gazu.shot.get_sequence_by_name(project, SEQUENCE, client=c), SHOT, client=c)
    task = gazu.task.get_task_by_entity(shot, gazu.task.get_task_type_by_name("Compositing", client=c), client=c)
    movies = [f for f in gazu.files.get_all_preview_files_for_task(task, client=c) if f["position"] == 1]
    preview_frames = 0
    if movies:
        stored = var / "stored.mp4"
        gazu.files.download_preview_movie(movies[0]["id"], str(stored), client=c)
        preview_frames = _frames_of(stored)
    return {"kitsu": url, "shot": SHOT, "revisions": len(movies), "preview_frames": preview_frames}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kitsu-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for the whole demo (bounded)")
    parser.add_argument("--keep", action="store_true", help="keep the demo's folder (logs, data)")
    args = parser.parse_args(argv)
    var = Path(tempfile.mkdtemp(prefix="proxygen-kitsu-demo-"))
    os.chmod(var, 0o755)  # PostgreSQL runs as its own user and must reach its folder
    try:
        facts = run_demo(var, args.frames, args.timeout)
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(var, ignore_errors=True)
        else:
            _log(f"kept {var}")
    print(json.dumps(facts))
    return 0 if facts["revisions"] == 1 and facts["preview_frames"] == args.frames else 1


if __name__ == "__main__":
    sys.exit(main())
