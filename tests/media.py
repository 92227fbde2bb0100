"""Readers for the produced media, independent of the code that wrote them."""
from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import OpenImageIO as oiio

from proxygen_core.encode import yuv420_bt709_to_rgb


def read_jpeg(path: str | Path) -> np.ndarray:
    buf = oiio.ImageBuf(str(path))
    return buf.get_pixels(oiio.FLOAT)[..., :3]


def top_level_atoms(path: str | Path) -> list[str]:
    data = Path(path).read_bytes()
    atoms, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        atoms.append(kind.decode("latin-1"))
        if size < 8:
            break
        pos += size
    return atoms


def mp4_info(path: str | Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        info = {"codec": cc.name, "pix_fmt": cc.pix_fmt, "width": cc.width, "height": cc.height,
                "color_primaries": cc.color_primaries, "color_trc": cc.color_trc, "colorspace": cc.colorspace,
                "color_range": cc.color_range, "frames": 0}
        for frame in container.decode(stream):
            info["frames"] += 1
            info["frame_color_range"] = int(frame.color_range)
    info["atoms"] = top_level_atoms(path)
    return info


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
