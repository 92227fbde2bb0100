"""Object keys and identifiers, compatible with the original function and exr-inspector.

file_id must match exr-inspector's byte for byte, or the catalog JOIN silently returns nothing,
which is why the mtime text form is pinned here and by a test.
"""
from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from datetime import datetime, timezone

PROXY_DIR = ".proxies"
_FRAME_RE = re.compile(r"(?:^|[._-])(\d+)$")


@dataclass(frozen=True)
class OutputKeys:
    thumbnail: str
    proxy: str
    preview: str


def is_proxy_key(key: str) -> bool:
    """Keys under a ``.proxies/`` folder are our own outputs and are never processed (loop guard)."""
    return f"/{PROXY_DIR}/" in f"/{key}"


def stem(key: str) -> str:
    """File name without its last extension (``beauty.0001.exr`` -> ``beauty.0001``)."""
    name = posixpath.basename(key)
    root, ext = posixpath.splitext(name)
    return root if root and ext else name


def output_keys(source_key: str) -> OutputKeys:
    directory = posixpath.dirname(source_key)
    base = posixpath.join(directory, PROXY_DIR, stem(source_key)) if directory else posixpath.join(PROXY_DIR, stem(source_key))
    return OutputKeys(thumbnail=f"{base}_thumb.jpg", proxy=f"{base}_proxy.mp4", preview=f"{base}_preview.jpg")


def asset_id(source_key: str) -> str:
    return hashlib.md5(source_key.encode()).hexdigest()[:16]


def format_mtime(mtime: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS+00:00``: UTC, no microseconds, exactly exr-inspector's text form."""
    if mtime.tzinfo is None:
        mtime = mtime.replace(tzinfo=timezone.utc)
    return mtime.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def file_id(source_key: str, mtime: datetime | str) -> str:
    """``sha256(key + mtime + md5(key))[:16]``; ``source_key`` excludes the bucket."""
    mtime_text = mtime if isinstance(mtime, str) else format_mtime(mtime)
    md5 = hashlib.md5(source_key.encode()).hexdigest()
    return hashlib.sha256(f"{source_key}{mtime_text}{md5}".encode()).hexdigest()[:16]


def frame_number(path: str) -> int | None:
    """Frame number from the name (``beauty.0001.exr`` -> 1, ``shot_v2_1001.dpx`` -> 1001)."""
    match = _FRAME_RE.search(stem(path))
    return int(match.group(1)) if match else None
