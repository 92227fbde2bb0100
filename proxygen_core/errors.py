"""One exception family for everything that can go wrong with one source.

Every error names the file and the cause, so a batch can record it as a failure
row / JSON and carry on with the next frame. ``str(err)`` is always one line.
"""
from __future__ import annotations

from collections.abc import Iterable

MAX_CAUSE_CHARS = 300


def clean_text(text: object, limit: int = MAX_CAUSE_CHARS) -> str:
    """One line, repeated lines and sentences said once, undecodable bytes replaced, at most ``limit`` chars.

    OIIO accumulates the same message once per failed scanline or retry, sometimes as raw bytes.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    parts: list[str] = []
    for line in str(text).replace("\r", "\n").splitlines():
        line = " ".join(line.split())
        if line and line not in parts:
            parts.append(line)
    out = "; ".join(parts)
    return out if len(out) <= limit else out[: limit - 1].rstrip() + "…"



class ProxygenError(Exception):
    """Base class: a problem with one source (or one output) that should fail only that item."""

    kind = "error"

    def __init__(self, path: str, cause: str, transient: bool = False) -> None:
        self.path = str(path)
        # The file's own path, where the cause names it, does not count towards the limit: the same failure then
        # reads the same whichever door names the file (a local path, or the S3 URI of the same object).
        text = clean_text(cause, limit=10**6)
        self.cause = clean_text(text, MAX_CAUSE_CHARS + text.count(self.path) * len(self.path)) if self.path \
            else clean_text(text)
        self.cause = self.cause or self.kind
        # Infrastructure trouble (S3 unreachable, timeouts, 5xx): worth retrying, unlike bad content.
        self.transient = transient
        super().__init__(f"{self.path}: {self.cause}")

    def to_dict(self) -> dict[str, str]:
        out = {"kind": self.kind, "type": type(self).__name__, "path": self.path, "cause": self.cause}
        if self.transient:
            out["transient"] = "true"
        return out


class UnreadableSourceError(ProxygenError):
    """The file cannot be opened or its pixels cannot be decoded (corrupt, truncated, not an image)."""

    kind = "unreadable"


class UnsupportedSourceError(ProxygenError):
    """The file is readable but holds something we do not render (no image channels, unknown layout)."""

    kind = "unsupported"


class SourceTooLargeError(ProxygenError):
    """The header claims more pixels than the configured limit: refused before any allocation."""

    kind = "too_large"


class WorkerMemoryError(ProxygenError):
    """The frame fits the budget in a fresh worker but not beside what this worker already holds: a state of the
    process (grown by earlier frames), not of the file, so it is transient and infrastructure, never a permanent
    ``too_large`` on the frame's row."""

    kind = "worker_memory"

    def __init__(self, path: str, cause: str, transient: bool = True) -> None:
        super().__init__(path, cause, transient=True)  # always: a state of this process, never of the file


class ColorError(ProxygenError):
    """The OCIO config, a colour space, display or view cannot be resolved or applied."""

    kind = "color"


class EncodeError(ProxygenError):
    """Writing the JPEG or the H.264 MP4 failed."""

    kind = "encode"


class StorageError(ProxygenError):
    """Object storage refused a read or a write."""

    kind = "storage"


class ConfigurationError(ProxygenError, ValueError):
    """Our side is not configured to do this: a setting is missing or invalid (no S3 credentials, no tracker URL).
    Never a failure of a source, a clip or a tracker: nothing is recorded on a row, the operator fixes the setting.
    ``path`` (and ``settings``) name the settings; ``str()`` is one line. A ValueError too, so the CLI prints it as
    the one-line configuration error it is (cli.main)."""

    kind = "configuration"

    def __init__(self, settings: Iterable[str], cause: str) -> None:
        self.settings = tuple(settings)
        super().__init__(", ".join(self.settings), cause)


class InternalError(ProxygenError):
    """An unexpected exception while processing one source, wrapped so the batch goes on."""

    kind = "internal"


# The kinds that are the source's own fault: content that is damaged, unsupported or too large, a colour space its
# metadata names that the config lacks, an output that misses its contract. A run that failed only on these needs no
# operator (the rows and proxy.failed events say it all); any other failure (storage, the catalog, the broker, an
# unexpected exception, a killed worker, a timeout) is infrastructure and worth an alert (docs/operations.md).
CONTENT_KINDS = frozenset({"unreadable", "unsupported", "too_large", "color", "encode", "qc"})
CONTENT, INFRASTRUCTURE = "content", "infrastructure"


def failure_class(kinds: Iterable[str]) -> str:
    """``content`` when every failure is of a content kind, else ``infrastructure`` (none known: infrastructure)."""
    kinds = list(kinds)
    return CONTENT if kinds and all(k in CONTENT_KINDS for k in kinds) else INFRASTRUCTURE


def as_proxygen_error(path: str, exc: BaseException) -> ProxygenError:
    """Wrap any exception so that callers can record it uniformly; typed errors pass through."""
    if isinstance(exc, ProxygenError):
        return exc
    return InternalError(path, f"{type(exc).__name__}: {exc}")


class QCFailure(ProxygenError):
    """An output was made but does not meet its contract (size, codec, tags): the key fails there."""

    kind = "qc"
