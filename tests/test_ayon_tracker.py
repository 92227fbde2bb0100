"""The AYON publisher against hand-built HTTP exchanges (tests/fixtures/trackers/ayon, README there): the
requests ayon_api makes for the test clip are asserted here, value by value, independently of the fixture
(which only replays the server's side and checks the order). A live server when PROXYGEN_AYON_LIVE_* are set.
"""
from __future__ import annotations

import os
import uuid

import pytest

from proxygen_core.settings import TrackerSettings
from proxygen_core.trackers import TrackerRefused, TrackerUnavailable, publish
from proxygen_core.trackers import ayon as ayonmod
from tests.tracker_helpers import FakeHTTP, publication

URL = "https://ayon.example"
SETTINGS = TrackerSettings(tracker="ayon", ayon_url=URL + "/", ayon_key="service-key")


def _calls(fake, method, path):
    """The requests to ``path`` (a folder when it ends with "/": everything under it)."""
    return [s for s in fake.sent if s.method == method and (s.path.startswith(path) if path.endswith("/")
                                                              else s.path == path)]


def test_publish_then_rebuild_then_the_daily(monkeypatch):
    fake = FakeHTTP.load("ayon", "publish_and_rebuild").install(monkeypatch)
    tracker = ayonmod.connect(SETTINGS)
    pub = publication()
    first = publish(tracker, pub)
    rebuilt = publication(comment="rebuilt: 24 frames, grade v2", status="Approved")
    second = publish(tracker, rebuilt)
    day = tracker.publish_playlist("dailies 2026-12-02", "demo", [first])
    again = tracker.publish_playlist("dailies 2026-12-02", "demo", [first])
    fake.done()

    version_id = ayonmod.derived_id(ayonmod.derived_id("demo", "/seq010/sh010", "reviewComp"), 3)
    assert (first.id, first.created, second.id, second.created) == (version_id, True, version_id, False)
    assert first.url == f"{URL}/projects/demo/browser?type=version&id={version_id}"
    # the API key went as a service key (X-Api-Key) once the server accepted it that way
    assert fake.sent[-1].headers["X-Api-Key"] == "service-key"

    folders = [s.json() for s in _calls(fake, "POST", "/api/projects/demo/folders")]
    assert [(f["name"], f["folderType"], f.get("parentId")) for f in folders] == [
        ("seq010", "Sequence", None), ("sh010", "Shot", folders[0]["id"])]
    assert folders[1]["attrib"] == {"frameStart": 1001, "frameEnd": 1024, "fps": 24.0,
                                    "resolutionWidth": 64, "resolutionHeight": 36}
    [task] = [s.json() for s in _calls(fake, "POST", "/api/projects/demo/tasks")]
    assert (task["name"], task["taskType"], task["folderId"]) == ("comp", "Compositing", folders[1]["id"])
    [product] = [s.json() for s in _calls(fake, "POST", "/api/projects/demo/products")]
    assert (product["name"], product["productType"], product["folderId"]) == ("reviewComp", "review",
                                                                            folders[1]["id"])
    [version] = [s.json() for s in _calls(fake, "POST", "/api/projects/demo/versions")]  # one, after two publishes
    assert (version["id"], version["version"], version["productId"], version["taskId"], version["status"]) == (
        version_id, 3, product["id"], task["id"], "Pending review")  # "wfa" is AYON's "Pending review"
    assert version["attrib"] == {
        "frameStart": 1001, "frameEnd": 1024, "handleStart": 0, "handleEnd": 0, "fps": 24.0,
        "resolutionWidth": 64, "resolutionHeight": 36,
        "comment": "24 frames 1001-1024, none missing; ACES 1.3 sRGB; PSNR 48.1 dB",
        "source": "s3://renders/shows/demo/seq010/sh010/comp/v003/sh010_comp_v003.####.exr"}
    [rep] = [s.json() for s in _calls(fake, "POST", "/api/projects/demo/representations")]
    assert (rep["name"], rep["versionId"], rep["attrib"]["path"]) == ("mp4", version_id, pub.movie_uri)
    assert [(f["name"], f["path"], f["size"]) for f in rep["files"]] == [
        ("sh010_comp_v003.mp4", pub.movie_uri, pub.movie.stat().st_size)]

    # the movie went to the version's reviewables, twice (the rebuild), the earlier one deleted in between
    uploads = _calls(fake, "POST", f"/api/projects/demo/versions/{version_id}/reviewables")
    assert [(u.query, u.headers["Content-Type"], u.headers["x-file-name"]) for u in uploads] == [
        ({"label": ["proxygen review"]}, "video/mp4", "sh010_comp_v003.mp4")] * 2
    assert all(u.body == pub.movie.read_bytes() for u in uploads)
    deleted = _calls(fake, "DELETE", "/api/projects/demo/activities/")
    order = [next(i for i, s in enumerate(fake.sent) if s is r) for r in (uploads[0], deleted[0], uploads[1])]
    assert len(deleted) == 1 and order == sorted(order)
    thumbnails = _calls(fake, "POST", "/api/projects/demo/thumbnails")
    assert [t.body for t in thumbnails] == [pub.poster.read_bytes()] * 2
    assert thumbnails[0].headers["Content-Type"] == "image/jpeg"
    patches = [(s.path, s.json()) for s in _calls(fake, "PATCH", "/api/projects/demo/")]
    assert (f"/api/projects/demo/folders/{folders[1]['id']}", {"thumbnailId": "00000000000000000000000000000003"}) \
        in patches and (f"/api/projects/demo/versions/{version_id}",
                        {"thumbnailId": "00000000000000000000000000000003"}) in patches
    [update] = [j for p, j in patches if p.endswith(version_id) and "attrib" in j]
    assert (update["attrib"]["comment"], update["status"]) == ("rebuilt: 24 frames, grade v2", "Approved")

    [made] = [s.json() for s in _calls(fake, "POST", "/api/projects/demo/lists")]
    assert (made["label"], made["entityType"], made["entityListType"], made["items"]) == (
        "dailies 2026-12-02", "version", "review-session", [{"entityId": version_id, "position": 0}])
    [items] = [j for p, j in patches if p.endswith("/items")]
    assert items == {"items": [{"entityId": version_id, "position": 0}], "mode": "replace"}
    assert (day.created, again.created, again.id) == (True, False, made["id"])


def test_a_refused_key_is_refused(monkeypatch):
    fake = FakeHTTP.load("ayon", "refused_key").install(monkeypatch)
    with pytest.raises(TrackerRefused, match="ayon: connecting to https://ayon.example: the API key was refused"):
        ayonmod.connect(SETTINGS)
    fake.done()
    assert [s.headers.get("Authorization") or s.headers.get("X-Api-Key") for s in fake.sent[2:]] == [
        "Bearer service-key", "service-key"]


def test_create_false_refuses_a_missing_shot(monkeypatch):
    fake = FakeHTTP.load("ayon", "missing_shot").install(monkeypatch)
    tracker = ayonmod.connect(SETTINGS)
    with pytest.raises(TrackerRefused, match=r"no sequence folder 'seq010' in project 'demo'"):
        publish(tracker, publication(create=False))
    fake.done()
    assert not [s for s in fake.sent if s.method in ("POST", "PATCH") and s.path != "/graphql"]


def test_connection_refused_and_a_server_busy_mid_publish_are_unavailable(monkeypatch):
    FakeHTTP([], refuse=True).install(monkeypatch)
    with pytest.raises(TrackerUnavailable, match="ayon: connecting to https://ayon.example: ConnectionError"):
        ayonmod.connect(SETTINGS)
    # the recorded publish, with the server answering 503 where the version is created
    replay = FakeHTTP.load("ayon", "publish_and_rebuild")
    cut = next(i for i, ex in enumerate(replay.exchanges)
               if ex["request"]["method"] == "POST" and ex["request"]["path"] == "/api/projects/demo/versions")
    replay.exchanges = replay.exchanges[:cut + 1]
    replay.exchanges[cut] = {**replay.exchanges[cut], "response": {"status": 503, "json": {"detail": "busy"}}}
    replay.install(monkeypatch)
    tracker = ayonmod.connect(SETTINGS)
    with pytest.raises(TrackerUnavailable, match=r"creating version 3 of reviewComp: .*503"):
        publish(tracker, publication())
    replay.done()


def test_unknown_task_type_and_status_are_refused(monkeypatch):
    fake = FakeHTTP.load("ayon", "publish_and_rebuild")
    reads = [i for i, ex in enumerate(fake.exchanges) if ex["request"]["path"] == "/api/projects/demo"]
    fake.exchanges = fake.exchanges[:reads[1] + 1]  # connect, look the version up, read the project
    fake.install(monkeypatch)
    tracker = ayonmod.connect(SETTINGS)
    with pytest.raises(TrackerRefused, match=r"no task type 'fx' in project 'demo' \(Compositing, Lighting\)"):
        publish(tracker, publication(task_type="fx"))
    fake.done()


LIVE_VARS = ("PROXYGEN_AYON_LIVE_URL", "PROXYGEN_AYON_LIVE_KEY", "PROXYGEN_AYON_LIVE_PROJECT")


@pytest.mark.live
@pytest.mark.skipif(not all(os.environ.get(v) for v in LIVE_VARS),
                    reason=f"live AYON test: set {', '.join(LIVE_VARS)} (a project the key may write to)")
def test_live_server_publishes_once_and_replaces_the_reviewable():
    tracker = ayonmod.connect(TrackerSettings(tracker="ayon", ayon_url=os.environ["PROXYGEN_AYON_LIVE_URL"],
                                              ayon_key=os.environ["PROXYGEN_AYON_LIVE_KEY"]))
    pub = publication(project=os.environ["PROXYGEN_AYON_LIVE_PROJECT"], shot=f"proxygen_{uuid.uuid4().hex[:8]}",
                      task_type=os.environ.get("PROXYGEN_AYON_LIVE_TASK_TYPE", "Compositing"))
    first = publish(tracker, pub)
    second = publish(tracker, pub)
    reviewables = tracker.con.get_version_reviewables(pub.project, first.id)["reviewables"]
    assert (first.created, second.created, second.id) == (True, False, first.id)
    assert [r["label"] for r in reviewables] == [ayonmod.LABEL]


def _connect_exchanges() -> list[dict]:
    """The recorded log-in of the publish fixture (up to the accepted /api/users/me): what connect() asks."""
    import json
    from pathlib import Path

    exchanges = json.loads((Path(__file__).parent / "fixtures/trackers/ayon/publish_and_rebuild.json").read_text())[
        "exchanges"]
    end = next(i for i, e in enumerate(exchanges)
               if e["request"]["path"] == "/api/users/me" and e["response"].get("status", 200) == 200)
    return exchanges[:end + 1]


def test_revision_status_reads_the_versions_status(monkeypatch):
    version = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    fake = FakeHTTP([*_connect_exchanges(),
                     {"request": {"method": "GET", "path": f"/api/projects/demo/versions/{version}"},
                      "response": {"status": 200, "json": {"id": version, "version": 3, "status": "Approved"}}},
                     {"request": {"method": "GET", "path": "/api/projects/demo/versions/gone"},
                      "response": {"status": 404, "json": {"code": 404, "detail": "Version not found"}}}],
                    ).install(monkeypatch)
    tracker = ayonmod.connect(SETTINGS)
    assert tracker.revision_status("demo", version) == "Approved"
    assert tracker.revision_status("demo", "gone") is None
    fake.done()
