"""Every format path, without outside data: synthetic files made by OpenImageIO (tests/formats.py) render
through the chain with the right framing and colour, and damaged ones fail alone with a typed error.
The third-party set (tests/test_testdata.py) stays as the real-world layer on top."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from proxygen_core.colour.colorimetry import block_means, ciede2000, lab, srgb_eotf
from proxygen_core.pipeline.folder import render_file

from . import formats
from .conftest import SETTINGS
from .media import read_jpeg, read_mp4_rgb
from .reference import read_full, reference


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("formats")
    return {name: make(folder / name) for name, make in formats.MAKERS.items()}


@pytest.mark.parametrize("name", sorted(formats.MAKERS))
def test_each_format_renders_with_the_reference_colour(made, tmp_path, name):
    result = render_file(made[name], tmp_path, SETTINGS)
    report = result.report()
    assert result.ok, report["error"]
    full = read_full(str(made[name]))  # OIIO's own reading: display window, upright, deep flattened
    assert report["source_resolution"] == f"{full.shape[1]}x{full.shape[0]}"
    thumb = read_jpeg(result.thumbnail.path)
    ref = reference(full, report["source_colorspace"], (result.thumbnail.width, result.thumbnail.height),
                    SETTINGS.render.thumb_display, report["view"], SETTINGS.render)
    de = ciede2000(lab(block_means(thumb), srgb_eotf), lab(block_means(ref), srgb_eotf))
    assert de.mean() < 1.0 and de.max() < 3.0, f"{name}: block dE2000 mean {de.mean():.2f} max {de.max():.2f}"
    proxy = read_mp4_rgb(result.proxy.path)
    assert proxy.shape[:2] == (result.proxy.height, result.proxy.width)


def test_display_window_frames_the_data_window(made, tmp_path):
    r = render_file(made["windows.exr"], tmp_path, SETTINGS)
    assert r.ok and r.report()["source_resolution"] == f"{formats.W}x{formats.H}"  # the display window
    thumb = read_jpeg(r.thumbnail.path)
    sy, sx = thumb.shape[0] / formats.H, thumb.shape[1] / formats.W
    inside = thumb[int(20 * sy):int(35 * sy), int(30 * sx):int(55 * sx)].mean()
    outside = thumb[: int(8 * sy), : int(16 * sx)].mean()
    assert inside > 0.4 and outside < 0.02  # data where it was placed, black around it


def test_exif_orientation_is_applied(made, tmp_path):
    r = render_file(made["oriented.tif"], tmp_path, SETTINGS)
    assert r.ok and r.report()["source_resolution"] == f"{formats.H}x{formats.W}"  # portrait once upright
    thumb = read_jpeg(r.thumbnail.path)
    assert thumb.shape[0] > thumb.shape[1]
    h, w = thumb.shape[:2]
    assert thumb[: h // 10, -(w // 10):].mean() > 0.8 and thumb[: h // 10, : w // 10].mean() < 0.1  # top-right


def test_cmyk_is_converted_not_read_as_rgb(made, tmp_path):
    r = render_file(made["cmyk.tif"], tmp_path, SETTINGS)
    assert r.ok
    thumb = read_jpeg(r.thumbnail.path)
    left, right = thumb[:, : thumb.shape[1] // 3].reshape(-1, 3).mean(0), thumb[:, -thumb.shape[1] // 3:].mean()
    assert left[0] < 0.3 and left[1] > 0.5 and left[2] > 0.5  # cyan ink: low red, green and blue up
    assert right < 0.05  # black ink


def test_deep_multipart_and_mipmapped_read_the_first_image_at_full_resolution(made, tmp_path):
    for name in ("deep.exr", "multipart.exr", "tiled_mip.exr"):
        r = render_file(made[name], tmp_path / name, SETTINGS)
        assert r.ok and r.report()["source_resolution"] == f"{formats.W}x{formats.H}", name
        assert r.proxy.width == formats.W and r.proxy.height == formats.H, name  # never a lower MIP level


@pytest.mark.parametrize("channels", [("R", "G", "B"), ("R", "G", "B", "A", "Z")], ids=["rgb", "rgbaz"])
def test_a_deep_image_without_samples_renders_empty_with_a_warning(tmp_path, channels):
    """Nothing to composite is an empty picture, not a failure (flattening refused it without alpha)."""
    from proxygen_core.media.render import EMPTY_DEEP

    src = formats.empty_deep_exr(tmp_path / "empty_deep.exr", channels)
    r = render_file(src, tmp_path / "out", SETTINGS)
    report = json.loads((tmp_path / "out" / "empty_deep.json").read_text())
    assert r.ok and report["status"] == "ok", report["error"]
    assert report["warnings"]["deep"] == EMPTY_DEEP == r.warnings["deep"]
    assert report["source_resolution"] == f"{formats.W}x{formats.H}"
    thumb = read_jpeg(r.thumbnail.path)
    assert thumb.shape == (formats.H, formats.W, 3) and np.abs(thumb).max() <= 1 / 255
    proxy = read_mp4_rgb(r.proxy.path)
    assert proxy.shape == (formats.H, formats.W, 3) and np.abs(proxy).max() <= 2 / 255
    assert "exposure" in report["warnings"]  # and the exposure check says the frame is black, as for any


@pytest.mark.parametrize("kind", ["truncated.exr", "truncated.dpx", "corrupt_header.exr", "empty.exr",
                                  "not_an_image.tif"])
def test_damaged_files_fail_alone_with_a_typed_one_line_error(made, tmp_path, kind):
    good_exr, good_dpx = made["multipart.exr"], made["dpx_10bit.dpx"]
    path = tmp_path / kind
    if kind.startswith("truncated"):
        formats.truncated(path, good_exr if kind.endswith(".exr") else good_dpx)
    elif kind == "corrupt_header.exr":
        formats.corrupt_header(path, good_exr)
    elif kind == "empty.exr":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"II*\x00garbage that claims to be a TIFF")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "proxygen_core.cli", "render", str(path), str(good_dpx), "--out",
                           str(out), "-q"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]  # (log lines aside)
    assert len(errors) == 1 and errors[0].startswith(f"error: {path}: "), proc.stderr
    report = render_file(path, tmp_path / "again", SETTINGS).report()
    assert report["status"] == "failed" and report["error"]["kind"] == "unreadable", report["error"]
    assert report["error"]["path"] == str(path) and "\n" not in report["error"]["cause"]
    assert (out / "dpx_10bit_thumb.jpg").exists()  # the good file of the batch was still rendered


def test_the_luminance_chroma_fixture_really_is_subsampled(made):
    """Guard on the fixture: OpenEXR's core reader refuses subsampled channels, so this file can only render
    through the classic reader path it stands for."""
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(str(made["luminance_chroma.exr"]))
    assert not buf.read(0, 0, True, oiio.FLOAT) and "Subsampled" in buf.geterror()
