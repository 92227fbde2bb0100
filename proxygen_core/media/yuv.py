"""R'G'B' -> Y'CbCr in float with an explicit matrix, at 8 or 10 bits, 4:2:0 / 4:2:2 / 4:4:4.

swscale would pick BT.601 whatever the tags say; doing the conversion here keeps the matrix the one the
stream is tagged with (BT.709, or BT.2020 non-constant luminance for the PQ deliverable). Limited range:
Y' 16-235 and C 16-240 at 8 bits, times 4 at 10 bits (64-940, 64-960), as ITU-R BT.709/BT.2100 specify.
"""
from __future__ import annotations

import av
import numpy as np

# (Kr, Kb) of each matrix.
MATRICES = {"bt709": (0.2126, 0.0722), "bt2020nc": (0.2627, 0.0593)}


def _quantise(x: np.ndarray, offset: float, scale: float, bits: int) -> np.ndarray:
    peak = (1 << bits) - 1
    out = np.rint(x * np.float32(scale * (1 << (bits - 8))) + np.float32(offset * (1 << (bits - 8))))
    return np.clip(out, 0, peak).astype(np.uint8 if bits == 8 else np.uint16)


def _subsample(x: np.ndarray, chroma: str) -> np.ndarray:
    """Average chroma sites (centre siting): 2x2 blocks for 4:2:0, horizontal pairs for 4:2:2."""
    if chroma == "444":
        return x
    pairs = (x[:, 0::2] + x[:, 1::2]) * np.float32(0.5)
    if chroma == "422":
        return pairs
    return (pairs[0::2] + pairs[1::2]) * np.float32(0.5)


def rgb_to_planes(rgb: np.ndarray, matrix: str = "bt709", bits: int = 10, chroma: str = "422") -> list[np.ndarray]:
    """Display-encoded R'G'B' in [0, 1] (h, w, 3) -> [Y', Cb, Cr] planes at ``bits``, limited range.

    Cb and Cr are linear in R'G'B', so they are computed from the averaged R'G'B' of each chroma site (the
    same values as averaging per-pixel chroma, at a fraction of the work)."""
    h, w = rgb.shape[:2]
    if (chroma != "444" and w % 2) or (chroma == "420" and h % 2):
        raise ValueError(f"{chroma} chroma needs even dimensions, got {w}x{h}")
    kr, kb = MATRICES[matrix]
    kg = 1.0 - kr - kb
    rgb = np.asarray(rgb, dtype=np.float32)
    y = rgb[..., 0] * np.float32(kr) + rgb[..., 1] * np.float32(kg) + rgb[..., 2] * np.float32(kb)
    q = np.stack([_subsample(rgb[..., c], chroma) for c in range(3)], -1)
    yq = q[..., 0] * np.float32(kr) + q[..., 1] * np.float32(kg) + q[..., 2] * np.float32(kb)
    cb = (q[..., 2] - yq) * np.float32(1.0 / (2.0 * (1.0 - kb)))
    cr = (q[..., 0] - yq) * np.float32(1.0 / (2.0 * (1.0 - kr)))
    return [_quantise(y, 16.0, 219.0, bits), _quantise(cb, 128.0, 224.0, bits), _quantise(cr, 128.0, 224.0, bits)]


def planes_to_rgb(yuv: list[np.ndarray], matrix: str, bits: int) -> np.ndarray:
    """Limited-range Y'CbCr planes -> R'G'B' in [0, 1]; chroma brought to full size by repetition."""
    y, cb, cr = yuv
    scale = float(1 << (bits - 8))
    ry, rx = y.shape[0] // cb.shape[0], y.shape[1] // cb.shape[1]
    cb = np.repeat(np.repeat(cb, ry, 0), rx, 1)[: y.shape[0], : y.shape[1]]
    cr = np.repeat(np.repeat(cr, ry, 0), rx, 1)[: y.shape[0], : y.shape[1]]
    yy = (y / scale - 16) / 219
    pb, pr = (cb / scale - 128) / 224, (cr / scale - 128) / 224
    kr, kb = MATRICES[matrix]
    r = yy + 2 * (1 - kr) * pr
    b = yy + 2 * (1 - kb) * pb
    g = (yy - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.stack([r, g, b], -1), 0.0, 1.0)


def bits_of(pix_fmt: str) -> int:
    """8 for yuv420p, 10 for yuv422p10le, 12 for yuv444p12le."""
    return int(pix_fmt.rsplit("p", 1)[1][:-2]) if pix_fmt.endswith("le") else 8


def frame_planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """A decoded frame's Y', Cb, Cr planes as stored (8 or 16-bit words), without libav's line padding."""
    out = []
    for plane in list(frame.planes)[:3]:
        dtype = np.uint16 if bits_of(frame.format.name) > 8 else np.uint8
        words = plane.line_size // np.dtype(dtype).itemsize
        data = np.frombuffer(memoryview(plane), dtype=dtype).reshape(plane.height, words)
        out.append(data[:, :plane.width].astype(np.float32))
    return out


def picture_rgb(frame: av.VideoFrame, matrix: str = "bt709") -> np.ndarray:
    """A decoded limited-range picture as R'G'B' in [0, 1], by ``matrix`` at the frame's own bit depth."""
    return planes_to_rgb(frame_planes(frame), matrix, bits_of(frame.format.name))


def alpha_plane(alpha: np.ndarray, bits: int = 10) -> np.ndarray:
    """Alpha is full range (0 = transparent, peak = opaque)."""
    peak = (1 << bits) - 1
    return np.clip(np.rint(alpha * peak), 0, peak).astype(np.uint8 if bits == 8 else np.uint16)


def planar_frame(planes: list[np.ndarray], pix_fmt: str) -> av.VideoFrame:
    """An ``av.VideoFrame`` of ``pix_fmt`` with the planes copied in row by row (libav pads its lines)."""
    h, w = planes[0].shape
    frame = av.VideoFrame(w, h, pix_fmt)
    for plane, data in zip(frame.planes, planes, strict=False):
        itemsize = data.dtype.itemsize
        view = np.frombuffer(memoryview(plane), dtype=data.dtype).reshape(plane.height, plane.line_size // itemsize)
        view[:, :data.shape[1]] = data
    return frame
