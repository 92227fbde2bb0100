"""HDR10 static metadata: MaxCLL / MaxFALL measured from the pictures fed to the encoder, and the container's
``mdcv`` / ``clli`` boxes beside the bitstream's SEI.

MaxCLL and MaxFALL (CTA-861.3): per pixel the brightest of its R, G, B in cd/m2 (the PQ EOTF of the code values
the encoder is given, BT.2020 R'G'B' from the Y'CbCr planes, chroma repeated); MaxCLL is the brightest pixel
of the file, MaxFALL the brightest frame average. The slate and gap pictures count: they are in the file.

The boxes: PyAV cannot give a stream coded side data, so libavformat's mov muxer (which writes ``mdcv`` and
``clli`` from it) writes neither; ``add_hdr10_boxes`` inserts them into the HEVC sample entry after the file
is written (media/mp4_boxes.py: a remux in place). ISO/IEC 23001-8 layouts: ``mdcv`` is the SEI's G, B, R
primaries and white point in 0.00002 units, max and min luminance in 0.0001 cd/m2; ``clli`` is MaxCLL and
MaxFALL as 16-bit cd/m2.
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass

import numpy as np

from proxygen_core.colour.colorimetry import pq_eotf
from proxygen_core.errors import EncodeError
from proxygen_core.media.mp4_boxes import edit_sample_entries
from proxygen_core.media.yuv import planes_to_rgb


@dataclass
class LightLevels:
    """MaxCLL / MaxFALL of the pictures seen so far (cd/m2)."""

    max_cll: float = 0.0
    max_fall: float = 0.0

    def add(self, planes: list[np.ndarray], matrix: str, bits: int) -> None:
        nits = pq_eotf(planes_to_rgb([np.asarray(p, np.float32) for p in planes[:3]], matrix, bits).max(-1)) * 1e4
        self.max_cll = max(self.max_cll, float(nits.max()))
        self.max_fall = max(self.max_fall, float(nits.mean()))

    def values(self) -> tuple[int, int]:
        """(MaxCLL, MaxFALL) as the integers SEI and boxes carry (rounded up: never under the content)."""
        return int(np.ceil(self.max_cll)), int(np.ceil(self.max_fall))


def parse_master_display(text: str) -> tuple[list[int], int, int]:
    """x265's ``G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)`` -> ([Gx, Gy, Bx, By, Rx, Ry, Wx, Wy], max, min)."""
    m = re.fullmatch(r"G\((\d+),(\d+)\)B\((\d+),(\d+)\)R\((\d+),(\d+)\)WP\((\d+),(\d+)\)L\((\d+),(\d+)\)", text)
    if not m:
        raise ValueError(f"master display {text!r} is not G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)")
    values = [int(v) for v in m.groups()]
    return values[:8], values[8], values[9]


def hdr10_boxes(master_display: str, max_cll: int, max_fall: int) -> bytes:
    """The ``mdcv`` and ``clli`` boxes of a sample entry."""
    primaries, peak, floor = parse_master_display(master_display)
    mdcv = struct.pack(">8HII", *primaries, peak, floor)
    clli = struct.pack(">HH", min(max_cll, 0xFFFF), min(max_fall, 0xFFFF))
    return struct.pack(">I4s", 8 + len(mdcv), b"mdcv") + mdcv + struct.pack(">I4s", 8 + len(clli), b"clli") + clli


def add_hdr10_boxes(path: str | os.PathLike[str], master_display: str, max_cll: int, max_fall: int,
                    entry: bytes = b"hvc1") -> None:
    """Insert ``mdcv`` and ``clli`` into the file's ``entry`` sample entry (module docstring), in place."""
    try:
        extra = hdr10_boxes(master_display, max_cll, max_fall)
    except ValueError as exc:
        raise EncodeError(str(path), f"HDR10 boxes: {exc}") from exc
    edit_sample_entries(path, {entry}, extra=extra)
