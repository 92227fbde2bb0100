"""Readers for the produced media, independent of the code that wrote them."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import OpenImageIO as oiio

from proxygen_core.media.encode import yuv420_bt709_to_rgb
from proxygen_core.media.qc import mp4_info as _mp4_info


def mp4_info(path):
    return _mp4_info(path, count_frames=True)


def read_jpeg(path: str | Path) -> np.ndarray:
    buf = oiio.ImageBuf(str(path))
    return buf.get_pixels(oiio.FLOAT)[..., :3]


def read_mp4_rgb(path: str | Path) -> np.ndarray:
    """First frame as display-encoded R'G'B', decoded with the BT.709 matrix, limited range."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        planes = frame.to_ndarray(format="yuv420p")
    h, w = frame.height, frame.width
    y = planes[:h]
    uv = planes[h:].reshape(-1)
    u = uv[: (h // 2) * (w // 2)].reshape(h // 2, w // 2)
    v = uv[(h // 2) * (w // 2):].reshape(h // 2, w // 2)
    return yuv420_bt709_to_rgb(y, u, v)
