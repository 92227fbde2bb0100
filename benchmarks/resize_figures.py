"""The banded resize against OpenImageIO's own box resize, on real frames: time and colour.

Frames: 4096x2160 mosaics of real pictures of ../shared/testdata (a photograph, the ACES spectral target,
an EXR of the OpenEXR set), scene-linear ACEScg, shrunk to the 1920x1012 proxy size. For each: the median
time of both resizes (5 runs, in this process, 2 cores), and the difference between their results on
display values (the studio config's sRGB display, ACES 2.0 SDR view, exact transform): CIEDE2000 per pixel
(mean, p99, max) and PSNR over the code values.

    .venv/bin/python benchmarks/resize_figures.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import describe  # noqa: E402  (benchmarks/machine.py)
from timing import timed  # noqa: E402

from proxygen_core.colour.colorimetry import ciede2000, lab, srgb_eotf  # noqa: E402
from proxygen_core.colour.engine import apply, engine  # noqa: E402
from proxygen_core.media.resample import oiio_resize, resize  # noqa: E402
from proxygen_core.settings import RenderSettings  # noqa: E402
from tests.conftest import TESTDATA  # noqa: E402

SOURCES = {  # file -> the colour space its pixels are in
    "OpenImageIO-images/tahoe-gps.jpg": "sRGB Encoded Rec.709 (sRGB)",
    "aces-core/images/aces/synthetic/target_ricd_190spectra.exr": "ACES2065-1",
    "openexr-images/Tiles/GoldenGate.exr": "Linear Rec.709 (sRGB)",
}
SIZE, PROXY = (4096, 2160), (1920, 1012)


def mosaic(path: Path, colourspace: str) -> np.ndarray:
    """The picture repeated (mirrored, so no seams) to 4096x2160, converted to scene-linear ACEScg."""
    buf = oiio.ImageBuf(str(path))
    buf.read(0, 0, 0, 3, True, oiio.FLOAT)
    pic = buf.get_pixels(oiio.FLOAT)[..., :3]
    tile = np.concatenate([pic, pic[:, ::-1]], 1)
    tile = np.concatenate([tile, tile[::-1]], 0)
    reps = (-(-SIZE[1] // tile.shape[0]), -(-SIZE[0] // tile.shape[1]), 1)
    out = np.ascontiguousarray(np.tile(tile, reps)[:SIZE[1], :SIZE[0]], dtype=np.float32)
    cfg = engine(RenderSettings().ocio_config).config
    apply(cfg.getProcessor(colourspace, "ACEScg").getDefaultCPUProcessor(), out)
    return out


def display(pixels: np.ndarray) -> np.ndarray:
    settings = RenderSettings()
    out = np.ascontiguousarray(pixels, dtype=np.float32).copy()
    apply(engine(settings.ocio_config).display("ACEScg", settings.thumb_display,
                                               "ACES 2.0 - SDR 100 nits (Rec.709)"), out)
    return np.clip(np.nan_to_num(out), 0.0, 1.0)


def main() -> int:
    print("machine:", describe())
    if not TESTDATA.is_dir():
        print(f"no shared test data at {TESTDATA}: nothing to measure")
        return 1
    print(f"{'frame':<62} {'banded ms':>9} {'OIIO ms':>8} {'speed-up':>8} {'dE00 mean':>9} {'p99':>6} {'max':>6} "
          f"{'PSNR dB':>8}")
    for name, space in SOURCES.items():
        src = mosaic(TESTDATA / name, space)
        ours, theirs = resize(src, *PROXY), oiio_resize(src, *PROXY, "box")
        t_ours = timed(lambda: resize(src, *PROXY), 5, warmup=True)
        buf = oiio.ImageBuf(oiio.ImageSpec(SIZE[0], SIZE[1], 3, oiio.FLOAT))
        buf.set_pixels(oiio.ROI(), src)
        roi = oiio.ROI(0, PROXY[0], 0, PROXY[1], 0, 1, 0, 3)
        # what the render paid before: OIIO's resize straight from the decoded ImageBuf, the small result out
        t_theirs = timed(lambda: oiio.ImageBufAlgo.resize(buf, filtername="box", roi=roi).get_pixels(oiio.FLOAT),
                         5, warmup=True)
        a, b = display(ours), display(theirs)
        de = ciede2000(lab(a, srgb_eotf), lab(b, srgb_eotf))
        mse = float(np.mean((a - b) ** 2))
        psnr = float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)
        print(f"{name:<62} {t_ours * 1000:>9.1f} {t_theirs * 1000:>8.1f} {t_theirs / t_ours:>7.1f}x "
              f"{de.mean():>9.5f} {np.percentile(de, 99):>6.4f} {de.max():>6.4f} {psnr:>8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
