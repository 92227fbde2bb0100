"""Decode once, go to scene-linear, shrink in linear light, then apply the display transforms.

The expensive steps (decode, full-resolution colour work) happen once per source; each output
only pays for a display transform on an already small image.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import OpenImageIO as oiio
import PyOpenColorIO as ocio

from proxygen_core.colour.engine import apply, engine
from proxygen_core.colour.grades import Grade
from proxygen_core.errors import UnreadableSourceError, UnsupportedSourceError
from proxygen_core.media.frame import WorkingFrame
from proxygen_core.media.geometry import desqueezed, even_fit_within, fit_within
from proxygen_core.media.memory import SCRATCH_MAX_BYTES, admit
from proxygen_core.media.resample import resize, stream_window_rows, streamed_resize
from proxygen_core.probe import (
    ProbeRecord,
    classic_exr_reader,
    needs_classic_reader,
    needs_framing,
    oiio_error,
    open_input,
    probe_input,
    windows_differ,
)
from proxygen_core.settings import RenderSettings

HALF_MAX = 65504.0


def _rgb_of(names: tuple[str, ...], prefix: str) -> list[int] | None:
    for letters in ("RGB", "rgb"):
        idx = [names.index(prefix + c) if prefix + c in names else -1 for c in letters]
        if min(idx) >= 0:
            return idx
    return None


def review_layer(names: tuple[str, ...], preference: tuple[str, ...] = ("", "beauty", "rgba")) -> tuple[list[int], str]:
    """The layer a person reviews in a multi-layer EXR: the first of ``preference`` that has RGB ("" is
    the unnamed R,G,B; names match case-insensitively), else the first RGB layer by name; with its name."""
    layers = sorted({n.rsplit(".", 1)[0] for n in names if "." in n})
    for wanted in preference:
        matches = [""] if wanted == "" else [layer for layer in layers if layer.lower() == wanted.lower()]
        for layer in matches:
            idx = _rgb_of(names, f"{layer}." if layer else "")
            if idx:
                return idx, layer
    idx = select_channels(names)
    first = names[idx[0]]
    return idx, first.rsplit(".", 1)[0] if "." in first else ""


def alpha_channel(names: tuple[str, ...], layer: str) -> int | None:
    """The alpha of the review layer (``A`` / ``layer.A``, any case), if the source has one."""
    prefix = f"{layer}." if layer else ""
    for letter in ("A", "a"):
        if prefix + letter in names:
            return names.index(prefix + letter)
    return None


def straight(frame: WorkingFrame) -> np.ndarray:
    """The frame's colours un-premultiplied by its alpha (EXR pixels are premultiplied): what a deliverable
    with straight alpha (ProRes 4444) shows; fully transparent pixels stay black."""
    if frame.alpha is None:
        return frame.pixels
    a = frame.alpha[..., None]
    return np.where(a > 1e-6, frame.pixels / np.maximum(a, 1e-6), 0.0).astype(np.float32)


def select_channels(names: tuple[str, ...]) -> list[int]:
    """RGB (first layer that has it), else luminance Y, else the first channel(s) as grey."""
    for prefix in [""] + sorted({n.rsplit(".", 1)[0] + "." for n in names if "." in n}):
        idx = _rgb_of(names, prefix)
        if idx:
            return idx
    for prefix in [""] + sorted({n.rsplit(".", 1)[0] + "." for n in names if "." in n}):
        if prefix + "Y" in names:
            return [names.index(prefix + "Y")] * 3
    if len(names) >= 3 and not any(n.upper() in ("A", "Z", "ALPHA") for n in names[:3]):
        return [0, 1, 2]
    if names:
        return [0, 0, 0]
    raise ValueError("no channels")


EMPTY_DEEP = "deep image has no samples: rendered as an empty (transparent black) picture"


def _has_samples(buf: oiio.ImageBuf) -> bool:
    """Whether any pixel of a deep ImageBuf holds a sample (stops at the first that does; ~70 ms per
    megapixel when none does)."""
    deep = buf.deepdata()
    return any(map(deep.samples, range(deep.pixels)))


def _flatten(path: str, buf: oiio.ImageBuf, warnings: dict[str, str] | None) -> oiio.ImageBuf:
    """A deep image composited into a flat one. A valid deep file with no sample at all (an empty render
    layer) is an empty picture: zeros in every channel, alpha too, and a warning; flattening would refuse it
    when it has no alpha channel ("No alpha channel could be identified"), though there is nothing to composite."""
    if not _has_samples(buf):
        spec = oiio.ImageSpec(buf.spec())
        spec.deep = False
        spec.set_format(oiio.FLOAT)
        empty = oiio.ImageBuf(spec)
        oiio.ImageBufAlgo.zero(empty)
        if warnings is not None:
            warnings["deep"] = EMPTY_DEEP
        return empty
    flat = oiio.ImageBufAlgo.flatten(buf)
    if flat.has_error:
        raise UnreadableSourceError(path, f"deep image cannot be flattened: {oiio_error(flat)}")
    return flat


def _open_buf(path: str, probe: ProbeRecord, chans: list[int],
              warnings: dict[str, str] | None = None) -> oiio.ImageBuf:
    """Read subimage 0 into an ImageBuf (float, only the needed channel range; deep images flattened, what
    that notes in ``warnings``)."""
    lo, hi = min(chans), max(chans) + 1
    if probe.deep:
        lo, hi = 0, len(probe.channels)  # flattening needs alpha
    elif probe.format != "openexr" and "A" in probe.channels:
        # Unassociated alpha (TIFF, PNG) is premultiplied by the reader only when alpha is read too:
        # include it so transparent areas come out black, as in EXR.
        a = probe.channels.index("A")
        lo, hi = min(lo, a), max(hi, a + 1)

    def read() -> tuple[oiio.ImageBuf, str]:
        buf = oiio.ImageBuf(path)
        ok = buf.read(0, 0, lo, hi, True, oiio.FLOAT)
        return buf, "" if ok and not buf.has_error else oiio_error(buf) or "read failed"

    buf, message = read()
    if message and needs_classic_reader(message):
        with classic_exr_reader():
            buf, message = read()
    if message:
        raise UnreadableSourceError(path, f"pixels cannot be decoded: {message}")
    if probe.deep:
        buf = _flatten(path, buf, warnings)
    names = list(buf.spec().channelnames)
    wanted = [names.index(probe.channels[c]) if probe.channels[c] in names else c - lo for c in chans]
    if wanted != [0, 1, 2] or buf.nchannels != 3:
        buf = oiio.ImageBufAlgo.channels(buf, tuple(wanted))
    return buf


def _frame_up(buf: oiio.ImageBuf, probe: ProbeRecord) -> oiio.ImageBuf:
    """Crop/extend to the display window (what the artist framed) and apply the EXIF orientation."""
    if windows_differ(probe):
        buf = oiio.ImageBufAlgo.crop(buf, buf.roi_full)
    if probe.orientation != 1:
        buf = oiio.ImageBufAlgo.reorient(buf)
    return buf


# Scanlines an EXR compresses together: a stripe that is a multiple of them never decodes a chunk twice.
_EXR_CHUNK_LINES = {"zip": 16, "pxr24": 16, "piz": 32, "b44": 32, "b44a": 32, "dwaa": 32, "dwab": 256,
                    "htj2k32": 32, "htj2k256": 256}
_STRIPE_LINES = 64  # measured at 4K: 64 to 256 lines read as fast; whole-image reads were ~25% slower


def _stripe_lines(spec: oiio.ImageSpec) -> int:
    chunk = spec.tile_height or _EXR_CHUNK_LINES.get(
        spec.get_string_attribute("compression").split(":")[0].lower(), 1)
    return max(1, -(-_STRIPE_LINES // chunk)) * chunk


_SCRATCH = threading.local()
# Larger decodes (8K: 398 MB) get a new array each time (SCRATCH_MAX_BYTES, media/memory.py, which counts it).


def scratch(shape: tuple[int, ...]) -> np.ndarray:
    """This thread's reusable float32 array of ``shape``: the full-resolution decode of a frame that is only
    read to be shrunk. A new array of a 4K frame costs its page faults on every frame (~15-60 ms; the first
    in a process up to 0.2 s); a run renders frames of one size, one after the other."""
    if int(np.prod(shape)) * 4 > SCRATCH_MAX_BYTES:
        _SCRATCH.array = None
        return np.empty(shape, np.float32)
    held = getattr(_SCRATCH, "array", None)
    if held is None or held.shape != shape:
        _SCRATCH.array = held = None  # drop the old one before allocating the new
        _SCRATCH.array = held = np.empty(shape, np.float32)
    return held


def scratch_bytes() -> int:
    """What this thread's scratch array holds now (reused or dropped by the next decode, so not extra)."""
    held = getattr(_SCRATCH, "array", None)
    return 0 if held is None else int(held.nbytes)


def _drop_scratch() -> None:
    _SCRATCH.array = None


def _read_striped(inp: oiio.ImageInput, chans: list[int], striped: bool, reuse: bool = False,
                  rows: tuple[int, int] | None = None, out: np.ndarray | None = None) -> tuple[np.ndarray | None, str]:
    """Read subimage 0 into one float32 (h, w, len(chans)) array; an EXR in stripes of scanlines or tiles.
    ``rows`` (start, end; default all) and ``out`` (an array of those rows to fill) serve the streamed render,
    which reads a few stripes at a time (start on a stripe boundary).

    Why stripes: each stripe is decoded (in parallel by the reader), converted to float and its channels
    picked while it is still in cache, into an array allocated once. A whole-image read converts the whole
    image in a second pass and holds a second, native copy: ~25% slower at 4K, 1.7x slower and +350 MB at 8K.
    Other formats are read whole: some TIFF compressions refuse random access.
    """
    spec = inp.spec()
    lo, hi = min(chans), max(chans) + 1
    pick = None if chans == list(range(lo, hi)) else [c - lo for c in chans]
    first, last = rows or (0, spec.height)
    shape = (last - first, spec.width, len(chans))
    if out is None:
        out = scratch(shape) if reuse else np.empty(shape, np.float32)
    step = _stripe_lines(spec) if striped else spec.height
    for y in range(0, last - first, step):
        y1 = min(y + step, last - first)
        top = spec.y + first
        if not striped:
            block = inp.read_image(0, 0, lo, hi, oiio.FLOAT)
        elif spec.tile_width:
            block = inp.read_tiles(0, 0, spec.x, spec.x + spec.width, top + y, top + y1, spec.z, spec.z + 1,
                                   lo, hi, oiio.FLOAT)
        else:
            block = inp.read_scanlines(0, 0, top + y, top + y1, spec.z, lo, hi, oiio.FLOAT)
        if block is None:
            return None, oiio_error(inp) or "read failed"
        block = block.reshape(y1 - y, spec.width, hi - lo)
        out[y:y1] = block if pick is None else block[..., pick]
    return out, ""


def _read_pixels(path: str, inp: oiio.ImageInput, probe: ProbeRecord, chans: list[int],
                 reuse: bool = False, warnings: dict[str, str] | None = None) -> np.ndarray:
    """The display window's pixels of ``chans`` as float32 (h, w, len(chans)).

    The common frame (flat, data window = display window, no orientation) is read by the already open
    ImageInput straight into numpy (an EXR in stripes; into this thread's ``scratch`` array when ``reuse``: the
    caller keeps nothing of it beyond its next read): no second open and no ImageBuf to copy out of. Everything
    else goes through an ImageBuf that crops, orients and flattens (noting what it made of the source in
    ``warnings``).
    """
    if needs_framing(probe):
        return np.ascontiguousarray(_frame_up(_open_buf(path, probe, chans, warnings), probe).get_pixels(oiio.FLOAT),
                                    dtype=np.float32)
    striped = probe.format == "openexr"
    pixels, message = _read_striped(inp, chans, striped, reuse)
    if pixels is not None:
        return pixels
    if needs_classic_reader(message):
        with classic_exr_reader():
            again = oiio.ImageInput.open(path)
            if again:
                try:
                    pixels, message = _read_striped(again, chans, striped, reuse)
                finally:
                    again.close()
            else:
                message = oiio_error() or "open failed"
        if pixels is not None:
            return pixels
    raise UnreadableSourceError(path, f"pixels cannot be decoded: {message}")


def _fix_nonfinite(pixels: np.ndarray) -> int:
    """NaN/Inf -> 0 in place, so one bad pixel cannot poison a filter; returns how many pixels had one."""
    bad = ~np.isfinite(pixels)
    if not bad.any():
        return 0
    count = int(np.count_nonzero(bad[..., :3].any(-1) if pixels.ndim == 3 else bad))
    pixels[bad] = 0.0
    return count


class _StripeReadError(Exception):
    """A stripe of the streamed render could not be decoded (the reader's message)."""


class _StripeWindow:
    """The source rows ``streamed_resize`` asks for, decoded a stripe at a time into one reused buffer.

    Requests come in order (each start at or after the last); rows before a request's start are dropped and
    the overlap moved to the front, so each source row is decoded, checked for NaN/Inf and (``prepare``)
    colour-converted exactly once, and the buffer holds at most ``capacity`` rows plus two stripes (a request
    may start inside a stripe and end inside another).
    """

    def __init__(self, inp: oiio.ImageInput, chans: list[int], capacity: int,
                 prepare: Callable[[np.ndarray], None] | None = None) -> None:
        spec = inp.spec()
        self.inp, self.chans, self.prepare = inp, chans, prepare
        self.height, self.step = spec.height, _stripe_lines(spec)
        self.buf = np.empty((capacity + 2 * self.step, spec.width, len(chans)), np.float32)
        self.start = self.end = 0  # rows [start, end) are held in buf[:end - start]
        self.nonfinite = 0

    def rows(self, first: int, last: int) -> np.ndarray:
        if first < self.start:
            raise ValueError(f"rows {first}..{last} asked after {self.start}: a streamed resize reads forwards")
        if first < self.end:
            keep = self.end - first
            self.buf[:keep] = self.buf[first - self.start:self.end - self.start]
            self.start = first
        else:  # nothing held is wanted: go on from the stripe boundary at or before ``first``
            self.start = self.end = max(self.end, first - first % self.step)
        while self.end < last:
            self._read(self.end, self.end - self.start)
        return self.buf[first - self.start:last - self.start].reshape(last - first, -1)

    def _read(self, y: int, at: int) -> None:
        y1 = min(y + self.step, self.height)
        target = self.buf[at:at + y1 - y]
        pixels, message = _read_striped(self.inp, self.chans, True, rows=(y, y1), out=target)
        if pixels is None:
            raise _StripeReadError(message)
        self.nonfinite += _fix_nonfinite(target)
        if self.prepare is not None:
            self.prepare(target)
        self.end = y1


def _streamed_small(path: str, inp: oiio.ImageInput, chans: list[int], to_work: ocio.CPUProcessor,
                    linear: bool, pw: int, ph: int, filtername: str, window_rows: int) -> tuple[np.ndarray, int]:
    """The proxy-size pixels (ph, pw, len(chans)) of a frame too large to hold whole, in stripes: the same
    steps as ``decode_working``'s whole-image paths, on a window of rows. A linear source is resized raw and
    converted small (alpha with the colour); a non-linear one is converted to the working space a stripe at a
    time (NaN/Inf cleared first, then ``nan_to_num``, as the whole-image path does), alpha resized raw.
    Returns the pixels and how many source pixels were not finite (cleared in every case: a bad pixel can
    only ever reach the proxy)."""

    def convert(block: np.ndarray) -> None:
        rgb = block if block.shape[2] == 3 else np.ascontiguousarray(block[..., :3])
        apply(to_work, rgb)
        np.nan_to_num(rgb, copy=False, nan=0.0, posinf=HALF_MAX, neginf=-HALF_MAX)
        if rgb is not block:
            block[..., :3] = rgb

    def run(reader: oiio.ImageInput) -> tuple[np.ndarray, int]:
        spec = reader.spec()
        window = _StripeWindow(reader, chans, stream_window_rows(spec.height, ph, filtername, window_rows),
                               None if linear else convert)
        small = streamed_resize(window.rows, spec.height, spec.width, len(chans), pw, ph, filtername, window_rows)
        return small, window.nonfinite

    try:
        return run(inp)
    except _StripeReadError as exc:
        message = str(exc)
    if needs_classic_reader(message):
        with classic_exr_reader():
            again = oiio.ImageInput.open(path)
            if not again:
                raise UnreadableSourceError(path, f"pixels cannot be decoded: {oiio_error() or 'open failed'}")
            try:
                return run(again)
            except _StripeReadError as exc:
                message = str(exc)
            finally:
                again.close()
    raise UnreadableSourceError(path, f"pixels cannot be decoded: {message}")


def decode_working(path: str, settings: RenderSettings, source_colorspace: str | None = None) -> WorkingFrame:
    """Source file -> WorkingFrame (probe, colour decision, scene-linear pixels at proxy size).

    One open serves the probe and the read; the full-resolution pixels are read once into numpy and,
    for a linear source, shrunk before any colour work (media/resample.py), so the colour conversion
    and everything after it run on the proxy-size image.
    """
    path = str(path)
    timings: dict[str, float] = {}
    warnings: dict[str, str] = {}
    t0 = time.perf_counter()
    inp = open_input(path)
    try:
        probe = probe_input(path, inp, settings.max_pixels)
        eng = engine(settings.ocio_config)
        colour = eng.detect(probe, settings, source_colorspace)
        try:
            chans, layer = review_layer(probe.channels, settings.review_layer_order())
        except ValueError:
            raise UnsupportedSourceError(path, "no image channels") from None
        alpha_idx = alpha_channel(probe.channels, layer) if settings.working_alpha else None
        to_work, linear = eng.to_working(colour, settings.working_colorspace)
        shrink_first = linear and not settings.preview_enabled  # then nothing keeps the full-resolution pixels
        read = chans + ([alpha_idx] if alpha_idx is not None else [])
        # before any pixel is read: whole image, stripes, or too_large (media/memory.py)
        admission = admit(probe, settings, len(read), linear, reclaimable_bytes=scratch_bytes(),
                          stripe_lines=_stripe_lines(inp.spec()))
        if admission.streamed:
            _drop_scratch()  # its pages would count against the budget the stripes were sized for
            w, h = inp.spec().width, inp.spec().height
            pw, ph = even_fit_within(*desqueezed(w, h, probe.pixel_aspect), settings.proxy_max_width,
                                     settings.proxy_max_height)
            small, bad = _streamed_small(path, inp, read, to_work, linear, pw, ph, settings.resize_filter,
                                         admission.window_rows)
        else:
            pixels = _read_pixels(path, inp, probe, read, reuse=shrink_first, warnings=warnings)
    finally:
        inp.close()
    timings["decode"] = time.perf_counter() - t0  # streamed: with the colour work and the resize
    t1 = time.perf_counter()
    full = None
    if admission.streamed:
        alpha = small[..., 3] if alpha_idx is not None else None
        small = np.ascontiguousarray(small[..., :3])
        if linear:
            apply(to_work, small)
    else:
        h, w = pixels.shape[:2]
        small, full, alpha, bad = _whole_small(pixels, to_work, shrink_first, alpha_idx is not None, probe, settings)
    if alpha is not None:
        alpha = np.clip(np.nan_to_num(alpha), 0.0, 1.0)
    timings["to_working_and_resize"] = time.perf_counter() - t1
    return WorkingFrame(small, probe, colour, settings.working_colorspace, w, h, bad, full, timings, layer,
                        probe.pixel_aspect, alpha, streamed=admission.streamed, warnings=warnings)


def _whole_small(pixels: np.ndarray, to_work: ocio.CPUProcessor, shrink_first: bool, has_alpha: bool,
                 probe: ProbeRecord, settings: RenderSettings
                 ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, int]:
    """The whole-image path: proxy-size working RGB, the full-resolution working RGB (kept only for a
    preview), the proxy-size alpha, and how many source pixels were not finite."""
    bad = 0
    h, w = pixels.shape[:2]
    dw, dh = desqueezed(w, h, probe.pixel_aspect)
    pw, ph = even_fit_within(dw, dh, settings.proxy_max_width, settings.proxy_max_height)
    full = None
    if shrink_first:
        # A matrix commutes with a (linear) filter: shrink first (alpha with the colour, in one pass),
        # convert the small image. A NaN/Inf anywhere in the source reaches the shrunk image through the
        # filter, so the full-resolution scan is only paid for frames that have one.
        small = resize(pixels, pw, ph, settings.resize_filter)
        if not np.isfinite(small).all():
            bad = _fix_nonfinite(pixels)
            small = resize(pixels, pw, ph, settings.resize_filter)
        if small is pixels:  # already proxy size: never hand out the reused decode array
            small = pixels.copy()
        alpha = small[..., 3] if has_alpha else None
        small = np.ascontiguousarray(small[..., :3])
        apply(to_work, small)
    else:
        bad = _fix_nonfinite(pixels)
        rgb = np.ascontiguousarray(pixels[..., :3])
        apply(to_work, rgb)
        np.nan_to_num(rgb, copy=False, nan=0.0, posinf=HALF_MAX, neginf=-HALF_MAX)
        small = resize(rgb, pw, ph, settings.resize_filter)
        if settings.preview_enabled and (dw, dh) != (w, h):
            rgb = resize(rgb, dw, dh, settings.resize_filter)  # the preview is desqueezed too
        full = rgb if settings.preview_enabled else None
        alpha = resize(pixels[..., 3], pw, ph, settings.resize_filter) if has_alpha else None
    return small, full, alpha, bad


# Below this many pixels an image goes through the exact display transform even when the settings choose the
# baked LUT: at ~0.2 us a pixel a 256x256 thumbnail costs ~12 ms exact, while loading a 129^3 LUT into OCIO
# costs ~0.1 s once per process and display (docs/benchmarks.md). The thumbnail is then exact, and a
# one-frame `proxygen render` loads one LUT, not two.
EXACT_BELOW_PIXELS = 65_537


def display_encode(
    frame_pixels: np.ndarray, working: str, display: str, view: str, settings: RenderSettings,
    grade: Grade | None = None, looks: str | None = None
) -> np.ndarray:
    """Scene-linear working pixels -> display code values in [0, 1], by the settings' display path (LUT or
    exact; small images always exact); ``grade``'s CDL (colour/grades.py) then the show's ``looks`` first,
    exactly, on both paths."""
    out = np.array(frame_pixels, dtype=np.float32, order="C")  # one copy, whatever the input's layout
    small = out.shape[0] * out.shape[1] < EXACT_BELOW_PIXELS
    if grade is not None:
        apply(engine(settings.ocio_config).grade(grade, working), out)
    if looks:
        apply(engine(settings.ocio_config).looks(looks, working), out)
    apply(engine(settings.ocio_config).display(working, display, view,
                                               "exact" if small else settings.display_transform,
                                               settings.display_lut_size), out)
    # fmax/fmin drop a NaN for the other operand (NaN -> 0, +-inf -> 1/0): one pass each, half nan_to_num + clip.
    np.fmax(out, 0.0, out=out)
    return np.fmin(out, 1.0, out=out)


def to_uint8(display_rgb: np.ndarray) -> np.ndarray:
    return (display_rgb * 255.0 + 0.5).astype(np.uint8)


def thumbnail_pixels(frame: WorkingFrame, settings: RenderSettings) -> np.ndarray:
    """uint8 sRGB-display thumbnail, sized from the source (not the even-rounded proxy) to keep its aspect."""
    tw, th = fit_within(*frame.display_size, settings.thumb_size, settings.thumb_size)
    small = resize(frame.pixels, tw, th, settings.resize_filter)
    return to_uint8(display_encode(small, frame.working_colorspace, settings.thumb_display, frame.colour.thumb_view,
                             settings, frame.grade))


def proxy_pixels(frame: WorkingFrame, settings: RenderSettings) -> np.ndarray:
    """float32 Rec.1886 display code values in [0, 1] at proxy size (even, within the proxy box)."""
    return display_encode(
        frame.pixels, frame.working_colorspace, settings.proxy_display, frame.colour.proxy_view, settings, frame.grade
    )


def preview_pixels(frame: WorkingFrame, settings: RenderSettings) -> np.ndarray | None:
    if not settings.preview_enabled or frame.full_res is None:
        return None
    return to_uint8(display_encode(frame.full_res, frame.working_colorspace, settings.thumb_display,
                             frame.colour.thumb_view, settings, frame.grade))
