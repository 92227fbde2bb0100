"""The frame chain over a local folder: stages, partial re-runs, failures and the ownership rule, with no
service started (the same chain the pipeline runs over S3)."""
from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pytest

from proxygen_core.pipeline import state as st
from proxygen_core.pipeline.chain import PREVIEW, PROXY, RECORD, SOURCE, THUMBNAIL, WORKING, run_chain
from proxygen_core.pipeline.folder import render_file, render_files
from proxygen_core.store.local import LocalStore

from .conftest import SETTINGS, no_retry_settings
from .formats import chart_exr, flat_tif
from .media import read_jpeg


def test_full_chain_runs_every_stage_in_order_and_saves_state(tmp_path):
    src = chart_exr(tmp_path / "in" / "plate.exr")
    store = LocalStore(tmp_path / "out")
    r = run_chain(store, str(src), no_retry_settings(working_retention="keep"))
    assert r.ok, r.failed
    assert r.passed == [SOURCE, WORKING, THUMBNAIL, PROXY, RECORD]  # no preview tier unless enabled
    assert r.thumbnail.path == str(tmp_path / "out" / "plate_thumb.jpg") and r.thumbnail.resolution == "256x144"
    assert r.proxy.path == str(tmp_path / "out" / "plate_proxy.mp4") and r.proxy.resolution == "320x180"
    saved = st.load_state(store, str(src))
    assert saved.status == "ok" and saved.etag == r.info.etag and saved.proxy["path"] == r.proxy.path
    assert saved.working_exr and os.path.exists(saved.working_exr)  # kept where the store keeps state
    assert r.report()["source_colorspace"] == "ACEScg" and r.report()["failed_step"] is None


def test_partial_rerun_reuses_stored_stages_of_the_same_version(tmp_path):
    src = chart_exr(tmp_path / "in" / "plate.exr")
    store = LocalStore(tmp_path / "out")
    settings = no_retry_settings(working_retention="keep")
    first = run_chain(store, str(src), settings)
    thumb_before = read_jpeg(first.thumbnail.path)
    os.remove(first.thumbnail.path)
    again = run_chain(store, str(src), settings, frozenset({THUMBNAIL}))
    assert again.ok, again.failed
    assert "decode" not in again.timings  # made from the stored working EXR, not from the source
    assert again.passed == [SOURCE, WORKING, THUMBNAIL, RECORD]
    assert st.load_state(store, str(src)).proxy["path"] == first.proxy.path  # kept, not recomputed
    assert np.abs(read_jpeg(again.thumbnail.path) - thumb_before).max() <= 1 / 255
    # A new version of the source is never served from the old state.
    chart_exr(src, value=0.5)
    third = run_chain(store, str(src), settings, frozenset({THUMBNAIL}))
    assert "decode" in third.timings and third.ok


def test_a_broken_source_fails_at_its_stage_with_a_typed_error_and_a_failed_state(tmp_path):
    bad = tmp_path / "in" / "broken.exr"
    bad.parent.mkdir()
    bad.write_bytes(b"not an exr at all")
    store = LocalStore(tmp_path / "out")
    r = run_chain(store, str(bad), no_retry_settings())
    assert not r.ok and r.failed.step == SOURCE and r.passed == []
    assert r.failed.error["type"] == "UnreadableSourceError" and r.failed.error["path"] == str(bad)
    assert st.load_state(store, str(bad)).status == "failed"
    assert not os.path.exists(tmp_path / "out" / "broken_thumb.jpg")


def test_a_missing_source_is_a_storage_failure_naming_the_file(tmp_path):
    r = run_chain(LocalStore(tmp_path / "out"), str(tmp_path / "nope.exr"), no_retry_settings())
    assert not r.ok and r.failed.error["kind"] == "storage" and str(tmp_path / "nope.exr") in r.failed.message


def test_same_stem_sibling_keeps_its_own_outputs(tmp_path):
    exr = chart_exr(tmp_path / "in" / "frame.0001.exr", value=0.1)
    tif = flat_tif(tmp_path / "in" / "frame.0001.tif", (0.9, 0.9, 0.9))
    out = tmp_path / "out"
    a, b = render_file(exr, out, SETTINGS), render_file(tif, out, SETTINGS)
    assert a.ok and b.ok
    assert a.thumbnail.path.endswith("/frame.0001_thumb.jpg") and b.thumbnail.path.endswith("/frame.0001.tif_thumb.jpg")
    assert json.loads((out / "frame.0001.json").read_text())["source"] == str(exr)
    assert json.loads((out / "frame.0001.tif.json").read_text())["source"] == str(tif)
    # Running the first one again keeps its plain names (it owns them).
    assert render_file(exr, out, SETTINGS).thumbnail.path == a.thumbnail.path


def test_frames_in_flight_keep_the_sources_order_and_the_first_owner_of_a_name(tmp_path):
    """Two at a time, yet the results come back in the order given, each source's own, and of two sources
    sharing a stem the first given keeps the plain name (they run one after the other)."""
    inp = tmp_path / "in"
    inp.mkdir()
    tif = flat_tif(inp / "frame.0001.tif", (0.9, 0.9, 0.9))
    sources = [str(tif)] + [str(chart_exr(inp / f"plate.{n:04d}.exr", value=0.05 * n)) for n in range(1, 6)]
    sources.append(str(chart_exr(inp / "frame.0001.exr", value=0.1)))
    out = tmp_path / "out"
    seen: list[int] = []
    results = render_files(sources, out, SETTINGS, LocalStore(out), jobs=2, done=lambda i, r: seen.append(i))
    assert [r.key for r in results] == [os.path.abspath(s) for s in sources] and all(r.ok for r in results)
    assert sorted(seen) == list(range(len(sources)))
    assert results[0].thumbnail.path.endswith("/frame.0001_thumb.jpg")  # given first: owns the plain name
    assert results[-1].thumbnail.path.endswith("/frame.0001.exr_thumb.jpg")
    means = [float(read_jpeg(r.thumbnail.path).mean()) for r in results[1:6]]
    assert means == sorted(means) and means[0] < means[-1] - 0.1  # each picture is its own source's


def test_scratch_working_frames_are_uncompressed_and_kept_ones_piz(tmp_path, monkeypatch):
    """Working frames the local door deletes after the clips are written uncompressed (read back once, from
    a local disk); kept ones with the pipeline's compression; a compression set on purpose is kept."""
    import OpenImageIO as oiio

    from proxygen_core.pipeline.folder import local_settings

    prores = replace(SETTINGS, pipeline=replace(SETTINGS.pipeline, clip_profiles="review,prores_422hq"))
    assert local_settings(prores).pipeline.working_compression == "none"
    assert local_settings(prores, keep_working=True).pipeline.working_compression == "piz"
    zipped = replace(prores, pipeline=replace(prores.pipeline, working_compression="zip"))
    assert local_settings(zipped).pipeline.working_compression == "zip"
    src = chart_exr(tmp_path / "in" / "plate.0001.exr")
    written: list[str] = []
    original = st.store_working
    monkeypatch.setattr(st, "store_working", lambda *a: written.append(a[3]) or original(*a))
    assert render_file(src, tmp_path / "out", prores).ok and written == ["none"]
    assert render_file(src, tmp_path / "kept", prores, keep_working=True).ok and written[-1] == "piz"
    path = st.load_state(LocalStore(tmp_path / "kept"), str(src)).working_exr
    inp = oiio.ImageInput.open(path)
    assert inp.spec().get_string_attribute("compression") == "piz"
    inp.close()


def test_no_working_frame_is_written_when_the_clips_read_the_proxy_planes(tmp_path):
    """The review clip alone is encoded from the kept proxy planes: a sequence frame's state has planes and no
    working EXR; with burn-ins on the review clip (rendered again) or another profile, the EXR is written."""
    src = chart_exr(tmp_path / "in" / "plate.0001.exr")
    for settings, wants in ((SETTINGS, False),
                            (replace(SETTINGS, render=replace(SETTINGS.render, clip_burnin_profiles="review")), True),
                            (replace(SETTINGS, pipeline=replace(SETTINGS.pipeline, clip_profiles="review,dnxhr_hqx")),
                             True)):
        out = tmp_path / f"out{len(os.listdir(tmp_path))}"
        assert settings.clips_from_planes() is not wants
        assert render_file(src, out, settings).ok
        state = st.load_state(LocalStore(out), str(src))
        assert state.review_planes and os.path.exists(state.review_planes)
        assert (state.working_exr is not None) is wants


@pytest.mark.slow  # ~4.5 s (a full-resolution frame): in the full suite
def test_preview_tier_is_full_resolution_and_a_stage_of_its_own(tmp_path):
    src = chart_exr(tmp_path / "in" / "plate.exr", size=(400, 300))
    s = SETTINGS.with_render(preview_enabled=True)
    r = render_file(src, tmp_path / "out", s)
    assert r.ok and PREVIEW in r.passed and r.passed.index(PREVIEW) > r.passed.index(PROXY)
    assert read_jpeg(r.preview.path).shape[:2] == (300, 400)
    assert r.report()["preview"]["resolution"] == "400x300"


def test_local_door_keeps_no_working_frames_unless_asked(tmp_path):
    src = chart_exr(tmp_path / "in" / "plate.exr")
    out = tmp_path / "out"
    assert render_file(src, out, SETTINGS).ok
    assert st.load_state(LocalStore(out), str(src)).working_exr is None
    assert render_file(src, out, SETTINGS, keep_working=True).ok
    assert os.path.exists(st.load_state(LocalStore(out), str(src)).working_exr)


def test_a_retried_batch_takes_finished_keys_from_their_state(tmp_path, monkeypatch):
    ok = chart_exr(tmp_path / "in" / "ok.exr")
    bad = tmp_path / "in" / "bad.exr"
    bad.write_bytes(b"not an exr")
    store = LocalStore(tmp_path / "out")
    first = {p: run_chain(store, str(p), no_retry_settings()) for p in (ok, bad)}
    fetched: list[str] = []
    fetch = LocalStore.fetch
    monkeypatch.setattr(LocalStore, "fetch", lambda self, info: fetched.append(info.key) or fetch(self, info))
    again = {p: run_chain(store, str(p), no_retry_settings(), reuse_finished=True) for p in (ok, bad)}
    assert fetched == []  # nothing fetched (so nothing decoded or published) for either
    assert again[ok].reused and again[ok].ok and again[ok].passed == first[ok].passed
    assert again[ok].thumbnail == first[ok].thumbnail and again[ok].proxy == first[ok].proxy
    assert again[bad].reused and again[bad].failed == first[bad].failed  # same stage, same cause
    chart_exr(ok, value=0.3)  # a new version is never taken from the old state
    changed = run_chain(store, str(ok), no_retry_settings(), reuse_finished=True)
    assert not changed.reused and changed.ok and set(fetched) == {str(ok)}


def test_an_unreadable_state_never_escapes_the_chain(tmp_path, monkeypatch):
    """reuse_finished reads the key's state first; storage trouble there is not an exception out of the
    chain: the key simply runs."""
    from proxygen_core.errors import StorageError

    src = chart_exr(tmp_path / "in" / "plate.exr")

    def down(self, key):
        raise StorageError(key, "get failed: EndpointConnectionError", transient=True)

    monkeypatch.setattr(LocalStore, "get_bytes_if_exists", down)
    r = run_chain(LocalStore(tmp_path / "out"), str(src), no_retry_settings(), reuse_finished=True)
    assert r.ok and not r.reused, r.failed
