"""Graphics levels: the one rule for how bright text, bands and slates are on each display.

Every graphic (burn-ins, the gap frames' band, the slate) is composed in SDR display code values, inside
``[GRAPHICS_BLACK, GRAPHICS_WHITE]`` and with its text mask softened by a small low-pass filter: hard,
full-swing text edges make the codecs ring, and a decoded H.264 then held Y' 3 and 255 (1009 at 10 bits),
outside the legal range a broadcast chain clips. The headroom and the filter keep decoded graphics legal.

On a PQ display the same levels are placed by ITU-R BT.2408: graphics white (``GRAPHICS_WHITE``) is
203 cd/m2, lower levels follow the BT.1886 curve below it (``level * 203 cd/m2`` in linear light relative to
that white). Text at PQ 1.0 would be 10,000 cd/m2, ten times the file's own 1,000-nit mastering peak.
"""
from __future__ import annotations

import numpy as np

from proxygen_core.colour.colorimetry import pq_inverse_eotf
from proxygen_core.profiles import is_pq

GRAPHICS_WHITE_NITS = 203.0  # ITU-R BT.2408: HDR reference white, where graphics white sits
GRAPHICS_BLACK = 0.1  # SDR code values of the darkest and brightest graphic: room for the codecs' ringing
GRAPHICS_WHITE = 0.92


def levels(sdr: np.ndarray | float, display: str | None) -> np.ndarray:
    """SDR graphics code values (``GRAPHICS_WHITE`` = graphics white) -> the display's code values: the same
    on an SDR display (kept within the graphics range), PQ of ``(v / GRAPHICS_WHITE) ** 2.4 * 203`` cd/m2 on
    a PQ display."""
    v = np.clip(np.asarray(sdr, dtype=np.float32), GRAPHICS_BLACK, GRAPHICS_WHITE)
    if not is_pq(display):
        return v
    nits = (v / np.float32(GRAPHICS_WHITE)) ** np.float32(2.4) * np.float32(GRAPHICS_WHITE_NITS)
    return pq_inverse_eotf(nits / 10000.0).astype(np.float32)


def soften(alpha: np.ndarray, size: int) -> np.ndarray:
    """A text mask low-passed by a Gaussian of ``size / 60`` pixels, at least half a pixel (text of ``size``
    pixels; one pixel for the 60-pixel gap text of a 1080p picture): the strokes stay sharp to the eye and
    their cores at full level, and their edges no longer ring past the legal range, or past graphics white,
    in the decoded file. Tied to the text's size so a 4K picture's strokes are softened as a 720p one's."""
    a = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)
    sigma = max(0.5, size / 60.0)
    radius = int(np.ceil(3 * sigma))
    if radius < 1:
        return a
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    for axis in (0, 1):
        if a.shape[axis] <= 2 * radius:
            continue
        widths = [(0, 0)] * a.ndim
        widths[axis] = (radius, radius)
        padded = np.pad(a, widths, mode="edge")
        n = a.shape[axis]
        a = sum(t * np.take(padded, np.arange(i, i + n), axis=axis) for i, t in enumerate(taps))
    return np.asarray(a, dtype=np.float32)


def text_over(base: np.ndarray, alpha: np.ndarray, size: int, dim: float, display: str | None) -> np.ndarray:
    """Display code values ``base`` darkened by ``dim`` (not below graphics black), with white text of
    coverage ``alpha`` (h, w; text of ``size`` pixels) over it, at the display's graphics levels."""
    black, white = levels(GRAPHICS_BLACK, display), levels(GRAPHICS_WHITE, display)
    a = soften(alpha, size)[..., None]
    dark = np.maximum(np.asarray(base, dtype=np.float32) * np.float32(dim), black)
    return np.minimum(dark, white) * (1 - a) + white * a
