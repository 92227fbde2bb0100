"""Synthetic frames with known colours, so the demo and tests never need third-party images."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

# Scene-linear patch values: greys, primaries, secondaries, skin-like tones, and a column of light
# low-saturation tones (where a display LUT errs most: ACEScg (0.7, 0.5, 0.4) is a light warm skin tone).
CHART_PATCHES: list[tuple[float, float, float]] = [
    (0.18, 0.18, 0.18), (0.02, 0.02, 0.02), (0.5, 0.5, 0.5), (0.9, 0.9, 0.9), (0.7, 0.5, 0.4),
    (0.6, 0.05, 0.05), (0.05, 0.6, 0.05), (0.05, 0.05, 0.6), (0.6, 0.6, 0.05), (0.25, 0.2, 0.15),
    (0.05, 0.6, 0.6), (0.6, 0.05, 0.6), (0.45, 0.25, 0.15), (0.2, 0.3, 0.45), (0.5, 0.42, 0.35),
    (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (2.5, 2.5, 2.5), (0.1, 0.1, 0.1),
]
CHROMATICITIES = {
    "ACEScg": (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767),
    "Linear Rec.709 (sRGB)": (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290),
}


def chart(
    width: int, height: int, cols: int = 5, rows: int = 4, frame: int = 0
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A grid of flat patches (with a moving marker per frame); returns pixels and patch centres."""
    img = np.zeros((height, width, 3), dtype=np.float32)
    centres = []
    pw, ph = width // cols, height // rows
    for i, colour in enumerate(CHART_PATCHES[: cols * rows]):
        r, c = divmod(i, cols)
        img[r * ph:(r + 1) * ph, c * pw:(c + 1) * pw] = colour
        centres.append((c * pw + pw // 2, r * ph + ph // 2))
    if frame:
        x = (frame * 37) % max(1, width - 8)
        img[height - 8:, x:x + 8] = 1.0
    return img, centres


def write_exr(path: str | os.PathLike[str], rgb: np.ndarray, chromaticities: tuple[float, ...] | None = None,
              alpha: bool = False, pixel_type: str = "half", compression: str = "zip") -> None:
    h, w = rgb.shape[:2]
    data = np.concatenate([rgb, np.ones((h, w, 1), np.float32)], axis=-1) if alpha else rgb
    spec = oiio.ImageSpec(w, h, data.shape[2], pixel_type)
    spec.attribute("compression", compression)
    if chromaticities:
        spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), tuple(float(c) for c in chromaticities))
    out = oiio.ImageOutput.create(str(path))
    if out is None or not out.open(str(path), spec):
        raise OSError(f"cannot write {path}: {oiio.geterror()}")
    out.write_image(np.ascontiguousarray(data, dtype=np.float32))
    out.close()


def write_sequence(folder: str | os.PathLike[str], frames: int = 12, width: int = 2048, height: int = 1080,
                   name: str = "beauty", colorspace: str = "ACEScg") -> list[Path]:
    """A short ACEScg half-float EXR sequence tagged with its chromaticities (``name.1001.exr`` ...)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(frames):
        img, _ = chart(width, height, frame=index + 1)
        ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)
        img[: height // 16] = ramp[None, :, None]  # a linear ramp across the top shows the tone curve
        path = folder / f"{name}.{1001 + index:04d}.exr"
        write_exr(path, img, CHROMATICITIES.get(colorspace), alpha=True)
        paths.append(path)
    return paths
