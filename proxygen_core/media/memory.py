"""Memory admission: what a frame's render will hold, from its header, against the run worker's budget.

Why: one render slot is sized in memory (``PROXYGEN_MAX_FRAME_MEMORY``, the Helm run Jobs' limit), and a small
file can claim a huge frame (a 3.8 MB half EXR of 16384x16384 peaked at 3,438 MiB). The decision is made after
the header is read and before any pixel is: render the whole image (the fast path), render it in stripes
(``decode_working``'s streamed path: a few stripes of source rows at a time through decode, colour and resize),
or refuse it with ``SourceTooLargeError`` (kind ``too_large``) when only a whole-image render is possible and it
would not fit. The budget is for the process's whole RSS, so the RSS it already has counts.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from proxygen_core.errors import SourceTooLargeError, WorkerMemoryError
from proxygen_core.media.geometry import desqueezed, even_fit_within
from proxygen_core.media.resample import BANDED, STREAM_WINDOW_ROWS, stream_window_rows
from proxygen_core.parallel import WORKERS
from proxygen_core.probe import ProbeRecord, needs_framing, windows_differ
from proxygen_core.settings import RenderSettings

MIB = 2**20
F32 = 4
# Calibration (benchmarks/bench_memory.py: `proxygen render` of one half RGBA EXR per fresh process, 640x360 to
# 16384x16384; docs/benchmarks.md, "Memory admission"). A render has two peaks, never at once: the decode (the
# source's arrays) and the outputs (the proxy's display copy and yuv planes, the libx264 encoder, the JPEG and
# working-EXR writers, and what a process builds once on its first frame: the baked display LUTs, OCIO's
# processors), after the decode arrays are freed. Measured above the RSS at admission, the outputs phase was
# 119 MiB for a 640x360 proxy and 168 MiB for 1920x1012 (4K: 178 MiB, with the 106 MiB reused decode array held):
# a fixed part and a part per proxy pixel.
OUTPUT_FIXED_BYTES = 132 * MIB
OUTPUT_BYTES_PER_PROXY_PIXEL = 28
# OpenEXR decodes a stripe of chunks in its own buffers (compressed + uncompressed, per reader thread) before
# OpenImageIO converts it to float: a few stripes' worth of the native pixels.
READER_STRIPES = 3
# The most scanlines one stripe can span (DWAB and HTJ2K256 compress 256 together; the header's compression is
# not in the probe, so the streamed window counts the largest).
WIDEST_STRIPE = 256
# Decodes up to this size are kept in a reused per-thread array between frames (media/render.py ``scratch``):
# they stay held through the outputs phase. Larger ones get a new array each time (measured: 8K peak RSS 687 MiB
# with reuse, 559 without; 4K RGBA is 141 MB).
SCRATCH_MAX_BYTES = 256 * 2**20
# Whole-image reads of other formats hold the native image and its float conversion at once.
_NATIVE_BYTES = {"uint8": 1, "int8": 1, "uint16": 2, "int16": 2, "half": 2, "uint": 4, "int": 4, "float": 4,
                 "double": 8}


@dataclass(frozen=True)
class FrameMemory:
    """What one render holds at its peak, in bytes, by part; ``streamed`` for the striped path's figure.
    The decode phase (decode + working + reader) and the outputs phase (outputs + held) come one after the
    other: the peak is the larger."""

    decode: int  # the decoded source pixels (whole image, or the streamed path's window of rows)
    working: int  # full-resolution working copies (colour-converted RGB, a desqueezed preview), resize buffers
    reader: int  # the reader's own buffers (native stripes, an ImageBuf, deep samples)
    outputs: int  # proxy-size display copies, encoders and writers, first-frame LUTs; a preview's display copies
    held: int  # what the decode leaves held through the outputs (the reused decode array, a preview's pixels)
    streamed: bool

    @property
    def total(self) -> int:
        return max(self.decode + self.working + self.reader, self.outputs + self.held)

    def mib(self) -> int:
        return _mib(self.total)


def stripe_obstacle(probe: ProbeRecord, settings: RenderSettings) -> str:
    """Why this frame cannot be rendered in stripes ("" when it can). The streamed path reads a flat EXR's
    subimage 0 (scanline or tiled, any compression) whose data window is its display window, in its stored
    orientation, and resizes with a banded filter; everything else goes through a whole-image ImageBuf or keeps
    a whole image by design."""
    if probe.deep:
        return "deep samples are flattened as a whole image"
    if settings.preview_enabled:
        return "the full-resolution preview is kept as a whole image"
    if probe.format != "openexr":
        return f"{probe.format} files are read as a whole image"
    if windows_differ(probe):
        return "a data window other than the display window is framed as a whole image"
    if probe.orientation != 1:
        return "an orientation change is applied to the whole image"
    if settings.resize_filter not in BANDED:
        return f"the {settings.resize_filter!r} resize filter needs the whole image"
    return ""


def estimate_frame_memory(probe: ProbeRecord, settings: RenderSettings, channels: int, linear: bool,
                          streamed: bool = False, window_rows: int = STREAM_WINDOW_ROWS,
                          stripe_lines: int = WIDEST_STRIPE) -> FrameMemory:
    """What rendering this frame will hold at its peak, from the header alone (the one estimate).

    ``channels``: how many are decoded (3, or 4 with the working alpha); ``linear``: the source-to-working
    transform is a matrix (then the full-resolution pixels are shrunk before any colour work); ``window_rows``
    and ``stripe_lines`` (the reader's stripe, when the open file is at hand) size the streamed path. Parts, as
    ``decode_working`` and the outputs allocate them:

    - whole image, flat EXR: one float32 (h, w, channels) decode array; a linear source is resized from it
      (per core, one chunk of 128 output rows at the source width); a non-linear one also holds a converted RGB
      copy (and, with a preview, its desqueezed copy, kept through the outputs with the preview's display copy,
      its float temporary and its uint8 pixels);
    - other layouts (deep, data window, orientation, non-EXR alpha) first hold OpenImageIO's ImageBuf of the
      channel range and one framed copy (deep: two floats and a count per pixel, a floor: the header has no
      sample count); non-EXR files are read whole (native + float);
    - streamed: the window of source rows ``streamed_resize`` asks for plus two of the widest stripes, one
      band's vertical intermediate per core and the reader's stripes: independent of the height.

    Calibrated against the peak RSS of fresh processes (benchmarks/bench_memory.py, docs/benchmarks.md "Memory
    admission"; half RGBA EXRs, RGB decoded), RSS at admission + this figure / measured peak, MiB: 640x360
    237 / 218, 2K 306 / 292, 4K 383 / 382, 8K 599 / 585, 16K whole 3,254 / 3,298 (1% under: the decode array
    dominates and is exact), 16K streamed 261 / 261.
    """
    dw = probe.data_window
    width, height = dw.width, dw.height
    dsp_w, dsp_h = probe.display_window.width, probe.display_window.height
    if probe.orientation >= 5:
        dsp_w, dsp_h = dsp_h, dsp_w
    out_w, out_h = desqueezed(dsp_w, dsp_h, probe.pixel_aspect)  # the displayed size every output follows
    pw, ph = even_fit_within(out_w, out_h, settings.proxy_max_width, settings.proxy_max_height)
    outputs = OUTPUT_FIXED_BYTES + OUTPUT_BYTES_PER_PROXY_PIXEL * pw * ph
    read_channels = len(probe.channels) if probe.deep else channels
    stripes = READER_STRIPES * stripe_lines * width * read_channels * F32
    if streamed:
        rows = stream_window_rows(height, ph, settings.resize_filter, window_rows) + 2 * stripe_lines
        return FrameMemory(decode=rows * width * channels * F32, working=WORKERS * 16 * width * channels * F32,
                           reader=stripes, outputs=outputs, held=0, streamed=True)
    frame, shown = width * height, dsp_w * dsp_h
    decode, reader = shown * channels * F32, stripes
    if probe.deep:
        reader = frame * (read_channels * F32 * 2 + 4) + shown * read_channels * F32
    elif needs_framing(probe):
        reader = frame * (read_channels + 1) * F32 + shown * channels * F32
    elif probe.format != "openexr":
        reader = frame * read_channels * (F32 + _NATIVE_BYTES.get(probe.pixel_type, F32))
    held = 0
    if linear and not settings.preview_enabled:
        working = WORKERS * 128 * width * channels * F32
        if not needs_framing(probe) and decode <= SCRATCH_MAX_BYTES:
            held = decode
    else:
        preview = out_w * out_h * 3 * F32
        wider = preview if settings.preview_enabled and (out_w, out_h) != (dsp_w, dsp_h) else 0
        working = shown * 3 * F32 + wider
        if settings.preview_enabled:
            held = preview
            outputs += preview * 2 + preview // 4  # its display copy, the uint8 conversion's float temporary, uint8
    return FrameMemory(decode=decode, working=working, reader=reader, outputs=outputs, held=held, streamed=False)


# A run worker's RSS before its first frame (Dagster, our definitions, OpenImageIO, OpenColorIO, PyAV, numpy
# imported: 208 MiB measured 2026-12-01). Whether a frame is too large for the budget is decided against this, not
# against what the current process happens to hold, so the same file gets the same answer in every worker.
FRESH_WORKER_BYTES = 208 * 2**20


def process_rss_bytes() -> int:
    """This process's resident set now (what the budget already holds before the frame's arrays)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@dataclass(frozen=True)
class Admission:
    """How a frame is rendered: whole (the fast path) or streamed with a window of ``window_rows`` source rows;
    with the figures that decided it."""

    streamed: bool
    estimate: FrameMemory
    rss_bytes: int
    budget_bytes: int
    window_rows: int = STREAM_WINDOW_ROWS


def admit(probe: ProbeRecord, settings: RenderSettings, channels: int, linear: bool,
          reclaimable_bytes: int = 0, stripe_lines: int = WIDEST_STRIPE) -> Admission:
    """Whole image when it fits in the budget, else streamed when the layout allows it and that fits, else
    ``SourceTooLargeError`` naming the estimate and the budget. ``reclaimable_bytes``: memory the process holds
    now that this render reuses or frees first (the thread's scratch decode array), not counted twice. The
    streamed window is ``STREAM_WINDOW_ROWS``, or fewer rows (down to one band's footprint) under a tight
    budget."""
    budget = settings.max_frame_memory * MIB
    rss = max(0, process_rss_bytes() - reclaimable_bytes)
    whole = estimate_frame_memory(probe, settings, channels, linear, stripe_lines=stripe_lines)
    if rss + whole.total <= budget:
        return Admission(False, whole, rss, budget)
    obstacle = stripe_obstacle(probe, settings)
    if obstacle and min(rss, FRESH_WORKER_BYTES) + whole.total <= budget:
        # The file is fine; this process has grown: infrastructure, retried, never a permanent row of the frame.
        raise WorkerMemoryError(probe.path, f"rendering needs an estimated {whole.mib()} MiB for the frame and "
                                            f"{obstacle}, which fits the budget of {settings.max_frame_memory} MiB "
                                            f"in a fresh worker but not beside the {_mib(rss)} MiB this one holds")
    if obstacle:
        raise SourceTooLargeError(probe.path, f"rendering needs an estimated {_mib(rss + whole.total)} MiB "
                                              f"({whole.mib()} MiB for the frame, {_mib(rss)} MiB already held) and "
                                              f"{obstacle}: over the budget of {settings.max_frame_memory} MiB "
                                              "(max_frame_memory)")
    least = estimate_frame_memory(probe, settings, channels, linear, True, 0, stripe_lines)  # one band's rows
    spare_rows = max(0, budget - rss - least.total) // (probe.data_window.width * channels * F32)
    window = min(STREAM_WINDOW_ROWS, spare_rows)  # streamed_resize widens it to one band's footprint at least
    streamed = estimate_frame_memory(probe, settings, channels, linear, True, window, stripe_lines)
    if rss + streamed.total > budget:
        raise SourceTooLargeError(probe.path, f"even in stripes rendering needs an estimated "
                                              f"{_mib(rss + streamed.total)} MiB ({streamed.mib()} MiB for the "
                                              f"frame, {_mib(rss)} MiB already held): over the budget of "
                                              f"{settings.max_frame_memory} MiB (max_frame_memory)")
    return Admission(True, streamed, rss, budget, window)


def _mib(value: int) -> int:
    return -(-value // MIB)
