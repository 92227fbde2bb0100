"""The working EXR is a lossless half-float intermediate: every allowed compression gives back the same
pixels and metadata; a lossy one is refused when the settings load."""
from __future__ import annotations

import numpy as np
import pytest

from proxygen_core.media.render import decode_working
from proxygen_core.media.samples import CHROMATICITIES, chart, write_exr
from proxygen_core.media.working import (
    read_working_exr,
    write_working_exr,
)
from proxygen_core.settings import WORKING_COMPRESSIONS, RenderSettings, load_settings


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    rgb, _ = chart(640, 360)
    rgb[0, 0] = [70000.0, -1.0, 0.25]  # beyond half range: clamped to +-65504 on write
    path = tmp_path_factory.mktemp("src") / "plate.0001.exr"
    write_exr(path, rgb, CHROMATICITIES["ACEScg"])
    return decode_working(str(path), RenderSettings())


@pytest.mark.parametrize("compression", WORKING_COMPRESSIONS)
def test_every_allowed_compression_round_trips_exactly(frame, tmp_path, compression):
    path = tmp_path / f"w_{compression}.exr"
    write_working_exr(frame, path, compression)
    back = read_working_exr(path)
    expected = np.clip(frame.pixels, -65504.0, 65504.0).astype(np.float16).astype(np.float32)
    assert back.pixels.shape == frame.pixels.shape
    assert np.array_equal(back.pixels, expected)  # bit-exact at half precision
    assert back.colour == frame.colour and back.working_colorspace == frame.working_colorspace
    assert (back.source_width, back.source_height) == (frame.source_width, frame.source_height)


def test_a_lossy_compression_is_refused_by_name():
    with pytest.raises(ValueError, match=r"working_compression \(PROXYGEN_WORKING_COMPRESSION\): 'dwaa'.*lossless"):
        load_settings(env={"PROXYGEN_WORKING_COMPRESSION": "dwaa"})
    assert load_settings(env={"PROXYGEN_WORKING_COMPRESSION": "none"}).pipeline.working_compression == "none"
