"""A sequence's members: each frame key's state, and loaders of their working frames.

Runs after the frames: each member's ``state.json`` says whether that version finished ok (and where its
working frame and thumbnail are) or failed. A member whose working frame is gone (retention, or never kept)
is decoded from its source again, and the row says how many were.
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from proxygen_core.errors import as_proxygen_error
from proxygen_core.media.clips import ReviewPlanes
from proxygen_core.media.frame import WorkingFrame
from proxygen_core.media.render import decode_working
from proxygen_core.media.sequences import parse_frame
from proxygen_core.pipeline.state import KeyState, load_review_planes_bytes, load_state, load_working_if_exists
from proxygen_core.settings import RenderSettings
from proxygen_core.store.base import Store


@dataclass
class Members:
    states: dict[str, KeyState | None]  # key -> its state (None: not processed yet)
    numbers: dict[str, int]

    def unfinished(self, settings_hash: str) -> list[str]:
        return [k for k, s in self.states.items() if s is None or s.settings_hash != settings_hash]

    def fingerprint(self, settings_hash: str) -> str:
        """The versions and outcomes of every member, and the render settings: what a clip was made from."""
        basis = "|".join(f"{k}@{s.etag if s else '-'}:{s.status if s else '-'}" for k, s in sorted(self.states.items()))
        return hashlib.sha256(f"{basis}|{settings_hash}".encode()).hexdigest()[:24]

    def ok(self) -> dict[int, KeyState]:
        """Frame number -> state of the members that finished ok with a thumbnail (they have pictures)."""
        return {self.numbers[k]: s for k, s in self.states.items() if s and s.status == "ok" and s.thumbnail}

    def failed(self) -> frozenset[int]:
        return frozenset(self.numbers[k] for k, s in self.states.items() if s and s.status == "failed")


def load_members(store: Store, keys: list[str]) -> Members:
    parsed = {k: parse_frame(k) for k in keys}
    numbers = {k: f.frame for k, f in parsed.items() if f is not None}
    return Members({k: load_state(store, k) for k in numbers}, numbers)


class WorkingFrames:
    """Loaders of the members' working frames: the stored EXR, else a fresh decode of the source."""

    def __init__(self, store: Store, render: RenderSettings) -> None:
        self.store, self.render = store, render
        self.redecoded: set[int] = set()
        self._lock = threading.Lock()

    def planes_loader(self, number: int, state: KeyState) -> Callable[[], ReviewPlanes | WorkingFrame]:
        """The kept proxy planes; when they are gone (released, or an older state), the working frame instead
        (the same pictures, rendered): no listing or HEAD per frame to find out beforehand."""
        working = self.loader(number, state)

        def load() -> ReviewPlanes | WorkingFrame:
            data = self.store.get_bytes_if_exists(state.review_planes) if state.review_planes else None
            if data is None:
                return working()
            try:
                return ReviewPlanes(load_review_planes_bytes(data))
            except Exception as exc:
                raise as_proxygen_error(self.store.uri(state.key), exc) from exc
        return load

    def loader(self, number: int, state: KeyState) -> Callable[[], WorkingFrame]:
        def load() -> WorkingFrame:
            try:
                stored = load_working_if_exists(self.store, state.working_exr) if state.working_exr else None
                if stored is not None:
                    return stored
                info = self.store.head(state.key)
                frame = decode_working(str(self.store.fetch(info)), self.render)
                self.store.evict(info)
                with self._lock:
                    self.redecoded.add(number)
                return frame
            except Exception as exc:
                raise as_proxygen_error(self.store.uri(state.key), exc) from exc
        return load
