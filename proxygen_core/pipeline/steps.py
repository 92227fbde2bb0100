"""The per-key steps of the S3 pipeline: inspect a source, decode it, publish its media, build its record.

Plain functions over an ObjectStore, so the Dagster assets stay thin and a script can run the same
steps without Dagster. Each raises a ProxygenError naming the key when that one key fails.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..encode import write_jpeg, write_mp4
from ..errors import ProxygenError, StorageError, as_proxygen_error
from ..events import event_id
from ..geometry import resolution
from ..keys import PIPELINE_DIR, OutputKeys, asset_id, file_id, output_keys, proxy_id
from ..media import Media
from ..probe import ProbeRecord, probe
from ..render import WorkingFrame, decode_working, proxy_pixels, thumbnail_pixels
from ..settings import GENERATOR, RenderSettings
from ..storage import ObjectInfo, ObjectStore, source_metadata


@dataclass
class SourceFrame:
    key: str
    bucket: str
    size_bytes: int
    etag: str
    mtime: str
    file_id: str
    asset_id: str
    probe: dict[str, Any]

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def object_info(self) -> ObjectInfo:
        return ObjectInfo(self.key, self.size_bytes, self.etag, datetime.fromisoformat(self.mtime))


@dataclass
class Failed:
    """A key that failed at some step; carried downstream so later steps skip it and the record says why."""

    key: str
    step: str
    error: dict[str, str]

    @property
    def transient(self) -> bool:
        """Infrastructure trouble (retry the key later) rather than a problem with the file's content."""
        return self.error.get("transient") == "true"

    @property
    def message(self) -> str:
        return f"{self.error.get('type', 'Error')} at {self.step}: {self.error.get('cause', '')}"


def inspect_source(store: ObjectStore, info: ObjectInfo, max_pixels: int) -> SourceFrame:
    key = info.key
    local = store.fetch(info)
    try:
        record: ProbeRecord = probe(local, max_pixels)
    except ProxygenError as exc:
        raise type(exc)(store.uri(key), exc.cause.replace(str(local), store.uri(key))) from exc
    return SourceFrame(key, store.bucket, info.size, info.etag, info.mtime, file_id(key, info.last_modified),
                       asset_id(key), record.to_dict())


def decode_source(store: ObjectStore, source: SourceFrame, settings: RenderSettings) -> WorkingFrame:
    local = store.fetch(source.object_info())
    try:
        return decode_working(str(local), settings)
    except Exception as exc:
        err = as_proxygen_error(source.uri, exc)
        raise type(err)(source.uri, err.cause.replace(str(local), source.uri)) from exc


def media_tags(kind: str) -> dict[str, str]:
    return {"media_type": kind, "generator": GENERATOR, "version": __version__}


def choose_output_keys(store: ObjectStore, source_key: str) -> OutputKeys:
    """The plain ``<stem>_thumb.jpg`` layout unless a same-stem sibling (``frame.0001.tif`` beside
    ``frame.0001.exr``) already owns it, in which case the name keeps the extension. Ownership is read
    from the output's ``source-key-sha256`` metadata: the first source to publish a plain name keeps it,
    and no source ever overwrites another's media."""
    plain = output_keys(source_key)
    meta = store.metadata_if_exists(plain.thumbnail)
    owner = (meta or {}).get("source-key-sha256")
    if owner is None or owner == source_metadata(source_key, "")["source-key-sha256"]:
        return plain
    return output_keys(source_key, qualified=True)


def publish(store: ObjectStore, kind: str, key: str, local: Path, width: int, height: int, colorspace: str,
            seconds: float, source: SourceFrame | None = None) -> Media:
    meta = {"width": str(width), "height": str(height), "colorspace": colorspace}
    if source is not None:
        meta.update(source_metadata(source.key, source.etag))
    size = local.stat().st_size
    info = store.upload_file(local, key, tags=media_tags(kind), metadata=meta)
    if info.size != size:
        raise StorageError(store.uri(key), f"stored object is {info.size} bytes, {size} were uploaded")
    return Media(kind, key, width, height, info.size, colorspace, round(seconds, 4), store.uri(key))


def render_thumbnail(frame: WorkingFrame, key: str, settings: RenderSettings,
                     folder: Path) -> tuple[Path, Media, Any]:
    """Write the JPEG for output key ``key``; returns its path, its Media record and the 8-bit pixels
    (for QC without a re-read)."""
    t0 = time.perf_counter()
    pixels = thumbnail_pixels(frame, settings)
    path = folder / f"{asset_id(key)}_thumb.jpg"
    size = write_jpeg(pixels, path, settings.jpeg_quality)
    h, w = pixels.shape[:2]
    return path, Media("thumbnail", key, w, h, size, settings.thumb_display, time.perf_counter() - t0), pixels


def render_proxy(frame: WorkingFrame, key: str, settings: RenderSettings, folder: Path) -> tuple[Path, Media]:
    t0 = time.perf_counter()
    pixels = proxy_pixels(frame, settings)
    path = folder / f"{asset_id(key)}_proxy.mp4"
    size = write_mp4(pixels, path, settings)
    h, w = pixels.shape[:2]
    return path, Media("proxy", key, w, h, size, settings.proxy_display, time.perf_counter() - t0)


def scratch_dir(base: str | os.PathLike[str] | None = None) -> Path:
    root = Path(base) if base else Path(tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="proxygen-", dir=root))


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def is_private(key: str) -> bool:
    """A pipeline intermediate (``.proxies/.pipeline/``), not an output a reviewer is pointed at."""
    return key.startswith(PIPELINE_DIR + "/")


def build_record(source: SourceFrame | None, key: str, bucket: str, settings: RenderSettings, profile: str,
                 frame_info: dict[str, Any] | None = None, thumb: Media | None = None, proxy: Media | None = None,
                 failed: Failed | None = None, processing_seconds: float = 0.0,
                 info: ObjectInfo | None = None) -> dict[str, Any]:
    """The catalog row for one source (superset of the original function's columns).

    A failed row names no output keys (nothing was published for it) and still carries the file_id
    whenever the object's LastModified is known (``info``), so it joins exr-inspector's table."""
    details = frame_info or {}
    ok = failed is None
    mtime = source.mtime if source else (info.mtime if info else None)
    row = {
        "proxy_id": proxy_id(bucket, key, profile),
        "output_profile": profile,
        "file_id": source.file_id if source else (file_id(key, info.last_modified) if info else None),
        "s3_key": key,
        "s3_bucket": bucket,
        "asset_id": asset_id(key),
        "status": "ok" if ok else "failed",
        "error": failed.message if failed else None,
        "failed_step": failed.step if failed else None,
        "thumbnail_s3_key": thumb.path if ok and thumb else None,
        "proxy_s3_key": proxy.path if ok and proxy and not is_private(proxy.path) else None,
        "preview_s3_key": None,
        "thumbnail_size_bytes": thumb.size_bytes if ok and thumb else None,
        "proxy_size_bytes": proxy.size_bytes if ok and proxy and not is_private(proxy.path) else None,
        "source_size_bytes": source.size_bytes if source else (info.size if info else None),
        "source_colorspace": details.get("source_colorspace"),
        "colorspace_rule": details.get("colorspace_rule"),
        "review_layer": details.get("review_layer"),
        "thumb_colorspace": settings.thumb_display,
        "proxy_colorspace": settings.proxy_display,
        "thumb_resolution": thumb.resolution if ok and thumb else None,
        "proxy_resolution": proxy.resolution if ok and proxy and not is_private(proxy.path) else None,
        "source_resolution": details.get("source_resolution"),
        "processing_time_seconds": round(processing_seconds, 4),
        "generated_timestamp": utc_now_iso(),
        "generator_version": f"{GENERATOR} {__version__}",
        "etag": source.etag if source else (info.etag if info else None),
        "mtime": mtime,
        "ocio_config": settings.ocio_config,
        "ocio_view": details.get("view", settings.view),
        "render_settings_hash": settings.settings_hash(),
    }
    row["event_id"] = event_id(row)
    return row


def frame_info(frame: WorkingFrame) -> dict[str, Any]:
    return {"source_colorspace": frame.colour.source_colorspace, "colorspace_rule": frame.colour.rule,
            "view": frame.colour.proxy_view, "display_referred": frame.colour.display_referred,
            "source_resolution": resolution(frame.source_width, frame.source_height),
            "working_resolution": resolution(frame.width, frame.height),
            "nonfinite_pixels": frame.nonfinite_pixels, "review_layer": frame.layer}


