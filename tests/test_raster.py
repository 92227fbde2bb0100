"""A per-profile delivery raster (issue 30, items 6 and 7): ``PROXYGEN_CLIP_RASTER`` fits the picture inside
WxH, letterboxed or pillarboxed with the pad colour; the active area is in the clip row and the OTIO
timeline. The file is read back by Debian's ffprobe/ffmpeg."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from proxygen_core.media.geometry import letterbox
from proxygen_core.profiles import parse_rasters
from proxygen_core.settings import PipelineSettings, RenderSettings, Settings, load_settings

from .media import ffmpeg_planes, ffprobe_json
from .test_deliverables import _render_sequence


def test_letterbox_and_the_setting():
    assert letterbox(1920, 1012, 1920, 1080) == (0, 34, 1920, 1012)  # a 2048x1080 source's working frames
    assert letterbox(1920, 1012, 3840, 2160) == (0, 68, 3840, 2024)  # scaled up to fill a UHD raster's width
    assert letterbox(1440, 1080, 1920, 1080) == (240, 0, 1440, 1080)  # 4:3: pillarbox
    assert letterbox(1920, 1080, 1920, 1080) == (0, 0, 1920, 1080)
    assert parse_rasters("prores_422hq=1920x1080;dnxhr_hqx=3840x2160") == {
        "prores_422hq": (1920, 1080), "dnxhr_hqx": (3840, 2160)}
    for bad in ("prores_422hq=1921x1080", "nope=1920x1080", "prores_422hq=1920", "prores_422hq"):
        with pytest.raises(ValueError):
            parse_rasters(bad)
    with pytest.raises(ValueError, match="PROXYGEN_CLIP_RASTER"):
        load_settings(env={"PROXYGEN_CLIP_RASTER": "prores_422hq=19x10"})
    assert load_settings(env={"PROXYGEN_CLIP_RASTER": "prores_422hq=1920x1080"}).render.rasters() == {
        "prores_422hq": (1920, 1080)}


@pytest.mark.slow
def test_a_2048x1080_sequence_delivered_letterboxed_at_1920x1080(tmp_path):
    import opentimelineio as otio

    settings = Settings(render=RenderSettings(clip_raster="prores_422hq=1920x1080"),
                        pipeline=PipelineSettings(clip_profiles="review,prores_422hq"))
    rows, _ = _render_sequence(tmp_path, [1, 2, 3], (2048, 1080), settings)
    prores, review = rows["prores_422hq"], rows["review"]
    assert prores.status == "ok" and prores.quality_passed in (1, True), (prores.error, prores.quality_de_mean)
    assert prores.clip_resolution == "1920x1080" and prores.active_area == "0,34,1920,1012"
    assert review.clip_resolution == "1920x1012" and review.active_area == "0,0,1920,1012"  # no raster: as before
    stream = ffprobe_json(prores.clip_s3_key, "-show_streams", "-select_streams", "v:0")["streams"][0]
    assert (stream["width"], stream["height"]) == (1920, 1080)
    pictures = ffmpeg_planes(prores.clip_s3_key, "yuv422p10le")
    assert len(pictures) == 4  # the slate and the three frames
    for index, (y, cb, cr) in enumerate(pictures[1:], 1):
        bars = np.concatenate([y[:34], y[1080 - 34:]])
        # the bars are the pad colour (black: Y' 64, C 512 at 10 bits), the picture is not
        assert np.abs(bars.astype(int) - 64).max() <= 2, f"picture {index}: bars Y' {bars.min()}..{bars.max()}"
        assert np.abs(np.concatenate([cb[:34], cr[:34]]).astype(int) - 512).max() <= 2
        assert y[34:36].mean() > 80 and y[1044:1046].mean() > 80, index  # the chart fills the active area
    # the slate fills the whole raster: its dark grey ground (graphics black 0.1: Y' 64 + 87.6) is in the bars' rows
    assert np.abs(pictures[0][0][:34].astype(int) - 152).max() <= 2
    # the OTIO timeline says where the picture is in each file
    timeline = otio.adapters.read_from_string(Path(prores.timeline_s3_key).read_text(), "otio_json")
    refs = timeline.tracks[0][0].media_references()
    assert dict(refs["prores_422hq"].metadata["proxygen"]) == {
        "profile": "prores_422hq", "resolution": "1920x1080", "active_area": "0,34,1920,1012"}
    assert json.loads(prores.missing_frames) == []


def test_an_existing_clips_table_gains_active_area(tmp_path):
    """A catalog made before the column (SQLite here; PostgreSQL and VAST take the same additive step in
    catalog/sql.py and catalog/vast.py) gets ``active_area`` at open, and a row keeps it."""
    import sqlite3

    from proxygen_core.catalog import SQLiteCatalog
    from proxygen_core.catalog.schema import PROXY_CLIPS
    from proxygen_core.events.schema import build_clip_event, clip_event_id
    from proxygen_core.rows import ClipRow

    db = tmp_path / "old.db"
    columns = ", ".join(f'"{f.name}" TEXT' for f in PROXY_CLIPS if f.name != "active_area")
    with sqlite3.connect(db) as con:
        con.execute(f'CREATE TABLE "proxy_clips" ({columns}, PRIMARY KEY ("clip_id"))')
    catalog = SQLiteCatalog(db)
    catalog.ensure()  # what opening a catalog does (catalog/sql.py: additive evolution)
    row = ClipRow(clip_id="c1", sequence="s/a.####.exr", s3_bucket="b", status="ok", active_area="0,34,1920,1012",
                  generated_timestamp="2026-12-02T10:00:00")
    row = row.but(event_id=clip_event_id(row))
    assert catalog.write_clips([row], [build_clip_event(row, "t")]) == 1
    assert [r.active_area for r in catalog.clips()] == ["0,34,1920,1012"]
    with sqlite3.connect(db) as con:
        assert "active_area" in [r[1] for r in con.execute('PRAGMA table_info("proxy_clips")')]


def test_an_odd_width_is_resampled_not_cropped():
    """775 -> 774 columns (docs/sequences.md, "Odd-sized sources"): the whole picture is resized, so the last
    source column still reaches the last output column and a ramp keeps its ends (a crop would lose one)."""
    from proxygen_core.media.geometry import even_fit_within
    from proxygen_core.media.resample import resize

    assert even_fit_within(775, 500, 1920, 1080) == (774, 500)
    ramp = np.repeat(np.linspace(0, 1, 775, dtype=np.float32)[None, :, None], 4, 0).repeat(3, 2)
    ramp[:, -1] = 5.0  # a marker in the last source column
    out = resize(ramp, 774, 4, RenderSettings().resize_filter)
    assert out.shape == (4, 774, 3)
    assert out[0, -1, 0] > 2.0  # the marker column is in the last output column: not cropped away
    assert out[0, 0, 0] == pytest.approx(0.0, abs=1e-3) and out[0, 386, 0] == pytest.approx(0.5, abs=0.01)
