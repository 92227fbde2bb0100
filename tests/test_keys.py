from datetime import datetime, timedelta, timezone

from proxygen_core import keys


def test_output_keys_follow_the_seed_layout():
    out = keys.output_keys("renders/shot/beauty.0001.exr")
    assert out.thumbnail == "renders/shot/.proxies/beauty.0001_thumb.jpg"
    assert out.proxy == "renders/shot/.proxies/beauty.0001_proxy.mp4"
    assert keys.output_keys("top.exr").thumbnail == ".proxies/top_thumb.jpg"
    assert keys.output_keys("a b/ünï code/frame").proxy == "a b/ünï code/.proxies/frame_proxy.mp4"


def test_proxy_keys_are_recognised_as_our_outputs():
    assert keys.is_proxy_key("renders/shot/.proxies/beauty.0001_thumb.jpg")
    assert keys.is_proxy_key(".proxies/x.jpg")
    assert not keys.is_proxy_key("renders/shot/beauty.0001.exr")
    assert not keys.is_proxy_key("renders/not.proxies/x.exr")


def test_mtime_text_form_is_pinned():
    aware = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone.utc)
    assert keys.format_mtime(aware) == "2026-03-04T05:06:07+00:00"
    other_zone = aware.astimezone(timezone(timedelta(hours=2)))
    assert keys.format_mtime(other_zone) == "2026-03-04T05:06:07+00:00"
    assert keys.format_mtime(datetime(2026, 3, 4, 5, 6, 7)) == "2026-03-04T05:06:07+00:00"


def test_file_id_matches_exr_inspector_formula():
    import hashlib

    key = "renders/shot_010/beauty.0001.exr"
    mtime = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    md5 = hashlib.md5(key.encode()).hexdigest()
    expected = hashlib.sha256(f"{key}2026-01-02T03:04:05+00:00{md5}".encode()).hexdigest()[:16]
    assert keys.file_id(key, mtime) == expected
    assert keys.asset_id(key) == md5[:16]


def test_file_id_pinned_value():
    # Pinned literal: a change here breaks the JOIN with exr-inspector's files table.
    mtime = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert keys.file_id("renders/shot_010/beauty.0001.exr", mtime) == "76b11fc9606a2521"
    assert keys.file_id("renders/shot_010/beauty.0001.exr", "2026-01-02T03:04:05+00:00") == "76b11fc9606a2521"


def test_frame_numbers():
    assert keys.frame_number("renders/beauty.0001.exr") == 1
    assert keys.frame_number("plate_v2_1001.dpx") == 1001
    assert keys.frame_number("still.tif") is None


