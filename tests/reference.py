"""The colour reference: full-resolution float -> working space -> resize in linear light -> display/view.

Built from OpenImageIO and PyOpenColorIO calls directly (not from proxygen's render path), so a wrong
matrix, range, transfer or resize order in proxygen shows up as a colour difference.
"""
from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import PyOpenColorIO as ocio

from proxygen_core.colour.engine import engine
from proxygen_core.settings import RenderSettings


def read_full(path: str) -> np.ndarray:
    """Full-resolution float RGB in the display window, upright, NaN-free (OIIO's own algorithms)."""
    buf = oiio.ImageBuf(path)
    if not buf.read(0, 0, force=True, convert=oiio.FLOAT):
        message = buf.geterror()
        if "Subsampled" not in message:
            raise RuntimeError(message)
        oiio.attribute("openexr:core", 0)  # Y/RY/BY needs the classic reader
        try:
            buf = oiio.ImageBuf(path)
            if not buf.read(0, 0, force=True, convert=oiio.FLOAT):
                raise RuntimeError(buf.geterror())
        finally:
            oiio.attribute("openexr:core", 1)
    if buf.deep:
        buf = oiio.ImageBufAlgo.flatten(buf)
    names = list(buf.spec().channelnames)
    if all(c in names for c in "RGB"):
        buf = oiio.ImageBufAlgo.channels(buf, ("R", "G", "B"))
    elif "Y" in names:
        buf = oiio.ImageBufAlgo.channels(buf, ("Y", "Y", "Y"))
    else:
        buf = oiio.ImageBufAlgo.channels(buf, (0, 0, 0) if len(names) < 3 else (0, 1, 2))
    buf = oiio.ImageBufAlgo.crop(buf, buf.roi_full)
    buf.set_origin(buf.spec().full_x, buf.spec().full_y)
    buf = oiio.ImageBufAlgo.reorient(buf)
    oiio.ImageBufAlgo.fixNonFinite(buf, buf, oiio.NONFINITE_BLACK)
    rgb = buf.get_pixels(oiio.FLOAT)
    return np.ascontiguousarray(np.nan_to_num(rgb, posinf=65504.0, neginf=-65504.0), dtype=np.float32)


def reference(rgb_full: np.ndarray, source_colorspace: str, size: tuple[int, int], display: str, view: str,
              settings: RenderSettings, chromaticities=None) -> np.ndarray:
    """Display code values of the reference at ``size`` (w, h)."""
    eng = engine(settings.ocio_config)
    cfg = eng.config
    if chromaticities is None:
        to_work = cfg.getProcessor(source_colorspace, settings.working_colorspace).getDefaultCPUProcessor()
    else:
        from proxygen_core.colour.engine import ColourDecision

        to_work = eng.to_working(ColourDecision(source_colorspace, "", False, view, view, chromaticities),
                                 settings.working_colorspace)[0]
    work = rgb_full.copy()
    to_work.apply(ocio.PackedImageDesc(work, work.shape[1], work.shape[0], 3))
    src = oiio.ImageBuf(oiio.ImageSpec(work.shape[1], work.shape[0], 3, oiio.FLOAT))
    src.set_pixels(oiio.ROI(), work)
    small = oiio.ImageBufAlgo.resize(src, filtername="box", roi=oiio.ROI(0, size[0], 0, size[1], 0, 1, 0, 3))
    out = np.ascontiguousarray(small.get_pixels(oiio.FLOAT), dtype=np.float32)
    dv = cfg.getProcessor(
        ocio.DisplayViewTransform(settings.working_colorspace, display, view)
    ).getDefaultCPUProcessor()
    dv.apply(ocio.PackedImageDesc(out, out.shape[1], out.shape[0], 3))
    return np.clip(out, 0.0, 1.0)


# The product's contract (README, docs/colour.md), written here rather than read from its settings, so a
# wrong default cannot move the reference with it.
PROXY_DISPLAY, THUMB_DISPLAY = "Rec.1886 Rec.709 - Display", "sRGB - Display"


def patch_means(img: np.ndarray, centres, src_size, radius: int = 3) -> np.ndarray:
    sy, sx = img.shape[0] / src_size[1], img.shape[1] / src_size[0]
    return np.array([img[max(0, int(cy * sy) - radius):int(cy * sy) + radius + 1,
                         max(0, int(cx * sx) - radius):int(cx * sx) + radius + 1].reshape(-1, 3).mean(0)
                     for cx, cy in centres])


def chart_errors(result, src: str, space: str, centres, size: tuple[int, int],
                 settings: RenderSettings) -> dict[str, np.ndarray]:
    """CIEDE2000 per chart patch, output by output ("proxy", "thumbnail"), of a rendered chart against the
    reference; the media read back independently (tests/media.py)."""
    from proxygen_core.colour.colorimetry import bt1886_eotf, ciede2000, lab, srgb_eotf

    from .media import read_jpeg, read_mp4_rgb

    full = read_full(str(src))
    out = {}
    for kind, eotf, display, radius in (("proxy", bt1886_eotf, PROXY_DISPLAY, 3),
                                        ("thumbnail", srgb_eotf, THUMB_DISPLAY, 1)):
        media = getattr(result, kind)
        ours = read_mp4_rgb(media.path) if kind == "proxy" else read_jpeg(media.path)
        ref = reference(full, space, (media.width, media.height), display, settings.view, settings)
        out[kind] = ciede2000(lab(patch_means(ours, centres, size, radius), eotf),
                              lab(patch_means(ref, centres, size, radius), eotf))
    return out
