"""Image sequences: detection rules (unit), and clips end to end on the real local stack."""
from __future__ import annotations

import json
import uuid

import av
import numpy as np
import pytest

from proxygen_core.media.sequences import group, parse_frame, parse_pattern
from proxygen_core.media.timecode import timecode
from proxygen_core.pipeline.chain import RECORD
from proxygen_core.store.keys import clip_keys
from proxygen_dagster.names import ASSET, JOB, PARTITION, SENSOR, TAG


@pytest.mark.parametrize("key, name, sep, frame, ext", [
    ("renders/sh010/beauty.1001.exr", "beauty", ".", 1001, ".exr"),
    ("sh010_comp_v003.1001.exr", "sh010_comp_v003", ".", 1001, ".exr"),
    ("plate_1001.dpx", "plate", "_", 1001, ".dpx"),
    ("a/b/beauty.7.tif", "beauty", ".", 7, ".tif"),
    ("a/shot_v2_0042.exr", "shot_v2", "_", 42, ".exr"),
])
def test_frame_keys(key, name, sep, frame, ext):
    parsed = parse_frame(key)
    assert (parsed.sequence.name, parsed.sequence.sep, parsed.frame, parsed.sequence.ext) == (name, sep, frame, ext)


@pytest.mark.parametrize("key", ["a/b/sh010_comp_v003.exr", "still.exr", "1001.exr", "shot.v2.exr", "noext_1001"])
def test_keys_without_a_frame_number(key):
    assert parse_frame(key) is None


def test_grouping_padding_separators_extensions_and_lone_files():
    keys = ["s/beauty.0999.exr", "s/beauty.1000.exr", "s/beauty.1001.exr",  # one sequence, padding as given
            "s/beauty_1001.exr", "s/beauty_1002.exr",  # another separator: another sequence
            "s/beauty.1001.dpx", "s/beauty.1002.dpx",  # another extension: another sequence
            "s/lone.1001.exr", "s/still.exr", "t/beauty.1001.exr"]  # single files stay single
    groups = group(keys)
    assert len(groups) == 3
    by_pattern = {seq.pattern(4): frames for seq, frames in groups.items()}
    assert sorted(by_pattern["s/beauty.####.exr"]) == [999, 1000, 1001]
    assert sorted(by_pattern["s/beauty_####.exr"]) == [1001, 1002]
    assert "s/beauty.####.dpx" in by_pattern
    unpadded = group(["u/a.9.exr", "u/a.10.exr", "u/a.11.exr"])  # padding varies: still one sequence
    assert [sorted(f) for f in unpadded.values()] == [[9, 10, 11]]


@pytest.mark.parametrize("pattern", ["renders/sh010/beauty.####.exr", "plate_#####.dpx", "a b/ü/x.v2.#.tif"])
def test_patterns_round_trip(pattern):
    seq, padding = parse_pattern(pattern)
    assert seq.pattern(padding) == pattern
    keys = clip_keys(pattern, {"review": ".mp4"})
    assert (
        keys["review"].endswith("_clip.mp4")
        and keys["poster"].endswith("_poster.jpg")
        and "/.proxies/" in f"/{keys['review']}"
    )
    assert parse_frame(seq.frame_key(1001, padding)).sequence == seq


def test_clip_names_do_not_collide():
    names = {clip_keys(p, {"review": ".mp4"})["review"] for p in ("s/a.####.exr", "s/a_####.exr", "s/a.####.dpx")}
    assert len(names) == 3


def test_timecode_from_frame_number():
    assert timecode(1001, 24) == "00:00:41:17"
    assert timecode(0, 25) == "00:00:00:00" and timecode(90000, 25) == "01:00:00:00"


def _decode(path):
    with av.open(str(path)) as c:
        video = c.streams.video[0]
        tc = [dict(s.metadata).get("timecode") for s in c.streams if s.type == "data"]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video)]
        cc = video.codec_context
        return frames, float(video.average_rate), tc, (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range)


def test_sequence_clip_end_to_end(dagster_defs, instance, bucket_store, tmp_path):
    from dagster import SensorResult, build_sensor_context

    from proxygen_core.catalog import SQLiteCatalog

    from .formats import chart_exr
    from .test_events_pipeline import resources, run

    prefix = f"seq/{uuid.uuid4().hex[:6]}/sh010"
    numbers = [n for n in range(1001, 1025) if n != 1005]  # 1005 never rendered
    keys = []
    for n in numbers:
        key = f"{prefix}/beauty.{n}.exr"
        if n == 1010:
            bucket_store.put_bytes(key, b"corrupt frame")
        else:
            bucket_store.upload_file(chart_exr(tmp_path / f"f{n}.exr", value=0.02 * (n - 1000)), key)
        keys.append(key)
    still = f"{prefix}/still.exr"
    bucket_store.upload_file(chart_exr(tmp_path / "still.exr"), still)
    db = tmp_path / "c.db"
    res = resources(dagster_defs, db, None, "t")
    run(dagster_defs, res, instance, keys + [still])  # fails for the corrupt frame only

    def tick(cursor):
        with build_sensor_context(instance=instance, cursor=cursor, resources={"storage": res["storage"]}) as ctx:
            return dagster_defs.get_sensor_def(SENSOR.sequence_clips)(ctx)

    result = tick(None)
    assert isinstance(result, SensorResult)
    pattern = f"{prefix}/beauty.####.exr"
    assert result.dynamic_partitions_requests[0].partition_keys == [pattern]  # no sequence for the still
    assert [r.partition_key for r in result.run_requests] == [pattern]
    instance.add_dynamic_partitions(PARTITION.sequences, [pattern])
    job = dagster_defs.resolve_job_def(JOB.clips)
    import dagster as dg

    def build():
        return dg.materialize([dagster_defs.get_assets_def(ASSET.shot_clip)], instance=instance,
                              partition_key=pattern, resources={k: res[k] for k in ("storage", "catalog", "events")})

    assert [k.to_user_string() for k in job.asset_layer.selected_asset_keys] == [ASSET.shot_clip]
    assert build().success
    clip = SQLiteCatalog(db).clips()[0]
    assert clip.status == "ok" and clip.sequence == pattern
    assert (clip.first_frame, clip.last_frame, clip.frame_count) == (1001, 1024, 24)
    assert json.loads(clip.missing_frames) == [1005] and json.loads(clip.failed_frames) == [1010]
    assert clip.start_timecode == "00:00:41:17" and clip.fps == 24.0
    local = tmp_path / "clip.mp4"
    local.write_bytes(bucket_store.get_bytes(clip.clip_s3_key))
    frames, fps, tc, tags = _decode(local)
    assert len(frames) == 24 and fps == 24.0 and tc == ["00:00:41:17"] and tags == (1, 1, 1, 1)
    from proxygen_core.media.clips import gap_band

    top, band = gap_band(frames[0].shape[0])
    outside = np.r_[0:top, top + band:frames[0].shape[0]]
    means = [float(f[outside].mean()) for f in frames]
    assert abs(means[4] - means[3]) < 1.0 and abs(means[9] - means[8]) < 1.0  # 1005, 1010 hold the previous ...
    marked = [i for i, f in enumerate(frames) if f[top:top + band].max() > 200 and f[top:top + band].min() < 30]
    assert marked == [4, 9]  # ... and say so on the picture: "FRAME 1005 MISSING", "FRAME 1010 FAILED"
    assert means[5] > means[3] + 2  # and the frames are really different pictures
    # The poster is the middle frame's thumbnail (of the frames that have pictures).
    with_pictures = [n for n in numbers if n != 1010]
    middle = with_pictures[(len(with_pictures) - 1) // 2]
    thumb = f"{prefix}/.proxies/beauty.{middle}_thumb.jpg"
    assert clip.poster_frame == middle
    assert bucket_store.get_bytes(clip.poster_s3_key) == bucket_store.get_bytes(thumb)
    events = [e.body for e in SQLiteCatalog(db).events(200) if e.body["type"].startswith("clip.")]
    assert [e["type"] for e in events] == ["clip.generated"] and events[0]["missing_frames"] == [1005]

    # Nothing changed: no new request. A re-rendered frame: the clip is due again and rebuilt.
    again = tick(result.cursor)
    assert not again.run_requests
    bucket_store.upload_file(chart_exr(tmp_path / "new.exr", value=0.9), keys[0])
    assert run(dagster_defs, res, instance, [keys[0]]).success
    third = tick(again.cursor)
    assert [r.partition_key for r in third.run_requests] == [pattern]
    assert build().success
    rebuilt = SQLiteCatalog(db).clips()[0]
    assert rebuilt.frames_fingerprint != clip.frames_fingerprint
    local.write_bytes(bucket_store.get_bytes(rebuilt.clip_s3_key))
    assert float(_decode(local)[0][0].mean()) > means[0] + 20  # the new first frame is in the clip
    # A person picks the poster: an object tag on that frame's source.
    bucket_store.client.put_object_tagging(Bucket=bucket_store.bucket, Key=keys[1],
                                           Tagging={"TagSet": [{"Key": "proxygen-poster", "Value": "true"}]})
    assert build().success
    chosen = SQLiteCatalog(db).clips()[0]
    assert chosen.poster_frame == 1002
    assert bucket_store.get_bytes(chosen.poster_s3_key) == bucket_store.get_bytes(
        f"{prefix}/.proxies/beauty.1002_thumb.jpg")
    # A profile enabled on the running stack: the next tick of the new code location requests the sequences
    # already built, for the lacking profile only, tagged with its sequence (one build per sequence at a time).
    from dataclasses import replace

    from proxygen_core.settings import load_settings
    from proxygen_dagster.definitions import build_definitions

    settings = load_settings()  # what the running code location was built from (the test's environment)
    redeployed = build_definitions(replace(settings, pipeline=replace(settings.pipeline,
                                                                      clip_profiles="review,prores_422hq")))
    with build_sensor_context(instance=instance, cursor=third.cursor, resources={"storage": res["storage"]}) as ctx:
        enabled = redeployed.get_sensor_def(SENSOR.sequence_clips)(ctx)
    assert [r.partition_key for r in enabled.run_requests] == [pattern]
    request = enabled.run_requests[0]
    assert [k.to_user_string() for k in request.asset_selection] == ["shot_clip_prores_422hq"]
    assert request.tags[TAG.sequence] and request.run_key != third.run_requests[0].run_key
    with build_sensor_context(instance=instance, cursor=enabled.cursor, resources={"storage": res["storage"]}) as ctx:
        assert not redeployed.get_sensor_def(SENSOR.sequence_clips)(ctx).run_requests  # asked once
    # `proxygen clips --json` lists the clip with the documented fields.
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "proxygen_core.cli", "clips", "--json"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PROXYGEN_SQLITE_PATH": str(db)})
    listed = json.loads(proc.stdout)
    assert len(listed) == 1
    for field in ("sequence", "clip_s3_key", "poster_s3_key", "first_frame", "last_frame", "frame_count",
                  "missing_frames", "failed_frames", "fps", "start_timecode", "status", "error"):
        assert field in listed[0]
    assert listed[0]["missing_frames"] == [1005] and listed[0]["failed_frames"] == [1010]


def test_clip_gaps_policies_and_burnins(tmp_path):
    """Black and checkerboard gap fills, and burn-ins drawn with the packaged font on a bottom band only."""
    import numpy as np

    from proxygen_core.media.clips import ClipJob, build_clips
    from proxygen_core.media.render import decode_working
    from proxygen_core.media.samples import write_exr
    from proxygen_core.profiles import PROFILES
    from proxygen_core.settings import RenderSettings

    src = tmp_path / "grey.exr"
    write_exr(src, np.full((180, 320, 3), 0.3, np.float32))
    frame = decode_working(str(src), RenderSettings())
    frames = {n: (lambda: frame) for n in (1, 2, 4)}
    review = PROFILES["review"]

    def clip(name, **render):
        out = tmp_path / f"{name}.mp4"
        made = build_clips(frames, set(), ClipJob({review: str(out)}, RenderSettings(**render), 25))
        return made.results["review"], out

    black, path = clip("black", clip_gap_policy="black")
    assert black.error is None and black.missing_frames == [3] and black.filled == {3: "black"}
    assert black.start_timecode == "00:00:00:01"
    decoded = _decode(path)[0]
    band = slice(80, 100)  # the middle band every gap frame carries: "FRAME 3 MISSING"
    assert np.delete(decoded[2], band, axis=0).mean() < 5 and decoded[1].mean() > 100
    assert decoded[2][band].max() > 200 and decoded[1][band].std() < 5  # the mark on the gap only
    checker, path = clip("checker", clip_gap_policy="checkerboard")
    assert checker.filled == {3: "checkerboard"} and _decode(path)[0][2].std() > 20
    with pytest.raises(ValueError, match="gap policy"):
        clip("x", clip_gap_policy="nope")
    plain = _decode(tmp_path / "black.mp4")[0][0].astype(int)
    out = tmp_path / "burn.mp4"
    from proxygen_core.media.burnins import BurnIns
    from proxygen_core.profiles import parse_template

    bottom = BurnIns(parse_template("bottom_left={name};bottom_right={frame}{state}  {timecode}"),
                     {"name": "sh010.####.exr"}, frozenset({"review"}))
    build_clips(frames, set(), ClipJob({review: str(out)}, RenderSettings(clip_gap_policy="black"), 25, burnins=bottom))
    burned = _decode(out)[0][0].astype(int)
    diff = np.abs(burned - plain).mean(axis=-1)
    assert diff[:150].mean() < 2 and diff[160:].max() > 60  # text in the bottom band only
    # A template puts its fields where it says: the top band only, the shot's fields, free text.
    top = BurnIns(parse_template("top_left={shot} v{version};top_right=FOR REVIEW {date}"),
                  {"shot": "sh010", "version": 3, "date": "2026-11-29"}, frozenset({"review"}))
    assert top.texts(1, "00:00:00:01", "", "d", "v") == {"top_left": "sh010 v003", "top_right": "FOR REVIEW 2026-11-29"}
    # An empty field takes its own literal and separators with it: no stray "v", "-" or "|" (issue 30, item 5).
    from proxygen_core.profiles import DEFAULT_TEMPLATE

    bare = BurnIns(parse_template(DEFAULT_TEMPLATE + ";top_center={seq} - {shot} | {task}"),
                   {"show": "abc", "seq": None, "shot": "sh010", "task": "comp", "version": None, "name": "n.exr"})
    texts = bare.texts(1003, "00:00:41:19", "", "d", "v")
    assert texts["top_right"] == "comp" and texts["top_left"] == "abc sh010", texts
    assert texts["top_center"] == "sh010 | comp" and texts["bottom_right"] == "1003  00:00:41:19", texts
    assert bare.texts(1003, "tc", " MISSING", "d", "v")["bottom_right"] == "1003 MISSING  tc"
    build_clips(frames, set(), ClipJob({review: str(out)}, RenderSettings(clip_gap_policy="black"), 25, burnins=top))
    burned = _decode(out)[0][0].astype(int)
    diff = np.abs(burned - plain).mean(axis=-1)
    assert diff[:10].max() > 60 and diff[30:].mean() < 2  # text in the top band only
    with pytest.raises(ValueError, match="middle"):
        parse_template("middle={shot}")


def test_review_layer_preference_is_ordered_and_reported(tmp_path):
    import numpy as np
    import OpenImageIO as oiio

    from proxygen_core.media.render import review_layer
    from proxygen_core.pipeline.folder import render_file
    from proxygen_core.settings import RenderSettings, Settings

    names = ("diffuse.R", "diffuse.G", "diffuse.B", "Beauty.R", "Beauty.G", "Beauty.B", "Z")
    assert review_layer(names)[1] == "Beauty"  # no unnamed RGB: 'beauty' (any case) comes next
    assert review_layer(names, ("specular", "diffuse"))[1] == "diffuse"
    assert review_layer(names, ("nope",))[1] == "Beauty"  # else the first RGB layer by name ... "Beauty" < "diffuse"
    assert review_layer(("R", "G", "B", "beauty.R", "beauty.G", "beauty.B"))[1] == ""
    # A real multi-layer EXR: the beauty layer is what the proxy shows, and the report says so.
    path = tmp_path / "layers.exr"
    spec = oiio.ImageSpec(64, 32, 6, oiio.HALF)
    spec.channelnames = ("aov.R", "aov.G", "aov.B", "beauty.R", "beauty.G", "beauty.B")
    px = np.zeros((32, 64, 6), np.float32)
    px[..., 3:] = 0.5
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(px)
    out.close()
    result = render_file(path, tmp_path / "out", Settings(render=RenderSettings()))
    report = result.report()
    assert report["status"] == "ok" and report["review_layer"] == "beauty"
    thumb = oiio.ImageBuf(str(tmp_path / "out" / "layers_thumb.jpg")).get_pixels(oiio.FLOAT)
    assert thumb.mean() > 0.2  # the grey beauty layer, not the black aov


def test_sequence_frames_without_public_proxies(bucket_store, tmp_path):
    """sequence_frame_proxies=false: no per-frame MP4 beside the frame, the picture kept for the clip."""
    from dataclasses import replace

    from proxygen_core.pipeline.chain import run_chain
    from proxygen_core.pipeline.record import frame_row
    from proxygen_core.settings import load_settings

    from .formats import chart_exr

    settings = load_settings()
    settings = replace(settings, pipeline=replace(settings.pipeline, sequence_frame_proxies=False))
    prefix = f"noproxy/{uuid.uuid4().hex[:6]}"
    frame_key, still_key = f"{prefix}/a.1001.exr", f"{prefix}/still.exr"
    for key in (frame_key, still_key):
        bucket_store.upload_file(chart_exr(tmp_path / f"{uuid.uuid4().hex}.exr"), key)
    framed = run_chain(bucket_store, frame_key, settings)
    still = run_chain(bucket_store, still_key, settings)
    assert framed.ok and still.ok
    assert framed.proxy.path.startswith(".proxies/.pipeline/") and bucket_store.exists(framed.proxy.path)
    assert not bucket_store.exists(f"{prefix}/.proxies/a.1001_proxy.mp4")
    assert bucket_store.exists(f"{prefix}/.proxies/a.1001_thumb.jpg")  # thumbnails remain
    assert still.proxy.path == f"{prefix}/.proxies/still_proxy.mp4"  # a lone file keeps its proxy
    row = frame_row(framed, bucket_store.bucket, settings.render, "review")
    assert row.status == "ok" and row.proxy_s3_key is None and row.thumbnail_s3_key


def test_touched_frames_never_skip_events_past_a_full_page(dagster_defs, instance):
    from dagster import AssetKey, AssetMaterialization, AssetObservation

    from proxygen_dagster.sequences.sensors import touched_frames

    instance.add_dynamic_partitions(PARTITION.frames, [f"t/a.{i:04d}.exr" for i in range(6)])
    for i in range(3):
        instance.report_runless_asset_event(
            AssetMaterialization(AssetKey(RECORD), partition=f"t/a.{i:04d}.exr")
        )
    for i in range(3, 6):
        instance.report_runless_asset_event(AssetObservation(AssetKey(RECORD), partition=f"t/a.{i:04d}.exr"))
    seen: set[str] = set()
    after = None
    for _ in range(10):  # bounded: pages of 2
        keys, after = touched_frames(instance, after, limit=2)
        if not keys:
            break
        seen.update(keys)
    assert seen == {f"t/a.{i:04d}.exr" for i in range(6)}
