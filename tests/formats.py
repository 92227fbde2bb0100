"""The suite's test frames, written by OpenImageIO itself.

Synthetic files of every format path the shared third-party set covers, so a clone without ../shared/testdata
still exercises each reader path: DPX, deep, tiled + MIP-mapped, multipart, luminance (Y) and luminance-chroma
(Y/RY/BY), data/display windows, EXIF orientation, CMYK, and damaged files (``MAKERS``); and the plain frames the
other test modules render (``chart_exr``, ``flat_tif``, ``write_pixels`` ...), kept here once instead of a copy
per module."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from proxygen_core.media.samples import CHROMATICITIES, chart, write_exr

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


# --- the plain frames of the other test modules ---------------------------------------------------------------


def write_pixels(path: Path, pixels: np.ndarray, fmt=oiio.HALF, names: tuple[str, ...] | None = None,
                 compression: str | None = None, tile: tuple[int, int] | None = None,
                 attributes: Iterable[tuple] = ()) -> Path:
    """``pixels`` (h, w, c) as one image file of pixel type ``fmt`` (the format from the name's extension);
    ``attributes`` are ``ImageSpec.attribute`` arguments: (name, value) or (name, TypeDesc, value)."""
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2], fmt)
    if names:
        spec.channelnames = names
    if compression:
        spec.attribute("compression", compression)
    if tile:
        spec.tile_width, spec.tile_height = tile
    for attribute in attributes:
        spec.attribute(*attribute)
    return _write(path, spec, pixels)


def chart_exr(path: Path, value: float | None = None, size: tuple[int, int] = (320, 180)) -> Path:
    """An ACEScg-tagged EXR (its folder made): the colour chart, or one flat ``value`` in every channel."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = chart(*size)[0] if value is None else np.full((size[1], size[0], 3), value, np.float32)
    write_exr(path, img, CHROMATICITIES["ACEScg"])
    return path


def chart_tif(path: Path, size: tuple[int, int] = (320, 180)) -> Path:
    """The colour chart as an 8-bit TIFF (clipped, 1/2.2 encoded)."""
    img = np.clip(chart(*size)[0], 0, 1) ** (1 / 2.2)
    return write_pixels(path, (img * 255).astype(np.uint8), oiio.UINT8)


def flat_tif(path: Path, colour: tuple[float, float, float], size: tuple[int, int] = (64, 32)) -> Path:
    """An 8-bit RGB TIFF of one colour."""
    buf = oiio.ImageBuf(oiio.ImageSpec(size[0], size[1], 3, oiio.UINT8))
    oiio.ImageBufAlgo.fill(buf, colour)
    assert buf.write(str(path)), buf.geterror()
    return path


def noisy_rgba_exr(path: Path, width: int = 1024, height: int = 768, nonfinite: bool = True, tiled: bool = False,
                   compression: str = "zip", chroma: str = "ACEScg") -> Path:
    """Half RGBA with high-frequency HDR detail everywhere (and, by default, a NaN and an Inf)."""
    rng = np.random.default_rng(5)
    rgb = (rng.random((height, width, 3), np.float32) * 3.0) ** 2
    if nonfinite:
        rgb[17, 33, 0] = np.nan
        rgb[height - 2, width // 2, 1] = np.inf
    alpha = rng.random((height, width, 1), np.float32)
    return write_pixels(path, np.concatenate([rgb * alpha, alpha], -1), oiio.HALF, compression=compression,
                        tile=(64, 64) if tiled else None,
                        attributes=[("chromaticities", oiio.TypeDesc("float[8]"), CHROMATICITIES[chroma])])


def inset_exr(path: Path, width: int = 1024, height: int = 768, border: int = 4) -> Path:
    """Data window inside the display window (0.18 grey inside): a layout only the whole-image ImageBuf path
    frames."""
    spec = oiio.ImageSpec(width - 2 * border, height - 2 * border, 3, "half")
    spec.x = spec.y = border
    spec.full_x = spec.full_y = 0
    spec.full_width, spec.full_height = width, height
    spec.attribute("compression", "zip")
    return _write(path, spec, np.full((spec.height, spec.width, 3), 0.18, np.float32))


def deep_one_sample_exr(path: Path, width: int = 64, height: int = 48) -> Path:
    """A deep RGBA EXR with one sample of 0.5 in every channel of every pixel."""
    spec = oiio.ImageSpec(width, height, 4, "float")
    spec.channelnames = ("R", "G", "B", "A")
    spec.deep = True
    deep = oiio.DeepData()
    deep.init(width * height, 4, [oiio.FLOAT] * 4, spec.channelnames)
    for p in range(width * height):
        deep.set_samples(p, 1)
        for c in range(4):
            deep.set_deep_value(p, c, 0, 0.5)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), oiio.geterror()
    assert out.write_deep_image(deep), out.geterror()
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


def empty_deep_exr(path: Path, channels: tuple[str, ...] = ("R", "G", "B")) -> Path:
    """A valid deep EXR with no sample in any pixel (an empty deep render layer)."""
    spec = oiio.ImageSpec(W, H, len(channels), oiio.HALF)
    spec.channelnames = channels
    spec.deep = True
    spec.attribute("compression", "zips")
    buf = oiio.ImageBuf(spec)
    assert buf.deep and not any(buf.deepdata().samples(p) for p in range(W * H))
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
