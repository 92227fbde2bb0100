"""Synthetic files of every format path the shared third-party set covers, written by OpenImageIO itself,
so a clone without ../shared/testdata still exercises each reader path: DPX, deep, tiled + MIP-mapped,
multipart, luminance (Y) and luminance-chroma (Y/RY/BY), data/display windows, EXIF orientation, CMYK, and damaged
files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio

W, H = 96, 64


def gradient(w: int = W, h: int = H) -> np.ndarray:
    """Display-referred R'G'B' in [0, 1]: a horizontal ramp in R, vertical in G, a block of blue."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / (w - 1), yy / (h - 1), np.full_like(xx, 0.25)], -1)
    img[h // 4:h // 2, w // 4:w // 2, 2] = 0.9
    return img


def linear_chart(w: int = W, h: int = H) -> np.ndarray:
    """Scene-linear values: the same layout, mid-grey based, some above 1."""
    return (gradient(w, h) ** 2.2 * 1.5).astype(np.float32)


def _write(path: Path, spec: oiio.ImageSpec, pixels: np.ndarray) -> Path:
    out = oiio.ImageOutput.create(str(path))
    assert out is not None and out.open(str(path), spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(pixels)), out.geterror()
    out.close()
    return path


def dpx_10bit(path: Path) -> Path:
    spec = oiio.ImageSpec(W, H, 3, oiio.UINT16)
    spec.attribute("oiio:BitsPerSample", 10)
    return _write(path, spec, gradient())


def deep_exr(path: Path) -> Path:
    """One or two samples per pixel (RGBA + Z); flattening composites them front to back."""
    spec = oiio.ImageSpec(W, H, 5, oiio.HALF)
    spec.channelnames = ("R", "G", "B", "A", "Z")
    spec.deep = True
    spec.attribute("compression", "zips")
    buf = oiio.ImageBuf(spec)
    img = linear_chart()
    for y in range(H):
        for x in range(W):
            n = 2 if (x // 8 + y // 8) % 2 else 1
            buf.set_deep_samples(x, y, 0, n)
            for s in range(n):
                alpha = 1.0 if s == n - 1 else 0.5
                colour = img[y, x] if s == n - 1 else np.array([0.0, 0.0, 0.0])
                for c in range(3):
                    buf.set_deep_value(x, y, 0, c, s, float(colour[c] * alpha))
                buf.set_deep_value(x, y, 0, 3, s, alpha)
                buf.set_deep_value(x, y, 0, 4, s, 1.0 + s)
    assert buf.write(str(path)), buf.geterror()
    return path


def tiled_mipmap_exr(path: Path) -> Path:
    src = oiio.ImageBuf(oiio.ImageSpec(W, H, 3, oiio.FLOAT))
    src.set_pixels(oiio.ROI(), linear_chart())
    config = oiio.ImageSpec()
    config.attribute("maketx:filtername", "box")
    config.tile_width, config.tile_height = 32, 32
    config.attribute("compression", "zip")
    assert oiio.ImageBufAlgo.make_texture(oiio.MakeTxTexture, src, str(path), config), oiio.geterror()
    return path


def multipart_exr(path: Path) -> Path:
    """Two parts: the beauty first, a depth part second (the render reads the first)."""
    beauty = oiio.ImageSpec(W, H, 3, oiio.HALF)
    depth = oiio.ImageSpec(W, H, 1, oiio.FLOAT)
    depth.channelnames = ("Z",)
    depth.attribute("name", "depth")
    beauty.attribute("name", "beauty")
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), (beauty, depth)), out.geterror()
    assert out.write_image(linear_chart())
    assert out.open(str(path), depth, "AppendSubimage")
    assert out.write_image(np.full((H, W, 1), 5.0, np.float32))
    out.close()
    return path


def luminance_exr(path: Path) -> Path:
    spec = oiio.ImageSpec(W, H, 1, oiio.HALF)
    spec.channelnames = ("Y",)
    return _write(path, spec, linear_chart()[..., 1:2])


def luminance_chroma_exr(path: Path) -> Path:
    """Y, RY, BY with chroma subsampled 2x2 (OpenEXR's luminance/chroma layout, Rec.709 luminance weights),
    written by the OpenEXR bindings: OpenImageIO writes no subsampled channels."""
    import OpenEXR

    rgb = linear_chart() + 0.02  # RY and BY divide by Y: keep it above zero
    y = 0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]
    channels = {"Y": OpenEXR.Channel(y.astype(np.float16)),
                "RY": OpenEXR.Channel(((rgb[..., 0] - y) / y).astype(np.float16), 2, 2),
                "BY": OpenEXR.Channel(((rgb[..., 2] - y) / y).astype(np.float16), 2, 2)}
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, channels) as f:
        f.write(str(path))
    return path


def windowed_exr(path: Path) -> Path:
    """Data window 40x30 at (20, 10) inside a 96x64 display window: outside the data is black."""
    spec = oiio.ImageSpec(40, 30, 3, oiio.HALF)
    spec.x, spec.y = 20, 10
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, W, H
    return _write(path, spec, np.full((30, 40, 3), 0.5, np.float32))


def oriented_tiff(path: Path) -> Path:
    """Stored landscape with EXIF orientation 6 (rotate 90 clockwise to view): shown portrait."""
    spec = oiio.ImageSpec(W, H, 3, oiio.UINT8)
    spec.attribute("Orientation", 6)
    img = np.zeros((H, W, 3), np.float32)
    img[:8, :8] = 1.0  # a white marker in the stored top-left corner: top-right once upright
    return _write(path, spec, img)


def cmyk_tiff(path: Path) -> Path:
    """Separated (CMYK) TIFF: pure cyan on the left half, black ink on the right."""
    spec = oiio.ImageSpec(W, H, 4, oiio.UINT8)
    spec.channelnames = ("C", "M", "Y", "K")
    spec.attribute("tiff:ColorSpace", "CMYK")
    img = np.zeros((H, W, 4), np.float32)
    img[:, : W // 2, 0] = 1.0
    img[:, W // 2:, 3] = 1.0
    return _write(path, spec, img)


def truncated(path: Path, good: Path) -> Path:
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def corrupt_header(path: Path, good: Path) -> Path:
    data = bytearray(good.read_bytes())
    data[4:64] = b"\xff" * 60
    path.write_bytes(bytes(data))
    return path


MAKERS = {"dpx_10bit.dpx": dpx_10bit, "deep.exr": deep_exr, "tiled_mip.exr": tiled_mipmap_exr,
          "multipart.exr": multipart_exr, "luminance_y.exr": luminance_exr, "windows.exr": windowed_exr,
          "luminance_chroma.exr": luminance_chroma_exr,
          "oriented.tif": oriented_tiff, "cmyk.tif": cmyk_tiff}
