"""Every QC check driven to fail: a bad thumbnail, a bad proxy, an output that could not be stored and
non-finite pixels in the working frame, each failing exactly its own key and stage, through the local door
(quick) and as Dagster asset checks on the partitions (real SeaweedFS)."""
from __future__ import annotations

import uuid

import numpy as np
import pytest

from proxygen_core.errors import StorageError
from proxygen_core.pipeline import stages
from proxygen_core.pipeline.chain import PROXY, THUMBNAIL, WORKING, run_chain
from proxygen_core.settings import Settings
from proxygen_core.store.local import LocalStore

from .formats import chart_exr

# Faults by source width, so one batch can hold a key of each kind.
BAD_THUMB, BAD_PROXY, UNSTORED, NONFINITE, GOOD = 322, 324, 326, 328, 320


@pytest.fixture()
def faults(monkeypatch):
    """Plausible regressions, injected where they would happen: a thumbnail resize that ignores the box, a
    proxy that upscales, an object store that refuses the proxy, a decoder that lets NaN through."""
    thumbnail_pixels, proxy_pixels, decode_working = stages.thumbnail_pixels, stages.proxy_pixels, stages.decode_working
    publish = stages.publish

    def bad_thumbnail(frame, settings):
        out = thumbnail_pixels(frame, settings)
        return np.zeros((10, 300, 3), np.uint8) if frame.source_width == BAD_THUMB else out

    def bad_proxy(frame, settings):
        out = proxy_pixels(frame, settings)
        return np.repeat(np.repeat(out, 2, 0), 2, 1) if frame.source_width == BAD_PROXY else out

    def nan_decode(path, settings, *args):
        frame = decode_working(path, settings, *args)
        if frame.source_width == NONFINITE:
            frame.pixels[3, 5] = np.nan
        return frame

    def refusing_publish(store, kind, key, local, width, height, *args, **kwargs):
        if kind == "proxy" and width == UNSTORED:
            raise StorageError(store.uri(key), "upload failed: AccessDenied (bucket policy refuses the write)")
        return publish(store, kind, key, local, width, height, *args, **kwargs)

    monkeypatch.setattr(stages, "thumbnail_pixels", bad_thumbnail)
    monkeypatch.setattr(stages, "proxy_pixels", bad_proxy)
    monkeypatch.setattr(stages, "decode_working", nan_decode)
    monkeypatch.setattr(stages, "publish", refusing_publish)


@pytest.mark.parametrize("width, stage, kind, words", [
    (BAD_THUMB, THUMBNAIL, "qc", "exceeds 256x256"),
    (BAD_PROXY, PROXY, "qc", "upscales"),
    (UNSTORED, PROXY, "storage", "AccessDenied"),
    (NONFINITE, WORKING, "qc", "1 non-finite pixels"),
])
def test_each_fault_fails_its_key_at_its_stage(faults, tmp_path, width, stage, kind, words):
    src = chart_exr(tmp_path / "in" / f"plate_{width}.exr", size=(width, 180))
    r = run_chain(LocalStore(tmp_path / "out"), str(src), Settings())
    assert not r.ok and r.failed.step == stage and r.failed.error["kind"] == kind, r.failed
    assert words in r.failed.error["cause"]
    if stage == THUMBNAIL:
        assert not (tmp_path / "out" / f"plate_{width}_thumb.jpg").exists()  # a failed output is never published
    good = run_chain(
        LocalStore(tmp_path / "out"), str(chart_exr(tmp_path / "in" / "good.exr", size=(GOOD, 180))), Settings()
    )
    assert good.ok, good.failed  # the faults hit only their own keys


def test_asset_checks_fail_on_exactly_the_bad_keys(faults, dagster_defs, instance, bucket_store, tmp_path):
    from dagster import AssetKey

    from .test_dagster_pipeline import checks, partition_status, run_keys

    prefix = f"qc/{uuid.uuid4().hex[:6]}"
    keys = {}
    for width in (GOOD, BAD_THUMB, BAD_PROXY, UNSTORED, NONFINITE):
        key = keys[width] = f"{prefix}/plate_{width}.exr"
        bucket_store.upload_file(chart_exr(tmp_path / f"{width}.exr", size=(width, 180)), key)
    result = run_keys(dagster_defs, instance, sorted(keys.values()))
    assert not result.success
    evaluated = checks(result)
    failed_keys = {name: set(c.metadata["failed_keys"].value) for name, c in evaluated.items() if name != "exposure"}
    assert failed_keys == {"finite_pixels": {keys[NONFINITE]}, "fits_box_with_aspect": {keys[BAD_THUMB]},
                           "playable_rec709": {keys[BAD_PROXY]}, "outputs_in_s3": {keys[UNSTORED]}}
    assert all(not evaluated[name].passed for name in failed_keys)
    assert evaluated["playable_rec709"].asset_key == AssetKey("proxy")
    # The partitions say the same: each bad key failed from its stage down, the good key is materialized.
    status = partition_status(instance, list(keys.values()))
    assert (
        status["thumbnail"][keys[BAD_THUMB]] == "FAILED" and status["working_frame"][keys[BAD_THUMB]] == "MATERIALIZED"
    )
    assert status["proxy"][keys[BAD_PROXY]] == "FAILED" and status["thumbnail"][keys[BAD_PROXY]] == "MATERIALIZED"
    assert status["proxy"][keys[UNSTORED]] == "FAILED" and status["working_frame"][keys[NONFINITE]] == "FAILED"
    assert {a: s[keys[GOOD]] for a, s in status.items()} == {a: "MATERIALIZED" for a in status}


def test_proxy_check_refuses_wrong_tags_range_and_layout(tmp_path):
    """check_proxy on real files: a BT.601-tagged, full-range, non-faststart, odd-sized MP4 fails for each."""
    import av

    from proxygen_core.media import qc

    path = tmp_path / "wrong.mp4"
    with av.open(str(path), mode="w", format="mp4") as container:  # no +faststart: moov after mdat
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuvj420p"
        cc = stream.codec_context
        cc.color_range, cc.colorspace, cc.color_primaries, cc.color_trc = 2, 5, 5, 6
        frame = av.VideoFrame.from_ndarray(np.zeros((48, 64), np.uint8), format="yuvj420p")
        frame.pts = 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    result = qc.check_proxy(qc.mp4_info(path), 32, 16, 1920, 1080)
    text = "; ".join(result.problems)
    assert not result.passed
    for words in ("is not yuv420p", "colour tags are not BT.709", "range is not tv", "not faststart", "upscales"):
        assert words in text, (words, text)
