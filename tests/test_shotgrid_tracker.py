"""The ShotGrid publisher against shotgun_api3's mockgun (an in-memory ShotGrid with a schema we write), its
connection failures against recorded RPC replies, and a live site when PROXYGEN_SHOTGRID_LIVE_* are set.

mockgun checks entity and field names and value types against the schema, filters like ShotGrid, and keeps
its rows in ``_db``: the tests read those rows, not the publisher's return values. Its ``upload()`` raises
NotImplementedError and ``upload_thumbnail()`` does nothing, so RecordingShotgun records both (path, entity,
field) and the tests assert the records. What mockgun does not do (transcoding, real permissions, status lists
enforced by the server) is what the live test is for (docs/trackers.md).
"""
from __future__ import annotations

import json
import os
import pickle
import socket
import urllib.error
import uuid
from pathlib import Path

import pytest
from shotgun_api3.lib import mockgun

from proxygen_core.errors import ConfigurationError
from proxygen_core.settings import TrackerSettings
from proxygen_core.trackers import Revision, TrackerRefused, TrackerUnavailable, publish
from proxygen_core.trackers import shotgrid as sgmod
from tests.tracker_helpers import publication

SITE = "https://studio.shotgrid.example"
VERSION_STATUSES = ["rev", "vwd", "apr", "na"]

# The minimal schema this project reads and writes: entity -> field -> data type (entity fields: valid types).
SCHEMA: dict[str, dict[str, str | tuple[str, list[str]]]] = {
    "EventLogEntry": {"event_type": "text", "description": "text"},  # mockgun writes one at start
    "Project": {"name": "text"},
    "Step": {"code": "text", "short_name": "text", "entity_type": "entity_type"},
    "Sequence": {"code": "text", "project": ("entity", ["Project"])},
    "Shot": {"code": "text", "project": ("entity", ["Project"]), "sg_sequence": ("entity", ["Sequence"]),
             "sg_cut_in": "number", "sg_cut_out": "number", "sg_cut_duration": "number"},
    "Task": {"content": "text", "project": ("entity", ["Project"]), "entity": ("entity", ["Shot"]),
             "step": ("entity", ["Step"])},
    "Version": {"code": "text", "project": ("entity", ["Project"]), "entity": ("entity", ["Shot"]),
                "sg_task": ("entity", ["Task"]), "sg_first_frame": "number", "sg_last_frame": "number",
                "frame_range": "text", "frame_count": "number", "sg_uploaded_movie_frame_rate": "float",
                "sg_path_to_movie": "text", "sg_path_to_frames": "text", "sg_status_list": "status_list",
                "description": "text", "sg_uploaded_movie": "url"},
    "Playlist": {"code": "text", "project": ("entity", ["Project"]), "versions": ("multi_entity", ["Version"])},
}


def _field(kind: str | tuple[str, list[str]], name: str) -> dict:
    data_type, valid = (kind, []) if isinstance(kind, str) else kind
    props: dict = {"default_value": {"value": None}, "valid_types": {"value": valid}}
    if data_type == "status_list":
        props["valid_values"] = {"value": VERSION_STATUSES}
    return {"data_type": {"value": data_type}, "properties": props, "name": {"value": name}}


def write_schema(folder: Path, schema: dict = SCHEMA) -> tuple[str, str]:
    """The two pickles mockgun.Shotgun.set_schema_paths wants, from the description above (their shape is
    what Shotgun.schema_read / schema_entity_read return)."""
    fields = {entity: {name: _field(kind, name) for name, kind in entity_fields.items()}
              for entity, entity_fields in schema.items()}
    for entity_fields in fields.values():
        entity_fields["id"] = _field("number", "Id")
    entities = {entity: {"name": {"value": entity}} for entity in schema}
    paths = str(folder / "schema.pickle"), str(folder / "schema_entity.pickle")
    for path, data in zip(paths, (fields, entities), strict=True):
        with open(path, "wb") as fh:
            pickle.dump(data, fh)
    return paths


class RecordingShotgun(mockgun.Shotgun):
    """mockgun with uploads recorded: (entity type, id, field, path, bytes) per call, the file read there."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.uploads: list[tuple[str, int, str, str, int]] = []
        self.down = False  # uploads answer 503, as a site in maintenance does

    def upload(self, entity_type, entity_id, path, field_name=None, display_name=None, tag_list=None):
        self._validate_entity_exists(entity_type, entity_id)
        if self.down:
            raise urllib.error.HTTPError(f"{SITE}/upload", 503, "Service Unavailable", None, None)
        size = len(Path(path).read_bytes())
        self.uploads.append((entity_type, entity_id, str(field_name), str(path), size))
        attachment = len(self.uploads)
        self._db[entity_type][entity_id][field_name] = {"name": Path(path).name, "type": "Attachment",
                                                        "id": attachment, "link_type": "upload"}
        return attachment

    def upload_thumbnail(self, entity_type, entity_id, path, **kwargs):
        self._validate_entity_exists(entity_type, entity_id)
        self.uploads.append((entity_type, entity_id, "image", str(path), len(Path(path).read_bytes())))
        return len(self.uploads)


@pytest.fixture
def sg(tmp_path):
    # SchemaFactory caches by path: a fresh folder per test, so a test's schema is the one it wrote
    mockgun.Shotgun.set_schema_paths(*write_schema(tmp_path))
    site = RecordingShotgun(SITE, script_name="proxygen", api_key="k")
    site.create("Step", {"code": "Comp", "short_name": "comp", "entity_type": "Shot"})
    return site


def _rows(sg, entity_type):
    """The live rows, links as {type, id} (mockgun's filter matching writes a "name" into stored links)."""
    return [{k: _plain(v) for k, v in row.items()} for row in sg._db[entity_type].values() if not row["__retired"]]


def _plain(value):
    if isinstance(value, dict) and "type" in value and "id" in value and value.get("type") != "Attachment":
        return {"type": value["type"], "id": value["id"]}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _link(sg, entity_type, **match):
    rows = [r for r in _rows(sg, entity_type) if all(r[k] == v for k, v in match.items())]
    assert len(rows) == 1, (entity_type, match, rows)
    return {"type": entity_type, "id": rows[0]["id"]}


def test_publish_writes_the_version_its_uploads_and_the_shot(sg):
    pub = publication()
    revision = publish(sgmod.ShotGridTracker(sg, SITE + "/"), pub)

    project = _link(sg, "Project", name="demo")
    sequence = _link(sg, "Sequence", code="seq010", project=project)
    shot = _link(sg, "Shot", code="sh010", project=project, sg_sequence=sequence)
    task = _link(sg, "Task", content="comp", entity=shot, step={"type": "Step", "id": 1}, project=project)
    [version] = _rows(sg, "Version")
    attachment = version.pop("sg_uploaded_movie")
    assert {k: v for k, v in version.items() if k not in ("id", "type", "__retired")} == {
        "code": "sh010_comp_v003", "project": project, "entity": shot, "sg_task": task,
        "sg_first_frame": 1001, "sg_last_frame": 1024, "frame_range": "1001-1024", "frame_count": 24,
        "sg_uploaded_movie_frame_rate": 24.0,
        "sg_path_to_movie": "s3://renders/review/demo/sh010/comp/v003/sh010_comp_v003.mp4",
        "sg_path_to_frames": "s3://renders/shows/demo/seq010/sh010/comp/v003/sh010_comp_v003.####.exr",
        "sg_status_list": "rev",  # the default "wfa" is Kitsu's name: ShotGrid's is "rev" (Pending Review)
        "description": "24 frames 1001-1024, none missing; ACES 1.3 sRGB; PSNR 48.1 dB",
    }
    assert attachment["name"] == "sh010_comp_v003.mp4"
    movie_size, poster_size = pub.movie.stat().st_size, pub.poster.stat().st_size
    assert sg.uploads == [("Version", version["id"], "sg_uploaded_movie", str(pub.movie), movie_size),
                          ("Version", version["id"], "image", str(pub.poster), poster_size),
                          ("Shot", shot["id"], "image", str(pub.poster), poster_size)]
    [shot_row] = _rows(sg, "Shot")
    assert (shot_row["sg_cut_in"], shot_row["sg_cut_out"], shot_row["sg_cut_duration"]) == (1001, 1024, 24)
    assert revision == Revision(id=str(version["id"]), url=f"{SITE}/detail/Version/{version['id']}", created=True)


def test_publishing_twice_keeps_one_version_and_a_rebuild_updates_it(sg):
    tracker = sgmod.ShotGridTracker(sg, SITE)
    first = publish(tracker, publication())
    rebuilt = publication(comment="rebuilt: 24 frames, grade v2", movie_uri="s3://renders/review/rebuilt.mp4",
                          status="apr")
    second = publish(tracker, rebuilt)

    [version] = _rows(sg, "Version")
    assert (second.id, second.created, first.created) == (first.id, False, True)
    assert (version["description"], version["sg_path_to_movie"], version["sg_status_list"]) == (
        "rebuilt: 24 frames, grade v2", "s3://renders/review/rebuilt.mp4", "apr")
    assert [len(_rows(sg, kind)) for kind in ("Project", "Sequence", "Shot", "Task")] == [1, 1, 1, 1]
    movies = [u for u in sg.uploads if u[2] == "sg_uploaded_movie"]
    assert movies == [("Version", version["id"], "sg_uploaded_movie", str(rebuilt.movie),
                       rebuilt.movie.stat().st_size)] * 2  # uploaded again: the field holds the rebuild's file


def test_a_site_down_during_the_upload_is_unavailable_and_the_retry_adds_no_version(sg):
    tracker = sgmod.ShotGridTracker(sg, SITE)
    sg.down = True
    with pytest.raises(TrackerUnavailable, match=r"uploading sh010_comp_v003.mp4 to Version \d+: .*503"):
        publish(tracker, publication())
    sg.down = False
    retried = publish(tracker, publication())  # the outbox's retry: the Version made before the failure is found
    [version] = _rows(sg, "Version")
    assert (retried.id, retried.created) == (str(version["id"]), False)
    assert [u[2] for u in sg.uploads] == ["sg_uploaded_movie", "image", "image"]


def test_playlist_holds_the_versions_and_is_replaced_not_added(sg):
    tracker = sgmod.ShotGridTracker(sg, SITE)
    v3 = publish(tracker, publication())
    v4 = publish(tracker, publication(version=4))
    made = tracker.publish_playlist("dailies 2026-12-02", "demo", [v3])
    again = tracker.publish_playlist("dailies 2026-12-02", "demo", [v3, v4])

    [playlist] = _rows(sg, "Playlist")
    assert playlist["code"] == "dailies 2026-12-02" and playlist["project"] == _link(sg, "Project", name="demo")
    assert playlist["versions"] == [{"type": "Version", "id": int(v3.id)}, {"type": "Version", "id": int(v4.id)}]
    assert (made.created, again.created, again.id) == (True, False, made.id)
    assert again.url == f"{SITE}/detail/Playlist/{playlist['id']}"


def test_create_false_refuses_a_missing_shot_and_writes_nothing(sg):
    project = sg.create("Project", {"name": "demo"})
    sg.create("Sequence", {"code": "seq010", "project": project})
    with pytest.raises(TrackerRefused, match=r"no Shot 'sh010' in project 'demo'.*PROXYGEN_TRACKER_CREATE"):
        publish(sgmod.ShotGridTracker(sg, SITE), publication(create=False))
    assert (_rows(sg, "Shot"), _rows(sg, "Version"), sg.uploads) == ([], [], [])


def test_an_unknown_task_type_or_status_is_refused(sg):
    tracker = sgmod.ShotGridTracker(sg, SITE)
    with pytest.raises(TrackerRefused, match=r"no Shot pipeline step named 'lighting'"):
        publish(tracker, publication(task_type="lighting"))
    with pytest.raises(TrackerRefused, match=r"status 'bogus' is not a Version status of this site \(rev, vwd"):
        publish(tracker, publication(status="bogus"))
    assert (_rows(sg, "Version"), sg.uploads) == ([], [])


def test_fields_the_site_lacks_are_not_written(tmp_path):
    schema = {k: dict(v) for k, v in SCHEMA.items()}
    del schema["Version"]["frame_count"], schema["Version"]["sg_uploaded_movie_frame_rate"]
    del schema["Shot"]["sg_cut_duration"]
    mockgun.Shotgun.set_schema_paths(*write_schema(tmp_path, schema))
    site = RecordingShotgun(SITE, script_name="proxygen", api_key="k")
    site.create("Step", {"code": "Comp", "short_name": "comp", "entity_type": "Shot"})
    publish(sgmod.ShotGridTracker(site, SITE), publication())  # mockgun refuses unknown fields: this would raise
    [version] = _rows(site, "Version")
    assert version["sg_first_frame"] == 1001 and "frame_count" not in version


# --- connecting: the RPC replies a ShotGrid site gives, played back in place of the HTTP transport -----------

def _replying(monkeypatch, replies):
    """Shotgun._http_request answers from ``replies`` (method name -> (status, body)); the calls are recorded."""
    import shotgun_api3

    calls = []

    def fake(self, verb, path, body, headers):
        payload = json.loads(body)
        calls.append(payload["method_name"])
        status, reply = replies[payload["method_name"]]
        return status, {"content-type": "application/json"}, json.dumps(reply)

    monkeypatch.setattr(shotgun_api3.Shotgun, "_http_request", fake)
    return calls


def _settings(url=SITE, key="secret"):
    return TrackerSettings(tracker="shotgrid", shotgrid_url=url, shotgrid_script="proxygen", shotgrid_key=key)


INFO = ((200, "OK"), {"version": [8, 2, 1], "full_version": [8, 2, 1, 0]})


def test_connect_checks_the_key_and_refuses_a_wrong_one(monkeypatch):
    calls = _replying(monkeypatch, {"info": INFO, "read": ((200, "OK"), {
        "exception": True, "error_code": 102, "message": "Can't authenticate script 'proxygen'"})})
    with pytest.raises(TrackerRefused, match=r"shotgrid: connecting to .*script name or key was refused.*"
                                             r"Can't authenticate script"):
        sgmod.connect(_settings(key="wrong"))
    assert calls == ["info", "read"]


def test_connect_with_a_good_key_and_a_site_in_maintenance(monkeypatch):
    calls = _replying(monkeypatch, {"info": INFO, "read": ((200, "OK"), {"results": {"entities": []}})})
    tracker = sgmod.connect(_settings(url=SITE + "/"))
    assert (calls, tracker.site_url, tracker.sg.config.timeout_secs) == (["info", "read"], SITE, 120.0)
    _replying(monkeypatch, {"info": ((503, "Service Unavailable"), {})})
    with pytest.raises(TrackerUnavailable, match="HTTP 503"):
        sgmod.connect(_settings())


def test_connect_refused_is_unavailable_and_missing_settings_a_configuration_error():
    with socket.socket() as sock:  # a port nothing listens on: bound, then closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TrackerUnavailable, match=r"shotgrid: connecting to http://127.0.0.1:\d+"):
        sgmod.connect(_settings(url=f"http://127.0.0.1:{port}"))
    with pytest.raises(ConfigurationError, match="^PROXYGEN_SHOTGRID_SCRIPT, PROXYGEN_SHOTGRID_KEY: not set") as caught:
        sgmod.connect(TrackerSettings(tracker="shotgrid", shotgrid_url=SITE))
    assert caught.value.settings == ("PROXYGEN_SHOTGRID_SCRIPT", "PROXYGEN_SHOTGRID_KEY")


# --- a real site (opt-in) ------------------------------------------------------------------------------------

LIVE_VARS = ("PROXYGEN_SHOTGRID_LIVE_URL", "PROXYGEN_SHOTGRID_LIVE_SCRIPT", "PROXYGEN_SHOTGRID_LIVE_KEY",
             "PROXYGEN_SHOTGRID_LIVE_PROJECT")


@pytest.mark.live
@pytest.mark.skipif(not all(os.environ.get(v) for v in LIVE_VARS),
                    reason=f"live ShotGrid test: set {', '.join(LIVE_VARS)} (a test project the script may write to)")
def test_live_site_publishes_once_and_updates():
    settings = TrackerSettings(tracker="shotgrid", shotgrid_url=os.environ["PROXYGEN_SHOTGRID_LIVE_URL"],
                               shotgrid_script=os.environ["PROXYGEN_SHOTGRID_LIVE_SCRIPT"],
                               shotgrid_key=os.environ["PROXYGEN_SHOTGRID_LIVE_KEY"])
    tracker = sgmod.connect(settings)
    shot = f"proxygen_{uuid.uuid4().hex[:8]}"
    pub = publication(project=os.environ["PROXYGEN_SHOTGRID_LIVE_PROJECT"], shot=shot,
                      task_type=os.environ.get("PROXYGEN_SHOTGRID_LIVE_STEP", "Comp"))
    first = publish(tracker, pub)
    second = publish(tracker, pub)
    found = tracker.sg.find("Version", [["code", "is", pub.code]], ["sg_first_frame", "frame_range",
                                                                       "sg_uploaded_movie"])
    assert (first.created, second.created, second.id) == (True, False, first.id)
    assert len(found) == 1 and found[0]["frame_range"] == "1001-1024" and found[0]["sg_uploaded_movie"]


def test_revision_status_reads_the_versions_status_back(sg):
    tracker = sgmod.ShotGridTracker(sg, SITE)
    revision = publish(tracker, publication())
    assert tracker.revision_status("demo", revision.id) == "rev"  # published pending review
    sg.update("Version", int(revision.id), {"sg_status_list": "apr"})  # a supervisor approves it
    assert tracker.revision_status("demo", revision.id) == "apr"
    assert tracker.revision_status("demo", "999") is None
