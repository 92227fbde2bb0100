"""The Kitsu publisher (trackers/kitsu.py) against the session's real zou (tests/kitsu_server.py).

What is checked is what Kitsu holds afterwards, read back through gazu (not through the publisher): one preview
revision per (shot, task, version), its movie downloaded and decoded by Debian's ffprobe (not PyAV, which made
it) to 24 frames at 24 fps, the shot's thumbnail decoded and compared with the poster, the shot's frame range,
the project's fps. The failures are the typed ones the outbox needs: refused (credentials, a missing entity with
create off, an unknown status or task type, a movie zou cannot process) or unavailable (closed port, a server
that went away, 5xx, a server that never answers).
"""
from __future__ import annotations

import dataclasses
import http.server
import json
import os
import socket
import subprocess
import threading
import uuid
from pathlib import Path

import av
import gazu
import numpy as np
import OpenImageIO as oiio
import pytest

from proxygen_core.errors import ConfigurationError
from proxygen_core.settings import TrackerSettings
from proxygen_core.trackers import TrackerRefused, TrackerUnavailable, open_tracker, publish
from proxygen_core.trackers.base import Publication
from proxygen_core.trackers.kitsu import KitsuTracker, open_kitsu

RED, BLUE = (250, 40, 40), (30, 60, 220)


def make_movie(path: Path, frames: int = 24, fps: int = 24, shade: int = 0, size=(320, 180)) -> Path:
    """An H.264 MP4 as plain libx264 makes it (B-frames on, no audio): the kind zou's normalization breaks."""
    w, h = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            rgb = np.zeros((h, w, 3), np.uint8)
            rgb[..., 0] = (i * 9 + shade) % 256
            rgb[..., 1] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
            rgb[:, : w // 2, 2] = shade
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_poster(path: Path, top=RED, bottom=BLUE, size=(320, 180)) -> Path:
    w, h = size
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[: h // 2], rgb[h // 2:] = top, bottom
    out = oiio.ImageOutput.create(str(path))
    spec = oiio.ImageSpec(w, h, 3, "uint8")
    spec.attribute("Compression", "jpeg:95")
    assert out.open(str(path), spec) and out.write_image(rgb) and out.close()
    return path


def read_picture(path: Path) -> np.ndarray:
    buf = oiio.ImageBuf(str(path))
    assert not buf.has_error, buf.geterror()
    return (buf.get_pixels(oiio.FLOAT)[..., :3] * 255.0).astype(np.float64)


def assert_thumbnail_is(thumb: Path, poster: Path) -> None:
    """Zou's thumbnail (150x100 PNG) letterboxes the picture with transparent bars: its opaque part must be the
    poster scaled down (tolerant to the JPEG and to the resampling at the colour edge)."""
    buf = oiio.ImageBuf(str(thumb))
    pixels = buf.get_pixels(oiio.FLOAT) * 255.0
    assert pixels.shape[2] == 4, "zou's thumbnails carry alpha"
    rows = np.flatnonzero(pixels[:, pixels.shape[1] // 2, 3] > 250)
    assert len(rows) > 50, "no opaque picture in the thumbnail"
    content = pixels[rows[0]: rows[-1] + 1, :, :3]
    sent = read_picture(poster)
    ys = (np.arange(content.shape[0]) + 0.5) * sent.shape[0] / content.shape[0]
    xs = (np.arange(content.shape[1]) + 0.5) * sent.shape[1] / content.shape[1]
    expected = sent[ys.astype(int)][:, xs.astype(int)]
    diff = np.abs(content - expected)
    assert diff.mean() < 4.0 and np.percentile(diff, 95) < 12.0, (diff.mean(), np.percentile(diff, 95))


def ffprobe_frames(path: Path) -> tuple[int, str, str]:
    """(decoded frame count, frame rate, codec) by Debian's ffprobe, decoding every frame."""
    done = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                           "stream=nb_read_frames,r_frame_rate,codec_name", "-of", "json", str(path)],
                          capture_output=True, text=True, timeout=60, check=True)
    stream = json.loads(done.stdout)["streams"][0]
    return int(stream["nb_read_frames"]), stream["r_frame_rate"], stream["codec_name"]


@pytest.fixture
def kitsu(kitsu_server) -> KitsuTracker:
    return open_kitsu(kitsu_server.url, kitsu_server.email, kitsu_server.password)


@pytest.fixture
def pub(tmp_path) -> Publication:
    """A 24-frame 24 fps clip of a project of its own (each test's Kitsu state is its own)."""
    return Publication(
        clip_id="clip-1", project=f"show-{uuid.uuid4().hex[:8]}", sequence="seq010", shot="sh010", task="comp",
        version=3, movie=make_movie(tmp_path / "sh010_v003.mp4"), poster=make_poster(tmp_path / "poster.jpg"),
        first_frame=1001, last_frame=1024, frame_count=24, fps=24.0, width=320, height=180,
        comment="sh010 comp v003\nFrames 1001-1024: 24 at 24 fps", movie_uri="s3://b/sh010_v003.mp4",
        frames_uri="s3://b/sh010.####.exr", status="wfa", create=True)


def _task(kitsu: KitsuTracker, pub: Publication) -> dict:
    c = kitsu.client
    project = gazu.project.get_project_by_name(pub.project, client=c)
    shot = gazu.shot.get_shot_by_name(gazu.shot.get_sequence_by_name(project, pub.sequence, client=c), pub.shot,
                                      client=c)
    return gazu.task.get_task_by_entity(shot, gazu.task.get_task_type_by_name("Compositing", client=c), client=c)


def _movies(kitsu: KitsuTracker, task: dict) -> list[dict]:
    """The task's revisions as Kitsu lists them: one main preview (position 1) per revision."""
    files = gazu.files.get_all_preview_files_for_task(task, client=kitsu.client)
    return [f for f in files if f["position"] == 1]


def test_a_24_frame_shot_is_one_revision_whose_movie_decodes_to_24_frames(kitsu, pub, tmp_path):
    revision = publish(kitsu, pub)
    assert revision.created
    c = kitsu.client
    task = _task(kitsu, pub)
    movies = _movies(kitsu, task)
    assert [(m["id"], m["revision"], m["extension"], m["status"]) for m in movies] == \
        [(revision.id, 3, "mp4", "ready")]
    web = kitsu_web(kitsu)
    assert revision.url == f"{web}/productions/{task['project_id']}/shots/{task['entity_id']}"  # the shot's page
    assert revision.details["task_url"] == f"{web}/productions/{task['project_id']}/shots/tasks/{task['id']}" \
                                           f"/previews/{revision.id}"
    comments = gazu.task.all_comments_for_task(task, client=c)
    assert [cm["text"] for cm in comments] == [pub.comment]
    assert comments[0]["task_status_id"] == gazu.task.get_task_status_by_short_name("wfa", client=c)["id"]
    assert gazu.task.get_task(task["id"], client=c)["task_status_id"] == comments[0]["task_status_id"]

    stored = tmp_path / "stored.mp4"
    gazu.files.download_preview_movie(revision.id, str(stored), client=c)
    assert ffprobe_frames(stored) == (24, "24/1", "h264")
    assert stored.read_bytes() == pub.movie.read_bytes()  # unnormalized: zou keeps our encode as it is

    shot = gazu.shot.get_shot(task["entity_id"], client=c)
    assert shot["nb_frames"] == 24
    assert {k: shot["data"][k] for k in ("frame_in", "frame_out", "fps")} == {"frame_in": 1001, "frame_out": 1024,
                                                                            "fps": "24"}
    project = gazu.project.get_project(task["project_id"], client=c)
    assert (project["fps"], project["resolution"]) == ("24", "320x180")
    assert kitsu.find_revision(pub) == dataclasses.replace(revision, created=False)


def kitsu_web(kitsu: KitsuTracker) -> str:
    return kitsu.url  # a bare zou: its web root is its API root


def test_the_shots_thumbnail_is_the_poster(kitsu, pub, tmp_path):
    revision = publish(kitsu, pub)
    c = kitsu.client
    shot = gazu.shot.get_shot(revision.details["entity_id"], client=c)
    assert shot["preview_file_id"] not in (None, revision.id)  # the poster's preview, not a frame of the movie
    thumb = tmp_path / "thumb.png"
    gazu.files.download_preview_file_thumbnail(shot["preview_file_id"], str(thumb), client=c)
    assert_thumbnail_is(thumb, pub.poster)
    original = tmp_path / "original.png"
    gazu.client.download(f"pictures/originals/preview-files/{shot['preview_file_id']}.png", str(original), client=c)
    stored, sent = read_picture(original), read_picture(pub.poster)
    assert stored.shape == sent.shape and np.abs(stored - sent).mean() < 2.0  # the poster, not re-encoded lossy


def test_publishing_the_same_clip_twice_keeps_one_revision(kitsu, pub):
    first = publish(kitsu, pub)
    second = publish(kitsu, dataclasses.replace(pub, comment="redelivered"))
    assert first.created and not second.created and second.id == first.id
    task = _task(kitsu, pub)
    assert [m["id"] for m in _movies(kitsu, task)] == [first.id]
    assert [cm["text"] for cm in gazu.task.all_comments_for_task(task, client=kitsu.client)] == ["redelivered"]


def test_a_rebuild_replaces_the_movie_and_poster_under_the_same_revision(kitsu, pub, tmp_path):
    first = publish(kitsu, pub)
    rebuilt = dataclasses.replace(pub, movie=make_movie(tmp_path / "rebuilt.mp4", frames=30, shade=200),
                                  poster=make_poster(tmp_path / "poster2.jpg", top=BLUE, bottom=RED),
                                  last_frame=1030, frame_count=30, comment="rebuilt")
    second = publish(kitsu, rebuilt)
    assert second.id == first.id and not second.created
    c = kitsu.client
    task = _task(kitsu, pub)
    assert [m["id"] for m in _movies(kitsu, task)] == [first.id]
    stored = tmp_path / "stored.mp4"
    gazu.files.download_preview_movie(first.id, str(stored), client=c)
    assert stored.read_bytes() == rebuilt.movie.read_bytes() != pub.movie.read_bytes()
    assert ffprobe_frames(stored)[0] == 30
    shot = gazu.shot.get_shot(task["entity_id"], client=c)
    assert (shot["nb_frames"], shot["data"]["frame_out"]) == (30, 1030)
    thumb = tmp_path / "thumb.png"
    gazu.files.download_preview_file_thumbnail(shot["preview_file_id"], str(thumb), client=c)
    assert_thumbnail_is(thumb, rebuilt.poster)  # the new poster (blue over red)
    with pytest.raises(AssertionError):
        assert_thumbnail_is(thumb, pub.poster)  # and the comparison tells the two apart
    assert [cm["text"] for cm in gazu.task.all_comments_for_task(task, client=c)] == ["rebuilt"]


def test_a_new_version_is_a_second_revision_on_existing_entities(kitsu, pub, tmp_path):
    publish(kitsu, pub)
    v4 = dataclasses.replace(pub, version=4, create=False, movie=make_movie(tmp_path / "v4.mp4", shade=90),
                             width=0, height=0)  # a clip row without its resolution
    revision = publish(kitsu, v4)
    assert revision.created
    assert sorted(m["revision"] for m in _movies(kitsu, _task(kitsu, pub))) == [3, 4]
    project = gazu.project.get_project_by_name(pub.project, client=kitsu.client)
    assert project["resolution"] == "320x180"  # left as it was, not "0x0"


def test_missing_entities_are_refused_when_create_is_off(kitsu, pub):
    publish(kitsu, pub)  # project, sequence and sh010 exist
    with pytest.raises(TrackerRefused, match=r"shot 'sh999' .*PROXYGEN_TRACKER_CREATE"):
        publish(kitsu, dataclasses.replace(pub, shot="sh999", create=False))
    seq = gazu.shot.get_sequence_by_name(gazu.project.get_project_by_name(pub.project, client=kitsu.client),
                                         "seq010", client=kitsu.client)
    assert gazu.shot.get_shot_by_name(seq, "sh999", client=kitsu.client) is None  # nothing half-created
    other_sequence = dataclasses.replace(pub, sequence="seq020", create=False)
    assert kitsu.find_revision(other_sequence) is None  # sh010 of seq010 is not sh010 of seq020
    with pytest.raises(TrackerRefused, match=r"sequence 'seq020'"):
        publish(kitsu, other_sequence)
    missing = f"nowhere-{uuid.uuid4().hex[:6]}"
    with pytest.raises(TrackerRefused, match=f"project '{missing}'"):
        publish(kitsu, dataclasses.replace(pub, project=missing, create=False))
    assert gazu.project.get_project_by_name(missing, client=kitsu.client) is None


def test_unknown_status_or_task_type_is_refused(kitsu, pub):
    with pytest.raises(TrackerRefused, match=r"task status 'ok' \(PROXYGEN_TRACKER_STATUS\).*wfa"):
        publish(kitsu, dataclasses.replace(pub, status="ok"))
    with pytest.raises(TrackerRefused, match=r"task type 'paint'.*Compositing"):
        publish(kitsu, dataclasses.replace(pub, task="paint"))
    assert gazu.project.get_project_by_name(pub.project, client=kitsu.client) is None  # refused before writing
    publish(kitsu, dataclasses.replace(pub, task="whatever", task_type="compositing"))  # the setting wins
    assert len(_movies(kitsu, _task(kitsu, pub))) == 1


def test_a_movie_kitsu_cannot_process_is_refused_and_leaves_no_revision(kitsu, pub, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096))
    with pytest.raises(TrackerRefused, match="bad.mp4"):
        publish(kitsu, dataclasses.replace(pub, movie=bad))
    task = _task(kitsu, pub)
    assert _movies(kitsu, task) == [] and gazu.task.all_comments_for_task(task, client=kitsu.client) == []
    assert kitsu.find_revision(pub) is None
    assert publish(kitsu, pub).created  # the next attempt publishes normally


def test_a_daily_playlist_published_twice_is_one_playlist(kitsu, pub, tmp_path):
    sh010 = publish(kitsu, pub)
    sh020 = publish(kitsu, dataclasses.replace(pub, shot="sh020", movie=make_movie(tmp_path / "b.mp4", shade=50)))
    first = kitsu.publish_playlist("dailies 2026-12-02", pub.project, [sh010])
    second = kitsu.publish_playlist("dailies 2026-12-02", pub.project, [sh010, sh020])
    gone = dataclasses.replace(sh010, id=str(uuid.UUID(int=0)))  # a revision removed in Kitsu since
    again = kitsu.publish_playlist("dailies 2026-12-02", pub.project, [sh010, gone, sh020])
    assert first.id == second.id == again.id
    assert again.details["missing_revisions"] == gone.id and again.details["shots"] == "2"
    c = kitsu.client
    project = gazu.project.get_project_by_name(pub.project, client=c)
    playlists = [p for p in gazu.playlist.all_playlists_for_project(project, client=c)
                 if p["name"] == "dailies 2026-12-02"]
    assert [p["id"] for p in playlists] == [first.id]
    shots = gazu.playlist.get_playlist(first.id, client=c)["shots"]
    assert sorted((s["entity_id"], s["preview_file_id"]) for s in shots) == sorted(
        [(sh010.details["entity_id"], sh010.id), (sh020.details["entity_id"], sh020.id)])
    assert first.url.endswith(f"/productions/{project['id']}/playlists/{first.id}")
    # a later version of sh010 the same day: its shot now shows that revision; sh020 stays, no shot added
    sh010_v4 = publish(kitsu, dataclasses.replace(pub, version=4, movie=make_movie(tmp_path / "v4.mp4", shade=70)))
    sh030 = publish(kitsu, dataclasses.replace(pub, shot="sh030", movie=make_movie(tmp_path / "c.mp4", shade=30)))
    assert kitsu.publish_playlist("dailies 2026-12-02", pub.project, [sh030, sh010_v4, sh020]).id == first.id
    shots = gazu.playlist.get_playlist(first.id, client=c)["shots"]
    assert sorted((s["entity_id"], s["preview_file_id"]) for s in shots) == sorted(
        [(sh010.details["entity_id"], sh010_v4.id), (sh020.details["entity_id"], sh020.id),
         (sh030.details["entity_id"], sh030.id)])


def test_connect_from_settings_and_a_wrong_password(kitsu_server):
    settings = TrackerSettings(tracker="kitsu", kitsu_url=kitsu_server.url, kitsu_user=kitsu_server.email,
                               kitsu_password=kitsu_server.password)
    tracker = open_tracker(settings)
    assert tracker.name == "kitsu"
    with pytest.raises(TrackerRefused, match="login refused"):
        open_tracker(dataclasses.replace(settings, kitsu_password="wrong-password"))
    with pytest.raises(ConfigurationError, match="^PROXYGEN_KITSU_PASSWORD: not set"):
        open_tracker(dataclasses.replace(settings, kitsu_password=None))


def test_zou_gone_mid_session_is_unavailable_then_works_again(kitsu, pub):
    """The logged-in client's server stops answering (its port closed): every call is TrackerUnavailable, no
    gazu or requests exception; back on its port, the same tracker publishes."""
    url = kitsu.client.host
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    kitsu.client.host = f"http://127.0.0.1:{closed}"
    with pytest.raises(TrackerUnavailable, match="ConnectionError"):
        publish(kitsu, pub)
    with pytest.raises(TrackerUnavailable):
        kitsu.publish_playlist("dailies", pub.project, [])
    kitsu.client.host = url
    assert publish(kitsu, pub).created


def test_zou_stopped_then_restarted_keeps_one_revision(kitsu_server, postgres_server, pub):
    """A zou of its own (own data folder, database and Redis) stopped by PID mid-way: the publish is
    unavailable, and after a restart on the same port, data and secret, the same logged-in tracker finds and
    updates the one revision (a restart keeps init-db, init-data and the admin as they were)."""
    import shutil
    import tempfile

    from proxygen_core.services.zou import start_zou

    from .conftest import PG_PASSWORD
    from .kitsu_server import KITSU_EMAIL, KITSU_PASSWORD

    # redis=None: a Redis of its own, stopped with it. zou's Redis databases (0-4) are fixed, and two zous
    # sharing one serve each other's memoized rows (seen: HTTP 500 creating a sequence with the other's ids).
    folder = tempfile.mkdtemp(prefix="proxygen-zou2-")
    args = (folder, ("127.0.0.1", postgres_server.ports["postgres"], PG_PASSWORD), None, KITSU_EMAIL, KITSU_PASSWORD)
    server = start_zou(*args, database="zou_restart", workers=1, timeout=300)
    try:
        tracker = open_kitsu(server.url, KITSU_EMAIL, KITSU_PASSWORD)
        first = publish(tracker, pub)
        server.stop()
        assert server.proc.poll() is not None and server.redis is not None and server.redis.proc.poll() is not None
        with pytest.raises(TrackerUnavailable):
            publish(tracker, dataclasses.replace(pub, comment="while down"))
        server = start_zou(*args, port=server.port, database="zou_restart", workers=1, timeout=300)
        assert server.service.log.read_text().count("$ zou init-db") == 1  # the restart: gunicorn only
        again = publish(tracker, dataclasses.replace(pub, comment="after restart"))
        assert again.id == first.id and not again.created
        task = _task(tracker, pub)
        assert [m["id"] for m in _movies(tracker, task)] == [first.id]
        assert [cm["text"] for cm in gazu.task.all_comments_for_task(task, client=tracker.client)] == \
            ["after restart"]
    finally:
        server.stop()
        assert server.proc.poll() is not None and server.redis is not None and server.redis.proc.poll() is not None
        shutil.rmtree(folder, ignore_errors=True)


def test_a_closed_port_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TrackerUnavailable, match="log in: ConnectionError"):
        open_kitsu(f"http://127.0.0.1:{port}", "a@b.c", "x")


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 503

    def do_POST(self):  # noqa: N802
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>Service Unavailable</html>")

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status, error", [(503, TrackerUnavailable), (500, TrackerUnavailable),
                                           (200, TrackerRefused)])
def test_5xx_is_unavailable_and_a_non_kitsu_answer_is_refused(status, error):
    handler = type("Handler", (_Answer,), {"status": status})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with pytest.raises(error):
            open_kitsu(f"http://127.0.0.1:{server.server_address[1]}", "a@b.c", "x")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_server_that_never_answers_times_out_as_unavailable():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the connection (the backlog), never answers
        with pytest.raises(TrackerUnavailable, match="Timeout"):
            open_kitsu(f"http://127.0.0.1:{listener.getsockname()[1]}", "a@b.c", "x", timeout=(2.0, 0.3))


LIVE = {name: os.environ.get(f"PROXYGEN_KITSU_LIVE_{name}") for name in ("URL", "USER", "PASSWORD", "PROJECT")}


@pytest.mark.live
@pytest.mark.skipif(not all(LIVE.values()), reason="live Kitsu test: set PROXYGEN_KITSU_LIVE_URL, _USER, _PASSWORD "
                                                    "and _PROJECT (an existing project; its seq/shot/task are made)")
def test_live_kitsu_publish_is_one_revision(tmp_path):
    """A studio's Kitsu: publish twice into a throwaway shot of the given project, one revision, plays back."""
    kitsu = open_kitsu(LIVE["URL"], LIVE["USER"], LIVE["PASSWORD"])  # type: ignore[arg-type]
    project = gazu.project.get_project_by_name(LIVE["PROJECT"], client=kitsu.client)
    assert project is not None, f"PROXYGEN_KITSU_LIVE_PROJECT {LIVE['PROJECT']!r} not in that Kitsu"
    # the clip is made at the project's own rate and size, so the publish leaves the studio's project as it was
    fps = int(float(project.get("fps") or 25))
    width, height = (int(v) for v in (project.get("resolution") or "1920x1080").split("x"))
    shot = f"proxygen_{uuid.uuid4().hex[:6]}"
    pub = Publication(
        clip_id="live", project=LIVE["PROJECT"], sequence="proxygen_test", shot=shot,  # type: ignore[arg-type]
        task="comp", version=1, movie=make_movie(tmp_path / "m.mp4", fps=fps, size=(width, height)),
        poster=make_poster(tmp_path / "p.jpg", size=(width, height)),
        first_frame=1001, last_frame=1024, frame_count=24, fps=float(fps), width=width, height=height,
        comment="proxygen live test", movie_uri="", frames_uri="", create=True)
    first, second = publish(kitsu, pub), publish(kitsu, pub)
    assert first.created and second.id == first.id and not second.created
    stored = tmp_path / "stored.mp4"
    gazu.files.download_preview_movie(first.id, str(stored), client=kitsu.client)
    assert ffprobe_frames(stored)[0] == 24


def test_the_web_root_is_the_api_root_without_api_unless_set():
    from proxygen_core.trackers.kitsu import web_root

    assert web_root("https://kitsu.studio/api") == "https://kitsu.studio"
    assert web_root("https://kitsu.studio/api/") == "https://kitsu.studio"
    assert web_root("http://127.0.0.1:5000") == "http://127.0.0.1:5000"  # a bare zou: no /api to drop
    assert web_root("https://kitsu.studio/api", "https://review.studio/") == "https://review.studio"


def test_revision_status_is_the_tasks_status_for_its_newest_revision(kitsu, pub, tmp_path):
    """What cut_version=approved reads: the task status short name while the revision is the task's newest, an
    older revision ``superseded``; a supervisor's "done" comment approves; an unknown id is None."""
    v3 = publish(kitsu, pub)
    assert kitsu.revision_status(pub.project, v3.id) == "wfa"
    task = _task(kitsu, pub)
    done = gazu.task.get_task_status_by_short_name("done", client=kitsu.client)
    gazu.task.add_comment(task, done, "approved for the cut", client=kitsu.client)  # the supervisor's approval
    assert kitsu.revision_status(pub.project, v3.id) == "done"
    v4 = publish(kitsu, dataclasses.replace(pub, version=4, create=False,
                                            movie=make_movie(tmp_path / "v4.mp4", shade=90)))
    assert kitsu.revision_status(pub.project, v4.id) == "wfa"  # its publish set the task back to review
    assert kitsu.revision_status(pub.project, v3.id) == "superseded"
    assert kitsu.revision_status(pub.project, str(uuid.uuid4())) is None
