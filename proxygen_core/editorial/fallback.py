"""The last source of a cut's picture: the version's 10-bit editorial clip, when its working frame and its source
are both gone (released, deleted, unreadable).

Why this order (working frame, source, 10-bit clip, gap): the first two are scene-linear, first generation; the
10-bit clip (ProRes, DNxHR) is a second generation, but a near-transparent one (the test cut: 0.03 mean
CIEDE2000 against the exact render), never the 8-bit H.264 review clip. Its pictures are display-referred: they
already carry the version's grade, looks and show config, and burn-ins if that profile had them; they are taken
as they are (resized to the cut's size if needed). Its slate, when it has one, is found by its timecode track:
the file starts a picture before the review clip's first frame.

A file is decoded forward once per event (pictures are asked in order); a picture asked before the last one read
reopens it. Found by key (``store.clip_keys``: the sequence's clip of that profile), so no catalog read is made.
"""
from __future__ import annotations

from typing import Any

import av
import numpy as np

from proxygen_core.media.resample import resize
from proxygen_core.media.timecode import frames_of
from proxygen_core.media.yuv import picture_rgb
from proxygen_core.profiles import PROFILES, ClipProfile
from proxygen_core.rows import ClipRow
from proxygen_core.store.base import ObjectInfo, Store

FALLBACK_PROFILES = tuple(p for p in PROFILES.values() if p.editorial and p.bits >= 10 and not p.hdr)


class _Reader:
    """One clip file decoded forward."""

    def __init__(self, path: str, profile: ClipProfile, first_timecode: str | None, fps: float) -> None:
        self.path, self.profile = path, profile
        self.container: Any = None
        self.slate = 0
        self.container = self._open()
        tc = self.container.streams.video[0].metadata.get("timecode")
        if tc and first_timecode:  # the file starts at its slate: one picture before the first frame
            base = max(1, round(fps))
            self.slate = max(0, frames_of(first_timecode, base) - frames_of(tc, base))

    def _open(self) -> Any:
        if self.container is not None:
            self.container.close()
        container = av.open(self.path)
        self.frames = container.decode(video=0)
        self.next = 0
        return container

    def picture(self, index: int) -> np.ndarray | None:
        if index < self.next:
            self.container = self._open()
        for frame in self.frames:
            self.next += 1
            if self.next - 1 == index:
                return picture_rgb(frame, self.profile.matrix)
        return None

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


class DeliverableFrames:
    """Pictures of versions' 10-bit editorial clips, by frame number; ``close`` drops the downloads."""

    def __init__(self, store: Store, resize_filter: str) -> None:
        self.store, self.resize_filter = store, resize_filter
        self.readers: dict[str, _Reader | None] = {}  # clip key -> its reader (None: no such clip)
        self.fetched: list[ObjectInfo] = []  # downloads to drop (store.fetch: the scratch copy of an S3 object)

    def _reader(self, row: ClipRow) -> _Reader | None:
        for profile in FALLBACK_PROFILES:
            key = self.store.clip_keys(row.sequence, {profile.name: profile.extension})[profile.name]
            if key not in self.readers:
                self.readers[key] = None
                if self.store.exists(key):
                    info = self.store.head(key)
                    local = str(self.store.fetch(info))  # to scratch, streamed: a clip can be gigabytes
                    self.fetched.append(info)
                    try:
                        self.readers[key] = _Reader(local, profile, row.start_timecode, row.fps or 24.0)
                    except (av.error.FFmpegError, OSError, IndexError):
                        self.readers[key] = None  # a clip that cannot be opened: the next profile, else a gap
            reader = self.readers[key]
            if reader is not None:
                return reader
        return None

    def picture(self, row: ClipRow, number: int, width: int, height: int) -> tuple[np.ndarray, str] | None:
        """The display picture of frame ``number`` from the version's 10-bit clip at the cut's size, with the
        profile it came from; None when the version has no such clip (or it lacks that picture)."""
        reader = self._reader(row)
        if reader is None or row.first_frame is None:
            return None
        try:
            rgb = reader.picture(number - row.first_frame + reader.slate)
        except (av.error.FFmpegError, OSError):
            return None  # a truncated or corrupt clip: that picture is a gap, the cut goes on
        if rgb is None:
            return None
        if rgb.shape[:2] != (height, width):
            rgb = resize(np.ascontiguousarray(rgb, dtype=np.float32), width, height, self.resize_filter)
        return np.asarray(rgb, dtype=np.float32), reader.profile.name

    def close(self) -> None:
        for reader in self.readers.values():
            if reader is not None:
                reader.close()
        for info in self.fetched:
            self.store.evict(info)
