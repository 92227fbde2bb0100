"""The fast display path: a log shaper and a baked 3D LUT in place of the exact output transform.

The exact ACES 2.0 output transform costs ~0.6 s on a 1080p frame (2 cores); OCIO applies a 129^3 LUT
with tetrahedral interpolation in ~30 ms. The LUT is baked from the exact processor over the ACEScct
cube (the shaper keeps scene-linear values up to ~222 within the grid and spaces the samples like the
eye does), checked against the exact processor on a test set (grey ramp, saturated primaries and
secondaries over 10 stops, random real-frame-like colours), and used only if the CIEDE2000 error on
that set is within ``BOUNDS``; otherwise the exact processor is used and the reason is kept.
Baked LUTs are cached on disk, keyed by the config's cache id and the (working, display, view, size).

Where one LUT misses the bound (the PQ display of the ACES 2.0 HDR views: its tone and chroma compression
bend within a 129^3 cell in dark tones, and kink at the gamut boundary), the display path is a ``SplitLut``:
a second LUT over the dark part of the shaper cube at finer spacing, and the exact processor for the few
cells where the whole-cube LUT cannot follow the transform (found at bake time by the error at every cell's
centre). It passes the same check on the same test set, or the exact processor is used.
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


# SplitLut: pixels whose largest shaper value is below SPLIT go through the finer LUT over [0, SPLIT]^3; a cell of
# the whole-cube LUT whose centre error is over GUARD (or that touches such a cell) is rendered exactly.
SPLIT = 0.7
GUARD = 0.3


@dataclass
class BakeReport:
    used: str  # "lut" | "split" | "exact"
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


def bake(config: ocio.Config, working: str, display: str, view: str, size: int, top: float = 1.0) -> np.ndarray:
    """LUT values (size^3, 3), red slowest, blue fastest (OCIO's order), over the shaper's [0, top] cube."""
    axis = np.linspace(0.0, top, size, dtype=np.float32)
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    cube = np.stack([r, g, b], -1).reshape(-1, 3)
    scene = _apply(_cpu(config, ocio.ColorSpaceTransform(SHAPER, working)), cube)
    return _apply(_cpu(config, ocio.DisplayViewTransform(working, display, view)), scene)


def lut_processor(config: ocio.Config, working: str | None, values: np.ndarray, size: int,
                  top: float = 1.0) -> ocio.CPUProcessor:
    """OCIO caches processors per config keyed by the transform's text, which does not include a LUT's
    data: a second LUT would get the first one's processor. So LUT processors come from an uncached copy."""
    uncached = copy.deepcopy(config)
    uncached.setProcessorCacheFlags(ocio.PROCESSOR_CACHE_OFF)
    return _cpu(uncached, lut_transform(working, values, size, top))


def lut_transform(working: str | None, values: np.ndarray, size: int, top: float = 1.0) -> ocio.GroupTransform:
    """working -> shaper (none when ``working`` is None: the input is shaper values already) -> scaled so
    [0, top] fills the grid -> the 3D LUT."""
    lut = ocio.Lut3DTransform(gridSize=size)
    lut.setData(np.ascontiguousarray(values, dtype=np.float32).reshape(-1))
    lut.setInterpolation(ocio.INTERP_TETRAHEDRAL)
    group = ocio.GroupTransform()
    if working is not None:
        group.appendTransform(ocio.ColorSpaceTransform(working, SHAPER))
    if top != 1.0:
        k = 1.0 / top
        group.appendTransform(ocio.MatrixTransform([k, 0, 0, 0, 0, k, 0, 0, 0, 0, k, 0, 0, 0, 0, 1]))
    group.appendTransform(lut)
    return group


def _apply_flat(cpu: ocio.CPUProcessor, flat: np.ndarray) -> None:
    """In place on a contiguous float32 (n, 3) array."""
    if flat.shape[0]:
        cpu.apply(ocio.PackedImageDesc(flat, flat.shape[0], 1, 3))


class SplitLut:
    """The display path where one LUT is not enough (module docstring): the whole-cube LUT, a finer LUT over
    the dark part of the cube, and the exact processor for the guarded cells. ``apply`` works in place on a
    contiguous float32 (..., 3) array, like an OCIO processor on a packed image; OCIO and numpy release the GIL,
    so row chunks run in parallel (engine.apply). The shaper runs once; both LUTs take its values."""

    def __init__(self, config: ocio.Config, working: str, display: str, view: str, size: int,
                 whole: np.ndarray, fine: np.ndarray, guarded: np.ndarray) -> None:
        self.cells = size - 1
        self.guarded = np.ascontiguousarray(guarded, dtype=bool).reshape(-1)
        self.shaper = _cpu(config, ocio.ColorSpaceTransform(working, SHAPER))
        self.whole = lut_processor(config, None, whole, size)
        self.fine = lut_processor(config, None, fine, size, SPLIT)
        group = ocio.GroupTransform()  # from shaper values: the exact pixels are picked after the shaper pass
        group.appendTransform(ocio.ColorSpaceTransform(SHAPER, working))
        group.appendTransform(ocio.DisplayViewTransform(working, display, view))
        self.exact = _cpu(config, group)

    def apply(self, rgb: np.ndarray) -> None:
        flat = rgb.reshape(-1, 3)
        _apply_flat(self.shaper, flat)  # flat now holds shaper values
        top = np.maximum(np.maximum(flat[:, 0], flat[:, 1]), flat[:, 2])
        # Past the fine LUT's top (~9x scene white in ACEScct): few pixels, kept aside. NaN is not (NaN >= x is
        # false): it takes the fine LUT like a dark pixel, never a cell index cast from NaN.
        high = np.flatnonzero(top >= SPLIT)
        coords = flat[high]  # a copy: their shaper values, for the whole-cube LUT and the guarded cells
        _apply_flat(self.fine, flat)
        if not high.size:
            return
        # Out-of-cube values clamp to the cube's face, as the one-LUT path does (and its check assumes).
        index = np.clip(coords * self.cells, 0, self.cells - 1).astype(np.int32)
        guarded = self.guarded[(index[:, 0] * self.cells + index[:, 1]) * self.cells + index[:, 2]]
        picked = coords[guarded]  # a copy: the guarded pixels, rendered exactly
        _apply_flat(self.whole, coords)
        _apply_flat(self.exact, picked)
        coords[guarded] = picked
        flat[high] = coords


def guarded_cells(config: ocio.Config, working: str, display: str, view: str, size: int,
                  whole: ocio.CPUProcessor, exact: ocio.CPUProcessor) -> np.ndarray:
    """The whole-cube LUT's cells (bool, (size-1)^3) to render exactly: error at the centre over GUARD, and their
    neighbours (the error at a kink spreads into the next cell); cells entirely below SPLIT never are."""
    cells = size - 1
    axis = (np.arange(cells, dtype=np.float32) + 0.5) / cells
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    centres = np.stack([r, g, b], -1).reshape(-1, 3)
    scene = _apply(_cpu(config, ocio.ColorSpaceTransform(SHAPER, working)), centres)
    error = display_difference(display)[1](np.clip(_apply(exact, scene), 0, 1), np.clip(_apply(whole, scene), 0, 1))
    over = (error > GUARD).reshape(cells, cells, cells) & (centres.max(1) >= SPLIT).reshape(cells, cells, cells)
    near = over.copy()
    for axis_index in range(3):
        for step in (-1, 1):
            near |= np.roll(over, step, axis=axis_index)
    return near


def measure(config: ocio.Config, working: str, display: str, view: str, fast: ocio.CPUProcessor | SplitLut,
            exact: ocio.CPUProcessor) -> tuple[float, float, float]:
    colours = test_colours(config, working)
    want = np.clip(_apply(exact, colours), 0, 1)
    if isinstance(fast, SplitLut):
        got = colours.copy()
        fast.apply(got)
        np.clip(got, 0, 1, out=got)
    else:
        got = np.clip(_apply(fast, colours), 0, 1)
    de = display_difference(display)[1](want, got)
    return float(de.mean()), float(np.percentile(de, 99)), float(de.max())


def cache_file(cache_dir: str | os.PathLike[str], config: ocio.Config, working: str, display: str, view: str,
               size: int) -> Path:
    key = json.dumps([config.getCacheID(), working, display, view, size, SHAPER, SPLIT, GUARD])
    return Path(cache_dir) / "luts" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"


def _verdict(used: str, size: int, errors: tuple[float, float, float], seconds: float) -> BakeReport:
    over = [f"{k} {v:.2f} > {BOUNDS[k]}" for k, v in zip(("mean", "p99", "max"), errors, strict=True) if v > BOUNDS[k]]
    return BakeReport("exact" if over else used,
                      f"{used} error over the bound: {', '.join(over)}" if over else "within the bound",
                      size, round(errors[0], 4), round(errors[1], 4), round(errors[2], 4), round(seconds, 3))


def fast_display(config: ocio.Config, working: str, display: str, view: str, size: int,
                 cache_dir: str | os.PathLike[str] | None
                 ) -> tuple[ocio.CPUProcessor | SplitLut | None, BakeReport]:
    """The fast processor and its report, or (None, report with the reason) when the exact one must be used:
    one LUT if it passes the check, else a SplitLut if that passes, else none."""
    t0 = time.perf_counter()
    if config.getColorSpace(SHAPER) is None:
        return None, BakeReport("exact", f"the config has no {SHAPER} colour space for the shaper", size, 0, 0, 0, 0)
    path = cache_file(cache_dir, config, working, display, view, size) if cache_dir else None
    built: ocio.CPUProcessor | SplitLut | None = None  # the one the check measured: not built twice
    if path is not None and path.exists():
        data = np.load(path)
        report = BakeReport(**json.loads(str(data["report"])))
        arrays = {k: data[k] for k in data.files if k != "report"}
    else:
        exact = _cpu(config, ocio.DisplayViewTransform(working, display, view))
        arrays = {"values": bake(config, working, display, view, size)}
        whole = lut_processor(config, working, arrays["values"], size)
        report = _verdict("lut", size, measure(config, working, display, view, whole, exact), time.perf_counter() - t0)
        built = whole
        if report.used != "lut":
            first = report.reason
            arrays["fine"] = bake(config, working, display, view, size, SPLIT)
            arrays["guarded"] = guarded_cells(config, working, display, view, size, whole, exact)
            split = SplitLut(config, working, display, view, size, arrays["values"], arrays["fine"],
                             arrays["guarded"])
            report = _verdict("split", size, measure(config, working, display, view, split, exact),
                              time.perf_counter() - t0)
            report.reason = f"one LUT: {first}; " + (
                f"split LUT within the bound ({arrays['guarded'].mean():.2%} of the cells exact)"
                if report.used == "split" else report.reason)
            built = split
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, report=json.dumps(asdict(report)), **arrays)
            os.replace(tmp, path)
    if report.used == "exact":
        return None, report
    if built is not None:
        return built, report
    if report.used == "lut":
        return lut_processor(config, working, arrays["values"], size), report
    if report.used == "split":
        return SplitLut(config, working, display, view, size, arrays["values"], arrays["fine"],
                        arrays["guarded"]), report
    return None, report
