"""Object keys and identifiers, compatible with the original function and exr-inspector.

file_id must match exr-inspector's byte for byte, or the catalog JOIN silently returns nothing,
which is why the mtime text form is pinned here and by a test.

Every key we derive (outputs, pipeline state) stays within S3's 1024-byte limit for any legal source
key: state keys are hashed, and an output key that would be too long keeps its folder and the start
of its stem and ends in a hash of the source key (documented in docs/pipeline.md, "Output keys").
"""
from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from proxygen_core.profiles import PRIMARY, id_suffix

PROXY_DIR = ".proxies"
PIPELINE_DIR = f"{PROXY_DIR}/.pipeline"
LOCAL_STATE_DIR = ".proxygen"  # the local door's state, metadata and scratch, inside its output folder
MAX_KEY_BYTES = 1024
# The one frame-number rule: a file name ends in <name><. or _><digits><.ext> (``beauty.1001.exr``,
# ``plate_v2_1001.dpx``). ``shot-1001.exr`` has no frame number: a dash is part of the name.
FRAME_NAME = re.compile(r"^(?P<name>.*?)(?P<sep>[._])(?P<digits>\d+)(?P<ext>\.[^./]+)$")
# A sequence's pattern key writes the frame number as #s: ``renders/sh010/beauty.####.exr``.
FRAME_PATTERN = re.compile(r"^(?P<name>.*?)(?P<sep>[._])(?P<hashes>#+)(?P<ext>\.[^./]+)$")
POSTER_SUFFIX = "_poster.jpg"
TIMELINE_SUFFIX = "_timeline.otio"  # the sequence's OpenTimelineIO timeline, referencing its clips
_SUFFIXES = {"thumbnail": "_thumb.jpg", "proxy": "_proxy.mp4", "preview": "_preview.jpg"}


@dataclass(frozen=True)
class OutputKeys:
    thumbnail: str
    proxy: str
    preview: str
    qualified: bool = False  # the name carries the source's extension (a sibling owns the plain name)


def is_proxy_key(key: str) -> bool:
    """Keys under a ``.proxies/`` folder are our own outputs and are never processed (loop guard)."""
    return f"/{PROXY_DIR}/" in f"/{key}"


def stem(key: str) -> str:
    """File name without its last extension (``beauty.0001.exr`` -> ``beauty.0001``)."""
    name = posixpath.basename(key)
    root, ext = posixpath.splitext(name)
    return root if root and ext else name


def key_digest(source_key: str, length: int = 40) -> str:
    return hashlib.sha256(source_key.encode()).hexdigest()[:length]


def fit_outputs(directory: str, name: str, source_key: str, suffixes: dict[str, str]) -> dict[str, str]:
    """``<dir>/.proxies/<name><suffix>`` for every output kind, all shortened alike (never past 1024 UTF-8
    bytes) when the longest would not fit."""
    folder = posixpath.join(directory, PROXY_DIR) if directory else PROXY_DIR
    longest = max(len(s.encode()) for s in suffixes.values())
    if len(f"{folder}/{name}".encode()) + longest > MAX_KEY_BYTES:
        tag = f"~{key_digest(source_key, 16)}"
        room = MAX_KEY_BYTES - len(f"{folder}/{tag}".encode()) - longest
        if room < 0:  # the folder alone is too deep: the bucket's top-level .proxies/long/, by hash
            folder, name = f"{PROXY_DIR}/long", key_digest(source_key, 32)
        else:
            name = name.encode()[:room].decode(errors="ignore") + tag
    return {kind: f"{folder}/{name}{suffix}" for kind, suffix in suffixes.items()}


def output_keys(source_key: str, qualified: bool = False) -> OutputKeys:
    """Output keys of one source. ``qualified`` keeps the extension in the name (``frame.0001.tif_thumb.jpg``),
    used when a same-stem sibling (``frame.0001.exr``) already owns the plain ``frame.0001_thumb.jpg``."""
    directory = posixpath.dirname(source_key)
    name = posixpath.basename(source_key) if qualified else stem(source_key)
    return OutputKeys(**fit_outputs(directory, name, source_key, _SUFFIXES), qualified=qualified)


def state_key(source_key: str, name: str) -> str:
    """Where the pipeline keeps one source's state objects (hashed: short for any source key)."""
    return f"{PIPELINE_DIR}/{key_digest(source_key)}/{name}"


def asset_id(source_key: str) -> str:
    return hashlib.md5(source_key.encode()).hexdigest()[:16]


def format_mtime(mtime: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS+00:00``: UTC, no microseconds, exactly exr-inspector's text form."""
    if mtime.tzinfo is None:
        mtime = mtime.replace(tzinfo=UTC)
    return mtime.astimezone(UTC).replace(microsecond=0).isoformat()


def file_id(source_key: str, mtime: datetime | str) -> str:
    """``sha256(key + mtime + md5(key))[:16]``; ``source_key`` excludes the bucket."""
    mtime_text = mtime if isinstance(mtime, str) else format_mtime(mtime)
    md5 = hashlib.md5(source_key.encode()).hexdigest()
    return hashlib.sha256(f"{source_key}{mtime_text}{md5}".encode()).hexdigest()[:16]


def proxy_id(s3_bucket: str, s3_key: str, profile: str) -> str:
    """Row id: one current row per source object and output profile, whatever its versions and re-runs."""
    return hashlib.sha256(f"{s3_bucket}/{s3_key}|{profile}".encode()).hexdigest()[:32]


def clip_id(bucket: str, pattern: str, output_profile: str, clip_profile: str = PRIMARY) -> str:
    """One clip row per sequence, output profile and clip profile; the review clip keeps the id it always had."""
    basis = f"{bucket}/{pattern}|{output_profile}|clip{id_suffix(clip_profile)}"
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def split_frame(name: str) -> re.Match[str] | None:
    """A file name's parts by the frame-number rule (name, sep, digits, ext), or None without a frame number."""
    match = FRAME_NAME.match(posixpath.basename(name))
    return match if match and match.group("name") else None


def frame_number(path: str) -> int | None:
    """Frame number from the name (``beauty.0001.exr`` -> 1, ``shot_v2_1001.dpx`` -> 1001), by the one rule
    that also groups sequences."""
    match = split_frame(path)
    return int(match.group("digits")) if match else None


def split_pattern(pattern: str) -> re.Match[str] | None:
    """A sequence pattern's parts (name, sep, hashes, ext): ``beauty.####.exr``; None for anything else."""
    match = FRAME_PATTERN.match(posixpath.basename(pattern))
    return match if match and match.group("name") else None


def clip_name(pattern: str) -> str:
    """``<name><sep><ext without dot>``: the name of a sequence's clip and poster, collision-free across
    separators and extensions."""
    m = split_pattern(pattern)
    if m is None:
        raise ValueError(f"not a sequence pattern (name, '.' or '_', '#'s, extension): {pattern!r}")
    return f"{m.group('name')}{m.group('sep')}{m.group('ext')[1:]}"


def clip_suffixes(profiles: dict[str, str]) -> dict[str, str]:
    """Profile name -> extension (``.mov``) to the suffix of each deliverable, plus the poster's and the
    timeline's: the review clip keeps ``_clip.mp4``, every other profile is ``_<profile><ext>``
    (``_prores_422hq.mov``)."""
    suffixes = {name: "_clip.mp4" if name == PRIMARY else f"_{name}{ext}" for name, ext in profiles.items()}
    return {**suffixes, "poster": POSTER_SUFFIX, "timeline": TIMELINE_SUFFIX}


def clip_keys(pattern: str, profiles: dict[str, str]) -> dict[str, str]:
    """``<dir>/.proxies/<name><sep><ext without dot>_clip.mp4``, one key per other profile and ``..._poster.jpg``:
    all shortened alike, within S3's key limit."""
    return fit_outputs(posixpath.dirname(pattern), clip_name(pattern), pattern, clip_suffixes(profiles))


def is_private(key: str) -> bool:
    """A pipeline intermediate (``.proxies/.pipeline/`` in S3, ``.proxygen/`` of a local output folder), not an
    output a reviewer is pointed at."""
    return key.startswith(PIPELINE_DIR + "/") or f"/{LOCAL_STATE_DIR}/" in key
