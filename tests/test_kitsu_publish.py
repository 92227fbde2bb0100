"""Issue 29's acceptance, through the whole stack: `proxygen local` (its daemon, sensors, SeaweedFS) publishing to a
real zou started for the test. A 24-frame shot becomes exactly one Kitsu revision whose movie, downloaded back,
ffprobe decodes to 24 frames, with the poster as the shot's thumbnail; the same object delivered again, a forced
re-publish and a restart of the stack add nothing; zou stopped during a publish leaves the clip pending and it is
published once zou is back; a wrong password is a failed publish with that cause and the frames are untouched."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import gazu
import numpy as np
import pytest

from proxygen_core.catalog import SQLiteCatalog
from proxygen_core.report import SETTINGS_FILE
from proxygen_core.rows import ClipRow
from proxygen_core.trackers.kitsu import open_kitsu

from .formats import chart_exr
from .local_stack import LocalStack, start_local
from .test_kitsu_tracker import ffprobe_frames, read_picture

pytestmark = [pytest.mark.services, pytest.mark.slow]

# zou checks an e-mail's domain: example.com passes offline
KITSU_EMAIL, KITSU_PASSWORD = "admin@example.com", "proxygen-e2e-kitsu"


@pytest.fixture
def zou(postgres_server, tmp_path_factory):
    """A zou of this test's own (its own database and Redis: two zous on one Redis serve each other's memoized
    rows, services/zou.py): the test stops and restarts it."""
    from proxygen_core.services.process import ServiceError
    from proxygen_core.services.zou import start_zou, zou_venv

    from .conftest import PG_PASSWORD

    try:
        zou_venv()
    except ServiceError as exc:
        pytest.skip(str(exc))
    folder, database = tmp_path_factory.mktemp("zou"), f"zou_{uuid.uuid4().hex[:8]}"
    args = (folder, ("127.0.0.1", postgres_server.ports["postgres"], PG_PASSWORD), None, KITSU_EMAIL, KITSU_PASSWORD)
    zou = _Zou(start_zou(*args, database=database), lambda port: start_zou(*args, port=port, database=database))
    try:
        yield zou
    finally:
        zou.stop()


class _Zou:
    """The test's zou: stopped by PID and started again on the same port, folder, database and secret."""

    def __init__(self, server, again) -> None:
        self.server, self._again = server, again
        self.url = server.url

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        self.server = self._again(self.server.port)


def _start(folder: Path, env: dict[str, str], ports: dict[str, int] | None = None) -> LocalStack:
    folder.mkdir(parents=True, exist_ok=True)
    return start_local(folder, env, ports=ports)


def _env(zou, password: str = KITSU_PASSWORD) -> dict[str, str]:
    return {"PROXYGEN_TRACKER": "kitsu", "PROXYGEN_KITSU_URL": zou.url, "PROXYGEN_KITSU_USER": KITSU_EMAIL,
            "PROXYGEN_KITSU_PASSWORD": password, "PROXYGEN_TRACKER_CREATE": "true",
            "PROXYGEN_TRACKER_RETRY_SECONDS": "2", "PROXYGEN_TRACKER_RETRY_MAX_SECONDS": "4",
            "PROXYGEN_CLIP_SETTLE_SECONDS": "2", "PROXYGEN_SENSOR_INTERVAL_SECONDS": "2",
            "PROXYGEN_FOLLOWUP_SENSOR_INTERVAL_SECONDS": "2"}


def _upload(stack: LocalStack, folder: Path, show: str, version: int, frames: int) -> tuple[str, list[str]]:
    """A shot's frames in the version-folder layout; returns (the sequence pattern, the keys)."""
    store = stack.store()
    base = f"shows/{show}/seq010/sh010/comp/v{version:03d}/sh010_comp_v{version:03d}"
    keys = []
    for number in range(1001, 1001 + frames):
        key = f"{base}.{number}.exr"
        store.upload_file(chart_exr(folder / f"v{version}" / f"{number}.exr", size=(192, 108)), key)
        keys.append(key)
    return f"{base}.####.exr", keys


def _clip(stack: LocalStack, pattern: str) -> ClipRow | None:
    catalog = SQLiteCatalog(stack.var / "catalog.db")
    return next((c for c in catalog.clips(100) if c.sequence == pattern and (c.profile or "review") == "review"),
                None)


def _wait_clip(stack: LocalStack, pattern: str, done, timeout: float = 300.0) -> ClipRow:
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        assert stack.proc.poll() is None, stack.log[-3000:]
        if (stack.var / "catalog.db").exists() and (row := _clip(stack, pattern)) is not None and done(row):
            return row
        time.sleep(1.0)
    raise AssertionError(f"{pattern}: not done within {timeout:.0f} s; last row {row}\n{stack.log[-3000:]}")


def _task(zou, show: str) -> tuple[object, dict]:
    kitsu = open_kitsu(zou.url, KITSU_EMAIL, KITSU_PASSWORD)
    c = kitsu.client
    project = gazu.project.get_project_by_name(show, client=c)
    shot = gazu.shot.get_shot_by_name(gazu.shot.get_sequence_by_name(project, "seq010", client=c), "sh010", client=c)
    task = gazu.task.get_task_by_entity(shot, gazu.task.get_task_type_by_name("Compositing", client=c), client=c)
    return kitsu, task


def _revisions(kitsu, task: dict) -> list[dict]:
    """The task's revisions (the main preview of each: position 1)."""
    return [f for f in gazu.files.get_all_preview_files_for_task(task, client=kitsu.client) if f["position"] == 1]


def _republish(stack: LocalStack, clip_id: str, env: dict[str, str]) -> list[dict]:
    """`proxygen clips --publish --clip ID` against the stack's catalog and bucket, as an operator would."""
    store = stack.store()
    creds = store.client._request_signer._credentials  # the stack's own keys, as its banner prints them
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("PROXYGEN_")}
    run_env.update(env, PROXYGEN_CONFIG=str(stack.var / SETTINGS_FILE), AWS_ACCESS_KEY_ID=creds.access_key,
                   AWS_SECRET_ACCESS_KEY=creds.secret_key)
    done = subprocess.run([str(Path(sys.executable).with_name("proxygen")), "clips", "--publish", "--clip", clip_id],
                          env=run_env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_a_shot_is_one_kitsu_revision_whatever_is_redelivered_restarted_or_down(zou, tmp_path):
    show = f"demo{uuid.uuid4().hex[:6]}"
    env = _env(zou)
    stack = _start(tmp_path / "stack", env)
    try:
        pattern, keys = _upload(stack, tmp_path, show, 3, 24)
        row = _wait_clip(stack, pattern, lambda r: r.tracker_status in ("published", "failed"))
        assert row.tracker_status == "published", row.tracker_error
        assert (row.frame_count, row.show, row.shot, row.task, row.version) == (24, show, "sh010", "comp", 3)
        kitsu, task = _task(zou, show)
        [revision] = _revisions(kitsu, task)
        assert (revision["id"], revision["revision"], revision["status"]) == (row.tracker_revision, 3, "ready")
        assert row.tracker_url.endswith(f"/productions/{task['project_id']}/shots/{task['entity_id']}")  # its page
        movie = tmp_path / "kitsu.mp4"
        gazu.files.download_preview_movie(revision["id"], str(movie), client=kitsu.client)
        assert ffprobe_frames(movie) == (24, "24/1", "h264")
        assert movie.read_bytes() == stack.store().get_bytes(row.clip_s3_key)  # the review clip, as built
        poster = tmp_path / "poster.jpg"
        poster.write_bytes(stack.store().get_bytes(row.poster_s3_key))
        shot = gazu.shot.get_shot(task["entity_id"], client=kitsu.client)
        assert shot["preview_file_id"] != revision["id"]  # the poster's own preview, not a frame of the movie
        original = tmp_path / "original.png"  # what Kitsu shows as the shot's picture, at full size
        gazu.client.download(f"pictures/originals/preview-files/{shot['preview_file_id']}.png", str(original),
                             client=kitsu.client)
        stored, sent = read_picture(original), read_picture(poster)
        assert stored.shape == sent.shape and np.abs(stored - sent).mean() < 2.0
        [comment] = gazu.task.all_comments_for_task(task, client=kitsu.client)
        assert "Frames 1001-1024: 24 at 24 fps" in comment["text"] and "Quality: CIEDE2000" in comment["text"]

        # the same object delivered again (same bytes, same etag), an operator's forced re-publish, a restart
        stack.store().upload_file(tmp_path / "v3" / "1001.exr", keys[0])
        [again] = _republish(stack, row.clip_id, env)
        assert (again["status"], again["revision"], again["created"]) == ("published", row.tracker_revision, False)
        stack.stop()
        stack = _start(tmp_path / "stack", env, ports=stack.ports)
        time.sleep(15)  # several sensor ticks of the restarted stack
        after = _clip(stack, pattern)
        assert (after.tracker_status, after.tracker_revision, after.tracker_attempts) == (
            "published", row.tracker_revision, 2)
        assert [r["id"] for r in _revisions(kitsu, task)] == [row.tracker_revision]

        # zou stopped while a new version's clip is published: pending, then published once it is back
        zou.stop()
        pattern4, _ = _upload(stack, tmp_path, show, 4, 6)
        waiting = _wait_clip(stack, pattern4,
                             lambda r: r.tracker_status == "pending" and (r.tracker_attempts or 0) >= 2)
        assert "kitsu" in (waiting.tracker_error or "") and waiting.status == "ok"
        zou.restart()
        published = _wait_clip(stack, pattern4, lambda r: r.tracker_status != "pending", timeout=180)
        assert published.tracker_status == "published", published.tracker_error
        kitsu, task = _task(zou, show)
        assert sorted(r["revision"] for r in _revisions(kitsu, task)) == [3, 4]
    finally:
        stack.stop()


def test_a_wrong_password_fails_the_publish_with_that_cause_and_never_the_frames(zou, tmp_path):
    show = f"demo{uuid.uuid4().hex[:6]}"
    stack = _start(tmp_path / "stack", _env(zou, password="not-the-password"))
    try:
        pattern, keys = _upload(stack, tmp_path, show, 1, 6)
        row = _wait_clip(stack, pattern, lambda r: r.tracker_status in ("published", "failed"))
        assert row.tracker_status == "failed" and row.status == "ok" and row.frame_count == 6
        assert "kitsu" in row.tracker_error and ("password" in row.tracker_error.lower()
                                                 or "login" in row.tracker_error.lower()), row.tracker_error
        catalog = SQLiteCatalog(stack.var / "catalog.db")
        frames = {r.s3_key: r.status for r in catalog.rows(100) if r.s3_key in keys}
        assert frames == dict.fromkeys(keys, "ok")
        assert gazu.project.get_project_by_name(show, client=open_kitsu(zou.url, KITSU_EMAIL,
                                                                         KITSU_PASSWORD).client) is None
    finally:
        stack.stop()
