"""Graphics levels (issue 30, item 1): on the PQ deliverable, text at BT.2408 graphics white (203 cd/m2), not
PQ 1.0 (10,000 cd/m2); in SDR files, graphics whose decoded samples stay inside the legal range.

The files are decoded by Debian's ffmpeg (``/usr/bin/ffmpeg``, not the libav in the PyAV wheel that wrote
them) to their own code values, and luminance comes from the test's own SMPTE ST 2084 equation."""
from __future__ import annotations

import numpy as np
import pytest

from proxygen_core.media.burnins import band_height
from proxygen_core.media.clips import gap_band
from proxygen_core.media.graphics import GRAPHICS_BLACK, GRAPHICS_WHITE, levels, text_over
from proxygen_core.profiles import HDR_DISPLAY
from proxygen_core.settings import PipelineSettings, RenderSettings, Settings

from .media import ffmpeg_planes
from .test_deliverables import _render_sequence

PROXY = RenderSettings().proxy_display


def st2084_nits(code: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 EOTF: PQ code value in [0, 1] -> cd/m2 (constants from the standard)."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    e = np.clip(code, 0, 1) ** (1 / m2)
    return 10000 * (np.maximum(e - c1, 0) / (c2 - c3 * e)) ** (1 / m1)


def test_graphics_levels_per_display():
    """PQ graphics white is 203 cd/m2; an SDR graphic never leaves [black, white] of the graphics range, and
    softened text reaches full white in its cores."""
    assert st2084_nits(levels(GRAPHICS_WHITE, HDR_DISPLAY)) == pytest.approx(203, abs=0.5)
    assert st2084_nits(levels(1.0, HDR_DISPLAY)) == pytest.approx(203, abs=0.5)  # clipped to graphics white
    assert levels(1.0, PROXY) == pytest.approx(GRAPHICS_WHITE) and levels(0.0, PROXY) == pytest.approx(GRAPHICS_BLACK)
    alpha = np.zeros((60, 200), np.float32)
    alpha[20:40, 50:150] = 1.0  # a thick stroke
    base = np.zeros((60, 200, 3), np.float32)
    sdr = text_over(base, alpha, 60, 0.35, PROXY)
    assert sdr.min() == pytest.approx(GRAPHICS_BLACK) and sdr.max() == pytest.approx(GRAPHICS_WHITE)
    assert 0.3 < sdr[20, 100, 0] < 0.7  # the stroke's edge is softened (a hard edge would be at full white)
    pq = text_over(base, alpha, 60, 0.35, HDR_DISPLAY)
    assert st2084_nits(pq.max()) == pytest.approx(203, abs=0.5)


def _legal(planes: list[np.ndarray], bits: int, rows: list[slice], label: str) -> tuple[int, int]:
    """Assert every Y' and C sample in ``rows`` (of the luma plane; chroma rows scaled) is legal."""
    s = 1 << (bits - 8)
    y, cb, cr = planes
    ry = y.shape[0] // cb.shape[0]
    lo, hi = 255 * s, 0
    for r in rows:
        luma = y[r]
        chroma = np.concatenate([cb[r.start // ry:r.stop // ry].ravel(), cr[r.start // ry:r.stop // ry].ravel()])
        assert 16 * s <= luma.min() and luma.max() <= 235 * s, f"{label}: Y' {luma.min()}..{luma.max()}"
        assert 16 * s <= chroma.min() and chroma.max() <= 240 * s, f"{label}: C {chroma.min()}..{chroma.max()}"
        lo, hi = min(lo, int(luma.min())), max(hi, int(luma.max()))
    return lo, hi


@pytest.mark.slow
def test_hdr_graphics_at_203_nits_and_sdr_graphics_legal(tmp_path):
    """A 1280x720 sequence with a missing frame (black card), burn-ins on every profile and a slate on the
    PQ profile: the gap band's text cores (its brightest 0.1%) decode at 203 +- 5 cd/m2, burn-ins and slate
    text nowhere near PQ 1.0; every SDR graphic's decoded samples inside the legal range."""
    settings = Settings(render=RenderSettings(clip_burnins=True, clip_gap_policy="black"),
                        pipeline=PipelineSettings(clip_profiles="review,hevc_main10,prores_422hq,hdr_pq",
                                                  clip_slates="prores_422hq,hdr_pq"))
    rows, _ = _render_sequence(tmp_path, [1, 2, 4, 5], (1280, 720), settings)
    height = 720
    top, band = gap_band(height)
    bands = band_height(height)
    pq = ffmpeg_planes(rows["hdr_pq"].clip_s3_key, "yuv420p10le")
    assert len(pq) == 6  # slate + 5 pictures
    nits = st2084_nits((pq[3][0].astype(np.float64) / 4 - 16) / 219)  # picture 3 = frame 3, the gap
    cores = np.sort(nits[top:top + band].ravel())[-(band * 1280) // 1000:]
    print(f"hdr_pq gap band: brightest 0.1% {cores.mean():.1f} cd/m2 (max {cores.max():.0f})")
    assert cores.mean() == pytest.approx(203, abs=5)
    for index, picture in enumerate(pq):
        burned = st2084_nits((picture[0][np.r_[0:bands, height - bands:height]].astype(np.float64) / 4 - 16) / 219)
        assert burned.max() < 300, f"picture {index}: burn-in band at {burned.max():.0f} cd/m2"
    slate_text = st2084_nits((pq[0][0][:, :640].astype(np.float64) / 4 - 16) / 219)
    slate_cores = np.sort(slate_text.ravel())[-slate_text.size // 1000:]
    print(f"hdr_pq slate text: brightest 0.1% {slate_cores.mean():.1f} cd/m2")
    assert slate_cores.mean() == pytest.approx(203, abs=10) and slate_text.max() < 300
    graphics = [slice(0, bands), slice(height - bands, height), slice(top, top + band)]
    for profile, fmt, bits in (("review", "yuv420p", 8), ("hevc_main10", "yuv420p10le", 10),
                               ("prores_422hq", "yuv422p10le", 10)):
        pictures = ffmpeg_planes(rows[profile].clip_s3_key, fmt)
        first = rows[profile].slate_frames
        found = [_legal(p, bits, graphics, f"{profile} picture {i}") for i, p in enumerate(pictures[first:])]
        if first:  # the slate's text half
            y, cb, cr = pictures[0]
            found.append(_legal([y[:, :640], cb[:, :640 * cb.shape[1] // 1280], cr[:, :640 * cb.shape[1] // 1280]],
                                bits, [slice(0, height)], f"{profile} slate"))
        print(f"{profile}: graphics Y' {min(f[0] for f in found)}..{max(f[1] for f in found)}")
