"""Editorial cuts (docs/editorial.md): reading EDL / OTIO / FCP XML / AAF into events, matching them to shots,
and the conform of a four-event EDL against shots rendered through the real chain, checked picture by picture
from the decoded movie (a binary code of shot, version and frame drawn into every source picture)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import opentimelineio as otio
import pytest

from proxygen_core.editorial.build import build_cut
from proxygen_core.editorial.conform import NO_VERSION, OK, OUT_OF_RANGE, UNMATCHED, CutVersionError, plan_cut
from proxygen_core.editorial.events import CutParseError, read_cut
from proxygen_core.editorial.match import DEFAULT_MATCH, match_cut, parse_match
from proxygen_core.rows import ClipRow
from proxygen_core.store.local import LocalStore

from .editorial_helpers import code, decode_code, ffprobe_frames, movie_codes, render_shot

# Four events at 24 fps; source timecodes from 00:00:41:17 = frame 1001. sh010 (v001, v002), sh020 (v001,
# rendered 993-1012: 8 frames of handles either side of 1001-1004), sh030 (nothing), sh010 again.
EDL = """TITLE: reel1
FCM: NON-DROP FRAME

001  SH010    V     C        00:00:41:17 00:00:41:23 01:00:00:00 01:00:00:06
* FROM CLIP NAME: sh010_comp
*ASC_SOP (1.1 1.0 0.9)(0.01 0.0 -0.01)(1.0 1.0 1.0)
*ASC_SAT 0.9
002  SH020    V     C        00:00:41:17 00:00:41:21 01:00:00:06 01:00:00:10
* FROM CLIP NAME: sh020_comp
003  SH030    V     C        00:00:41:17 00:00:41:20 01:00:00:10 01:00:00:13
* FROM CLIP NAME: sh030_comp
004  SH010    V     C        00:00:41:19 00:00:41:23 01:00:00:13 01:00:00:17
* FROM CLIP NAME: sh010_comp
* LOC: 01:00:00:14 YELLOW sh010
"""
LENGTHS = [6, 4, 3, 4]


def _row(shot: str, version: int, status: str = "ok", first: int = 1001, last: int = 1010, **kw) -> ClipRow:
    return ClipRow(clip_id=f"{shot}-{version}", sequence=f"s/{shot}_v{version}.####.exr", s3_bucket="b",
                   status=status, profile="review", shot=shot, version=version, first_frame=first, last_frame=last,
                   start_timecode="00:00:41:17" if first == 1001 else None, fps=24.0, **kw)


def test_an_edl_reads_into_typed_events_with_reel_locator_and_grade():
    cut = read_cut(EDL.encode(), "editorial/demo/reel1.edl")
    assert (cut.name, cut.fps, cut.record_start, cut.frames) == ("reel1", 24.0, 86400, 17)
    first, last = cut.events[0], cut.events[3]
    assert (first.index, first.name, first.reel, first.source_in, first.source_out) == (1, "sh010_comp", "SH010",
                                                                                         1001, 1007)
    assert (first.record_in, first.record_out) == (86400, 86406)
    assert first.grade is not None and first.grade.slope == (1.1, 1.0, 0.9) and first.grade.saturation == 0.9
    assert first.grade.offset == (0.01, 0.0, -0.01)
    assert (last.source_in, last.record_in, last.locators) == (1003, 86413, ("sh010",))
    assert [e.duration for e in cut.events] == LENGTHS


@pytest.mark.parametrize(("line", "bad", "cause"), [
    (8, "002  SH020    V     C        00:00:4X:17 00:00:41:21 01:00:00:06 01:00:00:10", "not a timecode"),
    (8, "002  SH020    V     C        00:00:41:17 00:00:41:21 01:00:00:06", "8 fields or more"),
    (8, "002  SH020    V     C        00:00:41:17 00:00:41:22 01:00:00:06 01:00:00:10", "source length 5 != record"),
])
def test_a_malformed_edl_fails_naming_the_line_and_the_cause(line, bad, cause):
    lines = EDL.splitlines()
    assert lines[line - 1].startswith("002")
    lines[line - 1] = bad
    with pytest.raises(CutParseError) as caught:
        read_cut("\n".join(lines).encode(), "editorial/demo/reel1.edl")
    assert caught.value.line == line and cause in str(caught.value) and "reel1.edl" in str(caught.value)


def test_an_unknown_cut_format_is_refused():
    with pytest.raises(CutParseError, match="not a cut this version reads"):
        read_cut(b"x", "editorial/demo/reel1.fcpxml")


def test_events_match_shots_by_the_configured_rule():
    cut = read_cut(EDL.encode(), "editorial/demo/reel1.edl")
    shots = ["sh010", "sh020", "sh0100"]
    by_name = match_cut(cut, shots, parse_match(DEFAULT_MATCH))
    assert [(m.shot, m.by) for m in by_name] == [("sh010", "clip_name"), ("sh020", "clip_name"), (None, None),
                                                 ("sh010", "clip_name")]
    by_locator = match_cut(cut, shots, parse_match("locator"))
    assert [m.shot for m in by_locator] == [None, None, None, "sh010"]
    by_reel = match_cut(cut, shots, parse_match("reel"))
    assert [m.shot for m in by_reel] == ["sh010", "sh020", None, "sh010"]
    with pytest.raises(ValueError, match="clip_name, source_file, locator, reel"):
        parse_match("shot")


def test_the_plan_takes_the_latest_ok_version_reads_the_shots_timecode_and_honours_handles():
    cut = read_cut(EDL.encode(), "editorial/demo/reel1.edl")
    rows = [_row("sh010", 1), _row("sh010", 2), _row("sh010", 3, status="failed"),
            # sh020 rendered 993-1012: its clip starts at 00:00:41:09 (frame 993)
            _row("sh020", 1, first=993, last=1012).but(start_timecode="00:00:41:09")]
    matches = match_cut(cut, {r.shot for r in rows if r.shot}, parse_match(DEFAULT_MATCH))
    plan = plan_cut("k", cut, matches, rows)
    assert [(p.state, p.version, p.first_frame) for p in plan.events] == [
        (OK, 2, 1001), (OK, 1, 1001), (UNMATCHED, None, None), (OK, 2, 1003)]
    assert "sh030" in plan.events[2].reason and plan.versions == {"sh010": 2, "sh020": 1}
    pinned = plan_cut("k", cut, matches, rows, "pinned", {"sh010": 1})
    assert [p.version for p in pinned.events] == [1, 1, None, 1]
    # an EXR timeCode that differs from the frame number: the source timecode is read against it
    shifted = plan_cut("k", cut, matches, [_row("sh010", 1, first=1, last=200).but(start_timecode="00:00:41:17")])
    assert shifted.events[0].first_frame == 1 and shifted.events[3].first_frame == 3
    short = plan_cut("k", cut, matches, [_row("sh010", 1, last=1004)])
    assert short.events[0].state == OUT_OF_RANGE and "1001-1006" in short.events[0].reason
    assert plan_cut("k", cut, matches, [_row("sh010", 1, status="failed")]).events[0].reason.startswith(
        "sh010: v001 failed")
    nothing = plan_cut("k", cut, matches, []).events[0]  # matched (a shot named), but no clip of it yet
    assert (nothing.state, nothing.reason) == (NO_VERSION, "sh010: no version yet")
    with pytest.raises(CutVersionError, match="tracker"):
        plan_cut("k", cut, matches, rows, "approved")


def test_approved_takes_the_newest_approved_ok_version_else_a_card_saying_why():
    from proxygen_core.settings import TrackerSettings

    trackers = TrackerSettings(tracker="shotgrid")
    cut = read_cut(EDL.encode(), "editorial/demo/reel1.edl")
    matches = match_cut(cut, ["sh010", "sh020"], parse_match(DEFAULT_MATCH))
    rows = [_row("sh010", 1, tracker_status="published", tracker_review="apr"),
            _row("sh010", 2, tracker_status="published", tracker_review="Approved"),
            _row("sh010", 3, tracker_status="published", tracker_review="rev"),
            _row("sh020", 1, tracker_status="published", tracker_review="rev")]

    def approved(row):
        return trackers.is_approved(row.tracker_review)

    plan = plan_cut("k", cut, matches, rows, "approved", approved=approved)
    assert [(p.state, p.version) for p in plan.events] == [(OK, 2), (NO_VERSION, None), (UNMATCHED, None),
                                                           (OK, 2)]
    assert plan.events[1].reason == "sh020: no approved version yet (newest ok v001: rev)"
    # latest would take v003; the approval of v003 moves the cut to it
    assert plan_cut("k", cut, matches, rows).events[0].version == 3
    rows[2] = rows[2].but(tracker_review="APR")
    assert plan_cut("k", cut, matches, rows, "approved", approved=approved).events[0].version == 3
    assert not trackers.is_approved(None) and not trackers.is_approved("") and trackers.is_approved(" done ")


def test_cut_version_approved_needs_a_tracker_at_load():
    from proxygen_core.settings import load_settings

    with pytest.raises(ValueError, match="cut_version=approved.*PROXYGEN_TRACKER"):
        load_settings(env={"PROXYGEN_CUT_VERSION": "approved"})
    ok = load_settings(env={"PROXYGEN_CUT_VERSION": "approved", "PROXYGEN_TRACKER": "shotgrid",
                            "PROXYGEN_TRACKER_APPROVED": "apr,vwd", "PROXYGEN_TRACKER_REVIEW_SECONDS": "15"})
    assert ok.trackers.is_approved("VWD") and not ok.trackers.is_approved("done")
    assert ok.trackers.tracker_review_seconds == 15.0


def test_a_cut_at_another_rate_than_its_shot_is_a_warning_naming_the_conversion():
    cut = read_cut(EDL.encode(), "editorial/demo/reel1.edl", fps=25)
    matches = match_cut(cut, ["sh010"], parse_match(DEFAULT_MATCH))
    plan = plan_cut("k", cut, matches, [_row("sh010", 1, last=1300).but(start_timecode=None)])
    assert plan.warnings and "24 fps, the cut at 25" in plan.warnings[0] and "frame for frame" in plan.warnings[0]


def _timeline_of(edl: str) -> otio.schema.Timeline:
    return otio.adapters.read_from_string(edl, adapter_name="cmx_3600", rate=24)


def _events(cut):
    return [(e.index, e.name, e.source_in, e.source_out, e.record_in, e.record_out) for e in cut.events]


def test_fcp_xml_aaf_and_otio_of_the_same_cut_give_the_same_events(tmp_path):
    edl = read_cut(EDL.encode(), "editorial/demo/reel1.edl")
    timeline = _timeline_of(EDL)
    timeline.global_start_time = otio.opentime.RationalTime(86400, 24)
    for clip in timeline.find_clips():  # AAF needs media with ranges; markers are EDL-only here
        clip.media_reference = otio.schema.ExternalReference(
            target_url=f"file:///media/{clip.name}.mov",
            available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(993, 24),
                                                    otio.opentime.RationalTime(200, 24)))
        clip.markers.clear()
    as_otio = read_cut(otio.adapters.write_to_string(timeline, "otio_json").encode(), "editorial/demo/reel1.otio")
    otio.adapters.write_to_file(timeline, str(tmp_path / "reel1.xml"), adapter_name="fcp_xml")
    as_xml = read_cut((tmp_path / "reel1.xml").read_bytes(), "editorial/demo/reel1.xml")
    otio.adapters.write_to_file(timeline, str(tmp_path / "reel1.aaf"), adapter_name="AAF", use_empty_mob_ids=True)
    as_aaf = read_cut((tmp_path / "reel1.aaf").read_bytes(), "editorial/demo/reel1.aaf")
    assert _events(as_otio) == _events(as_xml) == _events(edl)
    assert _events(as_aaf) == _events(edl)
    assert as_xml.events[0].source_file == "sh010_comp.mov"
    rows = [_row("sh010", 1), _row("sh020", 1)]
    for cut in (as_otio, as_xml, as_aaf):
        plan = plan_cut("k", cut, match_cut(cut, ["sh010", "sh020"], parse_match(DEFAULT_MATCH)), rows)
        assert [(p.state, p.version, p.first_frame) for p in plan.events] == [
            (OK, 1, 1001), (OK, 1, 1001), (UNMATCHED, None, None), (OK, 1, 1003)]


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    root = tmp_path_factory.mktemp("editorial")
    store = LocalStore(root / "out")
    rows = [render_shot(root, store, "sh010", 1, range(1001, 1009)),
            render_shot(root, store, "sh010", 2, range(1001, 1009)),
            render_shot(root, store, "sh020", 1, range(993, 1013))]
    cut_key = str(store.root / "editorial" / "demo" / "reel1.edl")
    store.put_bytes(cut_key, EDL.encode())
    return root, store, rows, cut_key


def _expected(v010: int) -> list[tuple[str, int, int] | None]:
    return ([("sh010", v010, n) for n in range(1001, 1007)] + [("sh020", 1, n) for n in range(1001, 1005)]
            + [None] * 3 + [("sh010", v010, n) for n in range(1003, 1007)])


def _check_movie(store: LocalStore, outcome, v010: int) -> None:
    row = outcome.row
    assert row.ok, row.error
    assert row.frame_count == sum(LENGTHS) == ffprobe_frames(row.movie_s3_key)
    assert row.start_timecode == "01:00:00:00"
    seen = [decode_code(c) for c in movie_codes(row.movie_s3_key)]
    expected = _expected(v010)
    assert len(seen) == len(expected)
    for index, (got, want) in enumerate(zip(seen, expected, strict=True)):
        if want is None:  # the card: a dark slate, no shot's code in its patch row
            assert got[0] == "?", f"picture {index}: {got}"
            assert outcome.movie.gap_frames[index] == UNMATCHED
        else:
            assert got == want, f"picture {index}: {got} != {want}"
    assert json.loads(row.versions) == {"sh010": v010, "sh020": 1}
    assert json.loads(row.missing_events) == [3]


@pytest.mark.slow
def test_a_four_event_edl_conforms_to_the_right_versions_and_frames(shots):
    root, store, rows, cut_key = shots
    outcome = build_cut(store, cut_key, rows, __import__("tests.editorial_helpers", fromlist=["SETTINGS"]).SETTINGS)
    _check_movie(store, outcome, 2)
    row = outcome.row
    folder = Path(cut_key).parent / ".proxies"
    assert row.movie_s3_key == str(folder / "reel1_cut.mp4") and row.otio_s3_key == str(folder / "reel1_cut.otio")
    # the OTIO loads back with the same ranges, its media relative to the OTIO file and resolving
    timeline = otio.adapters.read_from_file(row.otio_s3_key)
    clips = list(timeline.find_clips())
    assert [(c.source_range.start_time.value, c.source_range.duration.value) for c in clips] == [
        (1001, 6), (1001, 4), (1001, 3), (1003, 4)]
    assert [timeline.tracks[0].range_of_child(c).start_time.value for c in clips] == [0, 6, 10, 13]
    assert timeline.global_start_time.value == 86400
    url = clips[0].media_reference.target_url
    assert not url.startswith(("/", "s3:")) and (folder / url).resolve() == Path(rows[1].clip_s3_key).resolve()
    assert isinstance(clips[2].media_reference, otio.schema.MissingReference)
    assert clips[2].metadata["proxygen"]["state"] == UNMATCHED
    page = Path(row.html_s3_key).read_text()
    assert "reel1_cut.mp4" in page and "sh030_comp: no version yet" in page and "v002" in page
    # a new version of sh010: the next build holds v003 in both of its events
    rows3 = [*rows, render_shot(root, store, "sh010", 3, range(1001, 1009))]
    again = build_cut(store, cut_key, rows3, __import__("tests.editorial_helpers", fromlist=["SETTINGS"]).SETTINGS)
    _check_movie(store, again, 3)
    assert again.row.fingerprint != row.fingerprint
    assert code("sh010", 3, 1001) != code("sh010", 2, 1001)


def test_an_unreadable_cut_is_a_failed_row_naming_the_line(tmp_path):
    store = LocalStore(tmp_path)
    key = str(tmp_path / "editorial" / "demo" / "bad.edl")
    store.put_bytes(key, EDL.replace("00:00:41:21 01:00:00:06", "00:00:4X:21 01:00:00:06").encode())
    from .editorial_helpers import SETTINGS

    outcome = build_cut(store, key, [], SETTINGS)
    assert outcome.row.status == "failed" and "line 8" in outcome.row.error and "CutParseError" in outcome.row.error
    assert not (tmp_path / "editorial" / "demo" / ".proxies").exists()


def _catalog_params():
    from .test_catalog import _postgres, _sqlite, _vast_fake

    return [pytest.param(_sqlite, id="sqlite"), pytest.param(_vast_fake, id="vast-fake"),
            pytest.param(_postgres, id="postgres", marks=pytest.mark.services)]


@pytest.mark.parametrize("make", _catalog_params())
def test_an_older_cut_build_never_replaces_a_newer_ones_row_and_its_event_says_which_versions(make, tmp_path,
                                                                                              request):
    from proxygen_core.editorial.record import CUT_GENERATED, record_cut
    from proxygen_core.rows import CutRow

    if request.node.callspec.id == "postgres":
        request.getfixturevalue("postgres_server")
    catalog = make(tmp_path)

    def cut(versions: dict[str, int], planned: int) -> CutRow:
        return CutRow(cut_id="k1", cut_key="editorial/demo/reel1.edl", s3_bucket="frames", status="ok",
                      versions=json.dumps(versions), fingerprint=f"f{planned}", planned_at=planned, frame_count=17,
                      generated_timestamp=f"2026-12-02T10:00:0{planned % 10}+00:00")

    assert record_cut(catalog, cut({"sh010": 3}, 2000), "t")
    assert not record_cut(catalog, cut({"sh010": 2}, 1000), "t")  # finished last, planned first: refused
    [stored] = catalog.cuts()
    assert stored.version_map == {"sh010": 3} and stored.frame_count == 17
    [event] = catalog.events()
    body = json.loads(event.payload)
    assert (body["type"], body["versions"], body["cut_id"]) == (CUT_GENERATED, {"sh010": 3}, "k1")


@pytest.mark.parametrize("make", _catalog_params())
def test_a_cut_reads_only_its_shows_shots_and_their_versions_from_the_catalog(make, tmp_path, request):
    """clip_shots / shot_clips on every backend: the show's shots (rows with no show count, profiles other than
    the review's do not), then every version of the matched shots only; the plan from the catalog equals the
    plan from the same rows in hand."""
    from proxygen_core.editorial.build import RowsSource, plan_of

    if request.node.callspec.id == "postgres":
        request.getfixturevalue("postgres_server")
    catalog = make(tmp_path)
    rows = [_row("sh010", 1, show="demo", planned_at=1), _row("sh010", 2, show="demo", planned_at=2),
            _row("sh020", 1, show="demo", planned_at=3), _row("sh020", 2, status="failed", show="demo", planned_at=4),
            _row("sh030", 1, show="other", planned_at=5), _row("sh040", 1, show=None, planned_at=6),
            ClipRow(clip_id="sh010-1-prores", sequence="s/sh010_v1.####.exr", s3_bucket="b", status="ok",
                    profile="prores_422hq", shot="sh090", version=1, show="demo")]
    assert catalog.write_clips(rows, []) == len(rows)
    for source in (catalog, RowsSource(tuple(rows))):
        assert source.clip_shots("demo", "review") == {"sh010", "sh020", "sh040"}
        assert source.clip_shots(None, "review") == {"sh010", "sh020", "sh030", "sh040"}
        got = sorted((r.shot, r.version, r.status) for r in source.shot_clips(["sh020", "sh030"], "demo", "review"))
        assert got == [("sh020", 1, "ok"), ("sh020", 2, "failed")]  # sh030 is another show's
        assert source.shot_clips([], "demo", "review") == []
    store = LocalStore(tmp_path / "out")
    key = store.bucket_key("editorial/demo/reel1.edl")
    store.put_bytes(key, EDL.encode())
    from .editorial_helpers import SETTINGS

    from_catalog, _ = plan_of(store, key, catalog, SETTINGS)
    in_hand, _ = plan_of(store, key, rows, SETTINGS)
    assert [(p.state, p.version) for p in from_catalog.events] == [(p.state, p.version) for p in in_hand.events]
    assert [(p.match.shot, p.state, p.version) for p in from_catalog.events] == [
        ("sh010", OK, 2), ("sh020", OK, 1), (None, UNMATCHED, None), ("sh010", OK, 2)]


def test_proxygen_cuts_json_lists_the_rows_with_their_events_and_versions(tmp_path):
    import os
    import subprocess
    import sys

    from proxygen_core.catalog import SQLiteCatalog
    from proxygen_core.editorial.record import record_cut
    from proxygen_core.rows import CutRow

    db = tmp_path / "c.db"
    catalog = SQLiteCatalog(db)
    catalog.ensure()
    events = [{"index": 1, "shot": "sh010", "version": 3, "state": "ok", "source_in": 1001, "source_out": 1007,
               "record_in": 86400, "record_out": 86406}]
    assert record_cut(catalog, CutRow(cut_id="k1", cut_key="editorial/demo/reel1.edl", s3_bucket="b", status="ok",
                                      events=json.dumps(events), versions=json.dumps({"sh010": 3}),
                                      missing_events=json.dumps([3]), frame_count=17, planned_at=1,
                                      generated_timestamp="2026-12-02T10:00:00+00:00"), "t")
    proc = subprocess.run([sys.executable, "-m", "proxygen_core.cli", "cuts", "--json"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PROXYGEN_SQLITE_PATH": str(db)}, check=True)
    [listed] = json.loads(proc.stdout)
    assert listed["cut_key"] == "editorial/demo/reel1.edl" and listed["versions"] == {"sh010": 3}
    assert listed["events"] == events and listed["missing_events"] == [3] and listed["frame_count"] == 17


def test_the_otio_media_are_relative_to_the_otio_file_or_presigned_urls():
    from proxygen_core.store.links import PRESIGN_SECONDS, media_url

    class S3Like:
        bucket = "frames"

        class client:  # noqa: N801  (boto3's shape: store.client.generate_presigned_url)
            @staticmethod
            def generate_presigned_url(op, Params, ExpiresIn):  # noqa: N803
                return f"https://s3.example/{Params['Bucket']}/{Params['Key']}?op={op}&expires={ExpiresIn}"

    otio_key = "editorial/demo/.proxies/reel1_cut.otio"
    clip = "shows/demo/sq010/sh010/comp/v002/.proxies/sh010_comp_v002.exr_clip.mp4"
    assert media_url(S3Like(), clip, otio_key, "relative") == \
        "../../../shows/demo/sq010/sh010/comp/v002/.proxies/sh010_comp_v002.exr_clip.mp4"
    assert media_url(S3Like(), clip, otio_key, "presigned") == \
        f"https://s3.example/frames/{clip}?op=get_object&expires={PRESIGN_SECONDS}"


@pytest.mark.slow
def test_burnins_name_each_events_shot_and_version_and_leave_the_pictures(shots, tmp_path):
    import shutil
    from dataclasses import replace

    from .editorial_helpers import SETTINGS

    root, store, rows, cut_key = shots
    plain = build_cut(store, cut_key, rows, SETTINGS)
    plain_movie = shutil.copy(plain.row.movie_s3_key, tmp_path / "plain.mp4")  # the next build writes the same key
    burned = build_cut(store, cut_key, rows, replace(SETTINGS, render=replace(SETTINGS.render, clip_burnins=True)))
    assert plain.row.ok and burned.row.ok
    import av
    import numpy as np

    def lumas(path):
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="yuv420p")[:f.height].astype(float) for f in container.decode(video=0)]

    a, b = lumas(plain_movie), lumas(burned.row.movie_s3_key)
    assert len(a) == len(b) == sum(LENGTHS)
    # the bands carry text (differ), the code rows do not: every event still reads as its version and frame
    assert all(np.abs(x[:8] - y[:8]).max() > 40 for x, y in zip(a[:6], b[:6], strict=True))
    assert [decode_code(c) for c in movie_codes(burned.row.movie_s3_key)][:6] == [("sh010", 2, n)
                                                                               for n in range(1001, 1007)]


def _wav(path: Path, seconds: float, onset: float, rate: int = 44100, hz: float = 1000.0) -> None:
    """A 16-bit stereo WAV (no channel mask, as many tools write it): silence, then a ``hz`` tone from ``onset``."""
    import av
    import numpy as np

    t = np.arange(int(rate * seconds)) / rate
    tone = np.where(t >= onset, np.sin(2 * np.pi * hz * t) * 0.5, 0.0)
    samples = (tone * 32767).astype(np.int16)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.stack([samples, samples], 1).reshape(1, -1), format="s16",
                                           layout="stereo")
        frame.sample_rate, frame.pts = rate, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


def _ffmpeg_audio(path: str):
    """The file's sound as Debian's ffmpeg decodes it (not PyAV's libav): mono float at 48 kHz."""
    import subprocess

    import numpy as np

    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-vn", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"],
                         check=True, capture_output=True, timeout=60).stdout
    return np.frombuffer(raw, np.float32)


def _ffprobe_streams(path: str) -> list[dict]:
    import subprocess

    text = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,pix_fmt,"
                           "sample_rate,start_time,duration", "-of", "json", path], check=True, capture_output=True,
                          text=True, timeout=60).stdout
    return [s for s in json.loads(text)["streams"] if s.get("codec_type") in ("video", "audio")]


def _ffmpeg_codes(path: str) -> list[int]:
    """Every picture's code as Debian's ffmpeg decodes it (8-bit grey), independent of PyAV."""
    import subprocess

    import numpy as np

    from .editorial_helpers import H, W, read_code

    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         check=True, capture_output=True, timeout=60).stdout
    pictures = np.frombuffer(raw, np.uint8).reshape(-1, H, W)
    return [read_code(p) for p in pictures]


@pytest.mark.slow
def test_the_cut_is_delivered_in_each_editorial_profile_with_its_sound_from_the_first_picture(shots):
    """With prores_422hq enabled the cut is also <cut>_cut_prores_422hq.mov: the same events, versions and frames
    (read back by Debian's ffmpeg), 10-bit 4:2:2. A WAV beside the cut (same name) is muxed into both files from
    the first picture (its tone's onset at 0.5 s is heard at 0.5 s), cut at the last picture, with a warning; it
    is part of the build's fingerprint (adding it rebuilds the cut)."""
    import numpy as np

    from proxygen_core.editorial.build import cut_inputs
    from proxygen_core.editorial.record import cut_event
    from proxygen_core.settings import PipelineSettings, Settings

    root, store, rows, _ = shots
    key = str(store.root / "editorial" / "demo" / "reel2.edl")
    store.put_bytes(key, EDL.encode())
    settings = Settings(pipeline=PipelineSettings(clip_profiles="review,prores_422hq,hevc_main10"))
    silent = build_cut(store, key, rows, settings)
    assert silent.row.ok and silent.row.audio_s3_key is None, silent.row.error
    seconds = sum(LENGTHS) / 24
    _wav(Path(key).with_suffix(".wav"), seconds + 1.0, 0.5)
    assert cut_inputs(store, key).audio is not None
    outcome = build_cut(store, key, rows, settings)
    row = outcome.row
    assert row.ok, row.error
    assert row.fingerprint != silent.row.fingerprint  # the sound is an input: a new build
    folder = Path(key).parent / ".proxies"
    mov = str(folder / "reel2_cut_prores_422hq.mov")
    assert row.deliverable_keys == {"prores_422hq": mov}  # hevc_main10 is not an editing intermediate
    assert row.audio_s3_key == str(Path(key).with_suffix(".wav"))
    assert any("cut at the last picture" in w for w in json.loads(row.warnings)), row.warnings
    expected = _expected(2)
    for path, video, audio in ((row.movie_s3_key, ("h264", "yuv420p"), "aac"),
                               (mov, ("prores", "yuv422p10le"), "pcm_s24le")):
        streams = _ffprobe_streams(path)
        assert [(s["codec_type"], s["codec_name"]) for s in streams] == [("video", video[0]), ("audio", audio)]
        assert streams[0]["pix_fmt"] == video[1] and streams[1]["sample_rate"] == "48000"
        assert ffprobe_frames(path) == sum(LENGTHS)
        seen = [decode_code(c) for c in _ffmpeg_codes(path)]
        for index, (got, want) in enumerate(zip(seen, expected, strict=True)):
            assert got[0] == "?" if want is None else got == want, f"{path} picture {index}: {got} != {want}"
        sound = _ffmpeg_audio(path)
        assert abs(len(sound) / 48000 - seconds) < 0.03, (path, len(sound) / 48000, seconds)
        loud = np.flatnonzero(np.abs(sound) > 0.1)
        assert abs(loud[0] / 48000 - 0.5) < 0.005, (path, loud[0] / 48000)  # the onset where the file has it
        spectrum = np.abs(np.fft.rfft(sound[24000:]))
        assert abs(np.argmax(spectrum) * 48000 / len(sound[24000:]) - 1000) < 5  # the tone itself
    body = json.loads(cut_event(row, "proxygen.cuts").payload)
    assert body["deliverable_uris"] == {"prores_422hq": f"s3://{store.bucket}/{mov}"}
    assert body["audio_uri"] == f"s3://{store.bucket}/{row.audio_s3_key}"
    # the quality figures of both files: 5 pictures of the events with media, against the exact render
    figures = row.quality_figures
    assert set(figures) == {"review", "prores_422hq"} and row.quality_passed and body["quality_passed"]
    assert all(len(q["frames"]) == 5 and q["metric"] == "CIEDE2000" for q in figures.values())
    assert figures["prores_422hq"]["de_mean"] < figures["review"]["de_mean"] <= 0.8  # 10-bit beats 8-bit 4:2:0
    assert figures["prores_422hq"]["psnr_db"] > 40


def test_a_cut_file_out_of_its_quality_bound_is_a_failed_check_and_a_warning(shots, monkeypatch):
    import dataclasses

    from proxygen_core import profiles
    from proxygen_core.settings import PipelineSettings, Settings
    from proxygen_dagster.cuts.assets import quality_check

    root, store, rows, _ = shots
    key = str(store.root / "editorial" / "demo" / "reel5.edl")
    store.put_bytes(key, EDL.encode())
    prores = profiles.PROFILES["prores_422hq"]
    strict = dataclasses.replace(prores.bound, de_mean=0.0, de_p99=0.0)  # no encode meets zero error
    monkeypatch.setitem(profiles.PROFILES, "prores_422hq", dataclasses.replace(prores, bound=strict))
    outcome = build_cut(store, key, rows, Settings(pipeline=PipelineSettings(clip_profiles="review,prores_422hq")))
    row = outcome.row
    assert row.ok and row.quality_passed is False  # the movies are made; the figures say they are out of bound
    assert row.quality_figures["review"]["passed"] and not row.quality_figures["prores_422hq"]["passed"]
    assert any(w.startswith("prores_422hq: quality CIEDE2000 mean") for w in json.loads(row.warnings))
    check = quality_check(outcome)
    assert not check.passed and list(check.metadata["problems"].value) == ["prores_422hq"]


@pytest.mark.slow
def test_an_edls_asc_cdl_is_the_edl_grade_source_of_its_shot_and_the_cut_shows_its_clips_grade(tmp_path):
    """A cut whose sh010 event carries *ASC_SOP/*ASC_SAT leaves sh010's grade for the ``edl`` source (named by
    the cut and event); sh010's clips rebuilt pick it up (after metadata/cc/ccc, which it has none of); the cut
    built from those clips shows them graded as the clip is (pictures match the clip's, not the ungraded cut's);
    another cut grading sh010 differently leaves it (a warning); the owner dropping its CDL removes it."""
    import av
    import numpy as np

    from proxygen_core.colour.grades import edl_grade_key, grade_for, parse_cdl
    from proxygen_core.pipeline.folder import render_file, write_sequence_clips

    from .editorial_helpers import SETTINGS

    store = LocalStore(tmp_path / "out")
    first = render_shot(tmp_path, store, "sh010", 1, range(1001, 1009))
    edl = EDL.split("002  ")[0]  # sh010's event alone, with its ASC CDL
    key = str(store.root / "editorial" / "demo" / "reel3.edl")
    store.put_bytes(key, edl.encode())
    ungraded = build_cut(store, key, [first], SETTINGS)
    assert ungraded.row.ok, ungraded.row.error
    plain_movie = str(tmp_path / "ungraded_cut.mp4")
    Path(plain_movie).write_bytes(Path(ungraded.row.movie_s3_key).read_bytes())  # the next build writes its key
    grade_key = edl_grade_key(store.bucket_key("editorial/demo/"), "sh010")
    written = Path(grade_key).read_bytes()
    grade = parse_cdl(written, grade_key)
    assert (grade.slope, grade.offset, grade.power, grade.saturation) == ((1.1, 1.0, 0.9), (0.01, 0.0, -0.01),
                                                                          (1.0, 1.0, 1.0), 0.9)
    # the grade lookup of sh010's sequence finds it as the edl source, only when edl is among the sources
    pattern = first.sequence
    found = grade_for(store, pattern, None, SETTINGS.pipeline)
    assert found is not None and found.source == f"edl:{key}#1" and found.slope == (1.1, 1.0, 0.9)
    assert grade_for(store, pattern, None, replace(SETTINGS.pipeline, grade_sources="metadata,cc,ccc")) is None
    # sh010's clips again (what the sequence sensor's grade check requests): graded by the edl source
    folder = Path(pattern).parent
    results = [render_file(p, store.root, SETTINGS, store, keep_working=True)
               for p in sorted(folder.glob("sh010_comp_v001.*.exr"))]
    [regraded] = write_sequence_clips(results, store, SETTINGS, keep_working=True)
    assert regraded.grade_source == f"edl:{key}#1" and regraded.grade_slope == "1.1 1 0.9"
    graded = build_cut(store, key, [regraded], SETTINGS)
    assert graded.row.ok and graded.row.fingerprint != ungraded.row.fingerprint
    assert Path(grade_key).read_bytes() == written  # an unchanged CDL is not written again

    def first_picture(path: str) -> np.ndarray:
        with av.open(path) as container:
            frame = next(container.decode(video=0))
            return frame.to_ndarray(format="rgb24").astype(float)

    clip, cut_graded = first_picture(regraded.clip_s3_key), first_picture(graded.row.movie_s3_key)
    cut_plain = first_picture(plain_movie)
    grey = (slice(0, 14), slice(None))  # the mid-grey band above the code patches
    assert np.abs(cut_graded[grey].mean((0, 1)) - clip[grey].mean((0, 1))).max() < 2.0
    assert np.abs(cut_plain[grey].mean((0, 1)) - clip[grey].mean((0, 1))).max() > 4.0  # the grade is visible
    # another cut grading sh010 otherwise: the first cut keeps the shot's grade, this one says so
    other = str(store.root / "editorial" / "demo" / "reel4.edl")
    store.put_bytes(other, edl.replace("(1.1 1.0 0.9)", "(0.5 0.5 0.5)").encode())
    outcome = build_cut(store, other, [regraded], SETTINGS)
    assert outcome.row.ok and Path(grade_key).read_bytes() == written
    assert any(f"its EDL grade is {key}'s" in w for w in json.loads(outcome.row.warnings)), outcome.row.warnings
    # the owner's cut without its CDL: the file goes (the shot's grade falls back to the other sources)
    store.put_bytes(key, edl.replace("*ASC_SOP (1.1 1.0 0.9)(0.01 0.0 -0.01)(1.0 1.0 1.0)\n*ASC_SAT 0.9\n",
                                     "").encode())
    assert build_cut(store, key, [regraded], SETTINGS).row.ok
    assert not Path(grade_key).exists()
    # a cut whose name needs escaping in XML (R&D) owns its grade too; deleted from the bucket, its grade goes
    from dagster import build_sensor_context

    from proxygen_dagster.cuts.sensors import forgotten

    amp = str(store.root / "editorial" / "demo" / "R&D_reel.edl")
    store.put_bytes(amp, edl.replace("(1.1 1.0 0.9)", "(0.5 0.5 0.5)").encode())
    assert build_cut(store, amp, [regraded], SETTINGS).row.ok and Path(grade_key).exists()
    store.put_bytes(amp, edl.replace("(1.1 1.0 0.9)", "(0.6 0.6 0.6)").encode())  # its own: rewritten
    assert build_cut(store, amp, [regraded], SETTINGS).row.ok
    assert parse_cdl(Path(grade_key).read_bytes(), grade_key).slope == (0.6, 0.6, 0.6)
    Path(amp).unlink()
    forgotten(build_sensor_context(), store, SETTINGS, amp)
    assert not Path(grade_key).exists()


def test_the_cut_sensor_reads_approvals_back_and_plans_the_cut_of_the_shot_that_changed(tmp_path, monkeypatch):
    """Approved mode end to end without a server: the sensor's review check reads the revisions' status from the
    tracker (the in-memory one), writes the change into the rows' tracker_review, and names the cut using that
    shot; the plan from the catalog then takes the approved version. A tracker that is down is a warning and no
    change; checks wait tracker_review_seconds."""
    from dagster import build_sensor_context

    from proxygen_core import trackers
    from proxygen_core.catalog.sqlite import SQLiteCatalog
    from proxygen_core.editorial.build import plan_of
    from proxygen_core.settings import PipelineSettings, Settings, TrackerSettings
    from proxygen_dagster.cuts.sensors import reviewed

    from . import tracker_memory

    monkeypatch.setitem(trackers.TRACKERS, "kitsu", "tests.tracker_memory")
    memory = tracker_memory.MemoryTracker()
    monkeypatch.setattr(tracker_memory, "CURRENT", memory)
    memory.statuses = {"rev-1": "done", "rev-2": "wfa"}
    settings = Settings(pipeline=PipelineSettings(clip_profiles="review", cut_version="approved"),
                        trackers=TrackerSettings(tracker="kitsu", tracker_review_seconds=60))
    catalog = SQLiteCatalog(tmp_path / "c.db")
    catalog.ensure()
    rows = [_row("sh010", 1, show="demo", planned_at=1, tracker_status="published", tracker_revision="rev-1"),
            _row("sh010", 2, show="demo", planned_at=2, tracker_status="published", tracker_revision="rev-2"),
            _row("sh020", 1, show="demo", planned_at=3, tracker_status="pending")]
    catalog.write_clips(rows, [])

    class Resource:
        def open(self):
            return catalog

    store = LocalStore(tmp_path / "out")
    key = store.bucket_key("editorial/demo/reel1.edl")
    store.put_bytes(key, EDL.encode())
    state = {"shots": {key: ["sh010", "sh020"], "gone.edl": ["sh030"]}}
    context = build_sensor_context()
    assert reviewed(context, Resource(), settings, state, {key}) == {key}
    assert {r.clip_id: r.tracker_review for r in catalog.clips()} == {"sh010-1": "done", "sh010-2": "wfa",
                                                                     "sh020-1": None}
    assert memory.calls.count("status") == 2  # the published revisions only
    plan, _ = plan_of(store, key, catalog, settings)
    assert [(p.state, p.version) for p in plan.events][:2] == [(OK, 1), (NO_VERSION, None)]
    # the next check waits tracker_review_seconds; then v002 approved moves the cut to it
    assert reviewed(context, Resource(), settings, state, {key}) == set()
    state["reviews_checked"] = 0.0
    memory.statuses["rev-2"] = "Done"
    assert reviewed(context, Resource(), settings, state, {key}) == {key}
    plan, _ = plan_of(store, key, catalog, settings)
    assert plan.events[0].version == 2
    # nothing changed: no cut; the tracker down: a warning, no change, no cut
    state["reviews_checked"] = 0.0
    assert reviewed(context, Resource(), settings, state, {key}) == set()
    memory.down, state["reviews_checked"] = True, 0.0
    assert reviewed(context, Resource(), settings, state, {key}) == set()
    assert catalog.clip("sh010-2").tracker_review == "Done"


SH010_EDL = """TITLE: reel5
FCM: NON-DROP FRAME

001  SH010    V     C        00:00:41:17 00:00:41:23 01:00:00:00 01:00:00:06
* FROM CLIP NAME: sh010_comp
"""


def test_a_cut_keeps_its_shots_working_frames_until_it_is_built_and_shows_a_broken_frame_as_a_gap(tmp_path):
    """With until_clips retention: a shot a cut uses keeps its working frames after its clips (a shot no cut
    uses releases them); the cut is built from them (no decode of a source) and then releases them; a frame
    whose working frame and source are both gone is a gap named in the row's warnings, and the cut still builds;
    a shot dropped from the cut drops the cut from its marker."""
    from proxygen_core.pipeline.state import load_state
    from proxygen_core.settings import PipelineSettings, Settings
    from proxygen_core.store.uses import Uses, uses_key

    settings = Settings(pipeline=PipelineSettings(clip_profiles="review", working_retention="until_clips"))
    store = LocalStore(tmp_path / "out")
    frames = range(1001, 1009)

    def states(row: ClipRow) -> dict[int, object]:
        return {n: load_state(store, row.sequence.replace("####", f"{n:04d}")) for n in frames}

    def kept(row: ClipRow) -> list[bool]:
        return [bool(s.working_exr) and Path(s.working_exr).exists() for s in states(row).values()]

    v1 = render_shot(tmp_path, store, "sh010", 1, frames, settings, retention="until_clips")
    assert kept(v1) == [False] * 8  # no cut uses sh010 yet: released once its clip is built
    key = str(store.root / "editorial" / "demo" / "reel5.edl")
    store.put_bytes(key, SH010_EDL.encode())
    first = build_cut(store, key, [v1], settings)
    assert first.row.ok, first.row.error
    assert first.movie.redecoded == 6  # v001's working frames were gone: its sources decoded again
    marker = Path(uses_key(store.bucket_key("editorial/demo/"), "sh010"))
    assert json.loads(marker.read_bytes()) == {"cuts": {store.uri(key): 1}, "pinned": []}
    # (a) a new version of a shot the cut uses keeps its working frames; a shot no cut uses does not
    v2 = render_shot(tmp_path, store, "sh010", 2, frames, settings, retention="until_clips")
    sh020 = render_shot(tmp_path, store, "sh020", 1, frames, settings, retention="until_clips")
    assert kept(v2) == [True] * 8
    assert kept(sh020) == [False] * 8 and all(s.working_exr is None for s in states(sh020).values())
    # (b) the cut is built from the kept frames, then releases them (every cut of sh010 is built with v002)
    second = build_cut(store, key, [v1, v2], settings)
    assert second.row.ok, second.row.error
    assert json.loads(second.row.versions) == {"sh010": 2} and second.movie.redecoded == 0
    assert [decode_code(c) for c in movie_codes(second.row.movie_s3_key)] == [("sh010", 2, n) for n in
                                                                                range(1001, 1007)]
    assert second.released == 8 and kept(v2) == [False] * 8
    assert all(s.working_exr is None for s in states(v2).values())
    assert Uses.parse(marker.read_bytes()).cuts == {store.uri(key): 2}
    # (c) v003's frame 1003 loses its working frame and its source: a gap, named in the warnings; the cut builds
    v3 = render_shot(tmp_path, store, "sh010", 3, frames, settings, retention="until_clips")
    assert kept(v3) == [True] * 8
    broken = states(v3)[1003]
    store.delete(broken.working_exr)
    Path(broken.key).unlink()
    third = build_cut(store, key, [v1, v2, v3], settings)
    assert third.row.ok, third.row.error
    seen = [decode_code(c) for c in movie_codes(third.row.movie_s3_key)]
    assert seen[2][0] == "?" and third.movie.gap_frames == {2: "unreadable"}
    assert seen[:2] + seen[3:] == [("sh010", 3, n) for n in (1001, 1002, 1004, 1005, 1006)]
    warnings = [w for w in json.loads(third.row.warnings) if "frame 1003" in w]
    assert len(warnings) == 1 and "sh010 v003 frame 1003: shown as a gap" in warnings[0], third.row.warnings
    assert "sh010_comp_v003.1003.exr" in warnings[0]  # the source it could not read
    assert third.movie.redecoded == 0 and third.released == 8  # the broken frame's state says it has none now
    assert kept(v3) == [False] * 8 and states(v3)[1003].working_exr is None
    # a shot dropped from the cut drops the cut from its marker (the marker goes when no cut is left)
    store.put_bytes(key, SH010_EDL.replace("SH010", "SH020").replace("sh010", "sh020").encode())
    fourth = build_cut(store, key, [v1, v2, v3, sh020], settings)
    assert fourth.row.ok and json.loads(fourth.row.versions) == {"sh020": 1}
    assert not marker.exists()
    assert Uses.parse(Path(uses_key(store.bucket_key("editorial/demo/"), "sh020")).read_bytes()).cuts == {
        store.uri(key): 1}


def test_a_shots_marker_keeps_a_version_for_the_cuts_that_will_show_it():
    """The keep rule (clip build) and the release rule (cut build) of store/uses.py, including a pinned cut."""
    from proxygen_core.store.uses import Uses

    uses = Uses()
    assert not uses.wanted(2) and not uses.waiting(2)
    uses.set("s3://b/editorial/demo/a.edl", 1, pinned=False)
    uses.set("s3://b/editorial/demo/p.edl", 1, pinned=True)
    assert [uses.wanted(v) for v in (1, 2, 3)] == [True, True, True]  # a follows the newest version
    assert [uses.waiting(v) for v in (1, 2)] == [False, True]  # a is on v001: v002 waits for it
    uses.set("s3://b/editorial/demo/a.edl", 3, pinned=False)
    assert [uses.wanted(v) for v in (1, 2, 3, 4)] == [True, False, True, True]  # v001 for p only; v002 for none
    assert [uses.waiting(v) for v in (1, 2, 3, 4)] == [False, False, False, True]
    again = Uses.parse(uses.to_json())
    assert (again.cuts, again.pinned) == (uses.cuts, {"s3://b/editorial/demo/p.edl"})
    assert Uses.parse(b"not json").cuts == {} and Uses.parse(None).cuts == {}


def test_a_transient_error_reading_a_frame_fails_the_cut_for_a_retry_a_permanent_one_is_a_gap(tmp_path,
                                                                                              monkeypatch):
    """The source decode (working frames released) raising: a transient error fails the build (the run
    retries), any other error makes that picture a gap and the cut builds, naming each frame."""
    from proxygen_core.errors import ProxygenError
    from proxygen_core.pipeline.sequence import members
    from proxygen_core.settings import PipelineSettings, Settings

    settings = Settings(pipeline=PipelineSettings(clip_profiles="review", working_retention="until_clips"))
    store = LocalStore(tmp_path / "out")
    v1 = render_shot(tmp_path, store, "sh010", 1, range(1001, 1009), settings, retention="until_clips")
    key = str(store.root / "editorial" / "demo" / "reel6.edl")
    store.put_bytes(key, SH010_EDL.encode())

    def throttled(path, render):
        raise ProxygenError(path, "SlowDown: reduce your request rate", transient=True)

    monkeypatch.setattr(members, "decode_working", throttled)
    failed = build_cut(store, key, [v1], settings)
    assert not failed.row.ok and "SlowDown" in (failed.row.error or "")
    assert failed.transient is not None  # the asset retries it and records nothing (cuts/assets.py)

    def corrupt(path, render):
        raise ValueError("truncated EXR")

    monkeypatch.setattr(members, "decode_working", corrupt)
    gaps = build_cut(store, key, [v1], settings)
    assert gaps.row.ok, gaps.row.error
    assert gaps.movie.gap_frames == dict.fromkeys(range(6), "unreadable")
    assert [decode_code(c)[0] for c in movie_codes(gaps.row.movie_s3_key)] == ["?"] * 6
    named = [w for w in json.loads(gaps.row.warnings) if "shown as a gap" in w]
    assert [w.split(":")[0] for w in named] == [f"sh010 v001 frame {n}" for n in range(1001, 1007)]
    assert all("truncated EXR" in w for w in named)


@pytest.mark.slow
def test_a_frame_whose_working_frame_and_source_are_gone_comes_from_the_versions_10_bit_clip(tmp_path):
    """The last source before a gap: the version's prores_422hq clip (slated: its first picture is the slate),
    decoded at the right picture; the row says where each such picture came from; without a 10-bit clip the
    picture is a gap."""
    from proxygen_core.pipeline.state import load_state
    from proxygen_core.settings import PipelineSettings, Settings

    settings = Settings(pipeline=PipelineSettings(clip_profiles="review,prores_422hq"))
    assert "prores_422hq" in settings.pipeline.clip_slates
    store = LocalStore(tmp_path / "out")
    row = render_shot(tmp_path, store, "sh010", 2, range(1001, 1009), settings)
    for number in (1003, 1005):  # working frame and source both gone
        state = load_state(store, row.sequence.replace("####", f"{number}"))
        store.delete(state.working_exr)
        Path(state.key).unlink()
    key = str(store.root / "editorial" / "demo" / "reel7.edl")
    store.put_bytes(key, SH010_EDL.encode())
    outcome = build_cut(store, key, [row], settings)
    assert outcome.row.ok, outcome.row.error
    assert [decode_code(c) for c in movie_codes(outcome.row.movie_s3_key)] == [("sh010", 2, n)
                                                                               for n in range(1001, 1007)]
    assert outcome.movie.gap_frames == {}
    taken = sorted(w.split(":")[0] for w in json.loads(outcome.row.warnings) if "from its prores_422hq clip" in w)
    assert taken == ["sh010 v002 frame 1003", "sh010 v002 frame 1005"]
    # the same loss without a 10-bit clip: gaps
    Path(store.clip_keys(row.sequence, {"prores_422hq": ".mov"})["prores_422hq"]).unlink()
    again = build_cut(store, key, [row], settings)
    assert again.row.ok and again.movie.gap_frames == {2: "unreadable", 4: "unreadable"}


def test_a_deleted_cut_drops_its_marks_on_its_shots(tmp_path):
    """forget_cut (what the cut sensor does once when a cut file is gone): the cut leaves its shots' markers,
    a marker another cut still holds stays with that cut, and the cut's record goes."""
    from dagster import build_sensor_context

    from proxygen_core.store.uses import Uses, uses_key
    from proxygen_dagster.cuts.sensors import forgotten

    from .editorial_helpers import SETTINGS

    store = LocalStore(tmp_path / "out")
    row = render_shot(tmp_path, store, "sh010", 1, range(1001, 1009))
    one, two = (str(store.root / "editorial" / "demo" / f"{n}.edl") for n in ("one", "two"))
    for key in (one, two):
        store.put_bytes(key, SH010_EDL.encode())
        assert build_cut(store, key, [row], SETTINGS).row.ok
    marker = Path(uses_key(store.bucket_key("editorial/demo/"), "sh010"))
    assert set(Uses.parse(marker.read_bytes()).cuts) == {store.uri(one), store.uri(two)}
    Path(one).unlink()
    forgotten(build_sensor_context(), store, SETTINGS, one)
    assert set(Uses.parse(marker.read_bytes()).cuts) == {store.uri(two)}
    Path(two).unlink()
    forgotten(build_sensor_context(), store, SETTINGS, two)
    assert not marker.exists() and not list(marker.parent.glob(".cuts/*.json"))


def test_a_review_check_keeps_what_it_read_goes_round_and_an_approval_survives_a_newer_revision(tmp_path):
    """refresh_reviews: a revision the tracker refuses is named and the others are read; a tracker that goes
    down mid-check keeps the changes already stored and starts there next time; more revisions than one check
    reads are read in turn; Kitsu's ``superseded`` keeps the approval last read."""
    from proxygen_core.catalog.sqlite import SQLiteCatalog
    from proxygen_core.trackers import TrackerRefused, TrackerUnavailable
    from proxygen_core.trackers.reviews import refresh_reviews

    catalog = SQLiteCatalog(tmp_path / "c.db")
    catalog.ensure()
    rows = [_row("sh010", v, show="demo", planned_at=v, tracker_status="published", tracker_revision=f"r{v}",
                 tracker_review="done" if v == 1 else None) for v in (1, 2, 3, 4)]
    catalog.write_clips(rows, [])

    class Tracker:
        def __init__(self, answers):
            self.answers, self.asked = answers, []

        def revision_status(self, project, revision):
            self.asked.append(revision)
            answer = self.answers[revision]
            if isinstance(answer, Exception):
                raise answer
            return answer

    def stored():
        return {r.clip_id: r.tracker_review for r in catalog.clips()}

    gone = Tracker({"r4": TrackerRefused("kitsu", "no such preview"), "r3": "wfa", "r2": "done",
                    "r1": "superseded"})
    first = refresh_reviews(catalog, gone, catalog.clips())
    assert [c.clip_id for c in first.changes] == ["sh010-3", "sh010-2"] and len(first.errors) == 1
    assert stored() == {"sh010-1": "done", "sh010-2": "done", "sh010-3": "wfa", "sh010-4": None}  # v1 kept
    down = Tracker({"r4": "wfa", "r3": TrackerUnavailable("kitsu", "connection refused"), "r2": "x", "r1": "x"})
    second = refresh_reviews(catalog, down, catalog.clips())
    assert [c.clip_id for c in second.changes] == ["sh010-4"] and down.asked == ["r4", "r3"]
    assert second.next_offset == 1 and stored()["sh010-4"] == "wfa"  # kept; the next check starts at r3
    turn = Tracker({"r4": "wfa", "r3": "wfa", "r2": "done", "r1": "done"})
    assert refresh_reviews(catalog, turn, catalog.clips(), offset=second.next_offset, limit=2).next_offset == 3
    assert turn.asked == ["r3", "r2"]


def test_a_version_the_cut_went_past_releases_its_working_frames_too(tmp_path):
    """The cut held v001; v002 and v003 land before it is built again: both keep their frames (a cut will show
    a newer version), the build shows v003 and releases v003's and v002's (no cut wants v002 any more)."""
    from proxygen_core.pipeline.state import load_state
    from proxygen_core.settings import PipelineSettings, Settings

    settings = Settings(pipeline=PipelineSettings(clip_profiles="review", working_retention="until_clips"))
    store = LocalStore(tmp_path / "out")
    frames = range(1001, 1009)

    def kept(row: ClipRow) -> int:
        return sum(bool((s := load_state(store, row.sequence.replace("####", f"{n:04d}"))).working_exr)
                   and Path(s.working_exr).exists() for n in frames)

    v1 = render_shot(tmp_path, store, "sh010", 1, frames, settings, retention="until_clips")
    key = str(store.root / "editorial" / "demo" / "reel8.edl")
    store.put_bytes(key, SH010_EDL.encode())
    assert build_cut(store, key, [v1], settings).row.ok
    v2 = render_shot(tmp_path, store, "sh010", 2, frames, settings, retention="until_clips")
    v3 = render_shot(tmp_path, store, "sh010", 3, frames, settings, retention="until_clips")
    assert (kept(v2), kept(v3)) == (8, 8)
    built = build_cut(store, key, [v1, v2, v3], settings)
    assert built.row.ok and json.loads(built.row.versions) == {"sh010": 3}
    assert (kept(v2), kept(v3)) == (0, 0) and built.released == 16
