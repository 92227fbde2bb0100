"""Resizing images: OpenImageIO's filters, applied as banded matrix products.

Why: OpenImageIO's resize evaluates its filter for every output pixel and every tap, in 2D; at
4096x2160 -> 1920x1012 that was 0.15 s of a 0.5 s frame on two cores, the largest single cost. Its box
filter (ours by default) is one 1-D operator per axis, and each output pixel reads only a few source
rows and columns. So the weights are taken from OpenImageIO itself, once per size pair
(an impulse response on a thin image, a millisecond or two), and applied as a short band of rows times
a small matrix (vertical) and a band of interleaved columns times a small matrix (horizontal). Both run
in BLAS straight on the decoded pixels: no copy into an ImageBuf, no transposes. The result is
OpenImageIO's own to float rounding (tests/test_resample.py) at a fifth of the time
(benchmarks/resize_figures.py: time and colour on real frames).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import OpenImageIO as oiio

from proxygen_core.parallel import run_parts, single_threaded_blas, spread
from proxygen_core.probe import oiio_error

single_threaded_blas()  # our products are spread over our own threads (parallel.py says why)

# Filters whose OpenImageIO resize is exactly one 1-D operator per axis. Measured: the box matches to
# float rounding at every size pair tried, shrinking and growing; OpenImageIO normalises its other filters
# over the 2-D footprint, so they differ from a product of 1-D weights and stay with OpenImageIO.
BANDED = frozenset({"box"})
# Output rows (columns) per matrix product: small enough that a band of source rows stays in cache and
# the products waste little on zero weights, large enough that the calls stay few (measured: 16).
_BLOCK = 16
_CHUNK_BANDS = 8  # blocks of output rows per chunk: its intermediate stays a few MB even at 8K
_WIDEST_FILTER = 8.0  # source pixels at a scale of 1: wider than any OpenImageIO filter


def filter_taps(n_in: int, n_out: int, filtername: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenImageIO's 1-D weights for resizing an axis of n_in pixels to n_out, as (output, source, weight)
    triplets of the non-zero taps (a dense matrix would be 59 MB for 7680 -> 1920).

    Measured rather than re-derived, so edge handling and tie rules are OpenImageIO's: a thin image of
    ``comb`` columns, column k holding impulses at rows k, k + comb, ..., is resized along that axis; the
    comb is wider than the filter's support, so each output pixel sees at most one impulse per column.
    """
    scale = n_in / n_out
    comb = min(n_in, int(math.ceil(_WIDEST_FILTER * max(scale, 1.0))) + 2)
    rows = np.arange(n_in)
    impulses = np.zeros((n_in, comb, 1), np.float32)
    impulses[rows, rows % comb, 0] = 1.0
    src = oiio.ImageBuf(oiio.ImageSpec(comb, n_in, 1, oiio.FLOAT))
    src.set_pixels(oiio.ROI(), impulses)
    out = oiio.ImageBufAlgo.resize(src, filtername=filtername, roi=oiio.ROI(0, comb, 0, n_out, 0, 1, 0, 1))
    if out.has_error:
        raise RuntimeError(f"resize failed: {oiio_error(out)}")
    pixels = out.get_pixels(oiio.FLOAT)
    if pixels is None:
        raise RuntimeError(f"resize failed: reading its pixels: {oiio_error(out)}")
    response = pixels.reshape(n_out, comb)
    centre = (np.arange(n_out) + 0.5) * scale - 0.5  # each output pixel's centre in source pixels
    o, k = np.nonzero(response)
    source = k + np.round((centre[o] - k) / comb).astype(np.int64) * comb
    inside = (source >= 0) & (source < n_in)
    return o[inside], source[inside], response[o[inside], k[inside]]


Band = tuple[int, int, int, int, np.ndarray]  # output start, output end, input start, input end, weights


@lru_cache(maxsize=64)
def _row_bands(n_in: int, n_out: int, filtername: str) -> tuple[Band, ...]:
    """Vertical pass: per block of output rows, the source rows it reads and its weights (out x in)."""
    o, i, w = filter_taps(n_in, n_out, filtername)
    bands = []
    for o0 in range(0, n_out, _BLOCK):
        o1 = min(o0 + _BLOCK, n_out)
        mine = (o >= o0) & (o < o1)
        i0, i1 = (int(i[mine].min()), int(i[mine].max()) + 1) if mine.any() else (0, 1)
        block = np.zeros((o1 - o0, i1 - i0), np.float32)
        block[o[mine] - o0, i[mine] - i0] = w[mine]
        bands.append((o0, o1, i0, i1, block))
    return tuple(bands)


@lru_cache(maxsize=64)
def _column_bands(n_in: int, n_out: int, filtername: str, channels: int) -> tuple[Band, ...]:
    """Horizontal pass on interleaved pixels (x * channels + c): per block of output columns, the source
    columns it reads and the weights expanded per channel (kron with the identity), (in x out)."""
    eye = np.eye(channels, dtype=np.float32)
    return tuple((o0 * channels, o1 * channels, i0 * channels, i1 * channels,
                  np.ascontiguousarray(np.kron(w.T, eye), dtype=np.float32))
                 for o0, o1, i0, i1, w in _row_bands(n_in, n_out, filtername))


def _chunks(vertical: tuple[Band, ...] | None, height: int, bands_per_chunk: int) -> list[tuple]:
    """Groups of output rows that go through both passes together: ``bands_per_chunk`` vertical bands, or
    (no vertical pass) runs of source rows as (start, end)."""
    if vertical:
        return [vertical[i:i + bands_per_chunk] for i in range(0, len(vertical), bands_per_chunk)]
    step = _BLOCK * bands_per_chunk
    return [((r, min(r + step, height)),) for r in range(0, height, step)]


def _source_span(chunk: Sequence, vertical: bool) -> tuple[int, int]:
    """The source rows a chunk reads."""
    if not vertical:
        (r0, r1), = chunk
        return r0, r1
    return min(b[2] for b in chunk), max(b[3] for b in chunk)


def _apply_chunks(chunks: Sequence[Sequence], src: np.ndarray, offset: int, vertical: bool,
                  horizontal: tuple[Band, ...] | None, out: np.ndarray, row_width: int) -> None:
    """Both passes for ``chunks``, spread over the cores: ``src`` holds source rows from ``offset`` on, as
    (rows, w_in * channels); ``out`` is the whole (height, width * channels) result. The one place the
    weights are applied, so a streamed resize is the whole-image one to float rounding."""

    def chunk_rows(chunk: Sequence) -> np.ndarray:
        """The chunk's output rows at the source width: the vertical pass (or the source rows themselves)."""
        if not vertical:
            (r0, r1), = chunk
            return src[r0 - offset:r1 - offset].astype(np.float32, copy=False)
        rows = np.empty((chunk[-1][1] - chunk[0][0], row_width), np.float32)
        for o0, o1, i0, i1, w in chunk:
            np.matmul(w, src[i0 - offset:i1 - offset].astype(np.float32, copy=False),
                      out=rows[o0 - chunk[0][0]:o1 - chunk[0][0]])
        return rows

    def work(run: Sequence[Sequence]) -> None:
        for chunk in run:
            r0 = chunk[0][0]
            rows = chunk_rows(chunk)
            if horizontal is None:
                out[r0:r0 + rows.shape[0]] = rows
                continue
            for o0, o1, i0, i1, w in horizontal:
                np.matmul(rows[:, i0:i1], w, out=out[r0:r0 + rows.shape[0], o0:o1])

    run_parts(work, spread(chunks))


def _passes(h_in: int, w_in: int, height: int, width: int, channels: int,
            filtername: str) -> tuple[tuple[Band, ...] | None, tuple[Band, ...] | None]:
    vertical = _row_bands(h_in, height, filtername) if height != h_in else None
    horizontal = _column_bands(w_in, width, filtername, channels) if width != w_in else None
    return vertical, horizontal


def separable_resize(pixels: np.ndarray, width: int, height: int, filtername: str = "box") -> np.ndarray:
    """Resize a float (h, w[, c]) image to (height, width[, c]) with one of the ``BANDED`` filters.

    Any channel count, float16 or float32 in; a new C-contiguous float32 array out. Output rows go in
    chunks, each through both passes while its intermediate (a few MB) is in cache; the chunks are spread
    over the cores. No full-size intermediate: at 8K that would be another 100 MB.
    """
    h_in, w_in = pixels.shape[:2]
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    src = np.ascontiguousarray(pixels).reshape(h_in, w_in * channels)
    out = np.empty((height, width * channels), np.float32)
    vertical, horizontal = _passes(h_in, w_in, height, width, channels, filtername)
    _apply_chunks(_chunks(vertical, height, _CHUNK_BANDS), src, 0, vertical is not None, horizontal, out,
                  w_in * channels)
    return out.reshape((height, width) + pixels.shape[2:])


# Source rows a streamed resize asks for at once (summed over the bands it applies together), unless one
# band alone needs more: 512 rows of a 16K RGBA float frame are 128 MB.
STREAM_WINDOW_ROWS = 512


def streamed_resize(rows: Callable[[int, int], np.ndarray], h_in: int, w_in: int, channels: int, width: int,
                    height: int, filtername: str = "box", window_rows: int = STREAM_WINDOW_ROWS) -> np.ndarray:
    """``separable_resize`` of an image that is never whole in memory: ``rows(start, end)`` returns source
    rows as a float (end - start, w_in * channels) array, asked for in order (each start at or after the last
    one; consecutive spans overlap by a filter's footprint), so the caller can decode and convert a few
    stripes at a time. Same bands and weights as the whole-image resize; a new float32
    (height, width, channels) array out.
    """
    if filtername not in BANDED:
        raise ValueError(f"a streamed resize needs a banded filter ({', '.join(sorted(BANDED))}), not {filtername!r}")
    out = np.empty((height, width * channels), np.float32)
    vertical, horizontal = _passes(h_in, w_in, height, width, channels, filtername)
    chunks = _chunks(vertical, height, 1)
    group: list = []
    lo = hi = 0

    def flush() -> None:
        if group:
            _apply_chunks(group, rows(lo, hi), lo, vertical is not None, horizontal, out, w_in * channels)

    for chunk in chunks:
        s0, s1 = _source_span(chunk, vertical is not None)
        if group and max(hi, s1) - lo > window_rows:
            flush()
            group = []
        if not group:
            lo, hi = s0, s1
        group.append(chunk)
        hi = max(hi, s1)
    flush()
    return out.reshape(height, width, channels)


def stream_window_rows(h_in: int, height: int, filtername: str = "box", window_rows: int = STREAM_WINDOW_ROWS) -> int:
    """The most source rows ``streamed_resize`` asks for at once: what its caller's buffer must hold."""
    if height == h_in or filtername not in BANDED:
        return min(h_in, max(window_rows, _BLOCK))
    widest = max(i1 - i0 for _, _, i0, i1, _ in _row_bands(h_in, height, filtername))
    return min(h_in, max(window_rows, widest))


def oiio_resize(pixels: np.ndarray, width: int, height: int, filtername: str) -> np.ndarray:
    """OpenImageIO's resize itself: for the filters that are not ``BANDED``."""
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    src = oiio.ImageBuf(oiio.ImageSpec(pixels.shape[1], pixels.shape[0], channels, oiio.FLOAT))
    src.set_pixels(oiio.ROI(), np.ascontiguousarray(pixels, dtype=np.float32))
    out = oiio.ImageBufAlgo.resize(src, filtername=filtername,
                                   roi=oiio.ROI(0, width, 0, height, 0, 1, 0, channels))
    if out.has_error:
        raise RuntimeError(f"resize failed: {oiio_error(out)}")
    return np.ascontiguousarray(out.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(
        (height, width) + pixels.shape[2:])


def resize(pixels: np.ndarray, width: int, height: int, filtername: str = "box") -> np.ndarray:
    """The one resize every output uses (``RenderSettings.resize_filter``, OpenImageIO's filter names)."""
    if pixels.shape[:2] == (height, width):
        return pixels
    if filtername in BANDED:
        return separable_resize(pixels, width, height, filtername)
    return oiio_resize(pixels, width, height, filtername)
