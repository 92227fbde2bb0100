"""The straight read of a frame (stripes of scanlines or tiles into numpy) gives exactly what an ImageBuf reads."""
from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest

from proxygen_core.media.render import _read_pixels
from proxygen_core.probe import open_input, probe_input

from .formats import write_pixels


def imagebuf_pixels(path, chans: list[int]) -> np.ndarray:
    buf = oiio.ImageBuf(str(path))
    assert buf.read(0, 0, True, oiio.FLOAT)
    return buf.get_pixels(oiio.FLOAT)[..., chans]


@pytest.mark.parametrize("compression", ["none", "zip", "zips", "piz", "pxr24", "b44", "dwaa", "dwab", "rle"])
@pytest.mark.parametrize("tiled", [False, True])
def test_straight_read_is_the_imagebuf_read(tmp_path, compression, tiled):
    rng = np.random.default_rng(11)
    h, w = 301, 170  # not a multiple of any chunk or stripe: the last stripe is short
    pixels = (rng.random((h, w, 5), np.float32) * 4.0).astype(np.float32)
    path = tmp_path / f"{compression}{'_tiled' if tiled else ''}.exr"
    write_pixels(path, pixels, oiio.HALF, ("A", "B", "G", "R", "Z"), compression, (64, 32) if tiled else None)
    for wanted in (("R", "G", "B", "A"), ("B", "R", "Z")):  # in order, and picked out of order with gaps
        inp = open_input(str(path))
        try:
            probe = probe_input(str(path), inp, 10**9)
            chans = [probe.channels.index(c) for c in wanted]
            ours = _read_pixels(str(path), inp, probe, chans)
        finally:
            inp.close()
        assert ours.dtype == np.float32 and ours.shape == (h, w, len(wanted))
        np.testing.assert_array_equal(ours, imagebuf_pixels(path, chans))


def test_float_exr_keeps_full_precision(tmp_path):
    pixels = np.linspace(0, 1, 64 * 80 * 3, dtype=np.float32).reshape(64, 80, 3) + np.float32(1e-7)
    path = tmp_path / "float.exr"
    write_pixels(path, pixels, oiio.FLOAT, ("R", "G", "B"), "zip")
    inp = open_input(str(path))
    try:
        ours = _read_pixels(str(path), inp, probe_input(str(path), inp, 10**9), [0, 1, 2])
    finally:
        inp.close()
    np.testing.assert_array_equal(ours, pixels)


def test_a_frame_already_at_proxy_size_keeps_its_pixels_after_the_next_decode(tmp_path):
    """The full-resolution decode array is reused from frame to frame; a frame that needed no shrink must
    not hand that array out as its working pixels (the next decode would overwrite them)."""
    from proxygen_core.media.render import decode_working
    from proxygen_core.settings import RenderSettings

    first, second = tmp_path / "a.exr", tmp_path / "b.exr"
    write_pixels(first, np.full((108, 192, 3), 0.25, np.float32), oiio.HALF, ("R", "G", "B"), "zip")
    write_pixels(second, np.full((108, 192, 3), 0.75, np.float32), oiio.HALF, ("R", "G", "B"), "zip")
    settings = RenderSettings(proxy_max_width=192, proxy_max_height=108)
    frame = decode_working(str(first), settings)
    kept = frame.pixels.copy()
    decode_working(str(second), settings)
    np.testing.assert_array_equal(frame.pixels, kept)
