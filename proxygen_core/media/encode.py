"""Writers for the review media: JPEG through OpenImageIO, H.264 MP4 through PyAV + libx264.

RGB -> Y'CbCr is done here in float with the BT.709 matrix and limited range, instead of
letting swscale pick a matrix: swscale defaults to BT.601 whatever the tags say, and its
8-bit path costs ~0.4 dE2000 on flat colours.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import av
import numpy as np
import OpenImageIO as oiio

from proxygen_core.errors import EncodeError
from proxygen_core.media.yuv import MATRICES
from proxygen_core.probe import oiio_error
from proxygen_core.profiles import AV_LIMITED, AV_MATRIX, AV_PRIMARIES, AV_TRANSFER
from proxygen_core.settings import RenderSettings

KR, KB = MATRICES["bt709"]  # the one R'G'B' -> Y'CbCr table (media/yuv.py)
KG = 1.0 - KR - KB


def write_jpeg(rgb: np.ndarray, path: str | os.PathLike[str], quality: int) -> int:
    """Write an 8-bit sRGB JPEG; returns its size in bytes."""
    path = str(path)
    h, w = rgb.shape[:2]
    spec = oiio.ImageSpec(w, h, 3, oiio.UINT8)
    spec.attribute("Compression", f"jpeg:{int(quality)}")
    spec.attribute("oiio:ColorSpace", "srgb_rec709_scene")
    out = oiio.ImageOutput.create(path)
    if out is None or not out.open(path, spec):
        raise EncodeError(path, f"cannot open JPEG for writing: {oiio_error(out) if out else oiio_error()}")
    try:
        if not out.write_image(np.ascontiguousarray(rgb, dtype=np.uint8)):
            raise EncodeError(path, f"JPEG write failed: {oiio_error(out)}")
    finally:
        out.close()
    return os.path.getsize(path)


def _code8(x: np.ndarray, offset: float, scale: float) -> np.ndarray:
    """Quantise in place (x*scale + offset, rounded, clipped) and return uint8."""
    np.multiply(x, scale, out=x)
    x += offset
    np.rint(x, out=x)
    return np.clip(x, 0, 255, out=x).astype(np.uint8)


def rgb_to_yuv420_bt709(rgb: np.ndarray) -> np.ndarray:
    """Display-encoded R'G'B' in [0, 1] -> planar yuv420p (BT.709, limited range) as PyAV expects it.

    Chroma is the 2x2 block average (centre siting; within 1/4 pixel of H.264's left siting). Pb and Pr
    are linear in R'G'B', so they are computed once per block from the averaged R'G'B' (a quarter of the
    work of averaging per-pixel chroma, same values up to float rounding).
    """
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"yuv420p needs even dimensions, got {w}x{h}")
    rgb = np.asarray(rgb, dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = r * np.float32(KR)
    y += g * np.float32(KG)
    y += b * np.float32(KB)
    q = rgb[0::2, 0::2] + rgb[1::2, 0::2]
    q += rgb[0::2, 1::2]
    q += rgb[1::2, 1::2]
    q *= np.float32(0.25)
    yq = q[..., 0] * np.float32(KR) + q[..., 1] * np.float32(KG) + q[..., 2] * np.float32(KB)
    pb = (q[..., 2] - yq) * np.float32(1.0 / (2.0 * (1.0 - KB)))
    pr = (q[..., 0] - yq) * np.float32(1.0 / (2.0 * (1.0 - KR)))
    out = np.empty((h * 3 // 2, w), dtype=np.uint8)
    flat = out.reshape(-1)
    n, c = h * w, (h // 2) * (w // 2)
    flat[:n] = _code8(y, 16.0, 219.0).reshape(-1)
    flat[n:n + c] = _code8(pb, 128.0, 224.0).reshape(-1)
    flat[n + c:] = _code8(pr, 128.0, 224.0).reshape(-1)
    return out


BT709_X264 = "colorprim=bt709:transfer=bt709:colormatrix=bt709:range=tv"


def h264_stream(container: Any, rate: Any, width: int, height: int, preset: str, crf: int,
                options: dict[str, str] | None = None, x264_params: str = "") -> Any:
    """The one H.264 stream setup (per-frame proxies and clips): yuv420p, BT.709 primaries, transfer and
    matrix, limited range, flagged both in the container and in the bitstream (VUI)."""
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    cc = stream.codec_context
    cc.color_range = AV_LIMITED
    cc.colorspace, cc.color_primaries, cc.color_trc = AV_MATRIX["bt709"], AV_PRIMARIES["bt709"], AV_TRANSFER["bt709"]
    stream.options = {"preset": preset, "crf": str(crf), **(options or {}),
                      "x264-params": BT709_X264 + (f":{x264_params}" if x264_params else "")}
    return stream


def bt709_frame(planes: np.ndarray, pts: int) -> av.VideoFrame:
    """A yuv420p picture tagged BT.709 limited range, at ``pts``."""
    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    frame.color_range = AV_LIMITED
    frame.colorspace, frame.color_primaries, frame.color_trc = (AV_MATRIX["bt709"], AV_PRIMARIES["bt709"],
                                                                AV_TRANSFER["bt709"])
    frame.pts = pts
    return frame


def write_mp4_planes(planes: np.ndarray, path: str | os.PathLike[str], settings: RenderSettings,
                     frames: int = 1) -> int:
    """Encode yuv420p planes (``rgb_to_yuv420_bt709`` of display-encoded Rec.709 RGB) as an H.264 MP4
    (BT.709 tags, tv range, faststart)."""
    path = str(path)
    h, w = planes.shape[0] * 2 // 3, planes.shape[1]
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with av.open(path, mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = h264_stream(container, settings.fps, w, h, settings.x264_preset, settings.x264_crf)
            for index in range(frames):
                frame = bt709_frame(planes, index)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
    except EncodeError:
        raise
    except Exception as exc:
        raise EncodeError(path, f"H.264 encode failed: {type(exc).__name__}: {exc}") from exc
    return os.path.getsize(path)
