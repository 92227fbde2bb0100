"""The figures docs/colour.md quotes, from one run: chart accuracy of both display paths (decoded
independently of the product: tests/media.py), the third-party images' block accuracy when the shared
set is present, the baked LUT's bake-time check, and the cost of one display transform.

    .venv/bin/python benchmarks/colour_figures.py

Prints the date, the machine and one line per figure; docs/colour.md copies them with that header.
"""
from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proxygen_core.colour import display_lut
from proxygen_core.colour.colorimetry import block_means, bt1886_eotf, ciede2000, lab, srgb_eotf
from proxygen_core.colour.engine import apply, engine
from proxygen_core.media.samples import CHROMATICITIES, chart, write_exr
from proxygen_core.pipeline.folder import render_file
from proxygen_core.settings import RenderSettings, Settings
from tests.conftest import TESTDATA, is_broken, manifest
from tests.media import read_jpeg, read_mp4_rgb
from tests.reference import PROXY_DISPLAY, THUMB_DISPLAY, chart_errors, read_full, reference

OUTPUTS = (("proxy", bt1886_eotf, PROXY_DISPLAY), ("thumbnail", srgb_eotf, THUMB_DISPLAY))


def chart_figures(tmp: Path) -> None:
    w, h = 1280, 720
    img, centres = chart(w, h)
    for path in ("lut", "exact"):
        s = RenderSettings(display_transform=path)
        for space in ("ACEScg", "Linear Rec.709 (sRGB)"):
            src = tmp / f"chart_{path}_{space[:6]}.exr"
            write_exr(src, img, CHROMATICITIES[space], pixel_type="float")
            r = render_file(src, tmp / f"out_{path}", Settings(render=s))
            for kind, de in chart_errors(r, src, space, centres, (w, h), s).items():
                print(f"chart {path:5} {space:22} {kind:9} patch dE2000 max {de.max():.2f} mean {de.mean():.2f}")


def testdata_figures(tmp: Path) -> None:
    rows = [r for r in manifest() if not is_broken(r)]
    if not rows:
        print(f"third-party images: not measured (no MANIFEST.tsv at {TESTDATA})")
        return
    for path in ("lut", "exact"):
        s = RenderSettings(display_transform=path)
        blocks: dict[str, list[float]] = {"proxy": [], "thumbnail": []}
        pixels: dict[str, list[float]] = {"proxy": [], "thumbnail": []}
        for row in rows:
            src = str(TESTDATA / row["relpath"])
            r = render_file(src, tmp / f"td_{path}", Settings(render=s))
            rep = r.report()
            chroma = None
            if rep["source_colorspace"].startswith("Linear (file chromaticities"):
                chroma = tuple(float(v) for v in rep["source_colorspace"].split("chromaticities ")[1].rstrip(")")
                               .split(","))
            full = read_full(src)
            for kind, eotf, display in OUTPUTS:
                media = getattr(r, kind)
                ours = read_mp4_rgb(media.path) if kind == "proxy" else read_jpeg(media.path)
                ref = reference(full, rep["source_colorspace"], (media.width, media.height), display, rep["view"], s,
                                chroma)
                blocks[kind].append(float(ciede2000(lab(block_means(ours), eotf), lab(block_means(ref), eotf)).mean()))
                pixels[kind].append(float(ciede2000(lab(ours, eotf), lab(ref, eotf)).mean()))
        for kind in ("proxy", "thumbnail"):
            print(f"third-party {path:5} {kind:9} {len(rows)} images: 8x8-block dE2000 mean avg "
                  f"{statistics.mean(blocks[kind]):.2f} max {max(blocks[kind]):.2f}; pixel mean avg "
                  f"{statistics.mean(pixels[kind]):.2f}")


def lut_figures(tmp: Path) -> None:
    s = RenderSettings()
    cfg = engine(s.ocio_config).config
    from proxygen_core.colour.colorimetry import display_difference
    from proxygen_core.profiles import HDR_DISPLAY, HDR_VIEW

    for display, view in ((THUMB_DISPLAY, s.view), (PROXY_DISPLAY, s.view), (HDR_DISPLAY, HDR_VIEW)):
        for size in (65, 129):
            _, rep = display_lut.fast_display(cfg, s.working_colorspace, display, view, size, tmp / f"lut{size}")
            print(f"LUT {size}^3 {display:27} bake check {display_difference(display)[0]} mean {rep.mean:.3f} "
                  f"p99 {rep.p99:.3f} max {rep.max:.3f} -> {rep.used} (bake {rep.bake_seconds:.2f} s)")


def cost_figures() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    s = RenderSettings()
    rng = np.random.default_rng(1)
    img = (rng.lognormal(-1.5, 1.0, (1012, 1920, 3))).astype(np.float32)
    eng = engine(s.ocio_config)
    for path in ("lut", "exact"):
        cpu = eng.display(s.working_colorspace, PROXY_DISPLAY, s.view, path, s.display_lut_size)
        times = []
        for _ in range(5):
            work = img.copy()
            t0 = time.perf_counter()
            apply(cpu, work)
            times.append(time.perf_counter() - t0)
        print(f"display transform {path:5} 1920x1012: median {statistics.median(times) * 1000:.0f} ms "
              f"(5 runs, {os.cpu_count()} cores available)")


def main() -> None:
    print(f"{datetime.date.today()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PROXYGEN_LUT_CACHE_DIR"] = tmp  # bake afresh: the bake time is a figure too
        chart_figures(Path(tmp))
        lut_figures(Path(tmp))
        cost_figures()
        testdata_figures(Path(tmp))


if __name__ == "__main__":
    main()
