"""The quality figure over the picture (issue 30, item 2): an error confined to a small picture on black is not
diluted by the black around it; the check fails, and its figures say over how much of the frame they were
taken. The frame-wide figures are recomputed here from Debian ffmpeg's decode to show they would have passed."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from proxygen_core.colour.colorimetry import bt1886_eotf, ciede2000, lab
from proxygen_core.media import clip_quality
from proxygen_core.media.clips import ProfileEncoder
from proxygen_core.media.yuv import rgb_to_planes
from proxygen_core.profiles import PROFILES
from proxygen_core.settings import RenderSettings

from .media import ffmpeg_planes

W, H = 640, 360
PATCH = (slice(160, 224), slice(320, 384))  # a 64x64 picture on black: 1.8% of the frame


def _picture(error: bool) -> np.ndarray:
    rgb = np.zeros((H, W, 3), np.float32)
    rgb[PATCH] = (0.62, 0.45, 0.33)  # a skin-like tone
    if error:
        rgb[160:192, 320:352] += (0.05, -0.02, 0.0)  # a quarter of the picture off (~4 dE2000)
    return rgb


def _encode(path, rgb) -> None:
    profile = PROFILES["hevc_main10"]
    encoder = ProfileEncoder(profile, str(path), W, H, Fraction(24), "00:00:00:00", RenderSettings())
    for _ in range(3):
        encoder.add(rgb_to_planes(rgb, profile.matrix, profile.bits, profile.chroma))
    encoder.finish()


def _frame_wide_blocks(path, want: np.ndarray) -> np.ndarray:
    """dE2000 of every 8x8 block of picture 0 decoded by ffmpeg (BT.709 limited range, the test's equations)."""
    y, cb, cr = (p.astype(np.float64) for p in ffmpeg_planes(path, "yuv420p10le")[0])
    cb, cr = (np.repeat(np.repeat(c, 2, 0), 2, 1) for c in (cb, cr))
    yy, pb, pr = (y / 4 - 16) / 219, (cb / 4 - 128) / 224, (cr / 4 - 128) / 224
    r, b = yy + 1.5748 * pr, yy + 1.8556 * pb
    g = (yy - 0.2126 * r - 0.0722 * b) / 0.7152
    got = np.clip(np.stack([r, g, b], -1), 0, 1)

    def blocks(img):
        return img.reshape(H // 8, 8, W // 8, 8, 3).mean(axis=(1, 3))

    return ciede2000(lab(blocks(got), bt1886_eotf), lab(blocks(want), bt1886_eotf)).reshape(-1)


def test_an_error_in_a_small_picture_on_black_fails_the_check(tmp_path):
    display = RenderSettings().proxy_display
    profile = PROFILES["hevc_main10"]
    want = _picture(error=False)
    good, bad = tmp_path / "good.mp4", tmp_path / "bad.mp4"
    _encode(good, want)
    _encode(bad, _picture(error=True))
    refs, numbers = {i: want for i in range(3)}, {i: 1001 + i for i in range(3)}

    ok = clip_quality.measure(good, profile, display, refs, numbers)
    assert ok.passed, ok.problems
    assert ok.picture_fraction == pytest.approx(64 * 64 / (W * H), abs=0.01)

    wrong = clip_quality.measure(bad, profile, display, refs, numbers)
    line = clip_quality.figures_line(wrong.metric, wrong.de_mean, wrong.de_p99, wrong.psnr_db, wrong.passed,
                                     wrong.bound)
    print(line, wrong.problems, f"picture {wrong.picture_fraction}")
    assert not wrong.passed
    assert wrong.de_p99 > profile.bound.de_p99 and wrong.de_mean > profile.bound.de_mean  # a quarter is ~4 dE
    assert any("p99" in p and "of the frame" in p for p in wrong.problems), wrong.problems
    assert "FAILED" in line and f"p99 {wrong.de_p99} > {profile.bound.de_p99}" in line

    # Over the whole frame the same file would have passed: 16 wrong blocks of 3,600 are under 1%.
    frame_wide = _frame_wide_blocks(bad, want)
    print(f"frame-wide: mean {frame_wide.mean():.3f} p99 {np.percentile(frame_wide, 99):.3f}")
    assert frame_wide.mean() < profile.bound.de_mean and np.percentile(frame_wide, 99) < profile.bound.de_p99
    assert frame_wide.max() > 3  # while the error itself is there
