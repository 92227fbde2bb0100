"""Readers for the produced media, independent of the code that wrote them."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import OpenImageIO as oiio

from proxygen_core.media.qc import mp4_info as _mp4_info


def mp4_info(path):
    """The product's container reading, with the picture count taken by decoding every frame here."""
    info = _mp4_info(path)
    with av.open(str(path)) as container:
        info["frames"] = sum(1 for _ in container.decode(video=0))
    return info


def read_jpeg(path: str | Path) -> np.ndarray:
    buf = oiio.ImageBuf(str(path))
    return buf.get_pixels(oiio.FLOAT)[..., :3]


# ITU-R BT.709-6, items 3.2 and 3.3: the test's own constants, never the product's, so a wrong matrix or
# range in the encoder cannot cancel out in the check.
BT709_KR, BT709_KB = 0.2126, 0.0722
Y_BLACK, Y_RANGE, C_ZERO, C_RANGE = 16.0, 219.0, 128.0, 224.0  # 8-bit limited ("video") range


def bt709_limited_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Y'CbCr (full-size planes, 8-bit limited range) -> R'G'B' in [0, 1] by the BT.709 equations."""
    kg = 1.0 - BT709_KR - BT709_KB
    yf = (y.astype(np.float64) - Y_BLACK) / Y_RANGE
    pb = (cb.astype(np.float64) - C_ZERO) / C_RANGE
    pr = (cr.astype(np.float64) - C_ZERO) / C_RANGE
    r = yf + 2.0 * (1.0 - BT709_KR) * pr
    b = yf + 2.0 * (1.0 - BT709_KB) * pb
    g = (yf - BT709_KR * r - BT709_KB * b) / kg
    return np.stack([r, g, b], axis=-1).astype(np.float32)


def read_mp4_planes(path: str | Path, index: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame ``index`` as decoded 8-bit Y', Cb, Cr planes (chroma repeated to full size), by libavcodec."""
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                planes = frame.to_ndarray(format="yuv420p")
                break
        else:
            raise AssertionError(f"{path}: no frame {index}")
    h, w = frame.height, frame.width
    uv = planes[h:].reshape(-1)
    def up(c):
        return (np.repeat(np.repeat(c.reshape(h // 2, w // 2), 2, 0), 2, 1))
    return planes[:h], up(uv[: (h // 2) * (w // 2)]), up(uv[(h // 2) * (w // 2):])


def read_mp4_rgb(path: str | Path, index: int = 0) -> np.ndarray:
    """A frame as display-encoded R'G'B', decoded with the BT.709 matrix, limited range."""
    return bt709_limited_to_rgb(*read_mp4_planes(path, index))


def read_mp4_rgb_swscale(path: str | Path, index: int = 0) -> np.ndarray:
    """The same frame converted by libswscale with the BT.709 matrix and limited range named explicitly: a
    second, unrelated implementation that the test decoder above must agree with."""
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                rgb = frame.reformat(format="rgb48le", src_colorspace="ITU709", dst_colorspace="ITU709")
                return rgb.to_ndarray().astype(np.float32) / 65535.0
    raise AssertionError(f"{path}: no frame {index}")


# ITU-R BT.2020-2 table 4 (non-constant luminance): the test's own constants.
BT2020_KR, BT2020_KB = 0.2627, 0.0593


def decoded_pictures(path: str | Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def picture_rgb(frame: av.VideoFrame, kr: float = BT709_KR, kb: float = BT709_KB) -> np.ndarray:
    """Any decoded planar Y'CbCr picture (8-16 bits, 4:2:0/4:2:2/4:4:4) -> R'G'B' in [0, 1], limited range,
    with the given matrix; chroma repeated to full size. Bit depth from libav's format name."""
    name = frame.format.name
    bits = int(name.rsplit("p", 1)[1][:-2]) if name.endswith("le") else 8
    dtype = np.uint16 if bits > 8 else np.uint8
    planes = []
    for plane in list(frame.planes)[:3]:
        data = np.frombuffer(plane, dtype=dtype).reshape(plane.height, plane.line_size // np.dtype(dtype).itemsize)
        planes.append(data[:, :plane.width].astype(np.float64) / (1 << (bits - 8)))
    y, cb, cr = planes
    def up(c):
        return (np.repeat(np.repeat(c, y.shape[0] // c.shape[0], 0), y.shape[1] // c.shape[1], 1))
    yf, pb, pr = (y - Y_BLACK) / Y_RANGE, (up(cb) - C_ZERO) / C_RANGE, (up(cr) - C_ZERO) / C_RANGE
    r = yf + 2.0 * (1.0 - kr) * pr
    b = yf + 2.0 * (1.0 - kb) * pb
    g = (yf - kr * r - kb * b) / (1.0 - kr - kb)
    return np.stack([r, g, b], axis=-1).astype(np.float32)


# --- Debian's ffmpeg/ffprobe: a decoder and a reader that are not the libav PyAV wheels write with ---------
_CHROMA = {"yuv420p": (2, 2), "yuv420p10le": (2, 2), "yuv422p10le": (1, 2), "yuv444p10le": (1, 1),
           "yuv444p12le": (1, 1)}


def ffmpeg_planes(path: str | Path, pix_fmt: str) -> list[list[np.ndarray]]:
    """Every picture of ``path`` decoded by the system's ffmpeg (``/usr/bin/ffmpeg``) as its own Y', Cb, Cr
    code values (``-pix_fmt`` the stream's own: no conversion), one [Y, Cb, Cr] list per picture."""
    import json
    import subprocess

    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams",
                                       "-of", "json", str(path)], capture_output=True, check=True).stdout)
    stream = probe["streams"][0]
    assert stream["pix_fmt"] == pix_fmt, f"{path}: ffprobe says {stream['pix_fmt']}, expected {pix_fmt}"
    w, h = int(stream["width"]), int(stream["height"])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"],
                         capture_output=True, check=True).stdout
    dtype = np.uint8 if pix_fmt == "yuv420p" else np.uint16
    data = np.frombuffer(raw, dtype)
    ry, rx = _CHROMA[pix_fmt]
    cw, ch = w // rx, h // ry
    per = w * h + 2 * cw * ch
    assert data.size % per == 0, f"{path}: {data.size} samples is not a whole number of {w}x{h} pictures"
    out = []
    for i in range(data.size // per):
        p = data[i * per:(i + 1) * per]
        out.append([p[:w * h].reshape(h, w), p[w * h:w * h + cw * ch].reshape(ch, cw),
                    p[w * h + cw * ch:].reshape(ch, cw)])
    return out


def ffprobe_json(path: str | Path, *args: str) -> dict:
    """``ffprobe -of json`` of ``path`` with ``args`` (e.g. ``-show_streams``), by the system's ffprobe."""
    import json
    import subprocess

    return json.loads(subprocess.run(["ffprobe", "-v", "error", *args, "-of", "json", str(path)],
                                     capture_output=True, check=True).stdout)
