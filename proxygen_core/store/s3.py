"""S3 object access for sources and outputs (boto3; any S3-compatible endpoint)."""
from __future__ import annotations

import hashlib
import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from proxygen_core.errors import StorageError
from proxygen_core.store.cache import process_folder
from proxygen_core.store.keys import OutputKeys, clip_keys, format_mtime, output_keys, state_key

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".mp4": "video/mp4", ".exr": "image/x-exr",
                 ".json": "application/json"}


# Error codes of a server that is overloaded or restarting, and botocore's connection failures.
_TRANSIENT_CODES = {"500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout",
                    "RequestTimeTooSkewed", "Throttling"}
_TRANSIENT_TYPES = ("EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError",
                    "ConnectionError", "ProxyConnectionError", "ResponseStreamingError", "IncompleteReadError")


def is_transient(exc: BaseException) -> bool:
    """True for failures of the storage service itself (worth retrying), false for answers about the object.

    The whole chain counts: boto3's managed upload wraps the server's ClientError (``InternalError`` while
    a server restarts) in an S3UploadFailedError that carries no code of its own."""
    chain: BaseException | None = exc
    while chain is not None:
        code = str((getattr(chain, "response", None) or {}).get("Error", {}).get("Code", ""))
        if code in _TRANSIENT_CODES:
            return True
        if any(t in type(chain).__name__ for t in _TRANSIENT_TYPES) or isinstance(
            chain, (ConnectionError, TimeoutError)
        ):
            return True
        chain = chain.__cause__ or chain.__context__
    return False


# Answers that say OUR S3 credentials are missing or wrong (a setting to fix, never a fault of an object).
_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurity", "InvalidToken",
                     "ExpiredToken"}
_CREDENTIAL_TYPES = ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError")
CREDENTIAL_SETTINGS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def credentials_problem(exc: BaseException) -> str | None:
    """What is wrong with our S3 credentials, if that is what ``exc`` (or its chain) says; else None."""
    chain: BaseException | None = exc
    while chain is not None:
        code = str((getattr(chain, "response", None) or {}).get("Error", {}).get("Code", ""))
        if code in _CREDENTIAL_CODES:
            return f"the S3 endpoint refused our credentials ({code})"
        if type(chain).__name__ in _CREDENTIAL_TYPES:
            return f"no usable S3 credentials ({type(chain).__name__}: {chain})"
        chain = chain.__cause__ or chain.__context__
    return None


def source_metadata(key: str, etag: str) -> dict[str, str]:
    """Object metadata tying an output to the source it was made from (ASCII: S3 metadata must be)."""
    quoted = urllib.parse.quote(key, safe="/")
    meta = {"source-key-sha256": hashlib.sha256(key.encode()).hexdigest(), "source-etag": etag}
    if len(quoted) <= 1024:  # user metadata is limited to 2 KB per object
        meta["source-key"] = quoted
    return meta


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: datetime

    @property
    def mtime(self) -> str:
        return format_mtime(self.last_modified)


def s3_client(endpoint_url: str | None, region: str = "us-east-1", access_key_id: str | None = None,
              secret_access_key: str | None = None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key_id,
                        aws_secret_access_key=secret_access_key,
                        config=Config(retries={"max_attempts": 5, "mode": "adaptive"}, max_pool_connections=25,
                                      s3={"addressing_style": "path"}))


def _not_found(exc: BaseException) -> bool:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound")


class ObjectStore:
    """One bucket. Every failure is a StorageError naming the key."""

    def __init__(self, client: Any, bucket: str, cache_dir: str | os.PathLike[str] = "var/cache") -> None:
        self.client = client
        self.bucket = bucket
        self.cache_root = Path(cache_dir)

    @property
    def cache_dir(self) -> Path:
        """This process's own folder of the cache (store/cache.py: a killed worker's is swept by the next)."""
        return process_folder(self.cache_root)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def bucket_key(self, relative: str) -> str:
        return relative

    # --- where things go (the seed's layout: outputs beside the source under .proxies/) ------------
    def output_keys(self, source_key: str, qualified: bool = False) -> OutputKeys:
        return output_keys(source_key, qualified)

    def state_key(self, source_key: str, name: str) -> str:
        return state_key(source_key, name)

    def clip_keys(self, pattern: str, profiles: dict[str, str]) -> dict[str, str]:
        return clip_keys(pattern, profiles)

    def scratch_root(self) -> Path:
        return self.cache_dir

    def _fail(self, key: str, action: str, exc: Exception) -> StorageError:
        return StorageError(self.uri(key), f"{action} failed: {type(exc).__name__}: {exc}", transient=is_transient(exc))

    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception:
            try:
                self.client.create_bucket(Bucket=self.bucket)
            except Exception as exc:
                raise self._fail("", "create bucket", exc) from exc

    def wait_ready(self, timeout: float = 30.0) -> ObjectStore:
        """Ensure the bucket, retrying while a freshly started server still refuses connections."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ensure_bucket()
                return self
            except StorageError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def head(self, key: str) -> ObjectInfo:
        try:
            r = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise self._fail(key, "head", exc) from exc
        return ObjectInfo(key, int(r["ContentLength"]), r["ETag"].strip('"'), r["LastModified"])

    def head_metadata(self, key: str) -> dict[str, str]:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=key).get("Metadata", {}))
        except Exception as exc:
            raise self._fail(key, "head", exc) from exc

    def metadata_if_exists(self, key: str) -> dict[str, str] | None:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=key).get("Metadata", {}))
        except Exception as exc:
            if _not_found(exc):
                return None
            raise self._fail(key, "head", exc) from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except Exception as exc:
            if _not_found(exc):
                return False
            raise self._fail(key, "head", exc) from exc

    def cache_path(self, info: ObjectInfo) -> Path:
        digest = hashlib.sha256(f"{self.bucket}/{info.key}@{info.etag}".encode()).hexdigest()[:24]
        suffix = Path(info.key).suffix
        return self.cache_dir / f"{digest}{suffix}"

    def fetch(self, info: ObjectInfo) -> Path:
        """Download once per (key, etag); later steps of the same run reuse the local copy."""
        path = self.cache_path(info)
        if path.exists() and path.stat().st_size == info.size:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + f".{os.getpid()}.part")
        try:
            self.client.download_file(self.bucket, info.key, str(tmp))
            os.replace(tmp, path)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise self._fail(info.key, "download", exc) from exc
        return path

    def evict(self, info: ObjectInfo) -> None:
        """Drop the local copy: called when a key's chain is done, so the cache holds in-flight keys only."""
        self.cache_path(info).unlink(missing_ok=True)

    def upload_file(self, path: str | os.PathLike[str], key: str, tags: dict[str, str] | None = None,
                    metadata: dict[str, str] | None = None, content_type: str | None = None) -> ObjectInfo:
        extra: dict[str, Any] = {"ContentType": content_type or CONTENT_TYPES.get(Path(key).suffix.lower(),
                                                                                  "application/octet-stream")}
        if tags:
            extra["Tagging"] = urllib.parse.urlencode(tags)
        if metadata:
            extra["Metadata"] = {k: str(v) for k, v in metadata.items()}
        try:
            self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra)
        except Exception as exc:
            raise self._fail(key, "upload", exc) from exc
        return self.head(key)

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except Exception as exc:
            raise self._fail(key, "put", exc) from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise self._fail(key, "get", exc) from exc

    def get_bytes_if_exists(self, key: str) -> bytes | None:
        """One GET; None when the key does not exist (no separate HEAD)."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            if _not_found(exc):
                return None
            raise self._fail(key, "get", exc) from exc

    def copy(self, source: str, target: str, tags: dict[str, str] | None = None,
             metadata: dict[str, str] | None = None) -> ObjectInfo:
        """Server-side copy (no download): e.g. a frame's thumbnail becoming its sequence's poster."""
        extra: dict[str, Any] = {}
        if metadata is not None:
            extra.update(MetadataDirective="REPLACE", Metadata=metadata,
                         ContentType=CONTENT_TYPES.get(Path(target).suffix.lower(), "application/octet-stream"))
        if tags is not None:
            extra.update(TaggingDirective="REPLACE", Tagging=urllib.parse.urlencode(tags))
        try:
            self.client.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source},
                                    **extra)
        except Exception as exc:
            raise self._fail(target, f"copy from {source}", exc) from exc
        return self.head(target)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise self._fail(key, "delete", exc) from exc

    def tags(self, key: str) -> dict[str, str]:
        try:
            tagset = self.client.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
        except Exception as exc:
            raise self._fail(key, "get tags", exc) from exc
        return {t["Key"]: t["Value"] for t in tagset}

    def list_page(self, prefix: str = "", start_after: str = "", max_keys: int = 1000,
                  continuation: str | None = None) -> tuple[list[ObjectInfo], str | None, str | None]:
        """One ListObjectsV2 page: objects, the next continuation token, and the server's Date header."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "MaxKeys": max_keys, "Prefix": prefix}
        if continuation:
            kwargs["ContinuationToken"] = continuation
        elif start_after:
            kwargs["StartAfter"] = start_after
        try:
            r = self.client.list_objects_v2(**kwargs)
        except Exception as exc:
            raise self._fail(prefix, "list", exc) from exc
        objects = [ObjectInfo(o["Key"], int(o["Size"]), o["ETag"].strip('"'), o["LastModified"])
                   for o in r.get("Contents", [])]
        server_date = r.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        return objects, r.get("NextContinuationToken") if r.get("IsTruncated") else None, server_date

    def iter_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        token = None
        while True:
            objects, token, _ = self.list_page(prefix, continuation=token)
            yield from objects
            if not token:
                return
