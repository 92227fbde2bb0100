"""Colour management with OpenColorIO: source detection, working-space and display transforms.

Detection order (the first that answers wins, and the answer says which rule decided):
override -> explicit metadata (oiio:ColorSpace / colour-space attributes / EXR chromaticities)
-> the config's file rules (its catch-all Default rule does not count) -> configured default.
"""
from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import PyOpenColorIO as ocio

from proxygen_core.colour.display_lut import SplitLut
from proxygen_core.colour.grades import Grade, look_transform
from proxygen_core.colour.simd import clear_upper_state
from proxygen_core.errors import ColorError
from proxygen_core.parallel import WORKERS, run_parts, spread
from proxygen_core.probe import ProbeRecord
from proxygen_core.settings import RenderSettings, lut_cache_dir

# Known primaries -> colour interop IDs (aliases every OCIO 2.5 built-in config carries).
_ACES_WHITE = (0.32168, 0.33767)
_D65 = (0.3127, 0.3290)
KNOWN_PRIMARIES: dict[str, tuple[float, ...]] = {
    "lin_ap0_scene": (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, *_ACES_WHITE),
    "lin_ap1_scene": (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, *_ACES_WHITE),
    "lin_rec709_scene": (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, *_D65),
    "lin_p3d65_scene": (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, *_D65),
    "lin_rec2020_scene": (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, *_D65),
}
_NAME_ALIASES = {"srgb": "srgb_rec709_scene", "linear": "lin_rec709_scene", "scene_linear": "scene_linear",
                 "rec709": "g24_rec709_scene", "aces": "lin_ap0_scene", "acescg": "lin_ap1_scene"}
_CHROMA_TOLERANCE = 0.005


@dataclass(frozen=True)
class ColourDecision:
    """Which colour space a source is in, why, and how its outputs are viewed."""

    source_colorspace: str
    rule: str
    display_referred: bool
    thumb_view: str
    proxy_view: str
    chromaticities: tuple[float, ...] | None = None  # set when no named space matched the file's primaries


def _rgb_to_xyz(prim: tuple[float, ...]) -> np.ndarray:
    """Primaries as unnormalised xyz columns, so a primary with y = 0 (XYZ's blue) still works."""
    xr, yr, xg, yg, xb, yb, xw, yw = prim
    cols = np.array([[x, y, 1 - x - y] for x, y in ((xr, yr), (xg, yg), (xb, yb))]).T
    white = np.array([xw / yw, 1.0, (1 - xw - yw) / yw])
    return cols * np.linalg.solve(cols, white)


def chromaticities_matrix(prim: tuple[float, ...]) -> np.ndarray:
    """RGB(file primaries) -> ACES2065-1, with a Bradford adaptation from the file's white to ACES white."""
    bradford = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
    def white_xyz(x: float, y: float) -> np.ndarray:
        return np.array([x / y, 1.0, (1 - x - y) / y])
    src_lms = bradford @ white_xyz(prim[6], prim[7])
    dst_lms = bradford @ white_xyz(*_ACES_WHITE)
    cat = np.linalg.inv(bradford) @ np.diag(dst_lms / src_lms) @ bradford
    ap0 = _rgb_to_xyz(KNOWN_PRIMARIES["lin_ap0_scene"])
    return np.linalg.inv(ap0) @ cat @ _rgb_to_xyz(prim)


def _matches(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == 8 and all(abs(x - y) <= _CHROMA_TOLERANCE for x, y in zip(a, b, strict=False))


class ColourEngine:
    """One loaded OCIO config with cached processors (building one costs ~50 ms)."""

    def __init__(self, config_name: str) -> None:
        self.config_name = config_name
        try:
            self.config = ocio.Config.CreateFromFile(config_name)
        except Exception as exc:
            raise ColorError(config_name, f"cannot load OCIO config: {exc}") from exc
        self._lock = threading.Lock()
        # processors (a split LUT for the PQ display), and whether a transform is linear
        self._cpu: dict[tuple, ocio.CPUProcessor | SplitLut | bool] = {}
        self.bake_reports: dict[tuple, object] = {}  # display LUT checks, for reports and benchmarks

    # --- detection -------------------------------------------------------------------------
    def resolve_name(self, name: str) -> str | None:
        cs = self.config.getColorSpace(name) or self.config.getColorSpace(_NAME_ALIASES.get(name.lower(), name))
        return cs.getName() if cs is not None else None

    def is_display_referred(self, name: str, is_float: bool) -> bool:
        """Integer sources in a video-encoded or display space are shown without the tone map."""
        if is_float:
            return False
        cs = self.config.getColorSpace(name)
        if cs is None:
            return False
        return cs.getReferenceSpaceType() == ocio.REFERENCE_SPACE_DISPLAY or cs.getEncoding() in ("sdr-video", "")

    def detect(self, probe: ProbeRecord, settings: RenderSettings, override: str | None = None) -> ColourDecision:
        name, rule, chroma = self._detect_name(probe, settings, override or settings.source_colorspace)
        display_referred = chroma is None and self.is_display_referred(name, probe.is_float)
        view = settings.display_referred_view if display_referred else settings.view
        return ColourDecision(name, rule, display_referred, view, view, chroma)

    def _detect_name(self, probe: ProbeRecord, settings: RenderSettings, override: str | None):
        meta = probe.colour_metadata
        if override:
            resolved = self.resolve_name(override)
            if resolved is None:
                raise ColorError(probe.path, f"source colour space {override!r} is not in {self.config_name}")
            return resolved, "override", None
        tagged = meta.get("oiio:ColorSpace")
        if isinstance(tagged, str) and tagged and (resolved := self.resolve_name(tagged)):
            return resolved, "metadata:oiio:ColorSpace", None
        for key, value in meta.items():
            if key != "oiio:ColorSpace" and "colorspace" in key.lower() and isinstance(value, str):
                if resolved := self.resolve_name(value):
                    return resolved, f"metadata:{key}", None
        if meta.get("acesImageContainerFlag") == 1 and (resolved := self.resolve_name("lin_ap0_scene")):
            return resolved, "metadata:acesImageContainerFlag", None
        chroma = meta.get("chromaticities")
        if chroma is not None and len(chroma) == 8:
            chroma_t = tuple(float(c) for c in chroma)
            for alias, prim in KNOWN_PRIMARIES.items():
                if _matches(chroma_t, prim) and (resolved := self.resolve_name(alias)):
                    return resolved, "metadata:chromaticities", None
            label = "Linear (file chromaticities " + ",".join(f"{c:.4g}" for c in chroma_t) + ")"
            return label, "metadata:chromaticities", chroma_t
        if not self.config.filepathOnlyMatchesDefaultRule(probe.path):
            name, idx = self.config.getColorSpaceFromFilepath(probe.path)
            return name, f"file-rules:{self.config.getFileRules().getName(idx)}", None
        default = settings.default_float_colorspace if probe.is_float else settings.default_integer_colorspace
        resolved = self.resolve_name(default)
        if resolved is None:
            raise ColorError(probe.path, f"default colour space {default!r} is not in {self.config_name}")
        return resolved, "default:float" if probe.is_float else "default:integer", None

    # --- processors ------------------------------------------------------------------------
    def _cached(self, key: tuple, build) -> ocio.CPUProcessor:
        with self._lock:
            cpu = self._cpu.get(key)
        if cpu is None:
            try:
                cpu = build().getOptimizedCPUProcessor(ocio.OPTIMIZATION_DEFAULT)
            except Exception as exc:
                raise ColorError(self.config_name, f"cannot build transform {key}: {exc}") from exc
            with self._lock:
                self._cpu[key] = cpu
        return cpu

    def to_working(self, decision: ColourDecision, working: str) -> tuple[ocio.CPUProcessor, bool]:
        """Processor source -> working space, and whether it is linear (then it commutes with resizing)."""
        key = ("work", decision.source_colorspace, decision.chromaticities, working)

        def build() -> ocio.Processor:
            if decision.chromaticities is not None:
                group = ocio.GroupTransform()
                m = chromaticities_matrix(decision.chromaticities)
                m44 = [*m[0], 0.0, *m[1], 0.0, *m[2], 0.0, 0.0, 0.0, 0.0, 1.0]
                group.appendTransform(ocio.MatrixTransform(matrix=[float(v) for v in m44]))
                ap0 = self.resolve_name("lin_ap0_scene") or "ACES2065-1"
                group.appendTransform(ocio.ColorSpaceTransform(ap0, working))
                return self.config.getProcessor(group)
            return self.config.getProcessor(decision.source_colorspace, working)

        cpu = self._cached(key, build)
        linear_key = ("linear",) + key
        with self._lock:
            linear = self._cpu.get(linear_key)
        if linear is None:
            group = build().createGroupTransform()
            linear = all(t.getTransformType() == ocio.TRANSFORM_TYPE_MATRIX for t in group)
            with self._lock:
                self._cpu[linear_key] = linear
        return cpu, bool(linear)

    def grade(self, grade: Grade, working: str) -> ocio.CPUProcessor:
        """The grade's look (working -> its space -> CDL -> working), applied just before the display/view on
        both display paths: the baked LUT is checked for working-space input, which a graded picture still is."""
        if self.config.getColorSpace(grade.space) is None:
            raise ColorError(self.config_name, f"grade space {grade.space!r} is not in the config")
        return self._cached(("grade", grade.digest(), working), lambda: self.config.getProcessor(
            look_transform(grade, working)))

    def looks(self, looks: str, working: str) -> ocio.CPUProcessor:
        """A show's named looks (an OCIO looks string), working -> each look's process space -> working: after
        the shot's grade, before the display/view."""
        return self._cached(("looks", looks, working), lambda: self.config.getProcessor(
            ocio.LookTransform(working, working, looks)))

    def graded_cache_id(self, grade: Grade | None, working: str, display: str, view: str,
                        looks: str | None = None) -> str:
        """The cache id of the whole (grade, looks, display, view) processor: what a row names as its transform."""
        group = ocio.GroupTransform()
        if grade is not None:
            group.appendTransform(look_transform(grade, working))
        if looks:
            group.appendTransform(ocio.LookTransform(working, working, looks))
        group.appendTransform(ocio.DisplayViewTransform(working, display, view))
        return str(self.config.getProcessor(group).getCacheID())

    def display(self, working: str, display: str, view: str, transform: str = "exact",
                lut_size: int = 65) -> ocio.CPUProcessor | SplitLut:
        """The (working -> display, view) processor: ``exact``, or ``lut`` (baked, checked; docs/colour.md),
        which falls back to the exact one, with a logged reason, when its error is over the bound."""
        if display not in self.config.getDisplays():
            raise ColorError(self.config_name, f"display {display!r} is not in the config "
                                               f"(displays: {', '.join(self.config.getDisplays())})")
        if view not in self.config.getViews(display):
            raise ColorError(self.config_name, f"view {view!r} is not available for display {display!r} "
                                               f"(views: {', '.join(self.config.getViews(display))})")
        exact = ("display", working, display, view)
        if transform == "exact":
            return self._cached(
                exact, lambda: self.config.getProcessor(ocio.DisplayViewTransform(working, display, view))
            )
        if transform != "lut":
            raise ColorError(self.config_name, f"display_transform {transform!r} is not 'lut' or 'exact'")
        key = ("display-lut", working, display, view, lut_size)
        with self._lock:
            cpu = self._cpu.get(key)
        if cpu is None:
            from proxygen_core.colour.display_lut import fast_display

            cpu, report = fast_display(self.config, working, display, view, lut_size, lut_cache_dir())
            self.bake_reports[key] = report
            if cpu is None:
                logging.getLogger("proxygen").warning(
                    "display LUT for %s / %s not used, exact transform instead: %s", display, view, report.reason)
                cpu = self.display(working, display, view, "exact")
            with self._lock:
                self._cpu[key] = cpu
        return cpu


def apply(cpu: ocio.CPUProcessor | SplitLut, rgb: np.ndarray) -> np.ndarray:
    """Apply in place on a float32 (h, w, 3) array, rows split across cores (OCIO releases the GIL); a SplitLut
    (colour/display_lut.py) applies itself to each chunk."""
    if rgb.dtype != np.float32 or not rgb.flags.c_contiguous or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("expected a contiguous float32 (h, w, 3) array")
    h, w = rgb.shape[:2]

    def run(rows: Sequence[int]) -> None:
        assert isinstance(rows, range)  # spread cuts a range into ranges
        clear_upper_state()  # see simd.py: otherwise OCIO can run 7x slower after an EXR decode
        chunk = rgb[rows.start:rows.stop]
        if isinstance(cpu, SplitLut):
            cpu.apply(chunk)
        else:
            cpu.apply(ocio.PackedImageDesc(chunk, w, chunk.shape[0], 3))

    run_parts(run, spread(range(h), WORKERS if h * w >= 262_144 else 1))
    return rgb


@functools.lru_cache(maxsize=8)
def engine(config_name: str) -> ColourEngine:
    return ColourEngine(config_name)
