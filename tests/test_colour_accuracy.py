"""CIEDE2000 of proxygen's JPEG and decoded MP4 against the PyOpenColorIO reference."""
from __future__ import annotations

import json

import numpy as np
import pytest

from proxygen_core.colour.colorimetry import (
    block_means,
    bt1886_eotf,
    ciede2000,
    lab,
    srgb_eotf,
)
from proxygen_core.media.samples import CHROMATICITIES, chart, write_exr
from proxygen_core.pipeline.folder import render_file
from proxygen_core.settings import RenderSettings, Settings

from .conftest import RENDER, SETTINGS, manifest_cases
from .media import read_jpeg, read_mp4_rgb
from .reference import PROXY_DISPLAY, THUMB_DISPLAY, chart_errors, patch_means, read_full, reference

# Both display paths keep the same bounds: the baked LUT (default) and the exact output transform.
PATHS = [pytest.param(RenderSettings(display_transform="lut"), id="lut"),
         pytest.param(RenderSettings(display_transform="exact"), id="exact")]
# On the 34 real images the exact path costs ~35 s: the full suite runs it, the quick subset the default.
REAL_PATHS = [PATHS[0], pytest.param(RenderSettings(display_transform="exact"), id="exact", marks=pytest.mark.slow)]


@pytest.mark.parametrize("S", PATHS)
@pytest.mark.parametrize("space", ["ACEScg", "Linear Rec.709 (sRGB)"])
def test_chart_patches_within_1_de2000(tmp_path, space, S):
    w, h = 1280, 720
    img, centres = chart(w, h)
    src = tmp_path / "chart.exr"
    write_exr(src, img, CHROMATICITIES[space], pixel_type="float")
    result = render_file(src, tmp_path / "out", Settings(render=S))
    report = result.report()
    assert report["status"] == "ok", report["error"]
    assert report["source_colorspace"] == space
    for kind, de in chart_errors(result, src, space, centres, (w, h), S).items():
        print(f"{S.display_transform} {space} {kind}: max dE2000 {de.max():.3f} mean {de.mean():.3f}")
        assert de.max() < 1.0, f"{kind} patch dE2000 {np.round(de, 2).tolist()}"


def test_the_test_decoder_is_bt709_and_agrees_with_libswscale(tmp_path):
    """Guard on the guard: the test's own BT.709 decode matches libswscale's (told BT.709, limited range), and
    reading the same proxy as BT.601 would break the 1.0 budget on saturated patches."""
    img, centres = chart(640, 360)
    src = tmp_path / "chart.exr"
    write_exr(src, img, CHROMATICITIES["ACEScg"], pixel_type="float")
    result = render_file(src, tmp_path / "out", SETTINGS)
    assert result.ok, result.failed
    from .media import read_mp4_planes, read_mp4_rgb_swscale

    ours = read_mp4_rgb(result.proxy.path)
    sws = read_mp4_rgb_swscale(result.proxy.path)
    def means(img):
        return (patch_means(img, centres, (640, 360)))
    assert np.abs(means(ours) - means(sws)).max() < 3 / 255  # swscale rounds to ~8 bits on this path
    y, cb, cr = (p.astype(np.float64) for p in read_mp4_planes(result.proxy.path))
    yf, pb, pr = (y - 16) / 219, (cb - 128) / 224, (cr - 128) / 224
    r, b = yf + 1.402 * pr, yf + 1.772 * pb  # BT.601
    wrong = np.stack([r, (yf - 0.299 * r - 0.114 * b) / 0.587, b], -1)
    de = ciede2000(lab(means(wrong), bt1886_eotf), lab(means(ours), bt1886_eotf))
    assert de.max() > 1.0


@pytest.mark.slow  # ~20 s over the real images: the full suite (CI) runs it, the quick subset stays under 60 s
@pytest.mark.parametrize("S", REAL_PATHS)
@pytest.mark.parametrize("row", manifest_cases(broken=False))
def test_real_images_block_de2000(tmp_path, row, testdata, S):
    src = str(testdata / row["relpath"])
    result = render_file(src, tmp_path, Settings(render=S))
    report = result.report()
    assert report["status"] == "ok", report["error"]
    full = read_full(src)  # the reference reads every kind proxygen reads (Y/RY/BY through the classic reader)
    # The display window, upright: a framing bug in proxygen shows up here as a size difference, not a skip.
    assert full.shape[:2] == tuple(int(v) for v in report["source_resolution"].split("x")[::-1])
    chroma = None
    if report["source_colorspace"].startswith("Linear (file chromaticities"):  # e.g. XYZ.exr: the file's primaries
        chroma = tuple(float(v) for v in report["source_colorspace"].split("chromaticities ")[1].rstrip(")").split(","))
    results = {}
    for kind, eotf, display, limit in (("proxy", bt1886_eotf, PROXY_DISPLAY, 1.5),
                                       ("thumbnail", srgb_eotf, THUMB_DISPLAY, 1.0)):
        media = getattr(result, kind)
        ours = read_mp4_rgb(media.path) if kind == "proxy" else read_jpeg(media.path)
        ref = reference(
            full, report["source_colorspace"], (media.width, media.height), display, report["view"], S, chroma
        )
        block = ciede2000(lab(block_means(ours), eotf), lab(block_means(ref), eotf)).mean()
        pixel = ciede2000(lab(ours, eotf), lab(ref, eotf))
        results[kind] = {"block_mean": round(float(block), 3), "pixel_mean": round(float(pixel.mean()), 3),
                         "pixel_p99": round(float(np.percentile(pixel, 99)), 3)}
        assert block < limit, f"{kind}: mean 8x8-block dE2000 {block:.3f} >= {limit}"
    print(json.dumps({row["relpath"]: results, "path": S.display_transform}))


def test_display_lut_is_checked_cached_and_falls_back(tmp_path, monkeypatch):
    import PyOpenColorIO as ocio

    from proxygen_core.colour import display_lut

    cfg = ocio.Config.CreateFromFile(RENDER.ocio_config)
    args = (cfg, RENDER.working_colorspace, RENDER.proxy_display, RENDER.view, RENDER.display_lut_size, tmp_path)
    cpu, report = display_lut.fast_display(*args)
    assert report.used == "lut" and report.max <= display_lut.BOUNDS["max"] and cpu is not None
    assert len(list((tmp_path / "luts").glob("*.npz"))) == 1
    cached, again = display_lut.fast_display(*args)  # from the disk cache, same verdict
    assert again == report and cached is not None
    grey = np.full((1, 1, 3), 0.18, np.float32)
    exact = display_lut._cpu(cfg, ocio.DisplayViewTransform(RENDER.working_colorspace, RENDER.proxy_display,
                                                             RENDER.view))
    assert np.abs(display_lut._apply(cpu, grey) - display_lut._apply(exact, grey)).max() < 1e-3
    # The check covers light low-saturation tones (ACEScg (0.7, 0.5, 0.4) and its neighbours), where a 65^3 LUT
    # errs most: that LUT is refused and the exact transform used.
    colours = display_lut.test_colours(cfg, RENDER.working_colorspace)
    assert any(np.allclose(c, (0.7, 0.5, 0.4)) for c in colours[-5:])
    sat = colours.max(1) / np.maximum(colours.min(1), 1e-6)
    assert ((sat < 1.7) & (colours.max(1) > 0.4)).sum() > 1000
    small, refused_65 = display_lut.fast_display(cfg, RENDER.working_colorspace, RENDER.thumb_display, RENDER.view,
                                                 65, None)
    assert small is None and refused_65.used == "exact" and "max" in refused_65.reason
    monkeypatch.setattr(display_lut, "BOUNDS", {"mean": 0.0, "p99": 0.0, "max": 0.0})
    none, refused = display_lut.fast_display(cfg, RENDER.working_colorspace, RENDER.thumb_display, RENDER.view,
                                             17, None)
    assert none is None and refused.used == "exact" and "over the bound" in refused.reason


@pytest.mark.slow  # ~12 s (the PQ bake check at 129^3): in the full suite
def test_pq_display_takes_the_split_lut_within_the_bound(tmp_path):
    """The PQ display's one 129^3 LUT misses the check (the ACES 2.0 HDR view kinks inside its cells); the split
    LUT (a finer dark LUT, exact guarded cells) passes the same check, and holds on colours it was not checked
    on, on bright pixels, and the same whichever rows engine.apply gives each worker."""
    import PyOpenColorIO as ocio

    from proxygen_core.colour import display_lut
    from proxygen_core.colour.colorimetry import display_difference
    from proxygen_core.colour.engine import apply
    from proxygen_core.profiles import HDR_DISPLAY, HDR_VIEW

    cfg = ocio.Config.CreateFromFile(RENDER.ocio_config)
    working = RENDER.working_colorspace
    fast, report = display_lut.fast_display(cfg, working, HDR_DISPLAY, HDR_VIEW, 129, tmp_path)
    assert isinstance(fast, display_lut.SplitLut), report
    assert report.used == "split" and "one LUT: lut error over the bound: max" in report.reason, report
    assert (report.mean, report.p99, report.max) <= (0.1, 0.35, 0.6) and report.max <= display_lut.BOUNDS["max"]
    again, cached = display_lut.fast_display(cfg, working, HDR_DISPLAY, HDR_VIEW, 129, tmp_path)
    assert cached == report and isinstance(again, display_lut.SplitLut)

    exact = display_lut._cpu(cfg, ocio.DisplayViewTransform(working, HDR_DISPLAY, HDR_VIEW))
    de_itp = display_difference(HDR_DISPLAY)[1]
    rng = np.random.default_rng(2026)  # not the check's seed: colours the bake never saw
    unseen = (rng.uniform(0, 1, (60000, 3)) * rng.lognormal(0.0, 1.5, (60000, 1))).astype(np.float32)
    saturated = np.array([[11.3, 0, 11.3], [30, 0.5, 0.2], [0.1, 40, 0.3], [0.2, 0.1, 25]], np.float32)
    colours = np.vstack([unseen, saturated])
    assert (colours.max(1) > 9.5).sum() > 2000  # bright: past the fine LUT's top, through the whole-cube one
    want = np.clip(display_lut._apply(exact, colours), 0, 1)
    got = colours.reshape(-1, 1, 3).copy()
    apply(again, got)  # two workers, each its rows
    got = np.clip(got.reshape(-1, 3), 0, 1)
    error = de_itp(want, got)
    assert error.mean() < 0.1 and np.percentile(error, 99) < 0.35, (error.mean(), np.percentile(error, 99))
    assert error[-4:].max() < 0.6, error[-4:]  # the gamut-boundary kinks are rendered exactly
    one = display_lut.lut_processor(cfg, working, display_lut.bake(cfg, working, HDR_DISPLAY, HDR_VIEW, 129), 129)
    assert de_itp(want[-4:], np.clip(display_lut._apply(one, saturated), 0, 1)).max() > 0.6  # one LUT could not
    flat = colours.copy()
    again.apply(flat)  # in one piece: the same values as chunked
    assert np.array_equal(np.clip(flat, 0, 1), got)
    # NaN and infinities (a bad render's pixels) take a LUT without a warning or a cell index cast from NaN, and
    # never change their neighbours' values
    import warnings

    odd = np.array([[np.nan, 0.2, 0.1], [np.inf, 1, 1], [-np.inf, 0.1, 0.1], [20, 0.1, 0.1]], np.float32)
    alone = odd[3:].copy()
    again.apply(alone)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again.apply(odd)
    assert np.allclose(odd[3:], alone, rtol=0, atol=1e-6) and np.isfinite(alone).all()  # OCIO SIMD: ulps
