"""The registry of a frame's outputs: each kind (thumbnail, proxy, preview) is one entry.

An entry says what the chain, the state, the report, the catalog row and the Dagster layer need to know of
one output: its stage (asset) name, which is also its field on ``KeyResult`` and ``KeyState`` and its key in
the report; the function that makes it from the working frame; whether it needs the full-resolution decode
(the stored working EXR will not do); whether this deployment makes it; and the catalog columns of its key,
size and resolution. The chain walks the registry instead of naming each output, so adding one is one entry
and its ``make_*`` function (CONTRIBUTING.md lists the rest: its catalog columns, its key, its check).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from proxygen_core.media.frame import WorkingFrame
from proxygen_core.media.output import Media
from proxygen_core.pipeline.stages import SourceFrame, Thumbnail, make_preview, make_proxy, make_thumbnail
from proxygen_core.settings import Settings
from proxygen_core.store.base import Store
from proxygen_core.store.keys import OutputKeys

THUMBNAIL, PROXY, PREVIEW = "thumbnail", "proxy", "preview"  # the kinds the chain names (RECORD needs two)

Make = Callable[[Store, WorkingFrame, OutputKeys, Settings, Path, SourceFrame], "Media | Thumbnail"]


@dataclass(frozen=True)
class OutputKind:
    stage: str  # the asset, the KeyResult / KeyState field and the report key
    make: Make
    key_column: str  # catalog columns (rows.FrameRow)
    size_column: str | None
    resolution_column: str | None
    full_resolution: bool = False  # made from the full-resolution decode, never from the stored working EXR
    enabled: Callable[[Settings], bool] = lambda settings: True


OUTPUT_KINDS: tuple[OutputKind, ...] = (
    OutputKind(THUMBNAIL, lambda store, frame, outs, settings, folder, source: make_thumbnail(
        store, frame, outs, settings.render, folder, source),
        "thumbnail_s3_key", "thumbnail_size_bytes", "thumb_resolution"),
    OutputKind(PROXY, make_proxy, "proxy_s3_key", "proxy_size_bytes", "proxy_resolution"),
    OutputKind(PREVIEW, lambda store, frame, outs, settings, folder, source: make_preview(
        store, frame, outs, settings.render, folder, source),
        "preview_s3_key", None, None, full_resolution=True,
        enabled=lambda settings: settings.render.preview_enabled),
)
OUTPUT_BY_STAGE = {kind.stage: kind for kind in OUTPUT_KINDS}
