"""A folder with the object store's interface: `proxygen render` runs the pipeline's chain over it.

Source keys are file paths (made absolute, so one file is one key whatever the working folder);
outputs go flat into the output folder (``<out>/<stem>_thumb.jpg``); what the bucket keeps as object
metadata, tags and per-source state lives under ``<out>/.proxygen/``, so the same ownership rule and
the same state as in S3 apply to both front doors.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from proxygen_core.errors import StorageError
from proxygen_core.store.keys import OutputKeys, clip_name, clip_suffixes, key_digest, stem
from proxygen_core.store.s3 import ObjectInfo

HIDDEN = ".proxygen"  # state, metadata and working frames of the local door, beside its outputs


class LocalStore:
    """Sources anywhere on disk; outputs, state and sidecar metadata in ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.bucket = str(self.root)

    # --- where things go -----------------------------------------------------------------------
    def uri(self, key: str) -> str:
        return key

    def bucket_key(self, relative: str) -> str:
        return str(self.root / relative) + ("/" if relative.endswith("/") else "")

    def output_keys(self, source_key: str, qualified: bool = False) -> OutputKeys:
        name = os.path.basename(source_key) if qualified else stem(source_key)
        return OutputKeys(thumbnail=str(self.root / f"{name}_thumb.jpg"), proxy=str(self.root / f"{name}_proxy.mp4"),
                          preview=str(self.root / f"{name}_preview.jpg"), qualified=qualified)

    def state_key(self, source_key: str, name: str) -> str:
        return str(self.root / HIDDEN / key_digest(source_key) / name)

    def clip_keys(self, pattern: str, profiles: dict[str, str]) -> dict[str, str]:
        name = clip_name(pattern)
        return {kind: str(self.root / f"{name}{suffix}") for kind, suffix in clip_suffixes(profiles).items()}

    def scratch_root(self) -> Path:
        return self.root / HIDDEN / "tmp"

    # --- objects -------------------------------------------------------------------------------
    def _sidecar(self, key: str) -> Path:
        return self.root / HIDDEN / "meta" / f"{hashlib.sha256(key.encode()).hexdigest()[:40]}.json"

    def _fail(self, key: str, action: str, exc: BaseException) -> StorageError:
        return StorageError(key, f"{action} failed: {type(exc).__name__}: {exc}")

    def head(self, key: str) -> ObjectInfo:
        try:
            st = os.stat(key)
        except OSError as exc:
            raise self._fail(key, "stat", exc) from exc
        if not Path(key).is_file():
            raise StorageError(key, "is not a file")
        # What an etag is for S3: changes whenever the content may have changed.
        return ObjectInfo(key, st.st_size, f"{st.st_mtime_ns:x}-{st.st_size:x}",
                          datetime.fromtimestamp(st.st_mtime, UTC))

    def fetch(self, info: ObjectInfo) -> Path:
        return Path(info.key)

    def evict(self, info: ObjectInfo) -> None:
        """Nothing to drop: the local door reads sources in place."""

    def upload_file(self, path: str | os.PathLike[str], key: str, tags: dict[str, str] | None = None,
                    metadata: dict[str, str] | None = None, content_type: str | None = None) -> ObjectInfo:
        try:
            Path(key).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, key)
            self._write_sidecar(key, tags, metadata)
        except OSError as exc:
            raise self._fail(key, "write", exc) from exc
        return self.head(key)

    def _write_sidecar(self, key: str, tags: dict[str, str] | None, metadata: dict[str, str] | None) -> None:
        side = self._sidecar(key)
        if tags is None and metadata is None:
            side.unlink(missing_ok=True)
            return
        side.parent.mkdir(parents=True, exist_ok=True)
        side.write_text(json.dumps({"key": key, "tags": tags or {}, "metadata": {k: str(v) for k, v in
                                                                                 (metadata or {}).items()}}))

    def _read_sidecar(self, key: str) -> dict:
        try:
            return json.loads(self._sidecar(key).read_text())
        except (OSError, ValueError):
            return {}

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        try:
            Path(key).parent.mkdir(parents=True, exist_ok=True)
            Path(key).write_bytes(data)
        except OSError as exc:
            raise self._fail(key, "write", exc) from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            return Path(key).read_bytes()
        except OSError as exc:
            raise self._fail(key, "read", exc) from exc

    def get_bytes_if_exists(self, key: str) -> bytes | None:
        return self.get_bytes(key) if Path(key).is_file() else None

    def exists(self, key: str) -> bool:
        return Path(key).is_file()

    def metadata_if_exists(self, key: str) -> dict[str, str] | None:
        return self._read_sidecar(key).get("metadata", {}) if self.exists(key) else None

    def tags(self, key: str) -> dict[str, str]:
        if not self.exists(key):
            raise StorageError(key, "get tags failed: no such file")
        return self._read_sidecar(key).get("tags", {})

    def copy(self, source: str, target: str, tags: dict[str, str] | None = None,
             metadata: dict[str, str] | None = None) -> ObjectInfo:
        try:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        except OSError as exc:
            raise self._fail(target, f"copy from {source}", exc) from exc
        side = self._read_sidecar(source)
        self._write_sidecar(target, tags if tags is not None else side.get("tags"),
                            metadata if metadata is not None else side.get("metadata"))
        return self.head(target)

    def delete(self, key: str) -> None:
        Path(key).unlink(missing_ok=True)
        self._sidecar(key).unlink(missing_ok=True)
