"""The registry of inputs: what an object is, decided in one place, and every ignored object version recorded
once as a ``skipped`` row with its reason and a ``proxy.skipped`` event (never again for the same version)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from proxygen_core.settings import PipelineSettings
from proxygen_core.store.discovery import Cursor, Skipped, scan
from proxygen_core.store.inputs import KINDS, classify, extension

from .test_discovery import Listing

FRAMES = PipelineSettings().extension_set()


@pytest.mark.parametrize(("key", "kind", "reason"), [
    ("show/sq/sh010/comp/beauty_v003.1001.exr", "frame", ""),
    ("plates/PLATE.1001.EXR", "frame", ""),  # upper case is the same extension
    ("plates/scan.0001.DPX", "frame", ""),
    ("plates/a.tiff", "frame", ""),
    ("grade/sh010.cdl", "grade", "grade sidecar: no grade stage yet"),
    ("grade/sh010.CC", "grade", "grade sidecar: no grade stage yet"),
    ("grade/all.ccc", "grade", "grade sidecar: no grade stage yet"),
    ("cut/reel1.edl", "editorial", "editorial file outside PROXYGEN_EDITORIAL_PREFIX, or audio: not a cut"),
    ("cut/reel1.otio", "editorial", "editorial file outside PROXYGEN_EDITORIAL_PREFIX, or audio: not a cut"),
    ("cut/reel1.xml", "editorial", "editorial file outside PROXYGEN_EDITORIAL_PREFIX, or audio: not a cut"),
    ("cut/reel1.AAF", "editorial", "editorial file outside PROXYGEN_EDITORIAL_PREFIX, or audio: not a cut"),
    ("cut/reel1.wav", "editorial", "editorial file outside PROXYGEN_EDITORIAL_PREFIX, or audio: not a cut"),
    ("cut/reel1.aac", "editorial", "editorial file outside PROXYGEN_EDITORIAL_PREFIX, or audio: not a cut"),
    ("config/studio.ocio", "config", "colour configuration: not read from the bucket"),
    ("tex/wood.tx", "unknown", "unknown input: extension .tx"),
    ("plates/a.1001.jp2", "unknown", "unknown input: extension .jp2"),
    ("art/matte.PSD", "unknown", "unknown input: extension .psd"),
    ("scans/a.1001.cin", "unknown", "unknown input: extension .cin"),
    ("plates/beauty_1001", "unknown", "unknown input: no extension"),  # an extensionless frame
    ("plates/beauty.1001", "unknown", "unknown input: no extension"),  # a frame number is no extension
    ("plates/.DS_Store", "unknown", "unknown input: no extension"),
    ("shot/.proxies/a.0001_thumb.jpg", "output", "our own output (.proxies/ or the state folder)"),
    (".proxies/.pipeline/ab12/state.json", "output", "our own output (.proxies/ or the state folder)"),
    ("shot/.proxies/sh_v003.exr_timeline.otio", "output", "our own output (.proxies/ or the state folder)"),
    ("/home/me/out/.proxygen/tmp/x.exr", "output", "our own output (.proxies/ or the state folder)"),
    ("shot/sh010/", "folder", "a folder marker, not a file"),
])
def test_every_kind_of_object_is_classified_in_one_place(key, kind, reason):
    verdict = classify(key, FRAMES)
    assert (verdict.kind.name, verdict.reason) == (kind, reason)
    assert verdict.source == (kind == "frame")
    # Ignored objects get a skipped row; our own outputs and folder markers never do.
    assert verdict.skipped == (kind not in ("frame", "output", "folder"))


def test_frame_extensions_are_the_setting_and_win_over_the_registry():
    assert classify("a/b.jp2", FRAMES | {".jp2"}).source  # a studio that adds JPEG 2000 gets it rendered
    assert classify("a/b.xml", frozenset({".xml"})).kind.name == "frame"
    assert classify("a/b.exr", frozenset({".dpx"})).reason == "unknown input: extension .exr"
    assert classify("a/.proxies/b.exr", FRAMES | {".exr"}).kind.name == "output"  # never our own outputs


def test_the_registry_kinds_are_distinct_and_each_says_why_it_is_ignored():
    names = [k.name for k in KINDS]
    assert len(names) == len(set(names)) and {"grade", "editorial", "config"} <= set(names)
    extensions = [e for k in KINDS for e in k.extensions]
    assert len(extensions) == len(set(extensions))  # one kind per extension
    assert all(e == e.lower() and e.startswith(".") for e in extensions)
    assert all(k.reason and not k.frames and k.recorded for k in KINDS)  # nothing consumes them yet
    assert not FRAMES & set(extensions)  # today's frame extensions overlap no other kind
    assert [extension(k) for k in ("a.EXR", "a.1001", "a", "dir.v2/a", "a.tar.gz")] == [".exr", "", "", "", ".gz"]


# --- recorded once per version -----------------------------------------------------------------------------


@pytest.fixture()
def catalog(tmp_path):
    from proxygen_core.catalog import SQLiteCatalog

    c = SQLiteCatalog(tmp_path / "catalog.db")
    c.ensure()
    return c


def _publisher():
    from proxygen_core.events.outbox import Publisher

    return Publisher(None, "spaceharbor.proxy")  # no broker: the events wait in the outbox


def _sweep(listing: Listing, cursor: Cursor, catalog) -> tuple[list[str], dict, Cursor]:
    """One whole sweep (ticks until it ends), recording what it ignored as the polling sensor does."""
    from proxygen_core.pipeline.record import record_skipped

    found: list[str] = []
    rows: dict = {}
    while True:
        skipped = Skipped()
        objs, cursor = scan(listing, cursor, FRAMES, max_keys=2, page_size=2, skipped=skipped)
        found += [o.key for o in objs]
        rows.update(record_skipped(catalog, _publisher(), "frames", skipped.ignored, drain=False).rows)
        if not cursor.after:
            return found, rows, cursor


def test_a_sweep_records_each_ignored_version_once(catalog):
    listing = Listing()
    listing.put("shows/show/sq010/sh010/comp/beauty_v003.1001.exr", "e1")
    listing.put("shows/show/sq010/sh010/comp/beauty_v003.1001.psd", "p1")
    listing.put("shows/show/sq010/sh010/comp/sh010.cdl", "c1")
    listing.put("shows/show/sq010/sh010/comp/.proxies/beauty_v003.1001_thumb.jpg", "t1")
    listing.put("shows/show/sq010/sh010/comp/plate_1001", "x1")
    found, rows, cursor = _sweep(listing, Cursor(), catalog)
    assert found == ["shows/show/sq010/sh010/comp/beauty_v003.1001.exr"]
    assert sorted(rows) == ["shows/show/sq010/sh010/comp/beauty_v003.1001.psd",
                            "shows/show/sq010/sh010/comp/plate_1001", "shows/show/sq010/sh010/comp/sh010.cdl"]
    stored = {r.s3_key: r for r in catalog.rows(status="skipped")}
    assert set(stored) == set(rows)  # never the output under .proxies/
    psd = stored["shows/show/sq010/sh010/comp/beauty_v003.1001.psd"]
    assert psd.status == "skipped" and psd.error == "unknown input: extension .psd"
    assert (psd.etag, psd.source_size_bytes, psd.s3_bucket) == ("p1", 1, "frames")
    assert (psd.show, psd.seq, psd.shot, psd.task, psd.version) == ("show", "sq010", "sh010", "comp", 3)
    assert psd.file_id and psd.mtime == "2026-11-22T12:00:00+00:00"
    assert psd.thumbnail_s3_key is None and psd.proxy_s3_key is None and psd.render_settings_hash is None
    assert stored["shows/show/sq010/sh010/comp/sh010.cdl"].error == "grade sidecar: no grade stage yet"
    events = {json.loads(e.payload)["source_uri"]: json.loads(e.payload) for e in catalog.events()}
    assert len(events) == 3
    psd_event = events["s3://frames/shows/show/sq010/sh010/comp/beauty_v003.1001.psd"]
    assert psd_event["type"] == "proxy.skipped" and psd_event["error"] == "unknown input: extension .psd"
    assert psd_event["event_id"] == psd.event_id and psd_event["thumbnail_uri"] is None

    # The next sweep over the same versions writes nothing, nor does one from a lost cursor (the catalog says).
    listing.now += timedelta(minutes=1)
    assert _sweep(listing, cursor, catalog)[:2] == ([], {})
    assert _sweep(listing, Cursor(), catalog)[1] == {}
    assert catalog.count("rows", "skipped") == 3 and catalog.count("events") == 3

    # A new version (new etag) is recorded again; the old row goes to the history.
    listing.put("shows/show/sq010/sh010/comp/beauty_v003.1001.psd", "p2")
    _, again, _ = _sweep(listing, cursor, catalog)
    assert list(again) == ["shows/show/sq010/sh010/comp/beauty_v003.1001.psd"] and again[psd.s3_key].etag == "p2"
    assert catalog.count("rows", "skipped") == 3 and catalog.count("events") == 4
    assert [(h.s3_key, h.etag) for h in catalog.history()] == [(psd.s3_key, "p1")]


def test_a_rendered_version_is_never_turned_into_a_skipped_row(catalog):
    """An object the pipeline already recorded (say .tif, before an operator dropped it from the extensions)
    keeps its row for that version."""
    from proxygen_core.pipeline.chain import KeyResult
    from proxygen_core.pipeline.record import frame_row, record_skipped, unrecorded
    from proxygen_core.settings import RenderSettings
    from proxygen_core.store.s3 import ObjectInfo

    listing = Listing()
    listing.put("a/plate.0001.tif", "v1")
    info = listing.objects["a/plate.0001.tif"]
    row = frame_row(KeyResult("a/plate.0001.tif"), "frames", RenderSettings(), "review").but(etag="v1")
    catalog.write([row], [])
    verdict = classify(info.key, frozenset({".exr"}))
    assert unrecorded(catalog, "frames", {info.key: "v1", "a/other.psd": "x"}) == {"a/other.psd"}
    assert record_skipped(catalog, _publisher(), "frames", [(info, verdict)]).rows == {}
    assert [r.status for r in catalog.rows()] == ["ok"]
    newer = ObjectInfo(info.key, 5, "v2", info.last_modified)
    assert list(record_skipped(catalog, _publisher(), "frames", [(newer, verdict)]).rows) == [info.key]


def test_notifications_are_triaged_by_the_same_registry():
    from proxygen_core.events.notifications import Notification, parse_notification, relevant, triage

    notes = [Notification("b", "x/a.0001.exr", "e", "ObjectCreated:Put"),
             Notification("b", "x/a.0001.psd", "e", "ObjectCreated:Put"),
             Notification("b", "x/grade.cdl", "e", "ObjectCreated:Put"),
             Notification("b", "x/.proxies/a.0001_thumb.jpg", "e", "ObjectCreated:Put"),
             Notification("other", "x/b.psd", "e", "ObjectCreated:Put")]
    sources, ignored = triage(notes, "b", FRAMES)
    assert [n.key for n in sources] == ["x/a.0001.exr"] == [n.key for n in relevant(notes, "b", FRAMES)]
    assert [(n.key, v.reason) for n, v in ignored] == [("x/a.0001.psd", "unknown input: extension .psd"),
                                                       ("x/grade.cdl", "grade sidecar: no grade stage yet")]
    body = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"},
                                                                 "object": {"key": "x/a.psd", "size": 42}}}]}
    assert parse_notification(json.dumps(body))[0].size == 42


# --- the local door ----------------------------------------------------------------------------------------


def test_render_skips_what_is_not_a_frame_and_renders_the_rest(tmp_path):
    import numpy as np

    from proxygen_core.media.samples import write_exr

    from .conftest import run_cli as _run

    src = tmp_path / "in"
    src.mkdir()
    for n in (1, 2):
        write_exr(src / f"plate.{n:04d}.exr", np.full((32, 64, 3), 0.2, np.float32))
    (src / "plate.0001.psd").write_bytes(b"8BPS not a frame")
    (src / "sh010.cdl").write_text("<ColorDecisionList/>")
    out = tmp_path / "out"
    proc = _run("render", *sorted(str(p) for p in src.iterdir()), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    skipped = [line for line in proc.stdout.splitlines() if line.startswith("skipped: ")]
    assert skipped == [f"skipped: {src / 'plate.0001.psd'}: unknown input: extension .psd",
                       f"skipped: {src / 'sh010.cdl'}: grade sidecar: no grade stage yet"]
    assert proc.stderr == ""
    assert (out / "plate.0001_proxy.mp4").stat().st_size > 0 and (out / "plate.0002_proxy.mp4").stat().st_size > 0
    assert json.loads((out / "plate.0001.json").read_text())["status"] == "ok"  # the frame keeps its own report
    report = json.loads((out / "plate.0001.psd.skipped.json").read_text())
    assert report["status"] == "skipped" and report["input"] == "unknown"
    assert report["reason"] == "unknown input: extension .psd" and report["source_size_bytes"] == 16
    assert report["source"] == str(src / "plate.0001.psd")
    assert not list(out.glob("plate.0001.psd_*"))  # nothing rendered for it
    assert json.loads((out / "sh010.cdl.skipped.json").read_text())["input"] == "grade"


def test_records_lists_skipped_rows(tmp_path, catalog, monkeypatch):
    from proxygen_core.pipeline.record import record_skipped

    from .conftest import run_cli as _run

    listing = Listing()
    listing.put("a/matte.psd", "p1")
    record_skipped(catalog, _publisher(), "frames", [(listing.objects["a/matte.psd"],
                                                     classify("a/matte.psd", FRAMES))])
    monkeypatch.setenv("PROXYGEN_SQLITE_PATH", str(tmp_path / "catalog.db"))
    proc = _run("records", "--status", "skipped", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [(r["s3_key"], r["status"], r["error"]) for r in json.loads(proc.stdout)] == [
        ("a/matte.psd", "skipped", "unknown input: extension .psd")]
    text = _run("records", "--status", "skipped")
    assert "skipped  a/matte.psd" in text.stdout and "unknown input: extension .psd" in text.stdout
    assert _run("records", "--status", "ok", "--json").stdout.strip() == "[]"
