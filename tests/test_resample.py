"""The banded resize is OpenImageIO's box resize, computed faster: checked against OpenImageIO itself."""
from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest

from proxygen_core.media.resample import filter_taps, resize, separable_resize


def oiio_box(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """OpenImageIO's own resize, written out here so the check does not lean on the code under test."""
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2], oiio.FLOAT)
    src = oiio.ImageBuf(spec)
    src.set_pixels(oiio.ROI(), np.ascontiguousarray(pixels, dtype=np.float32))
    roi = oiio.ROI(0, width, 0, height, 0, 1, 0, pixels.shape[2])
    return oiio.ImageBufAlgo.resize(src, filtername="box", roi=roi).get_pixels(oiio.FLOAT)


def filter_weights(n_in: int, n_out: int, filtername: str) -> np.ndarray:
    """The resize's taps (``filter_taps``) as a dense (n_out, n_in) matrix."""
    o, i, w = filter_taps(n_in, n_out, filtername)
    weights = np.zeros((n_out, n_in), np.float32)
    weights[o, i] = w
    return weights


@pytest.mark.parametrize("shape,size", [
    ((2160, 4096, 3), (1920, 1012)),  # 4K DCI -> HD proxy
    ((1080, 2048, 4), (1920, 1012)),  # 2K DCI with alpha: the slight shrink of the ingest frames
    ((517, 517, 3), (516, 516)),      # a ratio near 1
    ((1012, 1920, 3), (512, 270)),    # proxy -> thumbnail
    ((300, 701, 1), (1402, 150)),     # one axis grows (anamorphic desqueeze of a small frame)
    ((7, 5, 3), (3, 2)),              # tiny, odd
])
def test_banded_box_is_openimageio_box(shape, size):
    rng = np.random.default_rng(7)
    pixels = (rng.random(shape, np.float32) * 8.0) ** 2  # HDR values, high frequency everywhere
    ours = separable_resize(pixels, *size)
    theirs = oiio_box(pixels, *size)
    assert ours.shape == theirs.shape == (size[1], size[0], shape[2])
    assert np.abs(ours - theirs).max() <= 1e-5 * max(1.0, float(np.abs(theirs).max()))


def test_half_input_and_two_dimensional_arrays():
    rng = np.random.default_rng(3)
    pixels = rng.random((90, 160, 3), np.float32).astype(np.float16)
    np.testing.assert_allclose(resize(pixels, 64, 36), oiio_box(pixels.astype(np.float32), 64, 36), atol=1e-5)
    plane = rng.random((90, 160), np.float32)
    np.testing.assert_allclose(resize(plane, 64, 36), oiio_box(plane[..., None], 64, 36)[..., 0], atol=1e-5)


def test_weights_keep_a_flat_field_flat_and_never_alias_the_caller():
    for n_in, n_out in ((2160, 1012), (4096, 1920), (517, 516), (40, 100)):
        w = filter_weights(n_in, n_out, "box")
        np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
        assert (w >= 0).all()
    flat = np.full((100, 120, 3), 0.18, np.float32)
    np.testing.assert_allclose(resize(flat, 37, 23), 0.18, atol=1e-6)
    same = separable_resize(flat, 120, 100)
    same[0, 0, 0] = 1.0
    assert flat[0, 0, 0] == np.float32(0.18)


def test_other_filters_stay_with_openimageio():
    rng = np.random.default_rng(5)
    pixels = rng.random((64, 96, 3), np.float32)
    spec = oiio.ImageSpec(96, 64, 3, oiio.FLOAT)
    src = oiio.ImageBuf(spec)
    src.set_pixels(oiio.ROI(), pixels)
    theirs = oiio.ImageBufAlgo.resize(src, filtername="lanczos3", roi=oiio.ROI(0, 40, 0, 30, 0, 1, 0, 3))
    np.testing.assert_allclose(resize(pixels, 40, 30, "lanczos3"), theirs.get_pixels(oiio.FLOAT), atol=1e-6)
