"""Image sequences: which keys belong together, and the pattern key that names them.

A sequence is the set of keys in one folder with the same name, separator (``.`` or ``_``) and
extension, followed by a frame number: ``beauty.1001.exr``, ``sh010_comp_v003.1001.exr``,
``plate_1001.dpx``. A version such as ``v003`` is part of the name (it is not all digits after a
separator). Padding may vary between frames (``beauty.999.exr``, ``beauty.1000.exr``): it is not part of
the identity. The pattern key writes the frame number as ``#`` repeated to the padding of the frame that
first named the sequence (``renders/sh010/beauty.####.exr``) and parses back exactly.
"""
from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from proxygen_core.store.keys import split_frame, split_pattern


@dataclass(frozen=True)
class SequenceId:
    """What makes frames one sequence: folder, name, separator, extension (case kept; not padding)."""

    directory: str
    name: str
    sep: str
    ext: str

    def pattern(self, padding: int = 4) -> str:
        base = f"{self.name}{self.sep}{'#' * max(1, padding)}{self.ext}"
        return f"{self.directory}/{base}" if self.directory else base

    def frame_key(self, frame: int, padding: int) -> str:
        base = f"{self.name}{self.sep}{frame:0{padding}d}{self.ext}"
        return f"{self.directory}/{base}" if self.directory else base


@dataclass(frozen=True)
class FrameKey:
    key: str
    sequence: SequenceId
    frame: int
    padding: int


def parse_frame(key: str) -> FrameKey | None:
    """The sequence and frame number of one key, or None for a key with no frame number."""
    directory = posixpath.dirname(key)
    m = split_frame(key)
    if m is None:
        return None
    digits = m.group("digits")
    return FrameKey(key, SequenceId(directory, m.group("name"), m.group("sep"), m.group("ext")), int(digits),
                    len(digits))


def parse_pattern(pattern: str) -> tuple[SequenceId, int]:
    """The sequence a pattern key names, and its padding (``#`` count). Raises ValueError for a non-pattern."""
    directory = posixpath.dirname(pattern)
    m = split_pattern(pattern)
    if m is None:
        raise ValueError(f"not a sequence pattern (name, '.' or '_', '#'s, extension): {pattern!r}")
    return SequenceId(directory, m.group("name"), m.group("sep"), m.group("ext")), len(m.group("hashes"))


def members_of(keys: Iterable[str], sequence: SequenceId) -> list[str]:
    """The keys that are frames of ``sequence``."""
    return [k for k in keys if (f := parse_frame(k)) is not None and f.sequence == sequence]


def group(keys: Iterable[str]) -> dict[SequenceId, dict[int, str]]:
    """Sequences (two or more frames) among ``keys``: frame number -> key. Lone files are left out.
    Two keys with the same frame number in one sequence (``a.1.exr``, ``a.001.exr``) keep the first."""
    found: dict[SequenceId, dict[int, str]] = {}
    for key in keys:
        parsed = parse_frame(key)
        if parsed is not None:
            found.setdefault(parsed.sequence, {}).setdefault(parsed.frame, key)
    return {seq: frames for seq, frames in found.items() if len(frames) >= 2}
