"""How outputs point at their media (store/links.py): a path relative to the pointing file, or a presigned
SigV4 URL where the store is S3."""
from __future__ import annotations

import urllib.parse
import urllib.request

from proxygen_core.store.links import PRESIGN_SECONDS, media_url
from proxygen_core.store.local import LocalStore
from proxygen_core.store.s3 import ObjectStore, s3_client

CLIP = "shows/demo/sq010/sh010/comp/v002/.proxies/sh010 comp_v002_review.mp4"
OTIO = "shows/demo/sq010/.proxies/dailies/playlist.otio"


def test_presigned_urls_are_sigv4_get_urls_of_the_key_a_week_long():
    """boto3 alone presigns SigV2 in us-east-1 (no signature version set): media_url's URLs are SigV4. Signing
    needs no server: the endpoint is never called."""
    import boto3

    for client in (boto3.client("s3", endpoint_url="http://127.0.0.1:1", aws_access_key_id="a",
                                aws_secret_access_key="b", region_name="us-east-1"),
                   s3_client("http://127.0.0.1:1", "us-east-1", "a", "b")):
        url = urllib.parse.urlsplit(media_url(ObjectStore(client, "frames"), CLIP, OTIO, "presigned"))
        query = urllib.parse.parse_qs(url.query)
        assert (url.scheme, url.netloc) == ("http", "127.0.0.1:1")
        assert urllib.parse.unquote(url.path) == f"/frames/{CLIP}"
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == [str(PRESIGN_SECONDS)]
        assert len(query["X-Amz-Signature"][0]) == 64 and query["X-Amz-Credential"][0].startswith("a/")
        assert "Signature" not in query and "AWSAccessKeyId" not in query  # not SigV2
        # the client's own presigns are SigV4 from now on too (one handler, registered once)
        again = urllib.parse.parse_qs(urllib.parse.urlsplit(client.generate_presigned_url(
            "get_object", Params={"Bucket": "frames", "Key": "k"})).query)
        assert "X-Amz-Signature" in again
        assert media_url(ObjectStore(client, "frames"), CLIP, OTIO, "relative") == \
            "../../sh010/comp/v002/.proxies/sh010 comp_v002_review.mp4"


def test_the_local_door_is_relative_in_both_modes(tmp_path):
    store = LocalStore(tmp_path / "out")
    clip, otio = str(store.root / "sh010_review.mp4"), str(store.root / ".proxies/dailies/2026-12-04/playlist.otio")
    assert media_url(store, clip, otio, "presigned") == media_url(store, clip, otio, "relative") == \
        "../../../sh010_review.mp4"


def test_a_presigned_url_reads_the_object_from_seaweedfs(bucket_store):
    """The URL works against a real S3 server (the session's SeaweedFS), without credentials of its own."""
    key = "links/.proxies/sh010 review.mp4"
    bucket_store.put_bytes(key, b"the review clip", "video/mp4")
    url = media_url(bucket_store, key, "links/.proxies/dailies/playlist.otio", "presigned")
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (a loopback http URL)
        assert response.read() == b"the review clip"
    tampered = url.replace("X-Amz-Expires=604800", "X-Amz-Expires=604799")
    try:
        urllib.request.urlopen(tampered, timeout=10)  # noqa: S310
        raise AssertionError("a tampered URL was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 403


def test_a_sequence_timeline_in_the_bucket_names_its_clip_relative_or_presigned(bucket_store, tmp_path):
    """The sequence's ``.otio`` in S3 (SeaweedFS), built by the pipeline's sequence stage: with ``relative`` its
    media reference is the clip's name beside it; with ``presigned`` an URL that reads the clip's bytes."""
    import uuid
    from dataclasses import replace

    import opentimelineio as otio

    from proxygen_core.pipeline.chain import run_chain
    from proxygen_core.pipeline.sequence import build_clips_of, load_members
    from proxygen_core.settings import load_settings

    from .formats import chart_exr

    prefix = f"links/{uuid.uuid4().hex[:6]}/sh010"
    keys = [f"{prefix}/beauty.{n}.exr" for n in (1001, 1002, 1003)]
    base = load_settings()
    for n, key in enumerate(keys):
        bucket_store.upload_file(chart_exr(tmp_path / f"f{n}.exr", value=0.1 * (n + 1)), key)
        assert run_chain(bucket_store, key, base).ok
    for mode in ("relative", "presigned"):
        settings = replace(base, pipeline=replace(base.pipeline, otio_media=mode, clip_profiles="review"))
        plan, outcomes = build_clips_of(bucket_store, f"{prefix}/beauty.####.exr", load_members(bucket_store, keys),
                                        settings, "review")
        [row] = [o.row for o in outcomes]
        assert row.status == "ok" and plan.otio_media == mode, row.error
        timeline = otio.adapters.read_from_string(bucket_store.get_bytes(row.timeline_s3_key).decode(), "otio_json")
        [ref] = timeline.tracks[0][0].media_references().values()
        if mode == "relative":
            assert "://" not in ref.target_url and not ref.target_url.startswith("/")
            assert ref.target_url == row.clip_s3_key.rsplit("/", 1)[1]
            assert f"{row.timeline_s3_key.rsplit('/', 1)[0]}/{ref.target_url}" == row.clip_s3_key
        else:
            url = urllib.parse.urlsplit(ref.target_url)
            assert url.path == f"/{bucket_store.bucket}/{row.clip_s3_key}" and "X-Amz-Signature=" in url.query
            with urllib.request.urlopen(ref.target_url, timeout=10) as response:  # noqa: S310 (loopback http)
                assert response.read() == bucket_store.get_bytes(row.clip_s3_key)
