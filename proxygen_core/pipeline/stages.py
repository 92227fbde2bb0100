"""The stages of one source's chain, as plain functions over a store (S3 bucket or local folder).

Each takes what the stage before it made and returns what it makes, checks its own output (QC) and
raises a ProxygenError naming the key when that one key fails; ``chain.py`` runs them in order.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proxygen_core import __version__
from proxygen_core.errors import ProxygenError, QCFailure, StorageError, as_proxygen_error
from proxygen_core.media import qc
from proxygen_core.media.encode import rgb_to_yuv420_bt709, write_jpeg, write_mp4_planes
from proxygen_core.media.geometry import resolution
from proxygen_core.media.output import Media
from proxygen_core.media.render import (
    WorkingFrame,
    decode_working,
    preview_pixels,
    proxy_pixels,
    thumbnail_pixels,
)
from proxygen_core.media.sequences import parse_frame
from proxygen_core.pipeline import state as st
from proxygen_core.probe import ProbeRecord, probe
from proxygen_core.settings import GENERATOR, RenderSettings, Settings
from proxygen_core.store.base import Store
from proxygen_core.store.keys import OutputKeys, asset_id, file_id
from proxygen_core.store.s3 import ObjectInfo, source_metadata


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
    """A key that failed at some stage; carried downstream so later steps skip it and the record says why."""

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


@dataclass
class Thumbnail:
    media: Media
    jpeg: bytes  # for the UI, without a re-read from the store
    exposure: dict[str, float]
    exposure_problem: str = ""  # a warning, not a failure


def _named(store: Store, key: str, local: Path, exc: ProxygenError) -> ProxygenError:
    """The same error, naming the key as the store names it instead of a local cache path."""
    return type(exc)(store.uri(key), exc.cause.replace(str(local), store.uri(key)), transient=exc.transient)


def inspect_source(store: Store, info: ObjectInfo, max_pixels: int) -> SourceFrame:
    local = store.fetch(info)
    try:
        record: ProbeRecord = probe(local, max_pixels)
    except ProxygenError as exc:
        raise _named(store, info.key, local, exc) from exc
    return SourceFrame(info.key, store.bucket, info.size, info.etag, info.mtime, file_id(info.key, info.last_modified),
                       asset_id(info.key), record.to_dict())


def working_frame(store: Store, source: SourceFrame, settings: RenderSettings,
                  stored_exr: str | None = None) -> WorkingFrame:
    """Decode the source (or read the stored working EXR of a partial re-run); no NaN/Inf may remain."""
    if stored_exr:
        t0 = time.perf_counter()
        frame = st.load_working(store, stored_exr)
        frame.timings = {"read_working": time.perf_counter() - t0}  # this run's cost, not the first decode's
    else:
        local = store.fetch(source.object_info())
        try:
            frame = decode_working(str(local), settings)
        except Exception as exc:
            raise _named(store, source.key, local, as_proxygen_error(store.uri(source.key), exc)) from exc
    check = qc.check_finite(frame.pixels)
    if not check.passed:
        raise QCFailure(store.uri(source.key), "; ".join(check.problems))
    return frame


def media_tags(kind: str) -> dict[str, str]:
    return {"media_type": kind, "generator": GENERATOR, "version": __version__}


def output_keys_for(store: Store, source_key: str) -> OutputKeys:
    """The plain ``<stem>_thumb.jpg`` layout unless a same-stem sibling (``frame.0001.tif`` beside
    ``frame.0001.exr``) already owns it, in which case the name keeps the extension. Ownership is read
    from the output's ``source-key-sha256`` metadata: the first source to publish a plain name keeps it,
    and no source ever overwrites another's media."""
    plain = store.output_keys(source_key)
    meta = store.metadata_if_exists(plain.thumbnail)
    owner = (meta or {}).get("source-key-sha256")
    if owner is None or owner == source_metadata(source_key, "")["source-key-sha256"]:
        return plain
    return store.output_keys(source_key, qualified=True)


def publish(store: Store, kind: str, key: str, local: Path, width: int, height: int, colorspace: str,
            seconds: float, source: SourceFrame | None = None) -> Media:
    meta = {"width": str(width), "height": str(height), "colorspace": colorspace}
    if source is not None:
        meta.update(source_metadata(source.key, source.etag))
    size = local.stat().st_size
    info = store.upload_file(local, key, tags=media_tags(kind), metadata=meta)
    if info.size != size:
        raise StorageError(store.uri(key), f"stored object is {info.size} bytes, {size} were uploaded")
    return Media(kind, key, width, height, info.size, colorspace, round(seconds, 4), store.uri(key))


def _fail_qc(store: Store, key: str, check: qc.QCResult) -> None:
    if not check.passed:
        raise QCFailure(store.uri(key), "; ".join(check.problems))


def make_thumbnail(store: Store, frame: WorkingFrame, outs: OutputKeys, settings: RenderSettings, folder: Path,
                   source: SourceFrame) -> Thumbnail:
    t0 = time.perf_counter()
    pixels = thumbnail_pixels(frame, settings)
    path = folder / "thumb.jpg"
    write_jpeg(pixels, path, settings.jpeg_quality)
    h, w = pixels.shape[:2]
    _fail_qc(store, source.key, qc.check_thumbnail(w, h, *frame.display_size, settings.thumb_size))
    exposure = qc.check_exposure(pixels)
    jpeg = path.read_bytes()
    media = publish(store, "thumbnail", outs.thumbnail, path, w, h, settings.thumb_display, time.perf_counter() - t0,
                    source)
    return Thumbnail(media, jpeg, exposure.metrics, "; ".join(exposure.problems) if not exposure.passed else "")


def make_proxy(store: Store, frame: WorkingFrame, outs: OutputKeys, settings: Settings, folder: Path,
               source: SourceFrame) -> Media:
    """The H.264 proxy. Frames of a sequence may skip the public per-frame proxy: the picture is still made
    (the clip is built from it) but kept as a pipeline intermediate, and the row names no proxy."""
    render = settings.render
    t0 = time.perf_counter()
    private = not settings.pipeline.sequence_frame_proxies and parse_frame(source.key) is not None
    key = store.state_key(source.key, st.PICTURE) if private else outs.proxy
    pixels = proxy_pixels(frame, render)
    path = folder / "proxy.mp4"
    frame.review_planes = rgb_to_yuv420_bt709(pixels)
    write_mp4_planes(frame.review_planes, path, render)
    h, w = pixels.shape[:2]
    _fail_qc(store, source.key, qc.check_proxy(qc.mp4_info(path), *frame.display_size,
                                                render.proxy_max_width, render.proxy_max_height))
    return publish(store, "proxy", key, path, w, h, render.proxy_display, time.perf_counter() - t0, source)


def make_preview(store: Store, frame: WorkingFrame, outs: OutputKeys, settings: RenderSettings, folder: Path,
                 source: SourceFrame) -> Media:
    """The full-resolution JPEG preview (the third tier), from the full-resolution working pixels."""
    t0 = time.perf_counter()
    pixels = preview_pixels(frame, settings)
    if pixels is None:
        raise QCFailure(store.uri(source.key), "preview asked for, but the working frame holds no full-resolution "
                                                "pixels (decode with preview_enabled)")
    path = folder / "preview.jpg"
    write_jpeg(pixels, path, settings.preview_quality)
    h, w = pixels.shape[:2]
    if (w, h) != frame.display_size:
        raise QCFailure(store.uri(source.key), f"preview {w}x{h} is not the source's (desqueezed) "
                                                f"{resolution(*frame.display_size)}")
    return publish(store, "preview", outs.preview, path, w, h, settings.thumb_display, time.perf_counter() - t0,
                   source)


def scratch_dir(base: str | os.PathLike[str] | None = None) -> Path:
    root = Path(base) if base else Path(tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="proxygen-", dir=root))


def utc_now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def frame_info(frame: WorkingFrame) -> dict[str, Any]:
    return {"source_colorspace": frame.colour.source_colorspace, "colorspace_rule": frame.colour.rule,
            "view": frame.colour.proxy_view, "display_referred": frame.colour.display_referred,
            "source_resolution": resolution(frame.source_width, frame.source_height),
            "working_resolution": resolution(frame.width, frame.height),
            "nonfinite_pixels": frame.nonfinite_pixels, "review_layer": frame.layer,
            "pixel_aspect_ratio": frame.pixel_aspect, "display_resolution": resolution(*frame.display_size)}
