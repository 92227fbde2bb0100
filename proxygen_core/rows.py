"""The catalog's records as types: one dataclass per table, whose fields are exactly the table's columns.

Why here, on the ground floor: rows are built by the pipeline, written by the catalog, read by the events,
the dailies, the reports, the CLI and the Dagster layer. A typed row lets each of them read ``row.status``
instead of ``row["status"]`` (a typo is a type error, not a KeyError at 3 a.m.), and keeps this module free
of pyarrow: ``proxygen render`` starts without it. The pyarrow schemas (catalog/schema.py) are the tables'
definition; tests/test_rows.py holds the two to the same names, order and types.

``from_record`` is strict about unknown keys (a column nobody declared is a bug, never dropped in silence)
and lenient about missing ones (an older table without a newer column reads as None), so old rows stay
readable after a column is added.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from typing import Any, Self

OK, FAILED, SKIPPED = "ok", "failed", "skipped"  # a row's status: rendered, failed (error names why), not a source


class _Record:
    """What every row type shares: to and from the catalog's plain records."""

    status: str  # declared by each row type (a dataclass field there); named here for ``ok``

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Self:
        unknown = set(record) - set(cls.columns())
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown catalog columns {sorted(unknown)}")
        return cls(**{name: record.get(name) for name in cls.columns()})

    def record(self) -> dict[str, Any]:
        """The row as the catalog stores it: every column, in the table's order."""
        return {name: getattr(self, name) for name in self.columns()}

    def but(self, **changes: Any) -> Self:
        """A copy with ``changes`` (rows are values: a stage never edits another stage's row in place)."""
        return replace(self, **changes)  # type: ignore[type-var]

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclass(frozen=True, kw_only=True)
class FrameRow(_Record):
    """One source's current row in ``proxy_outputs`` (a superset of the original function's columns)."""

    # the original function's columns
    proxy_id: str
    file_id: str | None = None
    s3_key: str
    s3_bucket: str
    asset_id: str | None = None
    thumbnail_s3_key: str | None = None
    proxy_s3_key: str | None = None
    thumbnail_size_bytes: int | None = None
    proxy_size_bytes: int | None = None
    source_size_bytes: int | None = None
    source_colorspace: str | None = None
    thumb_colorspace: str | None = None
    proxy_colorspace: str | None = None
    thumb_resolution: str | None = None
    proxy_resolution: str | None = None
    processing_time_seconds: float | None = None
    generated_timestamp: str | None = None
    generator_version: str | None = None
    # what users need beyond them
    status: str
    error: str | None = None
    etag: str | None = None
    mtime: str | None = None
    colorspace_rule: str | None = None
    source_resolution: str | None = None
    ocio_config: str | None = None
    ocio_view: str | None = None
    render_settings_hash: str | None = None
    output_profile: str | None = None
    preview_s3_key: str | None = None
    failed_step: str | None = None  # the one name of the stage a failed row failed in
    event_id: str | None = None
    review_layer: str | None = None
    pixel_aspect_ratio: float | None = None
    # shot identity from the key template (None when the key does not match it)
    show: str | None = None
    seq: str | None = None
    shot: str | None = None
    task: str | None = None
    version: int | None = None
    nonfinite_pixels: int | None = None  # NaN/Inf samples in the source's picture (rendered as 0): QC warns


@dataclass(frozen=True, kw_only=True)
class HistoryRow(FrameRow):
    """An earlier version of a frame row, and when it was replaced."""

    replaced_at: str | None = None


@dataclass(frozen=True, kw_only=True)
class ClipRow(_Record):
    """One deliverable of one image sequence (``proxy_clips``): per sequence, output profile and clip profile."""

    clip_id: str
    sequence: str
    s3_bucket: str
    output_profile: str | None = None
    clip_s3_key: str | None = None
    poster_s3_key: str | None = None
    poster_frame: int | None = None
    first_frame: int | None = None
    last_frame: int | None = None
    frame_count: int | None = None
    missing_frames: str | None = None  # JSON lists of frame numbers (one text column in every backend)
    failed_frames: str | None = None
    fps: float | None = None
    start_timecode: str | None = None
    duration_seconds: float | None = None
    clip_resolution: str | None = None
    clip_size_bytes: int | None = None
    status: str
    error: str | None = None
    render_settings_hash: str | None = None
    frames_fingerprint: str | None = None
    generated_timestamp: str | None = None
    generator_version: str | None = None
    event_id: str | None = None
    # the deliverable: which clip profile, how it is encoded, and how close it measured to the exact render
    profile: str | None = None
    codec: str | None = None
    pix_fmt: str | None = None
    quality_metric: str | None = None
    quality_de_mean: float | None = None
    quality_de_p99: float | None = None
    quality_psnr_db: float | None = None
    quality_passed: bool | None = None
    timeline_s3_key: str | None = None
    slate_frames: int | None = None
    active_area: str | None = None  # "x,y,w,h" the picture fills in the file (a raster: the rest is pad)
    show: str | None = None
    seq: str | None = None
    shot: str | None = None
    task: str | None = None
    version: int | None = None
    planned_at: int | None = None  # the plan's stamp (ms): an older build never replaces a newer one's row
    # the sequence's grade (ASC CDL; docs/colour.md "Grades and looks"): triples as text "r g b", None ungraded
    grade_slope: str | None = None
    grade_offset: str | None = None
    grade_power: str | None = None
    grade_sat: float | None = None
    grade_source: str | None = None  # where it came from: metadata:<uri>, cc:<uri>, ccc:<uri>#<shot>
    ocio_config: str | None = None  # the config the clip was rendered with
    ocio_cache_id: str | None = None  # OCIO's cache id of the (grade, display, view) processor
    # the tracker publish of this clip (the tracked profile only; None where no tracker is configured)
    tracker_status: str | None = None  # pending | published | failed
    tracker_url: str | None = None  # the revision's page in the tracker
    tracker_revision: str | None = None  # the tracker's id of the revision (playlists, updates)
    tracker_error: str | None = None  # why the last attempt did not publish
    tracker_attempts: int | None = None
    tracker_retry_at: str | None = None  # not before this (ISO UTC): the backoff, or the lease of a running attempt
    tracker_claim: str | None = None  # the token of the publisher holding this publish (trackers/outbox.py)
    tracker_review: str | None = None  # the revision's review status last read from the tracker (cut approvals)

    @property
    def missing(self) -> list[int]:
        return json.loads(self.missing_frames or "[]")

    @property
    def failed(self) -> list[int]:
        return json.loads(self.failed_frames or "[]")


# --- exr-inspector-compatible tables (optional: settings.exr_inspector_tables; catalog/inspector.py) ----------


@dataclass(frozen=True, kw_only=True)
class InspectorFileRow(_Record):
    """One EXR in the sibling exr-inspector's ``files`` table: its columns, names and order exactly, so the seed
    README's JOIN with ``proxy_outputs`` on ``file_id`` works where proxygen writes it (docs/catalog.md)."""

    file_id: str
    file_path: str  # the S3 key, without the bucket
    file_path_normalized: str
    header_hash: str
    size_bytes: int
    mtime: str  # the object's LastModified, exr-inspector's text form (file_id hashes it)
    multipart_count: int
    is_deep: bool
    metadata_embedding: list[float] | None = None  # FLOAT32[384] on VAST; never written by proxygen (NULL)
    frame_number: int | None = None
    inspection_timestamp: str  # the first inspection (ISO 8601 UTC)
    inspection_count: int = 1
    last_inspected: str


@dataclass(frozen=True, kw_only=True)
class InspectorPartRow(_Record):
    """One part of an EXR in exr-inspector's ``parts`` table (its columns exactly)."""

    file_id: str
    file_path: str
    part_index: int
    width: int
    height: int
    display_width: int
    display_height: int
    data_x_offset: int
    data_y_offset: int
    part_name: str | None = None
    view_name: str | None = None
    multi_view: bool = False
    data_window: str  # JSON [xmin, ymin, xmax, ymax]
    display_window: str
    pixel_aspect_ratio: float = 1.0
    line_order: str | None = None
    compression: str | None = None
    color_space: str | None = None
    render_software: str | None = None
    is_tiled: bool = False
    tile_width: int = 0
    tile_height: int = 0
    tile_depth: int = 0
    is_deep: bool = False


@dataclass(frozen=True, kw_only=True)
class CutRow(_Record):
    """One editorial cut's latest conform (``proxy_cuts``, docs/editorial.md): one row per cut key and output
    profile, replaced by each newer build (``planned_at``: an older build never replaces a newer one's row)."""

    cut_id: str
    cut_key: str
    s3_bucket: str
    output_profile: str | None = None
    cut_name: str | None = None
    status: str
    error: str | None = None
    fps: float | None = None
    start_timecode: str | None = None
    event_count: int | None = None
    matched_events: int | None = None
    events: str | None = None  # JSON: per event its shot, version, state, source and record in/out
    versions: str | None = None  # JSON: shot -> the version the cut holds
    missing_events: str | None = None  # JSON: the indexes of events shown as cards
    warnings: str | None = None  # JSON list (frame-rate conversions, ...)
    frame_count: int | None = None
    duration_seconds: float | None = None
    movie_s3_key: str | None = None
    otio_s3_key: str | None = None
    html_s3_key: str | None = None
    deliverables: str | None = None  # JSON: editorial profile -> its cut movie's key (<cut>_cut_<profile>.<ext>)
    audio_s3_key: str | None = None  # the WAV or AAC muxed in from the first picture
    quality: str | None = None  # JSON: profile -> its sampled pictures' figures (clip_quality.ClipQuality)
    quality_passed: bool | None = None  # every file within its profile's bound (None: no picture to measure)
    cut_etag: str | None = None
    fingerprint: str | None = None  # what the build was made from (the cut's etag, each event's clip row)
    planned_at: int | None = None
    generated_timestamp: str | None = None
    generator_version: str | None = None
    event_id: str | None = None

    @property
    def event_list(self) -> list[dict[str, Any]]:
        return json.loads(self.events or "[]")

    @property
    def quality_figures(self) -> dict[str, Any]:
        return json.loads(self.quality or "{}")

    @property
    def deliverable_keys(self) -> dict[str, str]:
        return json.loads(self.deliverables or "{}")

    @property
    def version_map(self) -> dict[str, int]:
        return json.loads(self.versions or "{}")
