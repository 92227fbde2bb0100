"""Header inspection: what a source is, before any pixel is decoded."""
from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import OpenImageIO as oiio

from proxygen_core.errors import SourceTooLargeError, UnreadableSourceError, clean_text
from proxygen_core.store.keys import frame_number

_EXR_CORE_LOCK = threading.Lock()
_COLOUR_ATTRS = ("oiio:ColorSpace", "chromaticities", "acesImageContainerFlag", "oiio:Gamma", "dpx:Transfer",
                 "dpx:Colorimetric", "tiff:ColorSpace", "Exif:ColorSpace", "whiteLuminance", "adoptedNeutral")


def oiio_error(obj: Any = None) -> str:
    """OIIO's pending error text; never raises (it can hold undecodable bytes on corrupt files)."""
    try:
        text = obj.geterror() if obj is not None else oiio.geterror()
    except UnicodeDecodeError as exc:
        text = exc.object  # the raw bytes, decoded with replacement characters below
    except Exception as exc:  # the binding itself failed: report that rather than nothing
        text = f"(error text unavailable: {type(exc).__name__})"
    return clean_text(text, limit=10_000)  # cut to length by the error that carries it (errors.ProxygenError)


# Formats whose files end with a fixed marker: a file that lacks it was cut short, even when the
# decoder only warns (libjpeg fills the rest with grey and reports success).
_END_MARKERS = {".jpg": (b"\xff\xd9",), ".jpeg": (b"\xff\xd9",), ".png": (b"IEND\xaeB`\x82",)}


def check_complete(path: str) -> None:
    markers = _END_MARKERS.get(os.path.splitext(path.lower())[1])
    if not markers:
        return
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 64))
        tail = fh.read().rstrip(b"\x00")
    if not any(tail.endswith(m) for m in markers):
        raise UnreadableSourceError(path, "truncated file: no end-of-image marker (the upload was cut short)")


def _classify_open_failure(path: str, message: str) -> Exception:
    if "claims" in message and "image" in message:
        return SourceTooLargeError(path, message)
    return UnreadableSourceError(path, message or "cannot be opened by OpenImageIO")


@contextlib.contextmanager
def classic_exr_reader() -> Iterator[None]:
    """Use the OpenEXR C++ reader for the duration: OIIO 3.2's default OpenEXRCore reader refuses
    subsampled (Y/RY/BY) channels, the classic one converts them to RGB. The switch is process-global,
    so it is flipped under a lock and only around one open or read."""
    with _EXR_CORE_LOCK:
        previous = oiio.get_int_attribute("openexr:core")
        oiio.attribute("openexr:core", 0)
        try:
            yield
        finally:
            oiio.attribute("openexr:core", previous)


def needs_classic_reader(message: str) -> bool:
    return "Subsampled" in message


def open_input(path: str) -> oiio.ImageInput:
    """Open an image; Y/RY/BY EXRs are retried with the classic OpenEXR reader."""
    if not os.path.exists(path):
        raise UnreadableSourceError(path, "file does not exist")
    inp = oiio.ImageInput.open(path)
    if inp:
        return inp
    message = oiio_error()
    if needs_classic_reader(message):
        with classic_exr_reader():
            inp = oiio.ImageInput.open(path)
            if inp:
                return inp
            message = oiio_error()
    raise _classify_open_failure(path, message)


@dataclass(frozen=True)
class Window:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class ProbeRecord:
    path: str
    format: str
    width: int
    height: int
    data_window: Window
    display_window: Window
    channels: tuple[str, ...]
    pixel_type: str
    is_float: bool
    subimages: int
    deep: bool
    tiled: bool
    orientation: int
    frame_number: int | None
    size_bytes: int
    colour_metadata: dict[str, Any] = field(default_factory=dict)
    fps: float | None = None  # EXR framesPerSecond
    timecode: str | None = None  # EXR timeCode (SMPTE), as HH:MM:SS:FF
    pixel_aspect: float = 1.0  # width / height of one pixel (EXR pixelAspectRatio, DPX/TIFF pixel aspect)
    # every part's header (subimage), in exr-inspector's part terms (``part_header``): its ``parts`` table
    parts: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def windows_differ(probe: ProbeRecord) -> bool:
    """Whether the stored pixels (data window) are not exactly what the artist framed (display window)."""
    dw, disp = probe.data_window, probe.display_window
    return (dw.x, dw.y, dw.width, dw.height) != (disp.x, disp.y, disp.width, disp.height)


def needs_framing(probe: ProbeRecord) -> bool:
    """Whether the pixels need more than a straight read: deep samples to flatten, a data window other
    than the display window, an orientation, or unassociated alpha (premultiplied only by ImageBuf)."""
    return (probe.deep or windows_differ(probe) or probe.orientation != 1
            or (probe.format != "openexr" and "A" in probe.channels))


def _bcd(value: int) -> int:
    return (value >> 4) * 10 + (value & 0xF)


def smpte_timecode(packed: int) -> str:
    """OpenEXR's packed SMPTE time (BCD fields; drop-frame and colour-frame flags ignored)."""
    return (f"{_bcd((packed >> 24) & 0x3F):02d}:{_bcd((packed >> 16) & 0x7F):02d}:"
            f"{_bcd((packed >> 8) & 0x7F):02d}:{_bcd(packed & 0x3F):02d}")


def _timing(spec: oiio.ImageSpec) -> tuple[float | None, str | None]:
    fps = spec.getattribute("FramesPerSecond")
    rate = None
    if isinstance(fps, (tuple, list)) and len(fps) == 2 and fps[1]:
        rate = round(fps[0] / fps[1], 6) if fps[0] > 0 else None
    tc = spec.getattribute("smpte:TimeCode")
    code = smpte_timecode(int(tc[0])) if isinstance(tc, (tuple, list)) and tc else None
    return rate, code


def _attr(spec: oiio.ImageSpec, name: str) -> Any:
    try:
        value = spec.getattribute(name)
    except Exception:
        return None
    if isinstance(value, tuple):
        return [float(v) for v in value]
    return value


def colour_metadata(spec: oiio.ImageSpec) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for name in _COLOUR_ATTRS:
        value = _attr(spec, name)
        if value is not None:
            meta[name] = value
    for attrib in spec.extra_attribs:
        lowered = attrib.name.lower()
        if ("colorspace" in lowered or "colourspace" in lowered) and attrib.name not in meta:
            meta[attrib.name] = _attr(spec, attrib.name)
    if spec.getattribute("ICCProfile") is not None:
        meta["ICCProfile"] = True
    return meta


def _window(x: int, y: int, width: int, height: int) -> str:
    """A window as exr-inspector stores it: the JSON list ``[xmin, ymin, xmax, ymax]``."""
    return json.dumps([x, y, x + width - 1, y + height - 1])


def part_header(spec: oiio.ImageSpec, index: int) -> dict[str, Any]:
    """One part's header as exr-inspector's ``parts`` row describes it (its column names; its ``_spec_to_part``):
    the data and display windows, names, compression, line order, tiling, deep. Header only, no pixel."""
    def text(name: str) -> str | None:
        value = spec.getattribute(name)
        return str(value) if value is not None else None

    tiled = spec.tile_width > 0
    return {
        "part_index": index, "width": spec.width, "height": spec.height,
        "display_width": spec.full_width, "display_height": spec.full_height,
        "data_x_offset": spec.x, "data_y_offset": spec.y,
        "part_name": text("oiio:subimagename") or text("name"), "view_name": text("view"),
        "multi_view": spec.getattribute("multiView") is not None,
        "data_window": _window(spec.x, spec.y, spec.width, spec.height),
        "display_window": _window(spec.full_x, spec.full_y, spec.full_width, spec.full_height),
        "pixel_aspect_ratio": spec.get_float_attribute("PixelAspectRatio", 1.0),
        "line_order": text("openexr:lineOrder"), "compression": text("compression"),
        "color_space": text("oiio:ColorSpace") or text("colorspace"), "render_software": text("Software"),
        "is_tiled": tiled, "tile_width": spec.tile_width if tiled else 0,
        "tile_height": spec.tile_height if tiled else 0, "tile_depth": spec.tile_depth if tiled else 0,
        "is_deep": bool(spec.deep),
    }


def part_headers(inp: oiio.ImageInput, subimages: int) -> tuple[dict[str, Any], ...]:
    """Every part's header (an EXR's parts; other formats' subimages), then back to the first."""
    headers = []
    for index in range(subimages):
        if index and not inp.seek_subimage(index, 0):
            oiio_error(inp)
            break
        headers.append(part_header(inp.spec(), index))
    if subimages > 1:
        inp.seek_subimage(0, 0)
        oiio_error(inp)
    return tuple(headers)


def check_pixel_limit(path: str, spec: oiio.ImageSpec, max_pixels: int) -> None:
    for label, pixels in (
        ("data window", spec.width * spec.height),
        ("display window", spec.full_width * spec.full_height),
    ):
        if pixels > max_pixels:
            raise SourceTooLargeError(
                path, f"{label} of {pixels} pixels exceeds the limit of {max_pixels} (max_pixels)"
            )


def probe_input(path: str, inp: oiio.ImageInput, max_pixels: int) -> ProbeRecord:
    check_complete(path)
    spec = inp.spec()
    check_pixel_limit(path, spec, max_pixels)
    pending = oiio_error(inp) if inp.has_error else ""
    if pending:  # e.g. libjpeg decodes on open and reports a truncated file there
        raise UnreadableSourceError(path, pending)
    subimages = spec.get_int_attribute("oiio:subimages", 0)
    if subimages <= 0:
        subimages = 1
        while subimages < 1024 and inp.seek_subimage(subimages, 0):
            subimages += 1
        inp.seek_subimage(0, 0)
        oiio_error(inp)  # counting ends on a failed seek; clear it so it is not read as a decode error
    parts = part_headers(inp, subimages)
    spec = inp.spec()
    orientation = spec.get_int_attribute("Orientation", 1)
    fps, tc = _timing(spec)
    par = spec.get_float_attribute("PixelAspectRatio", 1.0)
    par = par if 0.01 < par < 100 else 1.0  # absent, zero or absurd: square pixels
    if orientation >= 5:  # a quarter turn swaps the pixel's width and height
        par = 1.0 / par
    return ProbeRecord(
        path=str(path),
        format=inp.format_name(),
        width=spec.full_width,
        height=spec.full_height,
        data_window=Window(spec.x, spec.y, spec.width, spec.height),
        display_window=Window(spec.full_x, spec.full_y, spec.full_width, spec.full_height),
        channels=tuple(spec.channelnames),
        pixel_type=str(spec.format),
        is_float=spec.format.basetype in (oiio.HALF, oiio.FLOAT, oiio.DOUBLE),
        subimages=subimages,
        deep=bool(spec.deep),
        tiled=spec.tile_width > 0,
        orientation=orientation if 1 <= orientation <= 8 else 1,
        frame_number=frame_number(str(path)),
        size_bytes=os.path.getsize(path),
        colour_metadata=colour_metadata(spec),
        fps=fps,
        timecode=tc,
        pixel_aspect=round(par, 6),
        parts=parts,
    )


def probe(path: str | os.PathLike[str], max_pixels: int = 16384 * 16384) -> ProbeRecord:
    path = str(path)
    inp = open_input(path)
    try:
        return probe_input(path, inp, max_pixels)
    finally:
        inp.close()
