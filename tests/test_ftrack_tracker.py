"""The ftrack publisher against hand-built HTTP exchanges (tests/fixtures/trackers/ftrack, README there): the
batches ftrack_api's Session sends for the test clip are asserted here, value by value, independently of the
fixture (which replays the server's side and checks the order). A live site when PROXYGEN_FTRACK_LIVE_* are set.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import uuid

import pytest

from proxygen_core.settings import TrackerSettings
from proxygen_core.trackers import TrackerRefused, TrackerUnavailable, publish
from proxygen_core.trackers import ftrack as ftrackmod
from tests.tracker_helpers import FakeHTTP, publication

URL = "https://studio.ftrackapp.example"
SETTINGS = TrackerSettings(tracker="ftrack", ftrack_url=URL, ftrack_user="proxygen@studio.example",
                           ftrack_key="key")


def _tracker(monkeypatch, scenario):
    fake = FakeHTTP.load("ftrack", scenario).install(monkeypatch)
    session = ftrackmod.connect(SETTINGS).session
    ids = (f"00000000-0000-4000-8000-{n:012d}" for n in itertools.count(1))  # the ids the fixture was built with
    return fake, ftrackmod.FtrackTracker(session, new_id=lambda: next(ids))


def _ops(fake, action, entity_type=None):
    """Every operation of ``action`` (on ``entity_type``) in the batches sent to /api, in order."""
    return [op for s in fake.sent if s.path == "/api" for op in s.json()
            if op["action"] == action and (entity_type is None or op.get("entity_type") == entity_type)]


def _data(fake, entity_type):
    return [op["entity_data"] for op in _ops(fake, "create", entity_type)]


def test_publish_then_rebuild_then_the_daily(monkeypatch):
    fake, tracker = _tracker(monkeypatch, "publish_and_rebuild")
    pub = publication()
    first = publish(tracker, pub)
    second = publish(tracker, publication(comment="rebuilt: 24 frames, grade v2", status="Approved"))
    day = tracker.publish_playlist("dailies 2026-12-02", "demo", [first])
    again = tracker.publish_playlist("dailies 2026-12-02", "demo", [first])
    fake.done()
    assert all(s.headers["ftrack-api-key"] == "key" and s.headers["ftrack-user"] == "proxygen@studio.example"
               for s in fake.sent if s.path == "/api")

    [sequence], [shot], [task], [asset] = (_data(fake, k) for k in ("Sequence", "Shot", "Task", "Asset"))
    assert (sequence["name"], sequence["parent_id"], shot["name"], shot["parent_id"]) == (
        "seq010", "p-demo", "sh010", sequence["id"])
    assert (task["name"], task["parent_id"], task["type_id"]) == ("comp", shot["id"], "type-comp")  # Compositing
    assert (asset["name"], asset["context_id"], asset["type_id"]) == ("reviewComp", shot["id"], "assettype-upload")
    [version] = _data(fake, "AssetVersion")  # one, after two publishes
    assert {k: version[k] for k in ("asset_id", "version", "task_id", "comment", "status_id")} == {
        "asset_id": asset["id"], "version": 3, "task_id": task["id"], "status_id": "status-pr",  # "wfa"
        "comment": "24 frames 1001-1024, none missing; ACES 1.3 sRGB; PSNR 48.1 dB"}
    assert (first.id, first.created, second.id, second.created) == (version["id"], True, version["id"], False)

    # the movie: a FileComponent named ftrackreview-mp4 on the version, its bytes PUT where the server said,
    # registered in the ftrack.server location, with the ftr_meta the web player reads
    components = _data(fake, "FileComponent")
    movies = [c for c in components if c["name"] == "ftrackreview-mp4"]
    assert [(c["file_type"], c["size"], c["version_id"]) for c in movies] == [
        (".mp4", pub.movie.stat().st_size, version["id"])] * 2  # publish, then the rebuild
    movie_md5 = base64.b64encode(hashlib.md5(pub.movie.read_bytes()).digest()).decode()
    asks = _ops(fake, "get_upload_metadata")
    assert [(a["component_id"], a["file_name"], a["file_size"], a["checksum"]) for a in asks[:1]] == [
        (movies[0]["id"], "sh010_comp_v003.mp4", pub.movie.stat().st_size, movie_md5)]
    puts = [s for s in fake.sent if s.method == "PUT"]
    assert [(p.query["component"], p.body) for p in puts[:2]] == [
        ([movies[0]["id"]], pub.movie.read_bytes()), ([components[1]["id"]], pub.poster.read_bytes())]
    locations = _data(fake, "ComponentLocation")
    assert {(loc["component_id"], loc["location_id"], loc["resource_identifier"]) for loc in locations[:2]} == {
        (c["id"], ftrackmod.SERVER_LOCATION_ID, c["id"]) for c in components[:2]}
    metadata = _data(fake, "Metadata")
    assert [(m["parent_id"], m["parent_type"], m["key"], json.loads(m["value"])) for m in metadata[:1]] == [
        (movies[0]["id"], "FileComponent", "ftr_meta",
         {"frameIn": 1001, "frameOut": 1024, "frameRate": 24.0, "width": 64, "height": 36})]

    # the poster: a server component set as the version's and the shot's thumbnail
    thumbnail = components[1]
    assert (thumbnail["name"], thumbnail["file_type"]) == ("thumbnail", ".jpg")
    updates = {(op["entity_type"], op["entity_key"][0]): op["entity_data"] for op in _ops(fake, "update")[:2]}
    assert updates[("AssetVersion", version["id"])]["thumbnail_id"] == thumbnail["id"]
    assert updates[("Shot", shot["id"])]["thumbnail_id"] == thumbnail["id"]
    values = {op["entity_data"]["configuration_id"]: op["entity_data"]["value"]
              for op in _ops(fake, "update", "ContextCustomAttributeValue")}
    assert values == {"cac-fstart": 1001, "cac-fend": 1024, "cac-fps": 24.0}
    notes = _data(fake, "Note")
    assert [(n["content"], n["parent_id"], n["parent_type"], n["user_id"]) for n in notes] == [
        (pub.comment, version["id"], "AssetVersion", "user-proxygen"),
        ("rebuilt: 24 frames, grade v2", version["id"], "AssetVersion", "user-proxygen")]

    # the rebuild: the version updated, its first review component deleted before the second was made
    rebuild = [op for op in _ops(fake, "update", "AssetVersion") if "comment" in op["entity_data"]]
    assert [(op["entity_data"]["comment"], op["entity_data"]["status_id"]) for op in rebuild] == [
        ("rebuilt: 24 frames, grade v2", "status-ap")]
    assert [op["entity_key"] for op in _ops(fake, "delete", "FileComponent")] == [[movies[0]["id"]]]

    [review] = _data(fake, "ReviewSession")
    [item] = _data(fake, "ReviewSessionObject")  # not added again by the second publish of the daily
    assert (review["name"], review["project_id"]) == ("dailies 2026-12-02", "p-demo")
    assert (item["review_session_id"], item["asset_version_id"], item["name"], item["version"]) == (
        review["id"], version["id"], "reviewComp", "Version 3")
    assert (day.id, day.created, again.id, again.created) == (review["id"], True, review["id"], False)


def test_a_refused_key_is_refused(monkeypatch):
    fake = FakeHTTP.load("ftrack", "refused_key").install(monkeypatch)
    with pytest.raises(TrackerRefused, match=r"ftrack: connecting to .* the API user or key was refused "
                                             r".*InvalidCredentialsError"):
        ftrackmod.connect(SETTINGS)
    fake.done()


def test_create_false_refuses_a_missing_shot(monkeypatch):
    fake, tracker = _tracker(monkeypatch, "missing_shot")
    with pytest.raises(TrackerRefused, match=r"no sequence 'seq010' in project 'demo'.*PROXYGEN_TRACKER_CREATE"):
        publish(tracker, publication(create=False))
    fake.done()
    assert _ops(fake, "create") == [] and not [s for s in fake.sent if s.method == "PUT"]


def test_connection_refused_and_an_unknown_task_type(monkeypatch):
    FakeHTTP([], refuse=True).install(monkeypatch)
    with pytest.raises(TrackerUnavailable, match="ftrack: connecting to .*: ConnectionError"):
        ftrackmod.connect(SETTINGS)
    replay = FakeHTTP.load("ftrack", "publish_and_rebuild")
    cut = next(i for i, ex in enumerate(replay.exchanges)
               if ex["request"].get("json", [{}])[0].get("expression") == "select id, name from Type")
    replay.exchanges = replay.exchanges[:cut + 1]
    replay.install(monkeypatch)
    tracker = ftrackmod.connect(SETTINGS)
    with pytest.raises(TrackerRefused, match=r"no task type 'fx' \(Animation, Compositing, Lighting\)"):
        publish(tracker, publication(task_type="fx"))
    replay.done()


LIVE_VARS = ("PROXYGEN_FTRACK_LIVE_URL", "PROXYGEN_FTRACK_LIVE_USER", "PROXYGEN_FTRACK_LIVE_KEY",
             "PROXYGEN_FTRACK_LIVE_PROJECT")


@pytest.mark.live
@pytest.mark.skipif(not all(os.environ.get(v) for v in LIVE_VARS),
                    reason=f"live ftrack test: set {', '.join(LIVE_VARS)} (a project the user may write to)")
def test_live_site_publishes_once_with_a_playable_review():
    tracker = ftrackmod.connect(TrackerSettings(
        tracker="ftrack", ftrack_url=os.environ["PROXYGEN_FTRACK_LIVE_URL"],
        ftrack_user=os.environ["PROXYGEN_FTRACK_LIVE_USER"], ftrack_key=os.environ["PROXYGEN_FTRACK_LIVE_KEY"]))
    pub = publication(project=os.environ["PROXYGEN_FTRACK_LIVE_PROJECT"], shot=f"proxygen_{uuid.uuid4().hex[:8]}",
                      task_type=os.environ.get("PROXYGEN_FTRACK_LIVE_TASK_TYPE", "Compositing"))
    first = publish(tracker, pub)
    second = publish(tracker, pub)
    components = tracker.session.query(
        f'select name, metadata from FileComponent where version_id is "{first.id}"').all()
    assert (first.created, second.created, second.id) == (True, False, first.id)
    assert [c["name"] for c in components].count("ftrackreview-mp4") == 1


def test_revision_status_reads_the_versions_status(monkeypatch):
    import json
    from pathlib import Path

    from tests.tracker_helpers import FakeHTTP

    recorded = json.loads((Path(__file__).parent / "fixtures/trackers/ftrack/publish_and_rebuild.json").read_text())
    connect = recorded["exchanges"][:2]  # query_server_information, query_schemas
    for schema in connect[1]["response"]["json"][0]:  # ftrack's AssetVersion relates its Status (the fixture's
        if schema["id"] == "AssetVersion":            # hand-built schema lists only what publishing writes)
            schema["properties"]["status"] = {"$ref": "Status"}

    def query(expression, data):
        return {"request": {"method": "POST", "path": "/api", "json": [{"action": "query", "expression": expression}]},
                "response": {"status": 200, "json": [{"action": "query", "data": data,
                                                      "metadata": {"next": {"offset": None}}}]}}

    fake = FakeHTTP([*connect,
                     query('select status.name from AssetVersion where id is "v-3" limit 1',
                           [{"__entity_type__": "AssetVersion", "id": "v-3",
                             "status": {"__entity_type__": "Status", "id": "s-apr", "name": "Approved"}}]),
                     query('select status.name from AssetVersion where id is "v-9" limit 1', [])]).install(monkeypatch)
    tracker = ftrackmod.FtrackTracker(ftrackmod.connect(SETTINGS).session)
    assert tracker.revision_status("demo", "v-3") == "Approved"
    assert tracker.revision_status("demo", "v-9") is None
    fake.done()
