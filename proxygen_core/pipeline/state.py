"""Per-source state objects in the bucket: what the pipeline last did with a key, and its working frame.

Kept where the store puts state (in S3 ``.proxies/.pipeline/<sha256(key)>/``, in a local folder
``.proxygen/<sha256(key)>/``) so the keys stay short for any source key and the
sensor never lists them as sources. ``state.json`` says which version (etag) of the source was
processed, with which render settings, and what came out; the sensor uses it to skip unchanged keys,
and a partial re-run (e.g. the thumbnail alone) reads the stages it does not recompute from it.
"""
from __future__ import annotations

import io
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from proxygen_core.media.frame import WorkingFrame
from proxygen_core.media.working import read_working_exr, write_working_exr
from proxygen_core.store.base import Store

STATE = "state.json"
WORKING = "working.exr"
PICTURE = "picture.mp4"  # a sequence frame's proxy picture when public per-frame proxies are off
REVIEW_PLANES = "review.yuv420p"  # the proxy's yuv420p planes, raw (.npy): the review clip's input


@dataclass
class KeyState:
    key: str
    etag: str
    settings_hash: str
    status: str  # ok | failed
    source: dict[str, Any] | None = None
    frame_info: dict[str, Any] | None = None
    thumbnail: dict[str, Any] | None = None
    proxy: dict[str, Any] | None = None
    working_exr: str | None = None
    error: dict[str, str] | None = None
    preview: dict[str, Any] | None = None
    failed_step: str | None = None  # where a content failure happened (the catalog's failed_step)
    review_planes: str | None = None  # key of the stored REVIEW_PLANES, kept as long as the working frame


def load_state(store: Store, key: str) -> KeyState | None:
    data = store.get_bytes_if_exists(store.state_key(key, STATE))
    if data is None:
        return None
    try:
        fields = json.loads(data)
        if "failed_stage" in fields:  # the name states had before it was failed_step everywhere
            fields["failed_step"] = fields.pop("failed_stage")
        return KeyState(**fields)
    except (TypeError, ValueError):
        return None  # an older or damaged state object: recompute rather than trust it


def save_state(store: Store, state: KeyState) -> None:
    store.put_bytes(
        store.state_key(state.key, STATE), json.dumps(asdict(state), default=str).encode(), "application/json"
    )


def last_processed_etag(store: Store, key: str) -> str | None:
    """The etag the pipeline last finished (ok, or failed for its content); None if never."""
    state = load_state(store, key)
    return state.etag if state else None


def store_working(store: Store, key: str, frame: WorkingFrame, compression: str = "piz") -> str:
    folder = Path(tempfile.mkdtemp(prefix="proxygen-working-"))
    try:
        path = folder / WORKING
        write_working_exr(frame, path, compression)
        target = store.state_key(key, WORKING)
        store.upload_file(path, target, tags={"media_type": "working_frame"})
        return target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def load_working(store: Store, exr_key: str) -> WorkingFrame:
    return _working_from(store.get_bytes(exr_key))


def load_working_if_exists(store: Store, exr_key: str) -> WorkingFrame | None:
    """The stored working frame, or None when it is gone (one GET, no HEAD before it)."""
    data = store.get_bytes_if_exists(exr_key)
    return None if data is None else _working_from(data)


def _working_from(data: bytes) -> WorkingFrame:
    folder = Path(tempfile.mkdtemp(prefix="proxygen-working-"))
    try:
        path = folder / WORKING
        path.write_bytes(data)
        return read_working_exr(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def store_review_planes(store: Store, key: str, planes: np.ndarray) -> str:
    """Raw ``.npy`` (2.9 MB at 1920x1012): written in milliseconds, read in milliseconds."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(planes, dtype=np.uint8), allow_pickle=False)
    target = store.state_key(key, REVIEW_PLANES)
    store.put_bytes(target, buffer.getvalue())
    return target


def load_review_planes_bytes(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)
