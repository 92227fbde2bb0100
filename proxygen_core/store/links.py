"""How one output points at another: the conformed cut's OTIO, a sequence's timeline and the dailies' playlist
name their media by a path relative to themselves (``PROXYGEN_OTIO_MEDIA=relative``: it resolves in the bucket,
a synced copy of it, and the local door's folder) or by a presigned URL (``presigned``, a week long, where the
store is S3; elsewhere the relative path)."""
from __future__ import annotations

import posixpath
from typing import Any

from proxygen_core.store.base import Store

PRESIGN_SECONDS = 7 * 24 * 3600  # the longest a SigV4 presigned URL lives
_SIGV4 = "proxygen-presign-sigv4"


def _sigv4_presigns(client: Any) -> None:
    """Presign with SigV4 (``X-Amz-Signature``). botocore presigns S3 URLs with the legacy SigV2 in regions that
    still list it (us-east-1, ...) unless the client's config names a signature version, and neither our client
    nor dagster-aws's does; S3 refuses SigV2 for buckets made since 2020. Registered once per client (its id)."""
    def choose(signature_version: Any, **_: Any) -> Any:
        # S3's flavour of SigV4 (unsigned payload, the key's path as is), not the generic "v4-query" botocore hands in
        return "s3v4-query" if signature_version in ("v4-query", "s3v4-query") else None

    events = getattr(getattr(client, "meta", None), "events", None)
    if events is not None:
        events.register_first("choose-signer.s3", choose, unique_id=_SIGV4)


def media_url(store: Store, target: str, beside: str, mode: str) -> str:
    """How the file at ``beside`` (an OTIO or a page) writes the key ``target`` it points at."""
    if mode == "presigned":
        client, bucket = getattr(store, "client", None), getattr(store, "bucket", None)
        if client is not None and bucket:
            _sigv4_presigns(client)
            return str(client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": target},
                                                     ExpiresIn=PRESIGN_SECONDS))
    return posixpath.relpath(target, posixpath.dirname(beside))
