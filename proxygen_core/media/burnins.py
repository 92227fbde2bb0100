"""Burn-ins from a template: text in six positions, from the shot's fields and each picture's own.

The template is ``position=text`` pairs separated by ``;`` (positions: top_left, top_center, top_right,
bottom_left, bottom_center, bottom_right); the text is a format string over the fields below, and anything
else in it is printed as written (free text). Fields: ``show seq shot task version`` (the key template's;
``version`` zero-padded to 3), ``name`` (the image sequence's file name), ``profile``, ``date`` (UTC day of
the build), ``display`` and ``view`` (what the profile renders through), and per picture ``frame``,
``timecode`` and ``state`` (`` MISSING`` / `` FAILED`` on gap frames, else empty), ``grade`` /
``grade_source`` / ``looks`` (the sequence's colour decisions; profiles.FIELDS, checked at load). An empty field
prints nothing and takes with it what only belongs to it (``fill``: no stray ``v`` or separator). Text is
graphics white (media/graphics.py) on a darkened band at the top and/or bottom; the rest is untouched.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

import numpy as np

from proxygen_core.media.graphics import text_over

_SEPARATORS = r"[-|/,:;\u00b7]"  # what may stand between fields: left out beside an empty one


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with its fields filled; an empty (or unknown) field takes with it what only belongs to it:
    the literal touching it before (``v`` in `` v{version}``), the separator and spaces before it, and any
    separator left at either end (so an empty version prints ``comp``, not ``comp v``)."""
    out = ""
    for literal, name, spec, conversion in string.Formatter().parse(text):
        out += literal
        if name is None:
            continue
        value = values.get(name, "")
        if conversion:
            value = {"r": repr, "a": ascii}.get(conversion, str)(value)
        value = format(value, spec or "") if value != "" else ""
        if value == "":
            touching = len(literal) - len(re.sub(r"\S+$", "", literal))  # e.g. the "v" of " v{version}"
            out = out[: len(out) - touching]
            out = re.sub(rf"\s*{_SEPARATORS}*\s*$", "", out)
            continue
        out += value
    return re.sub(rf"^[\s]*(?:{_SEPARATORS}+\s*)?|(?:\s*{_SEPARATORS}+)?\s*$", "", out)


def band_height(height: int) -> int:
    """Rows of each band that carries burn-ins (the quality check leaves them out)."""
    return max(16, (height // 18) // 2 * 2)


@dataclass
class BurnIns:
    """What to write, where, and on which profiles."""

    template: dict[str, str]
    fields: dict[str, str | int | None] = field(default_factory=dict)  # the sequence's own (shot, name, ...)
    profiles: frozenset[str] = frozenset()

    @property
    def bands(self) -> tuple[bool, bool]:
        """(top, bottom): which bands carry text."""
        return (any(p.startswith("top") for p in self.template), any(p.startswith("bottom") for p in self.template))

    @property
    def per_profile(self) -> bool:
        """Whether the text names the profile (then each profile's pictures are drawn on their own)."""
        return any("{profile" in text for text in self.template.values())

    def texts(self, frame: int, timecode: str, state: str, display: str, view: str,
              profile: str = "") -> dict[str, str]:
        values = {k: "" if v is None else str(v) for k, v in self.fields.items()}
        if isinstance(self.fields.get("version"), int):
            values["version"] = f"{self.fields['version']:03d}"
        values.update(frame=str(frame), timecode=timecode, state=state, display=display, view=view)
        if profile:
            values["profile"] = profile
        return {position: fill(text, values) for position, text in self.template.items()}


def draw(rgb: np.ndarray, texts: dict[str, str], font: str, display: str | None = None) -> np.ndarray:
    """``texts`` by position on darkened bands of a picture in ``display``'s code values, at its graphics
    levels (media/graphics.py: 203 cd/m2 white on PQ, legal and softened on SDR)."""
    import OpenImageIO as oiio

    height, width = rgb.shape[:2]
    band = band_height(height)
    size = max(10, int(band * 0.7))
    out = rgb.copy()
    for edge in ("top", "bottom"):
        chosen = {p: t for p, t in texts.items() if p.startswith(edge)}
        if not chosen:
            continue
        mask = oiio.ImageBuf(oiio.ImageSpec(width, band, 1, oiio.FLOAT))
        for position, text in chosen.items():
            if not text:
                continue
            align = position.split("_")[1]
            x = {"left": band // 3, "center": width // 2, "right": width - band // 3}[align]
            oiio.ImageBufAlgo.render_text(mask, x, int(band * 0.78), text, size, font, (1.0,), alignx=align)
        pixels = mask.get_pixels(oiio.FLOAT)
        if pixels is None:
            from proxygen_core.probe import oiio_error

            raise RuntimeError(f"burn-in text: reading the text mask failed: {oiio_error(mask)}")
        rows = slice(0, band) if edge == "top" else slice(height - band, height)
        out[rows] = text_over(out[rows], pixels[..., 0], size, 0.35, display)  # the band darkened, the text in white
    return out
