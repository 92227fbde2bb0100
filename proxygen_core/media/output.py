"""A produced output file: where it is, what it is."""
from __future__ import annotations

from dataclasses import dataclass

from proxygen_core.media.geometry import resolution


@dataclass
class Media:
    """A thumbnail, proxy or preview: a local file (CLI) or a published object (``path`` is its S3 key)."""

    kind: str  # "thumbnail" | "proxy" | "preview"
    path: str
    width: int
    height: int
    size_bytes: int
    colorspace: str
    seconds: float = 0.0
    uri: str = ""

    @property
    def resolution(self) -> str:
        return resolution(self.width, self.height)
