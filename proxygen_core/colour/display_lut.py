"""The fast display path: a log shaper and a baked 3D LUT in place of the exact output transform.

The exact ACES 2.0 output transform costs ~0.6 s on a 1080p frame (2 cores); OCIO applies a 129^3 LUT
with tetrahedral interpolation in ~30 ms. The LUT is baked from the exact processor over the ACEScct
cube (the shaper keeps scene-linear values up to ~222 within the grid and spaces the samples like the
eye does), checked against the exact processor on a test set (grey ramp, saturated primaries and
secondaries over 10 stops, random real-frame-like colours), and used only if the CIEDE2000 error on
that set is within ``BOUNDS``; otherwise the exact processor is used and the reason is kept.
Baked LUTs are cached on disk, keyed by the config's cache id and the (working, display, view, size).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import PyOpenColorIO as ocio

from proxygen_core.colour.colorimetry import display_difference

SHAPER = "ACEScct"
# Colour difference on display code values over the test set (CIEDE2000; deltaE ITP on PQ displays), before
# any 8-bit rounding: the LUT may only spend a small part of the 1.0 budget that an 8-bit output must meet
# (rounding alone costs up to ~0.8 in dark tones). A 65^3 LUT misses it on light low-saturation tones (max
# 0.80); the 129^3 default passes (max 0.44). Measured figures in docs/colour.md.
BOUNDS = {"mean": 0.1, "p99": 0.35, "max": 0.6}


@dataclass
class BakeReport:
    used: str  # "lut" | "exact"
    reason: str
    size: int
    mean: float
    p99: float
    max: float
    bake_seconds: float


def _cpu(config: ocio.Config, transform: ocio.Transform) -> ocio.CPUProcessor:
    return config.getProcessor(transform).getOptimizedCPUProcessor(ocio.OPTIMIZATION_DEFAULT)


def _apply(cpu: ocio.CPUProcessor, rgb: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(rgb, dtype=np.float32).reshape(-1, 1, 3).copy()
    cpu.apply(ocio.PackedImageDesc(out, 1, out.shape[0], 3))
    return out.reshape(rgb.shape)


def test_colours(config: ocio.Config, working: str) -> np.ndarray:
    """Working-space colours the LUT must reproduce: what frames hold, and the hard cases."""
    ramp = np.repeat(np.exp2(np.linspace(-10, 6, 97))[:, None], 3, 1)
    hues = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1], [1, .5, .2], [.2, .5, 1]])
    stops = np.exp2(np.linspace(-6, 4, 21))
    saturated = (hues[:, None, :] * stops[None, :, None]).reshape(-1, 3)
    rng = np.random.default_rng(7)
    lin709 = rng.uniform(0, 1, (20000, 3)) * rng.lognormal(-1.0, 1.2, (20000, 1))
    # Low-saturation mid-to-light tones (skin, overcast sky, grey cards): where the tone curve bends most
    # between LUT nodes. ACEScg (0.7, 0.5, 0.4), a light warm tone, is one of them.
    tints = rng.uniform(0.6, 1.0, (20000, 3)) * rng.uniform(0.05, 1.2, (20000, 1))
    lin709_name = next((n for n in ("Linear Rec.709 (sRGB)", "lin_rec709_srgb") if config.getColorSpace(n)), None)
    real = _apply(_cpu(config, ocio.ColorSpaceTransform(lin709_name, working)), lin709) if lin709_name else lin709
    return np.vstack([ramp, saturated, real, tints, [[0.7, 0.5, 0.4]]]).astype(np.float32)


def bake(config: ocio.Config, working: str, display: str, view: str, size: int) -> np.ndarray:
    """LUT values (size^3, 3), red slowest, blue fastest (OCIO's order), over the shaper's [0, 1] cube."""
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    cube = np.stack([r, g, b], -1).reshape(-1, 3)
    scene = _apply(_cpu(config, ocio.ColorSpaceTransform(SHAPER, working)), cube)
    return _apply(_cpu(config, ocio.DisplayViewTransform(working, display, view)), scene)


def lut_processor(config: ocio.Config, working: str, values: np.ndarray, size: int) -> ocio.CPUProcessor:
    """OCIO caches processors per config keyed by the transform's text, which does not include a LUT's
    data: a second LUT would get the first one's processor. So LUT processors come from an uncached copy."""
    uncached = copy.deepcopy(config)
    uncached.setProcessorCacheFlags(ocio.PROCESSOR_CACHE_OFF)
    return _cpu(uncached, lut_transform(working, values, size))


def lut_transform(working: str, values: np.ndarray, size: int) -> ocio.GroupTransform:
    lut = ocio.Lut3DTransform(gridSize=size)
    lut.setData(np.ascontiguousarray(values, dtype=np.float32).reshape(-1))
    lut.setInterpolation(ocio.INTERP_TETRAHEDRAL)
    group = ocio.GroupTransform()
    group.appendTransform(ocio.ColorSpaceTransform(working, SHAPER))
    group.appendTransform(lut)
    return group


def measure(config: ocio.Config, working: str, display: str, view: str, fast: ocio.CPUProcessor,
            exact: ocio.CPUProcessor) -> tuple[float, float, float]:
    colours = test_colours(config, working)
    want = np.clip(_apply(exact, colours), 0, 1)
    got = np.clip(_apply(fast, colours), 0, 1)
    de = display_difference(display)[1](want, got)
    return float(de.mean()), float(np.percentile(de, 99)), float(de.max())


def cache_file(cache_dir: str | os.PathLike[str], config: ocio.Config, working: str, display: str, view: str,
               size: int) -> Path:
    key = json.dumps([config.getCacheID(), working, display, view, size, SHAPER])
    return Path(cache_dir) / "luts" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"


def fast_display(config: ocio.Config, working: str, display: str, view: str, size: int,
                 cache_dir: str | os.PathLike[str] | None) -> tuple[ocio.CPUProcessor | None, BakeReport]:
    """The LUT processor and its report, or (None, report with the reason) when the exact one must be used."""
    t0 = time.perf_counter()
    if config.getColorSpace(SHAPER) is None:
        return None, BakeReport("exact", f"the config has no {SHAPER} colour space for the shaper", size, 0, 0, 0, 0)
    path = cache_file(cache_dir, config, working, display, view, size) if cache_dir else None
    exact = _cpu(config, ocio.DisplayViewTransform(working, display, view))
    if path is not None and path.exists():
        data = np.load(path)
        report = BakeReport(**json.loads(str(data["report"])))
        values = data["values"]
    else:
        values = bake(config, working, display, view, size)
        fast = lut_processor(config, working, values, size)
        mean, p99, worst = measure(config, working, display, view, fast, exact)
        over = [
            f"{k} {v:.2f} > {BOUNDS[k]}" for k, v in (("mean", mean), ("p99", p99), ("max", worst)) if v > BOUNDS[k]
        ]
        report = BakeReport("exact" if over else "lut",
                            f"LUT error over the bound: {', '.join(over)}" if over else "within the bound",
                            size, round(mean, 4), round(p99, 4), round(worst, 4), round(time.perf_counter() - t0, 3))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, values=values, report=json.dumps(asdict(report)))
            os.replace(tmp, path)
    if report.used != "lut":
        return None, report
    return lut_processor(config, working, values, size), report
