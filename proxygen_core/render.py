"""Decode once, go to scene-linear, shrink in linear light, then apply the display transforms.

The expensive steps (decode, full-resolution colour work) happen once per source; each output
only pays for a display transform on an already small image.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import OpenImageIO as oiio

from .color import ColourDecision, apply, engine
from .errors import ProxygenError, UnreadableSourceError, UnsupportedSourceError, as_proxygen_error
from .geometry import even_fit_within, fit_within
from .probe import ProbeRecord, oiio_error, open_input, probe_input
from .settings import RenderSettings

HALF_MAX = 65504.0


@dataclass
class WorkingFrame:
    """Scene-linear pixels in the working space at proxy resolution: the shared intermediate."""

    pixels: np.ndarray  # float32 (h, w, 3)
    probe: ProbeRecord
    colour: ColourDecision
    working_colorspace: str
    source_width: int  # display window after orientation: what the thumbnail's aspect follows
    source_height: int
    nonfinite_pixels: int = 0
    full_res: np.ndarray | None = None  # only kept when a full-resolution preview is wanted
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


@dataclass
class Outputs:
    thumbnail: np.ndarray  # uint8 (h, w, 3) sRGB display code values
    proxy: np.ndarray  # float32 (h, w, 3) Rec.1886 display code values in [0, 1]
    preview: np.ndarray | None
    timings: dict[str, float] = field(default_factory=dict)


def select_channels(names: tuple[str, ...]) -> list[int]:
    """RGB (first layer that has it), else luminance Y, else the first channel(s) as grey."""
    for prefix in [""] + sorted({n.rsplit(".", 1)[0] + "." for n in names if "." in n}):
        idx = [names.index(prefix + c) if prefix + c in names else -1 for c in "RGB"]
        if min(idx) >= 0:
            return idx
    for prefix in [""] + sorted({n.rsplit(".", 1)[0] + "." for n in names if "." in n}):
        if prefix + "Y" in names:
            return [names.index(prefix + "Y")] * 3
    if len(names) >= 3 and not any(n.upper() in ("A", "Z", "ALPHA") for n in names[:3]):
        return [0, 1, 2]
    if names:
        return [0, 0, 0]
    raise ValueError("no channels")


def _read_flat(path: str, inp: oiio.ImageInput, probe: ProbeRecord) -> np.ndarray:
    """Pixels of subimage 0 as float32 (h, w, C) with only the needed channel range read."""
    names = probe.channels
    try:
        chans = select_channels(names)
    except ValueError:
        raise UnsupportedSourceError(path, "no image channels") from None
    if probe.deep:
        buf = oiio.ImageBuf(path)
        flat = oiio.ImageBufAlgo.flatten(buf)
        if flat.has_error or buf.has_error:
            raise UnreadableSourceError(path, f"deep image cannot be flattened: {oiio_error(flat) or oiio_error(buf)}")
        data = flat.get_pixels(oiio.FLOAT)
        return np.ascontiguousarray(data[..., chans], dtype=np.float32)
    lo, hi = min(chans), max(chans) + 1
    alpha = inp.spec().alpha_channel
    if alpha >= 0 and probe.format != "openexr":
        # Formats with unassociated alpha (TIFF, PNG) are premultiplied by the reader only when the
        # alpha channel is part of the read: include it so transparent areas come out black, as in EXR.
        lo, hi = min(lo, alpha), max(hi, alpha + 1)
    data = inp.read_image(0, 0, lo, hi, oiio.FLOAT)
    if data is None or inp.has_error:
        # A truncated file can still return pixels with a pending error: refuse it rather than
        # publish a half-grey proxy of an upload that did not finish.
        raise UnreadableSourceError(path, f"pixels cannot be decoded: {oiio_error(inp) or 'read failed'}")
    data = data.reshape(probe.data_window.height, probe.data_window.width, hi - lo)
    if [c - lo for c in chans] == [0, 1, 2] and hi - lo == 3:
        return data
    return np.ascontiguousarray(data[..., [c - lo for c in chans]])


def _to_display_window(rgb: np.ndarray, probe: ProbeRecord) -> np.ndarray:
    """Crop or extend to the display window: what the artist framed is what the proxy shows."""
    dw, disp = probe.data_window, probe.display_window
    if (dw.x, dw.y, dw.width, dw.height) == (disp.x, disp.y, disp.width, disp.height):
        return rgb
    out = np.zeros((disp.height, disp.width, 3), dtype=np.float32)
    x0, y0 = max(dw.x, disp.x), max(dw.y, disp.y)
    x1, y1 = min(dw.x + dw.width, disp.x + disp.width), min(dw.y + dw.height, disp.y + disp.height)
    if x1 > x0 and y1 > y0:
        out[y0 - disp.y:y1 - disp.y, x0 - disp.x:x1 - disp.x] = rgb[y0 - dw.y:y1 - dw.y, x0 - dw.x:x1 - dw.x]
    return out


def _orient(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Apply the EXIF orientation so phone/camera JPEGs come out upright."""
    ops = {
        2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(ops[orientation](rgb)) if orientation in ops else rgb


def resize(rgb: np.ndarray, width: int, height: int, filtername: str) -> np.ndarray:
    """Filtered resize (OIIO, multithreaded); the filter widens with the shrink factor (area-correct)."""
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    src = oiio.ImageBuf(oiio.ImageSpec(rgb.shape[1], rgb.shape[0], 3, oiio.FLOAT))
    src.set_pixels(oiio.ROI(), rgb)
    dst = oiio.ImageBufAlgo.resize(src, filtername=filtername, roi=oiio.ROI(0, width, 0, height, 0, 1, 0, 3))
    if dst.has_error:
        raise RuntimeError(f"resize failed: {oiio_error(dst)}")
    return np.ascontiguousarray(dst.get_pixels(oiio.FLOAT), dtype=np.float32)


def _sanitize(rgb: np.ndarray) -> int:
    """Replace NaN with 0 and +-Inf with +-half-max in place, so one bad pixel cannot poison a filter."""
    finite = np.isfinite(rgb)
    if finite.all():
        return 0
    bad = int((~finite).any(axis=-1).sum())
    np.nan_to_num(rgb, copy=False, nan=0.0, posinf=HALF_MAX, neginf=-HALF_MAX)
    return bad


def decode_working(path: str, settings: RenderSettings, source_colorspace: str | None = None) -> WorkingFrame:
    """Source file -> WorkingFrame (probe, colour decision, scene-linear pixels at proxy size)."""
    path = str(path)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    inp = open_input(path)
    try:
        probe = probe_input(path, inp, settings.max_pixels)
        eng = engine(settings.ocio_config)
        colour = eng.detect(probe, settings, source_colorspace)
        try:
            rgb = _read_flat(path, inp, probe)
        except ProxygenError:
            raise
        except Exception as exc:
            raise UnreadableSourceError(path, f"pixels cannot be decoded: {exc}") from exc
    finally:
        inp.close()
    timings["decode"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    rgb = _orient(_to_display_window(rgb, probe), probe.orientation)
    bad = _sanitize(rgb)
    h, w = rgb.shape[:2]
    pw, ph = even_fit_within(w, h, settings.proxy_max_width, settings.proxy_max_height)
    to_work, linear = eng.to_working(colour, settings.working_colorspace)
    if linear and not settings.preview_enabled:
        # A matrix commutes with a (linear) filter: shrink first, convert the small image.
        small = resize(rgb, pw, ph, settings.resize_filter)
        apply(to_work, small)
        full = None
    else:
        apply(to_work, rgb)
        _sanitize(rgb)
        small = resize(rgb, pw, ph, settings.resize_filter)
        full = rgb if settings.preview_enabled else None
    timings["to_working_and_resize"] = time.perf_counter() - t1
    return WorkingFrame(small, probe, colour, settings.working_colorspace, w, h, bad, full, timings)


def _display(frame_pixels: np.ndarray, working: str, display: str, view: str, config: str) -> np.ndarray:
    out = np.ascontiguousarray(frame_pixels, dtype=np.float32).copy()
    apply(engine(config).display(working, display, view), out)
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0, out=out)


def to_uint8(display_rgb: np.ndarray) -> np.ndarray:
    return (display_rgb * 255.0 + 0.5).astype(np.uint8)


def thumbnail_pixels(frame: WorkingFrame, settings: RenderSettings) -> np.ndarray:
    """uint8 sRGB-display thumbnail, sized from the source (not the even-rounded proxy) to keep its aspect."""
    tw, th = fit_within(frame.source_width, frame.source_height, settings.thumb_size, settings.thumb_size)
    small = resize(frame.pixels, tw, th, settings.resize_filter)
    return to_uint8(_display(small, frame.working_colorspace, settings.thumb_display, frame.colour.thumb_view,
                             settings.ocio_config))


def proxy_pixels(frame: WorkingFrame, settings: RenderSettings) -> np.ndarray:
    """float32 Rec.1886 display code values in [0, 1] at proxy size (even, within the proxy box)."""
    return _display(frame.pixels, frame.working_colorspace, settings.proxy_display, frame.colour.proxy_view,
                    settings.ocio_config)


def preview_pixels(frame: WorkingFrame, settings: RenderSettings) -> np.ndarray | None:
    if not settings.preview_enabled or frame.full_res is None:
        return None
    return to_uint8(_display(frame.full_res, frame.working_colorspace, settings.thumb_display,
                             frame.colour.thumb_view, settings.ocio_config))


def render_outputs(frame: WorkingFrame, settings: RenderSettings) -> Outputs:
    """Display-encode the working frame for each output (thumbnail, proxy, optional preview)."""
    t0 = time.perf_counter()
    outputs = Outputs(thumbnail_pixels(frame, settings), proxy_pixels(frame, settings), preview_pixels(frame, settings))
    outputs.timings["display"] = time.perf_counter() - t0
    return outputs


def render(path: str, settings: RenderSettings, source_colorspace: str | None = None) -> tuple[WorkingFrame, Outputs]:
    try:
        frame = decode_working(path, settings, source_colorspace)
        return frame, render_outputs(frame, settings)
    except Exception as exc:
        raise as_proxygen_error(path, exc) from exc
