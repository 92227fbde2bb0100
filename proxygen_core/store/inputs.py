"""What an object in the bucket (or a file given to ``proxygen render``) is, decided in one place.

Every door used to keep its own extension check, so an object none of them took (a ``.psd``, a grade
sidecar, an extensionless frame) got no row, no event and no partition: only a count in a log line
repeated every sweep. Here each object is classified once, by one registry: a frame source (the
configured ``extensions``), one of the kinds below, our own output, or unknown. A kind nothing consumes
yet carries the reason it is ignored; that reason is what its ``skipped`` catalog row says.

Adding a kind is one entry in ``KINDS``; a kind a stage starts consuming drops its ``reason``.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass

from proxygen_core.store.keys import LOCAL_STATE_DIR, is_proxy_key


@dataclass(frozen=True)
class InputKind:
    """One kind of input: its name, its extensions (lower case, with the dot), whether the frame chain takes
    it, why nothing takes it when nothing does, and whether an ignored object of it gets a skipped row."""

    name: str
    extensions: frozenset[str] = frozenset()
    frames: bool = False  # the frame chain renders it
    reason: str = ""  # why it is ignored ("" when something consumes it)
    recorded: bool = True  # an ignored object gets a skipped row and event (never our own outputs)


@dataclass(frozen=True)
class Input:
    """The verdict on one object: its kind, and the reason it is ignored ("" for a source)."""

    kind: InputKind
    reason: str = ""

    @property
    def source(self) -> bool:
        """The frame chain takes it: a partition, a run and an ``ok``/``failed`` row."""
        return self.kind.frames

    @property
    def skipped(self) -> bool:
        """Ignored, and recorded once per version as a ``skipped`` row with this reason."""
        return not self.kind.frames and self.kind.recorded


FRAME = InputKind("frame", frames=True)
OUTPUT = InputKind("output", reason="our own output (.proxies/ or the state folder)", recorded=False)
FOLDER = InputKind("folder", reason="a folder marker, not a file", recorded=False)
UNKNOWN = InputKind("unknown", reason="unknown input")

# The kinds besides frame sources. Their extensions are fixed; the frame extensions are a setting
# (PipelineSettings.extensions) and win over these when an operator lists one of them there.
KINDS: tuple[InputKind, ...] = (
    InputKind("grade", frozenset({".cc", ".cdl", ".ccc"}), reason="grade sidecar: no grade stage yet"),
    InputKind("editorial", frozenset({".edl", ".otio", ".xml", ".aaf", ".wav", ".aac"}),
              reason="editorial file outside PROXYGEN_EDITORIAL_PREFIX, or audio: not a cut"),
    InputKind("config", frozenset({".ocio"}), reason="colour configuration: not read from the bucket"),
)


def extension(key: str) -> str:
    """The last extension of the file name, lower case (``.exr``), or "" when it has none. A numeric last
    part (``plate.1001``) is a frame number, not an extension."""
    ext = posixpath.splitext(posixpath.basename(key))[1].lower()
    return "" if ext[1:].isdigit() else ext


def is_ours(key: str) -> bool:
    """Under a ``.proxies/`` folder (outputs and the pipeline's state) or a local door's state folder."""
    return is_proxy_key(key) or f"/{LOCAL_STATE_DIR}/" in f"/{key}"


def classify(key: str, frame_extensions: frozenset[str]) -> Input:
    """What ``key`` is: the one decision every door (sweep, notifications, ``proxygen render``) takes."""
    if key.endswith("/"):
        return Input(FOLDER, FOLDER.reason)
    if is_ours(key):
        return Input(OUTPUT, OUTPUT.reason)
    ext = extension(key)
    if ext and ext in frame_extensions:
        return Input(FRAME)
    for kind in KINDS:
        if ext in kind.extensions:
            return Input(kind, kind.reason)
    return Input(UNKNOWN, f"{UNKNOWN.reason}: extension {ext}" if ext else f"{UNKNOWN.reason}: no extension")
