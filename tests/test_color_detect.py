"""Which rule decides a source's colour space, on synthetic files with each kind of tag."""
import numpy as np
import pytest

from proxygen_core.colour.engine import chromaticities_matrix, engine
from proxygen_core.errors import ColorError
from proxygen_core.media.samples import write_exr
from proxygen_core.probe import probe

from .conftest import RENDER
from .formats import write_pixels

AP0 = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)
AP1 = (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)
REC709 = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)


def _exr(tmp_path, name, chroma=None):
    path = tmp_path / name
    write_exr(path, np.full((8, 8, 3), 0.18, np.float32), chroma)
    return probe(path)


@pytest.mark.parametrize("chroma,expected", [(AP0, "ACES2065-1"), (AP1, "ACEScg"), (REC709, "Linear Rec.709 (sRGB)")])
def test_chromaticities_decide(tmp_path, chroma, expected):
    d = engine(RENDER.ocio_config).detect(_exr(tmp_path, "a.exr", chroma), RENDER)
    assert (d.source_colorspace, d.rule, d.display_referred) == (expected, "metadata:chromaticities", False)


def test_unknown_chromaticities_get_an_exact_matrix(tmp_path):
    xyz = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1 / 3, 1 / 3)
    d = engine(RENDER.ocio_config).detect(_exr(tmp_path, "x.exr", xyz), RENDER)
    assert d.chromaticities is not None and d.rule == "metadata:chromaticities"
    # The Rec.709 matrix built from primaries must match the config's own Linear Rec.709 -> ACES2065-1.
    m = chromaticities_matrix(REC709)
    ref = engine(RENDER.ocio_config).config.getProcessor("Linear Rec.709 (sRGB)", "ACES2065-1").getDefaultCPUProcessor()
    for rgb in ([1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]):
        assert np.allclose(m @ np.array(rgb), ref.applyRGB(rgb), atol=2e-3)


def test_file_rules_then_defaults(tmp_path):
    eng = engine(RENDER.ocio_config)
    d = eng.detect(_exr(tmp_path, "untagged.exr"), RENDER)
    assert (d.source_colorspace, d.rule) == ("ACES2065-1", "file-rules:EXR")
    tif = tmp_path / "t.tif"
    write_exr(tif, np.full((8, 8, 3), 0.5, np.float32), pixel_type="uint8", compression="none")
    d = eng.detect(probe(tif), RENDER)
    assert (d.source_colorspace, d.rule, d.display_referred) == ("sRGB Encoded Rec.709 (sRGB)", "default:integer", True)
    assert d.proxy_view == RENDER.display_referred_view
    ftif = tmp_path / "f.tif"
    write_exr(ftif, np.full((8, 8, 3), 0.5, np.float32), pixel_type="float", compression="none")
    d = eng.detect(probe(ftif), RENDER)
    assert (d.source_colorspace, d.rule) == ("ACEScg", "default:float")


def test_override_and_bad_names(tmp_path):
    eng = engine(RENDER.ocio_config)
    p = _exr(tmp_path, "a.exr", AP0)
    assert eng.detect(p, RENDER, "acescg").source_colorspace == "ACEScg"
    assert eng.detect(p, RENDER, "acescg").rule == "override"
    with pytest.raises(ColorError, match="not-a-space"):
        eng.detect(p, RENDER, "not-a-space")
    with pytest.raises(ColorError, match="display"):
        eng.display("ACEScg", "No Such Display", RENDER.view)


def test_metadata_colorspace_attribute_wins(tmp_path):
    path = tmp_path / "tagged.exr"
    write_pixels(path, np.full((4, 4, 3), 0.2, np.float32), attributes=[("oiio:ColorSpace", "lin_rec709_scene")])
    d = engine(RENDER.ocio_config).detect(probe(path), RENDER)
    assert d.source_colorspace == "Linear Rec.709 (sRGB)" and d.rule.startswith("metadata:")


def test_bad_config_is_a_colour_error():
    with pytest.raises(ColorError, match="cannot load OCIO config"):
        engine("/nonexistent/config.ocio")
