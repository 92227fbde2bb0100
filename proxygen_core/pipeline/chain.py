"""The whole chain for one source key: source -> working frame -> thumbnail + proxy (+ state), isolated.

The Dagster layer runs this once per key of a batch and turns each ``KeyResult`` into per-partition
materializations and a catalog row; a script can call it the same way. Nothing that goes wrong with
one key escapes as an exception: it becomes ``KeyResult.failed`` naming the stage and the cause.
Transient storage failures (S3 down, timeouts) are retried with backoff for a bounded time; content
failures (a corrupt file) are not.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import qc
from ..errors import ProxygenError, as_proxygen_error
from ..keys import state_key
from ..sequences import parse_frame
from ..media import Media
from ..render import WorkingFrame
from ..settings import Settings
from ..storage import ObjectInfo, ObjectStore
from . import state as st
from .steps import (Failed, SourceFrame, choose_output_keys, decode_source, frame_info, inspect_source, publish,
                    render_proxy, render_thumbnail, scratch_dir)

SOURCE, WORKING, THUMBNAIL, PROXY, RECORD = "source_frame", "working_frame", "thumbnail", "proxy", "proxy_record"
STAGES = (SOURCE, WORKING, THUMBNAIL, PROXY, RECORD)


class QCFailure(ProxygenError):
    """An output was made but does not meet its contract (size, codec, tags): the key fails there."""

    kind = "qc"


@dataclass
class KeyResult:
    key: str
    info: ObjectInfo | None = None
    source: SourceFrame | None = None
    frame_info: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    thumbnail: Media | None = None
    proxy: Media | None = None
    thumbnail_jpeg: bytes | None = None  # the thumbnail's bytes, for the UI
    exposure: dict[str, float] | None = None
    warnings: dict[str, str] = field(default_factory=dict)  # check name -> problem (not a failure)
    passed: list[str] = field(default_factory=list)  # stages this key completed, in order
    failed: Failed | None = None
    seconds: float = 0.0
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.failed is None


def run_chain(store: ObjectStore, key: str, settings: Settings, stages: frozenset[str] = frozenset(STAGES),
              sleep: Callable[[float], None] = time.sleep) -> KeyResult:
    """Run the selected stages for one key, retrying transient storage failures within the budget."""
    budget = settings.pipeline.transient_retry_seconds
    started = time.monotonic()
    delay, attempt = 1.0, 1
    while True:
        result = _attempt(store, key, settings, stages)
        result.attempts = attempt
        if result.ok or not result.failed.transient or time.monotonic() - started + delay > budget:
            return result
        sleep(delay)
        delay, attempt = min(delay * 2, 15.0), attempt + 1


# What each stage is made from: a partial run computes what it needs and reuses the rest from state.
NEEDS = {SOURCE: (), WORKING: (SOURCE,), THUMBNAIL: (WORKING,), PROXY: (WORKING,), RECORD: (THUMBNAIL, PROXY)}


def needed(stages: frozenset[str]) -> set[str]:
    out: set[str] = set()
    todo = list(stages)
    while todo:
        stage = todo.pop()
        if stage not in out:
            out.add(stage)
            todo.extend(NEEDS[stage])
    return out


def _attempt(store: ObjectStore, key: str, settings: Settings, stages: frozenset[str]) -> KeyResult:
    result = KeyResult(key)
    render = settings.render
    need = needed(stages)
    stage = SOURCE
    t0 = time.perf_counter()
    folder: Path | None = None
    try:
        info = result.info = store.head(key)
        previous = None if stages >= {SOURCE, WORKING, THUMBNAIL, PROXY} else st.load_state(store, key)
        if previous and (previous.etag != info.etag or previous.settings_hash != render.settings_hash()
                         or previous.status != "ok"):
            previous = None  # a partial re-run only reuses stages of this very version

        def reuse(kind: str, stage_name: str) -> Any:
            return getattr(previous, kind) if previous and stage_name not in stages else None

        # source_frame: the object's identity and header
        kept = reuse("source", SOURCE)
        result.source = SourceFrame(**kept) if kept else inspect_source(store, info, render.max_pixels)
        result.passed.append(SOURCE)

        # working_frame: decode once; a partial re-run may read the stored working EXR instead
        stage = WORKING
        kept_thumb = reuse("thumbnail", THUMBNAIL)
        kept_proxy = reuse("proxy", PROXY)
        frame: WorkingFrame | None = None
        if WORKING in stages or (THUMBNAIL in need and not kept_thumb) or (PROXY in need and not kept_proxy):
            stored = reuse("working_exr", WORKING)
            frame = st.load_working(store, stored) if stored else decode_source(store, result.source, render)
            check = qc.check_finite(frame.pixels)
            if not check.passed:
                raise QCFailure(store.uri(key), "; ".join(check.problems))
            result.frame_info = frame_info(frame)
            result.timings.update({f"seconds_{n}": round(v, 4) for n, v in frame.timings.items()})
        elif previous is not None:
            result.frame_info = previous.frame_info
        if WORKING in need:
            result.passed.append(WORKING)

        # thumbnail and proxy: rendered on the proxy-size working frame, published beside the source
        outs = None
        if frame is not None and ((THUMBNAIL in need and not kept_thumb) or (PROXY in need and not kept_proxy)):
            outs = choose_output_keys(store, key)
            folder = scratch_dir(settings.storage.cache_dir)
        stage = THUMBNAIL
        if THUMBNAIL in need and kept_thumb:
            result.thumbnail = Media(**kept_thumb)
        elif THUMBNAIL in need:
            path, media, pixels = render_thumbnail(frame, outs.thumbnail, render, folder)
            check = qc.check_thumbnail(media.width, media.height, frame.source_width, frame.source_height,
                                       render.thumb_size)
            if not check.passed:
                raise QCFailure(store.uri(key), "; ".join(check.problems))
            exposure = qc.check_exposure(pixels)
            result.exposure = exposure.metrics
            if not exposure.passed:
                result.warnings["exposure"] = "; ".join(exposure.problems)
            result.thumbnail_jpeg = path.read_bytes()
            result.thumbnail = publish(store, "thumbnail", media.path, path, media.width, media.height,
                                       media.colorspace, media.seconds, result.source)
        if THUMBNAIL in need:
            result.passed.append(THUMBNAIL)

        stage = PROXY
        if PROXY in need and kept_proxy:
            result.proxy = Media(**kept_proxy)
        elif PROXY in need:
            # Frames of a sequence may skip the public per-frame proxy: the picture is still made (the clip
            # is built from it) but kept as a pipeline intermediate, and the row names no proxy.
            private = not settings.pipeline.sequence_frame_proxies and parse_frame(key) is not None
            path, media = render_proxy(frame, state_key(key, st.PICTURE) if private else outs.proxy, render, folder)
            check = qc.check_proxy(qc.mp4_info(path), frame.source_width, frame.source_height,
                                   render.proxy_max_width, render.proxy_max_height)
            if not check.passed:
                raise QCFailure(store.uri(key), "; ".join(check.problems))
            result.proxy = publish(store, "proxy", media.path, path, media.width, media.height, media.colorspace,
                                   media.seconds, result.source)
        if PROXY in need:
            result.passed.append(PROXY)

        # state: what this version produced (the sensor skips it from now on); the working frame is kept
        # per the retention setting
        stage = RECORD
        exr = previous.working_exr if previous else None
        if frame is not None and WORKING in stages:
            if settings.pipeline.keep_working_frames:
                exr = st.store_working(store, key, frame, settings.pipeline.working_compression)
            elif exr is None:
                store.delete(state_key(key, st.WORKING))  # retention off: no stale working frame stays behind
        pick = (lambda new, old: asdict(new) if new is not None else (getattr(previous, old) if previous else None))
        st.save_state(store, st.KeyState(
            key, info.etag, render.settings_hash(), "ok", asdict(result.source), result.frame_info,
            pick(result.thumbnail, "thumbnail"), pick(result.proxy, "proxy"), exr))
    except Exception as exc:  # recorded on the result (row, event, UI failure), never dropped
        result.failed = Failed(key, stage, as_proxygen_error(store.uri(key), exc).to_dict())
        if not result.failed.transient and result.info is not None:
            _save_failed_state(store, key, result, settings)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        if result.info is not None:
            store.evict(result.info)
        result.seconds = time.perf_counter() - t0
    return result


def _save_failed_state(store: ObjectStore, key: str, result: KeyResult, settings: Settings) -> None:
    """Remember that this version failed for its content, so the sensor does not request it again."""
    try:
        st.save_state(store, st.KeyState(key, result.info.etag, settings.render.settings_hash(), "failed",
                                          error=result.failed.error))
    except ProxygenError as exc:
        # The failure itself is in the row; without this state the sensor offers the key again, which
        # re-records the same failure. Reported on the partition, not hidden.
        result.warnings["state"] = f"failure state not saved: {exc.cause}"
