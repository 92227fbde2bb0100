"""The proxy plays everywhere: H.264 yuv420p, BT.709 tags, tv range, moov before mdat, even dims."""
from __future__ import annotations

import numpy as np
import pytest

from proxygen_core.media.samples import CHROMATICITIES, chart, write_exr
from proxygen_core.pipeline.folder import render_file

from .conftest import SETTINGS
from .media import mp4_info


@pytest.mark.parametrize("size,expected", [((4096, 2160), (1920, 1012)), ((1001, 501), (1000, 500)),
                                           ((640, 480), (640, 480)), ((1080, 1920), (608, 1080))])
def test_mp4_properties(tmp_path, size, expected):
    img, _ = chart(*size)
    src = tmp_path / "frame.exr"
    write_exr(src, img, CHROMATICITIES["ACEScg"])
    result = render_file(src, tmp_path / "out", SETTINGS)
    report = result.report()
    assert report["status"] == "ok", report["error"]
    info = mp4_info(result.proxy.path)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == expected
    assert info["color_primaries"] == 1 and info["color_trc"] == 1 and info["colorspace"] == 1  # BT.709
    assert info["color_range"] == 1  # MPEG / tv / limited
    atoms = info["atoms"]
    assert "moov" in atoms and "mdat" in atoms and atoms.index("moov") < atoms.index("mdat"), atoms
    assert info["frames"] == 1
    tw, th = result.thumbnail.width, result.thumbnail.height
    assert max(tw, th) == min(256, max(size))
    assert abs(tw / th - size[0] / size[1]) * th <= 1.0


def test_rgb_to_yuv_is_bt709_limited_range_by_the_tests_own_equations():
    from proxygen_core.media.encode import rgb_to_yuv420_bt709

    from .media import bt709_limited_to_rgb

    rgb = np.zeros((4, 4, 3), np.float32)
    rgb[:] = (0.8, 0.2, 0.1)
    planes = rgb_to_yuv420_bt709(rgb)
    y, u, v = planes[:4], planes[4:5].reshape(-1)[:4].reshape(2, 2), planes[4:].reshape(-1)[4:].reshape(2, 2)
    def full(c):
        return (np.repeat(np.repeat(c, 2, 0), 2, 1))
    assert np.abs(bt709_limited_to_rgb(y, full(u), full(v)) - rgb).max() < 0.01
    # Y' of (0.8, 0.2, 0.1) by BT.709 is 0.2126*0.8 + 0.7152*0.2 + 0.0722*0.1 = 0.3203 -> 16 + 219 * 0.3203 = 86.2
    assert int(y[0, 0]) == 86 and y.min() >= 16 and y.max() <= 235
