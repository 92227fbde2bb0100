"""The slate: one picture before a deliverable's first frame that says what the movie is.

Drawn in display code values with OpenImageIO's text rendering and the font bundled with its wheel (the PyAV
wheel has no drawtext): the sequence's fields on the left, the poster frame's own rendering on the right, so
the slate shows the shot through the same display and view as the movie after it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from proxygen_core.media.graphics import GRAPHICS_WHITE, levels, soften
from proxygen_core.media.resample import resize

BACKGROUND, LABEL = 0.08, 0.6  # SDR code values of the slate's ground and its labels (media/graphics.py)
MAX_VALUE = 44  # characters of a value; longer ones end in "..."


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 3)] + "..."


@dataclass
class SlateInfo:
    """What a slate says, in order (empty values are left out)."""

    title: str  # the shot, else the sequence's name
    lines: list[tuple[str, str | None]] = field(default_factory=list)  # (label, value): None is left out too


def slate_picture(info: SlateInfo, poster: np.ndarray | None, width: int, height: int, font: str,
                  display: str | None = None) -> np.ndarray:
    """A (height, width, 3) float picture in ``display``'s code values: dark grey, the title, the fields, the
    poster (already in those code values) on the right. The text is at graphics levels (media/graphics.py:
    legal and softened on SDR, white at 203 cd/m2 on PQ)."""
    import OpenImageIO as oiio

    white = oiio.ImageBuf(oiio.ImageSpec(width, height, 1, oiio.FLOAT))  # coverage of the white text
    grey = oiio.ImageBuf(oiio.ImageSpec(width, height, 1, oiio.FLOAT))  # ... and of the grey labels
    margin = max(8, width // 40)
    column = width * 11 // 20 - margin  # the text's half (a little more); the poster takes the rest
    rows = [(label, _fit(str(value), MAX_VALUE)) for label, value in info.lines if value not in (None, "")]
    label_chars = max((len(label) for label, _ in rows), default=8) + 2
    chars = label_chars + max((len(value) for _, value in rows), default=10)
    # DroidSansMono advances 0.6 em a character: every line fits the column, all of them fit the height
    size = max(8, min(height // (len(rows) + 5), int(column / (0.6 * chars)))) if rows else 10
    title = _fit(info.title, int(column / (0.6 * size * 1.6)))
    title_size = max(size, min(int(size * 1.6), height // 10))
    oiio.ImageBufAlgo.render_text(white, margin, margin + title_size, title, title_size, font, (1.0,))
    y = margin + title_size + size * 2
    for label, value in rows:
        oiio.ImageBufAlgo.render_text(grey, margin, y, label, size, font, (1.0,))
        oiio.ImageBufAlgo.render_text(white, margin + int(0.6 * size * label_chars), y, value, size, font, (1.0,))
        y += int(size * 1.35)
    masks = [b.get_pixels(oiio.FLOAT) for b in (white, grey)]
    if any(m is None for m in masks):
        from proxygen_core.probe import oiio_error

        raise RuntimeError(f"slate: reading the text mask failed: {oiio_error(white)} {oiio_error(grey)}")
    a_white, a_grey = (soften(np.asarray(m)[..., 0], size)[..., None] for m in masks)
    sdr = np.full((height, width, 1), BACKGROUND, np.float32)
    sdr = sdr * (1 - a_grey) + LABEL * a_grey
    sdr = sdr * (1 - a_white) + GRAPHICS_WHITE * a_white
    out = np.ascontiguousarray(np.repeat(levels(sdr, display), 3, axis=2), dtype=np.float32)
    if poster is not None:
        pw = max(2, width - column - 3 * margin)
        ph = max(2, round(pw * poster.shape[0] / poster.shape[1]))
        if ph > height - 2 * margin:
            ph = height - 2 * margin
            pw = max(2, round(ph * poster.shape[1] / poster.shape[0]))
        small = resize(np.ascontiguousarray(poster, dtype=np.float32), pw, ph, "box")
        top, left = (height - ph) // 2, width - margin - pw
        out[top:top + ph, left:left + pw] = np.clip(small, 0.0, 1.0)
    return out
