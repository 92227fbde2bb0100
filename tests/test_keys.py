from datetime import UTC, datetime, timedelta, timezone

import pytest

from proxygen_core.store import keys


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
    aware = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    assert keys.format_mtime(aware) == "2026-03-04T05:06:07+00:00"
    other_zone = aware.astimezone(timezone(timedelta(hours=2)))
    assert keys.format_mtime(other_zone) == "2026-03-04T05:06:07+00:00"
    assert keys.format_mtime(datetime(2026, 3, 4, 5, 6, 7)) == "2026-03-04T05:06:07+00:00"


def test_file_id_matches_exr_inspector_formula():
    import hashlib

    key = "renders/shot_010/beauty.0001.exr"
    mtime = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    md5 = hashlib.md5(key.encode()).hexdigest()
    expected = hashlib.sha256(f"{key}2026-01-02T03:04:05+00:00{md5}".encode()).hexdigest()[:16]
    assert keys.file_id(key, mtime) == expected
    assert keys.asset_id(key) == md5[:16]


def test_file_id_pinned_value():
    # Pinned literal: a change here breaks the JOIN with exr-inspector's files table.
    mtime = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert keys.file_id("renders/shot_010/beauty.0001.exr", mtime) == "76b11fc9606a2521"
    assert keys.file_id("renders/shot_010/beauty.0001.exr", "2026-01-02T03:04:05+00:00") == "76b11fc9606a2521"


def test_frame_numbers():
    assert keys.frame_number("renders/beauty.0001.exr") == 1
    assert keys.frame_number("plate_v2_1001.dpx") == 1001
    assert keys.frame_number("still.tif") is None
    assert keys.frame_number("shot-1001.exr") is None  # a dash is part of the name, as for sequences


@pytest.mark.parametrize("name", ["renders/beauty.0001.exr", "plate_v2_1001.dpx", "shot-1001.exr", "v003.exr",
                                  "a.b.12.tif", "_1001.exr", "still.tif", "1001.exr"])
def test_one_frame_number_rule(name):
    from proxygen_core.media.sequences import parse_frame

    parsed = parse_frame(name)
    assert keys.frame_number(name) == (parsed.frame if parsed else None)




def test_derived_keys_stay_within_s3_limits():
    long_key = "/".join(["d" * 200] * 4) + "/" + "x" * 200 + ".0001.exr"  # ~1010 bytes, legal in S3
    assert 1000 < len(long_key.encode()) <= 1024
    out = keys.output_keys(long_key)
    for k in (out.thumbnail, out.proxy, out.preview):
        assert len(k.encode()) <= keys.MAX_KEY_BYTES and k.startswith("/".join(["d" * 200] * 4) + "/.proxies/")
    assert out.thumbnail.endswith("_thumb.jpg") and keys.key_digest(long_key, 16) in out.thumbnail
    assert keys.output_keys(long_key) == out  # deterministic
    deep = "/".join(["ü" * 100] * 5) + "/f.exr"  # the folder alone leaves no room: top-level long/ folder
    assert len(keys.output_keys(deep).proxy.encode()) <= 1024
    assert keys.output_keys(deep).proxy.startswith(".proxies/long/")
    state = keys.state_key(long_key, "state.json")
    assert len(state.encode()) < 100 and keys.is_proxy_key(state)


def test_qualified_names_for_same_stem_siblings():
    assert keys.output_keys("s/frame.0001.exr").thumbnail == "s/.proxies/frame.0001_thumb.jpg"
    q = keys.output_keys("s/frame.0001.tif", qualified=True)
    assert q.thumbnail == "s/.proxies/frame.0001.tif_thumb.jpg" and q.proxy == "s/.proxies/frame.0001.tif_proxy.mp4"
    assert keys.proxy_id("b", "s/frame.0001.exr", "review") != keys.proxy_id("b", "s/frame.0001.tif", "review")


def test_error_text_is_one_clean_line():
    from proxygen_core.errors import UnreadableSourceError, clean_text

    repeated = "\n".join(["Error reading: JPEG error: Premature end of JPEG file"] * 9 + ["tail"])
    assert clean_text(repeated) == "Error reading: JPEG error: Premature end of JPEG file; tail"
    assert clean_text(b"bad \xff\xfe bytes") == "bad \ufffd\ufffd bytes"
    err = UnreadableSourceError("s3://b/k.exr", "x" * 2000)
    assert len(err.cause) <= 300 and "\n" not in str(err)


def test_truncated_jpeg_and_png_are_refused(tmp_path):
    import OpenImageIO as oiio
    import pytest

    from proxygen_core.errors import UnreadableSourceError
    from proxygen_core.probe import probe

    for ext in ("jpg", "png"):
        path = tmp_path / f"whole.{ext}"
        buf = oiio.ImageBuf(oiio.ImageSpec(256, 256, 3, oiio.UINT8))
        oiio.ImageBufAlgo.noise(buf, "uniform", 0.0, 1.0)
        assert buf.write(str(path))
        probe(path)  # the whole file is fine
        cut = tmp_path / f"cut.{ext}"
        cut.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
        with pytest.raises(UnreadableSourceError, match="truncated"):
            probe(cut)


def test_storage_failures_wrapped_by_the_managed_upload_are_still_transient():
    """A server restarting answers InternalError; boto3's managed upload wraps that ClientError in an
    S3UploadFailedError with no code of its own: still a transient failure (retried), never bad content."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError

    from proxygen_core.store.s3 import is_transient

    def wrapped(code: str) -> BaseException:
        inner = ClientError({"Error": {"Code": code, "Message": "x"}}, "PutObject")
        try:
            try:
                raise inner
            except ClientError as exc:
                raise S3UploadFailedError(f"Failed to upload: An error occurred ({code})") from exc
        except S3UploadFailedError as outer:
            return outer

    assert is_transient(wrapped("InternalError")) and is_transient(wrapped("SlowDown"))
    assert not is_transient(wrapped("AccessDenied")) and not is_transient(wrapped("NoSuchBucket"))
    assert is_transient(ClientError({"Error": {"Code": "503"}}, "GetObject"))
