"""How one output points at another: the conformed cut's OTIO, a sequence's timeline and the dailies' playlist
name their media by a path relative to themselves (``PROXYGEN_OTIO_MEDIA=relative``: it resolves in the bucket,
a synced copy of it, and the local door's folder) or by a presigned HTTPS URL (``presigned``, a week long,
where the store is S3; elsewhere the relative path)."""
from __future__ import annotations

import posixpath

from proxygen_core.store.base import Store

PRESIGN_SECONDS = 7 * 24 * 3600  # S3's longest presigned URL with SigV4


def media_url(store: Store, target: str, beside: str, mode: str) -> str:
    """How the file at ``beside`` (an OTIO or a page) writes the key ``target`` it points at."""
    if mode == "presigned":
        client, bucket = getattr(store, "client", None), getattr(store, "bucket", None)
        if client is not None and bucket:
            return str(client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": target},
                                                     ExpiresIn=PRESIGN_SECONDS))
    return posixpath.relpath(target, posixpath.dirname(beside))
