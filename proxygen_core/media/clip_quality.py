"""How close a deliverable is to what it should show: decoded sample frames against the exact display render.

The clip is decoded here from its Y'CbCr planes with the matrix the profile tags (no swscale, which would
assume BT.601), and compared with the exact OCIO display transform of the same working frames: PSNR on code
values per pixel (on luma Y', as PSNR is usually quoted), and the colour difference (CIEDE2000 on SDR
displays, deltaE ITP on PQ) over 8x8 block means, so chroma subsampling at sharp edges (a property of
4:2:0/4:2:2, not an error) is not counted as a colour error. Rows under the burn-in bands are left out.
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


@dataclass
class ClipQuality:
    metric: str  # CIEDE2000 | deltaE_ITP
    de_mean: float
    de_p99: float
    psnr_db: float
    frames: list[int]  # the frame numbers measured
    bound: QualityBound
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


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
            numbers: dict[int, int], exclude_bottom: int = 0, exclude_top: int = 0) -> ClipQuality:
    """``references``: clip index -> the exact display render of that picture; ``numbers``: index -> frame
    number (for the report)."""
    metric, difference = display_difference(display)
    decoded = decoded_frames(path, set(references), profile)
    des, squared, problems = [], [], []
    for index, want in sorted(references.items()):
        got = decoded.get(index)
        if got is None:
            problems.append(f"picture {index} (frame {numbers.get(index)}) is not in the clip")
            continue
        rows = slice(exclude_top, want.shape[0] - exclude_bottom)
        got, want = got[rows], np.asarray(want[rows], dtype=np.float64)
        if got.shape != want.shape:
            problems.append(f"picture {index} is {got.shape[1]}x{got.shape[0]}, "
                            f"expected {want.shape[1]}x{want.shape[0]}")
            continue
        kr, kb = MATRICES[profile.matrix]
        weights = np.array([kr, 1 - kr - kb, kb])
        squared.append(float(np.mean(((got - want) @ weights) ** 2)))  # on luma Y': the usual PSNR-Y
        des.append(difference(block_means(got), block_means(want)).reshape(-1))
    de = np.concatenate(des) if des else np.array([np.inf])
    mse = float(np.mean(squared)) if squared else 1.0
    psnr = float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)
    bound = profile.bound
    quality = ClipQuality(metric, round(float(de.mean()), 4), round(float(np.percentile(de, 99)), 4),
                          round(float(min(psnr, 99.0)), 2), sorted(int(numbers[i]) for i in references if i in numbers),
                          bound, problems)
    if quality.de_mean > bound.de_mean:
        problems.append(f"{metric} mean {quality.de_mean} > {bound.de_mean}")
    if quality.de_p99 > bound.de_p99:
        problems.append(f"{metric} p99 {quality.de_p99} > {bound.de_p99}")
    if quality.psnr_db < bound.psnr_min:
        problems.append(f"PSNR {quality.psnr_db} dB < {bound.psnr_min} dB")
    return quality
