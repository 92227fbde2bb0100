"""How close a deliverable is to what it should show: decoded sample frames against the exact display render.

The clip is decoded here from its Y'CbCr planes with the matrix the profile tags (no swscale, which would
assume BT.601), and compared with the exact OCIO display transform of the same working frames: PSNR on code
values per pixel (on luma Y', as PSNR is usually quoted), and the colour difference (CIEDE2000 on SDR
displays, deltaE ITP on PQ) over 8x8 block means, so chroma subsampling at sharp edges (a property of
4:2:0/4:2:2, not an error) is not counted as a colour error. Rows under the burn-in bands are left out.

The colour difference is taken over the **picture**: the blocks with content (in the exact render or in the
decoded clip: a block brighter than ``CONTENT_LEVEL`` in any channel). Black surround (letterbox, a small
element on black, the Beachball sequence's ~19% of picture) would otherwise dilute the figures: an error
confined to the picture measured 0.20 mean over the frame against 1.10 over the picture, and its p99 sat
under the bound while a tenth of the picture was past it. A frame with no content block is measured whole.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import av
import numpy as np

from proxygen_core.colour.colorimetry import block_means, display_difference
from proxygen_core.errors import UnreadableSourceError
from proxygen_core.media.yuv import MATRICES, picture_rgb
from proxygen_core.profiles import ClipProfile, QualityBound

CONTENT_LEVEL = 0.02  # display code value (any channel, 8x8 block mean) above which a block is picture


@dataclass
class ClipQuality:
    metric: str  # CIEDE2000 | deltaE_ITP
    de_mean: float  # over the picture's blocks (module docstring)
    de_p99: float
    psnr_db: float
    frames: list[int]  # the frame numbers measured
    bound: QualityBound
    problems: list[str] = field(default_factory=list)
    picture_fraction: float = 1.0  # the share of the measured blocks that are picture

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def figures_line(metric: str | None, de_mean: float | None, de_p99: float | None, psnr_db: float | None,
                 passed: bool | None, bound: QualityBound) -> str:
    """The quality figures in one line, with the bound each is held to and the verdict naming what failed:
    what ``proxygen render`` prints for a clip (from its row) and the partition page shows."""
    failed = [f"mean {de_mean} > {bound.de_mean}" if de_mean is not None and de_mean > bound.de_mean else "",
              f"p99 {de_p99} > {bound.de_p99}" if de_p99 is not None and de_p99 > bound.de_p99 else "",
              f"PSNR {psnr_db} < {bound.psnr_min} dB" if psnr_db is not None and psnr_db < bound.psnr_min else ""]
    verdict = "passed" if passed else "FAILED " + (", ".join(f for f in failed if f) or "(see the row's check)")
    return (f"{metric} over the picture mean {de_mean} (<= {bound.de_mean}) p99 {de_p99} (<= {bound.de_p99}) "
            f"PSNR {psnr_db} dB (>= {bound.psnr_min}): quality {verdict}")


def decoded_frames(path: str | os.PathLike[str], indices: set[int], profile: ClipProfile) -> dict[int, np.ndarray]:
    """R'G'B' of the clip's pictures at ``indices`` (0 = its first picture)."""
    found: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index in indices:
                    found[index] = picture_rgb(frame, profile.matrix)
                if len(found) == len(indices):
                    break
    except av.FFmpegError as exc:
        raise UnreadableSourceError(str(path), f"clip cannot be decoded: {exc}") from exc
    return found


def measure(path: str | os.PathLike[str], profile: ClipProfile, display: str, references: dict[int, np.ndarray],
            numbers: dict[int, int], exclude_bottom: int = 0, exclude_top: int = 0,
            area: tuple[int, int, int, int] | None = None) -> ClipQuality:
    """``references``: clip index -> the exact display render of that picture; ``numbers``: index -> frame
    number (for the report); ``area``: (x, y, w, h) of the picture in the file (a raster's active area: the
    references are that size, the pad is not measured)."""
    metric, difference = display_difference(display)
    decoded = decoded_frames(path, set(references), profile)
    des: list[np.ndarray] = []
    squared: list[tuple[float, int]] = []
    problems: list[str] = []
    blocks = 0
    for index, want in sorted(references.items()):
        got = decoded.get(index)
        if got is None:
            problems.append(f"picture {index} (frame {numbers.get(index)}) is not in the clip")
            continue
        if area is not None:
            x, y, w, h = area
            got = got[y:y + h, x:x + w]
        rows = slice(exclude_top, want.shape[0] - exclude_bottom)
        got, want = got[rows], np.asarray(want[rows], dtype=np.float64)
        if got.shape != want.shape:
            problems.append(f"picture {index} is {got.shape[1]}x{got.shape[0]}, "
                            f"expected {want.shape[1]}x{want.shape[0]}")
            continue
        kr, kb = MATRICES[profile.matrix]
        weights = np.array([kr, 1 - kr - kb, kb])
        got_blocks, want_blocks = block_means(got), block_means(want)
        de_blocks = difference(got_blocks, want_blocks)
        content = (got_blocks.max(-1) > CONTENT_LEVEL) | (want_blocks.max(-1) > CONTENT_LEVEL)
        if not content.any() or content.shape != (got.shape[0] // 8, got.shape[1] // 8):
            content = np.ones(de_blocks.shape, bool)  # nothing but black (or under one block): the whole frame
            pixels = np.ones(got.shape[:2], bool)
        else:  # the content blocks' pixels (the rows and columns past the last whole block go with the frame)
            pixels = np.zeros(got.shape[:2], bool)
            pixels[:content.shape[0] * 8, :content.shape[1] * 8] = np.repeat(np.repeat(content, 8, 0), 8, 1)
        error = ((got - want) @ weights) ** 2  # on luma Y': the usual PSNR-Y, over the picture's pixels too
        squared.append((float(error[pixels].sum()), int(pixels.sum())))
        blocks += de_blocks.size
        des.append(de_blocks[content].reshape(-1))
    de = np.concatenate(des) if des else np.array([np.inf])
    mse = sum(e for e, _ in squared) / max(1, sum(n for _, n in squared)) if squared else 1.0
    psnr = float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)
    bound = profile.bound
    quality = ClipQuality(metric, round(float(de.mean()), 4), round(float(np.percentile(de, 99)), 4),
                          round(float(min(psnr, 99.0)), 2), sorted(int(numbers[i]) for i in references if i in numbers),
                          bound, problems, round(min(1.0, de.size / blocks), 4) if blocks else 1.0)
    where = f" over the picture ({quality.picture_fraction:.1%} of the frame)"
    if quality.de_mean > bound.de_mean:
        problems.append(f"{metric} mean {quality.de_mean} > {bound.de_mean}{where}")
    if quality.de_p99 > bound.de_p99:
        problems.append(f"{metric} p99 {quality.de_p99} > {bound.de_p99}{where}")
    if quality.psnr_db < bound.psnr_min:
        problems.append(f"PSNR {quality.psnr_db} dB < {bound.psnr_min} dB")
    return quality
