"""One chain, two front doors: `proxygen render` (the chain over a local folder) and the Dagster pipeline
(the chain over the S3 bucket) give the same pictures, the same report and the same failure."""
from __future__ import annotations

import dataclasses
import json
import uuid

import av
import numpy as np
import OpenImageIO as oiio

from proxygen_core.media.samples import CHROMATICITIES, chart, write_exr
from proxygen_core.pipeline.chain import RECORD
from proxygen_core.pipeline.folder import render_file
from proxygen_core.settings import load_settings
from proxygen_dagster.names import JOB, PARTITION, TAG

# What legitimately differs between the doors: where things are and how long they took.
PLACE_AND_TIME = {"source", "timings"}
MEDIA_PLACE = {"path", "uri", "seconds"}


def _pixels_jpeg(data: bytes, tmp_path, name: str) -> np.ndarray:
    path = tmp_path / name
    path.write_bytes(data)
    return oiio.ImageBuf(str(path)).get_pixels(oiio.UINT8)


def _pixels_mp4(data: bytes, tmp_path, name: str) -> np.ndarray:
    path = tmp_path / name
    path.write_bytes(data)
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="yuv420p")


def _comparable(report: dict) -> dict:
    out = {k: v for k, v in report.items() if k not in PLACE_AND_TIME}
    for kind in ("thumbnail", "proxy", "preview"):
        if out.get(kind):
            out[kind] = {k: v for k, v in out[kind].items() if k not in MEDIA_PLACE}
    if out.get("error"):
        out["error"] = {k: v for k, v in out["error"].items() if k != "path"}
        out["error"]["cause"] = out["error"]["cause"].replace(report["source"], "<source>")
    return out


def test_render_and_pipeline_give_the_same_media_report_and_failure(s3_env, bucket_store, instance, tmp_path):
    import dagster as dg

    from proxygen_dagster.definitions import build_definitions

    base = load_settings()
    settings = dataclasses.replace(base, render=dataclasses.replace(base.render, preview_enabled=True))
    src = tmp_path / "in" / "chart.0001.exr"
    src.parent.mkdir()
    write_exr(src, chart(640, 360)[0], CHROMATICITIES["ACEScg"])
    broken = tmp_path / "in" / "broken.0002.exr"
    broken.write_bytes(src.read_bytes()[:400])  # a truncated EXR: the header parses, the pixels do not

    # Door 1: proxygen render (the chain over a local folder)
    out = tmp_path / "out"
    local_ok, local_bad = render_file(src, out, settings), render_file(broken, out, settings)
    assert local_ok.ok and not local_bad.ok

    # Door 2: the pipeline, as a ranged run of the frame step with the preview tier enabled
    prefix = f"doors/{uuid.uuid4().hex[:6]}"
    keys = [f"{prefix}/chart.0001.exr", f"{prefix}/broken.0002.exr"]
    bucket_store.upload_file(src, keys[0])
    bucket_store.upload_file(broken, keys[1])
    defs = build_definitions(settings)
    instance.add_dynamic_partitions(PARTITION.frames, keys)
    run = defs.resolve_job_def(JOB.frames).execute_in_process(
        instance=instance, tags={TAG.range_start: keys[0], TAG.range_end: keys[-1]}, raise_on_error=False)
    assert not run.success  # the broken frame fails the step, after the good one was recorded

    def record_report(key: str) -> dict:
        from dagster import AssetKey, AssetRecordsFilter

        flt = AssetRecordsFilter(asset_key=AssetKey(RECORD), asset_partitions=[key])
        records = instance.fetch_materializations(flt, limit=1).records or \
            instance.fetch_observations(flt, limit=1).records
        event = records[0].event_log_entry.asset_materialization or records[0].event_log_entry.asset_observation
        return event.metadata["report"].value

    piped_ok, piped_bad = record_report(keys[0]), record_report(keys[1])
    assert piped_ok["status"] == "ok" and piped_bad["status"] == "failed"
    # The preview is an asset of its own in the UI, materialized for the good key only.
    assert instance.get_materialized_partitions(dg.AssetKey("preview")) == {keys[0]}

    # Same pictures: decoded pixels equal, output by output.
    for kind, read in (("thumbnail", _pixels_jpeg), ("preview", _pixels_jpeg), ("proxy", _pixels_mp4)):
        mine = read((out / getattr(local_ok, kind).path.rsplit("/", 1)[1]).read_bytes(), tmp_path, f"l_{kind}")
        theirs = read(bucket_store.get_bytes(piped_ok[kind]["path"]), tmp_path, f"p_{kind}")
        assert mine.shape == theirs.shape and np.array_equal(mine, theirs), kind
    assert local_ok.preview is not None and (local_ok.preview.width, local_ok.preview.height) == (640, 360)

    # Same report fields, and the same failure (stage, kind, type, cause) for the broken source.
    assert _comparable(local_ok.report()) == _comparable(piped_ok)
    assert _comparable(local_bad.report()) == _comparable(piped_bad)
    assert piped_bad["failed_step"] in ("source_frame", "working_frame")
    assert piped_bad["error"]["kind"] == "unreadable"
    # The local door's report on disk is that same report.
    assert json.loads((out / "broken.0002.json").read_text())["error"] == local_bad.report()["error"]
