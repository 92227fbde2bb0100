import pytest

from proxygen_core.media.geometry import even_fit_within, fit_within
from proxygen_core.settings import DEFAULT_OCIO_CONFIG, load_settings


def test_defaults_pin_the_studio_config():
    s = load_settings(env={})
    assert s.render.ocio_config == DEFAULT_OCIO_CONFIG
    assert "latest" not in s.render.ocio_config
    assert s.render.thumb_display == "sRGB - Display"
    assert s.render.proxy_display == "Rec.1886 Rec.709 - Display"


def test_yaml_then_env_precedence(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("render:\n  jpeg_quality: 70\n  thumb_size: 128\n  preview_enabled: true\n")
    s = load_settings(cfg, env={"PROXYGEN_JPEG_QUALITY": "80"})
    assert s.render.jpeg_quality == 80 and s.render.thumb_size == 128 and s.render.preview_enabled is True


def test_ocio_env_is_honoured_unless_overridden():
    assert load_settings(env={"OCIO": "/studio/config.ocio"}).render.ocio_config == "/studio/config.ocio"
    env = {"OCIO": "/studio/config.ocio", "PROXYGEN_OCIO_CONFIG": "ocio://cg-config-v4.0.0_aces-v2.0_ocio-v2.5"}
    assert load_settings(env=env).render.ocio_config.startswith("ocio://cg-config")


def test_bad_values_are_refused_with_the_name(tmp_path):
    with pytest.raises(ValueError, match="PROXYGEN_JPEG_QUALITY"):
        load_settings(env={"PROXYGEN_JPEG_QUALITY": "high"})
    cfg = tmp_path / "p.yaml"
    cfg.write_text("render:\n  jpeg_qualty: 70\n")
    with pytest.raises(ValueError, match="jpeg_qualty"):
        load_settings(cfg, env={})


def test_settings_hash_changes_with_render_settings():
    a = load_settings(env={}).render
    b = load_settings(env={"PROXYGEN_VIEW": "Un-tone-mapped"}).render
    assert a.settings_hash() != b.settings_hash() and a.settings_hash() == load_settings(env={}).render.settings_hash()


@pytest.mark.parametrize("w,h,box,expected", [
    ((4096, 2160), None, (256, 256), (256, 135)),
    ((100, 50), None, (256, 256), (100, 50)),
    ((2160, 4096), None, (256, 256), (135, 256)),
])
def test_fit_within_never_upscales(w, h, box, expected):
    assert fit_within(*w, *box) == expected


def test_even_fit_for_h264():
    assert even_fit_within(4096, 2160, 1920, 1080) == (1920, 1012)
    assert even_fit_within(517, 517, 1920, 1080) == (516, 516)
    assert even_fit_within(1, 1, 1920, 1080) == (2, 2)
    w, h = even_fit_within(8192, 4320, 1920, 1080)
    assert w % 2 == 0 and h % 2 == 0 and w <= 1920 and h <= 1080


def test_a_renamed_setting_is_refused_not_ignored():
    with pytest.raises(ValueError, match="PROXYGEN_KEEP_WORKING_FRAMES.*renamed.*PROXYGEN_WORKING_RETENTION"):
        load_settings(env={"PROXYGEN_KEEP_WORKING_FRAMES": "false"})
