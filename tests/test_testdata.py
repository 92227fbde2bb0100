"""Every readable third-party image renders; every broken one fails alone with a typed, one-line error."""
from __future__ import annotations

import numpy as np
import pytest

from proxygen_core.errors import (
    ProxygenError,
    SourceTooLargeError,
    UnreadableSourceError,
)
from proxygen_core.media.render import render
from proxygen_core.pipeline.folder import render_file
from proxygen_core.settings import RenderSettings, Settings

from .conftest import manifest_cases
from .media import mp4_info, read_jpeg

S = RenderSettings()


@pytest.mark.parametrize("row", manifest_cases(broken=False))
def test_readable_image_renders(tmp_path, row, testdata):
    result = render_file(testdata / row["relpath"], tmp_path, Settings(render=S))
    report = result.report()
    assert report["status"] == "ok", report["error"]
    thumb = read_jpeg(result.thumbnail.path)
    assert max(thumb.shape[:2]) <= 256 and np.isfinite(thumb).all()
    info = mp4_info(result.proxy.path)
    assert info["codec"] == "h264" and info["width"] % 2 == 0 and info["height"] % 2 == 0
    assert info["width"] <= 1920 and info["height"] <= 1080
    sw, sh = (int(v) for v in report["source_resolution"].split("x"))
    assert info["width"] <= max(sw, 2) and info["height"] <= max(sh, 2), "proxy must never upscale"
    assert (tmp_path / f"{result.thumbnail.path.rsplit('/', 1)[1].replace('_thumb.jpg', '')}.json").exists()


@pytest.mark.parametrize("row", manifest_cases(broken=True))
def test_broken_image_gets_a_typed_one_line_error(tmp_path, row, testdata):
    path = str(testdata / row["relpath"])
    with pytest.raises(ProxygenError) as info:
        render(path, S)
    err = info.value
    assert isinstance(err, (UnreadableSourceError, SourceTooLargeError)), type(err)
    assert err.path == path and err.cause and "\n" not in str(err)
    if "bomb" in path:
        assert isinstance(err, SourceTooLargeError)
    result = render_file(path, tmp_path, Settings(render=S))
    report = result.report()
    assert (
        report["status"] == "failed"
        and report["error"]["path"] == path
        and report["error"]["type"] == type(err).__name__
    )


def test_nan_and_inf_do_not_poison_outputs(tmp_path):
    from proxygen_core.media.samples import write_exr

    img = np.full((64, 96, 3), 0.18, np.float32)
    img[10:20, 10:20] = np.nan
    img[30, 30] = np.inf
    img[40, 40] = -np.inf
    src = tmp_path / "nan.exr"
    write_exr(src, img, pixel_type="float")
    frame, outputs = render(str(src), S)
    assert frame.nonfinite_pixels == 102
    assert np.isfinite(frame.pixels).all() and np.isfinite(outputs.proxy).all()
    grey = outputs.thumbnail[0, 0]
    assert np.all(np.abs(outputs.thumbnail[50:, 60:].astype(int) - grey.astype(int)) <= 1)


def test_pixel_limit_refuses_before_decoding(tmp_path):
    from proxygen_core.media.samples import write_exr

    src = tmp_path / "big.exr"
    write_exr(src, np.zeros((100, 100, 3), np.float32))
    with pytest.raises(SourceTooLargeError, match="max_pixels"):
        render(str(src), RenderSettings(max_pixels=5000))


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(UnreadableSourceError, match="does not exist"):
        render(str(tmp_path / "nope.exr"), S)
