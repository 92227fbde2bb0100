"""Output sizes. Shared by the renderer and the QC checks so both agree on what is correct."""
from __future__ import annotations


def fit_within(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """Largest size with the source aspect ratio inside the box, never larger than the source."""
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid size {width}x{height}")
    scale = min(max_width / width, max_height / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def even_fit_within(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """As ``fit_within`` but rounded down to even numbers: libx264 with yuv420p needs them.

    Rounding down (never up) keeps the "never upscale" promise; the aspect error is under 1 px.
    A 1-pixel-wide source still yields 2 pixels, the smallest frame H.264 4:2:0 allows.
    """
    w, h = fit_within(width, height, max_width, max_height)
    return max(2, w - w % 2), max(2, h - h % 2)


def resolution(width: int, height: int) -> str:
    return f"{width}x{height}"


def desqueezed(width: int, height: int, pixel_aspect: float) -> tuple[int, int]:
    if pixel_aspect >= 1.0:
        return max(1, round(width * pixel_aspect)), height
    return width, max(1, round(height / pixel_aspect))


def letterbox(width: int, height: int, raster_width: int, raster_height: int) -> tuple[int, int, int, int]:
    """The active area ``(x, y, w, h)`` of a ``width`` x ``height`` picture fitted inside a raster: scaled (up
    or down) to the largest size with its aspect that fits, centred, the rest padded (letterbox above and
    below, pillarbox left and right). Size and offsets are even (4:2:0 chroma sites never straddle the edge);
    the aspect error of that rounding is under one pixel. A picture of the raster's aspect fills it."""
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid size {width}x{height}")
    scale = min(raster_width / width, raster_height / height)
    w = min(raster_width, max(2, round(width * scale / 2) * 2))
    h = min(raster_height, max(2, round(height * scale / 2) * 2))
    return (raster_width - w) // 4 * 2, (raster_height - h) // 4 * 2, w, h


def area_text(area: tuple[int, int, int, int]) -> str:
    """``(0, 34, 1920, 1012)`` -> ``0,34,1920,1012`` (x, y, width, height: the clip row's ``active_area``)."""
    return ",".join(str(v) for v in area)
