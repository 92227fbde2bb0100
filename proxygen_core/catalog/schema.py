"""The catalog's tables, defined once as pyarrow schemas, and the interface every backend implements.

``proxy_outputs`` holds exactly one current row per (bucket, key, output profile): ``proxy_id`` is
derived from those three, so re-uploads, re-runs and backfills replace the row. The row it replaces
goes to ``proxy_outputs_history`` when it described another version (etag, settings or outcome). A row
and its event are written in one transaction; the publisher claims outbox rows before sending them,
so concurrent drains never send one event twice.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from proxygen_core.rows import ClipRow, CutRow, FrameRow, HistoryRow, _Record

if TYPE_CHECKING:
    from collections.abc import Sequence

    from proxygen_core.catalog.inspector import InspectedFile

PROXY_OUTPUTS = pa.schema([
    # the original function's columns
    ("proxy_id", pa.string()), ("file_id", pa.string()), ("s3_key", pa.string()), ("s3_bucket", pa.string()),
    ("asset_id", pa.string()), ("thumbnail_s3_key", pa.string()), ("proxy_s3_key", pa.string()),
    ("thumbnail_size_bytes", pa.int64()), ("proxy_size_bytes", pa.int64()), ("source_size_bytes", pa.int64()),
    ("source_colorspace", pa.string()), ("thumb_colorspace", pa.string()), ("proxy_colorspace", pa.string()),
    ("thumb_resolution", pa.string()), ("proxy_resolution", pa.string()),
    ("processing_time_seconds", pa.float64()), ("generated_timestamp", pa.string()),
    ("generator_version", pa.string()),
    # what users need beyond them
    ("status", pa.string()), ("error", pa.string()), ("etag", pa.string()), ("mtime", pa.string()),
    ("colorspace_rule", pa.string()), ("source_resolution", pa.string()), ("ocio_config", pa.string()),
    ("ocio_view", pa.string()), ("render_settings_hash", pa.string()), ("output_profile", pa.string()),
    ("preview_s3_key", pa.string()), ("failed_step", pa.string()), ("event_id", pa.string()),
    ("review_layer", pa.string()), ("pixel_aspect_ratio", pa.float64()),
    # shot identity from the key template (empty when the key does not match it)
    ("show", pa.string()), ("seq", pa.string()), ("shot", pa.string()), ("task", pa.string()), ("version", pa.int64()),
    ("nonfinite_pixels", pa.int64()),  # NaN/Inf samples of the source, rendered as 0 (a QC warning)
])

# Earlier versions of a row: the same columns plus when the row was replaced.
HISTORY = pa.schema(list(PROXY_OUTPUTS) + [pa.field("replaced_at", pa.string())])

OUTBOX = pa.schema([
    ("event_id", pa.string()), ("proxy_id", pa.string()), ("topic", pa.string()), ("message_key", pa.string()),
    ("payload", pa.string()), ("created_at", pa.string()), ("sent_at", pa.string()), ("attempts", pa.int64()),
    ("claimed_by", pa.string()), ("claimed_until", pa.string()),
])

# One row per image sequence, output profile and clip profile: a deliverable and the sequence's poster.
PROXY_CLIPS = pa.schema([
    ("clip_id", pa.string()), ("sequence", pa.string()), ("s3_bucket", pa.string()), ("output_profile", pa.string()),
    ("clip_s3_key", pa.string()), ("poster_s3_key", pa.string()), ("poster_frame", pa.int64()),
    ("first_frame", pa.int64()), ("last_frame", pa.int64()), ("frame_count", pa.int64()),
    ("missing_frames", pa.string()), ("failed_frames", pa.string()),  # JSON lists of frame numbers
    ("fps", pa.float64()), ("start_timecode", pa.string()), ("duration_seconds", pa.float64()),
    ("clip_resolution", pa.string()), ("clip_size_bytes", pa.int64()), ("status", pa.string()), ("error", pa.string()),
    ("render_settings_hash", pa.string()), ("frames_fingerprint", pa.string()), ("generated_timestamp", pa.string()),
    ("generator_version", pa.string()), ("event_id", pa.string()),
    # the deliverable: which clip profile, how it is encoded, and how close it measured to the exact render
    ("profile", pa.string()), ("codec", pa.string()), ("pix_fmt", pa.string()), ("quality_metric", pa.string()),
    ("quality_de_mean", pa.float64()), ("quality_de_p99", pa.float64()), ("quality_psnr_db", pa.float64()),
    ("quality_passed", pa.bool_()), ("timeline_s3_key", pa.string()), ("slate_frames", pa.int64()),
    ("active_area", pa.string()),  # "x,y,w,h" of the picture in the file (PROXYGEN_CLIP_RASTER's letterbox)
    ("show", pa.string()), ("seq", pa.string()), ("shot", pa.string()), ("task", pa.string()), ("version", pa.int64()),
    ("planned_at", pa.int64()),  # the build's plan stamp (ms): a row is never replaced by an older plan's
    # the grade (ASC CDL triples as text), where it came from, and the OCIO config and processor (rows.ClipRow)
    ("grade_slope", pa.string()), ("grade_offset", pa.string()), ("grade_power", pa.string()),
    ("grade_sat", pa.float64()), ("grade_source", pa.string()), ("ocio_config", pa.string()),
    ("ocio_cache_id", pa.string()),
    # the tracker publish (rows.ClipRow): pending | published | failed, the revision and the retry schedule
    ("tracker_status", pa.string()), ("tracker_url", pa.string()), ("tracker_revision", pa.string()),
    ("tracker_error", pa.string()), ("tracker_attempts", pa.int64()), ("tracker_retry_at", pa.string()),
    ("tracker_claim", pa.string()),  # the token of the publisher holding the row's publish (its lease: retry_at)
    ("tracker_review", pa.string()),  # the revision's review status last read (trackers/reviews.py)
])

# One row per editorial cut and output profile: its latest conform (docs/editorial.md; rows.CutRow).
PROXY_CUTS = pa.schema([
    ("cut_id", pa.string()), ("cut_key", pa.string()), ("s3_bucket", pa.string()), ("output_profile", pa.string()),
    ("cut_name", pa.string()), ("status", pa.string()), ("error", pa.string()), ("fps", pa.float64()),
    ("start_timecode", pa.string()), ("event_count", pa.int64()), ("matched_events", pa.int64()),
    ("events", pa.string()), ("versions", pa.string()), ("missing_events", pa.string()),  # JSON
    ("warnings", pa.string()), ("frame_count", pa.int64()), ("duration_seconds", pa.float64()),
    ("movie_s3_key", pa.string()), ("otio_s3_key", pa.string()), ("html_s3_key", pa.string()),
    ("deliverables", pa.string()), ("audio_s3_key", pa.string()),  # JSON profile -> key; the sound muxed in
    ("quality", pa.string()), ("quality_passed", pa.bool_()),  # JSON profile -> figures; all within bounds
    ("cut_etag", pa.string()), ("fingerprint", pa.string()), ("planned_at", pa.int64()),
    ("generated_timestamp", pa.string()), ("generator_version", pa.string()), ("event_id", pa.string()),
])

# What makes a row a different version: a change of any of these sends the old row to the history (a new reading
# of the key's shot identity too: ``proxygen identity --rederive`` keeps the old reading there).
VERSION_COLUMNS = ("file_id", "etag", "render_settings_hash", "status", "error", "show", "seq", "shot", "task",
                   "version")

# Column types per SQL dialect (SQLite's here; PostgreSQL's in catalog.postgres).
SQLITE_TYPES = {pa.string(): "TEXT", pa.int64(): "INTEGER", pa.float64(): "REAL", pa.bool_(): "INTEGER"}


def conform(row: dict[str, Any] | _Record, schema: pa.Schema = PROXY_OUTPUTS) -> dict[str, Any]:
    """Exactly the schema's columns, missing ones as None; unknown keys are an error (no silent drops)."""
    if isinstance(row, _Record):
        row = row.record()
    unknown = set(row) - set(schema.names)
    if unknown:
        raise ValueError(f"unknown catalog columns: {sorted(unknown)}")
    return {name: row.get(name) for name in schema.names}


def planned_later(stored: int | None, new: int | None) -> bool:
    """Whether the stored clip row comes from a later plan than a new one (both plan stamps, ms): the new row is
    then stale and refused. A row without a stamp (written before stamps existed) never blocks nor is blocked."""
    return stored is not None and new is not None and stored > new


# What a tracker publish changes on its clip row (nothing else: the build owns the rest).
TRACKER_COLUMNS = ("tracker_status", "tracker_url", "tracker_revision", "tracker_error", "tracker_attempts",
                   "tracker_retry_at", "tracker_claim", "tracker_review")
PENDING = "pending"


def tracker_due(row: ClipRow, now: str) -> bool:
    """Whether a clip waits for its tracker publish now: pending, rendered, and past its backoff or lease."""
    return row.tracker_status == PENDING and row.ok and (row.tracker_retry_at is None or row.tracker_retry_at <= now)


def tracker_held(row: ClipRow, now: str) -> bool:
    """Whether a publisher holds the clip's publish now: its claim token is set and its lease not run out."""
    return row.tracker_claim is not None and (row.tracker_retry_at is None or row.tracker_retry_at > now)


def tracker_claimable(row: ClipRow, now: str, force: bool = False) -> bool:
    """Whether a publisher may claim the clip's publish now: a due row (``tracker_due``); with ``force`` (a
    re-publish from the UI, a backfill, ``--clip``) any rendered row whatever its state, unless another publisher
    holds it (``tracker_held``). Every publish path claims: none writes beside a live claim."""
    if force:
        return row.ok and not tracker_held(row, now)
    return tracker_due(row, now)


def tracker_allows(row: ClipRow, planned_at: int | None, claim_at: str | None, force: bool,
                   owner: str | None) -> bool:
    """Whether ``update_tracker`` may change ``row``: still the build ``planned_at`` made; claimable at
    ``claim_at`` when it is a claim; held by ``owner`` when it is a claimer's result. One rule for every backend."""
    if row.planned_at != planned_at:
        return False
    if claim_at is not None and not tracker_claimable(row, claim_at, force):
        return False
    return owner is None or row.tracker_claim == owner


def tracker_changes(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(TRACKER_COLUMNS)
    if unknown:
        raise ValueError(f"not tracker columns: {sorted(unknown)}")
    return changes


def is_new_version(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    return old is not None and any(old.get(c) != new.get(c) for c in VERSION_COLUMNS)


def sql_ddl(table: str, schema: pa.Schema, primary_key: str | None,
            types: dict[pa.DataType, str] = SQLITE_TYPES) -> str:
    cols = ", ".join(f'"{f.name}" {types[f.type]}' + (" PRIMARY KEY" if f.name == primary_key else "") for f in schema)
    return f'CREATE TABLE IF NOT EXISTS "{table}" ({cols})'


@dataclass
class OutboxEvent:
    event_id: str
    proxy_id: str
    topic: str
    message_key: str
    payload: str
    created_at: str
    sent_at: str | None = None
    attempts: int = 0
    claimed_by: str | None = None
    claimed_until: str | None = None

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.payload)


class Catalog(Protocol):
    """What the pipeline needs from a database; SQLite and VAST DataBase implement it."""

    profile: str
    inspector_tables: bool  # also write exr-inspector's files/parts (``files``; ignored when false)

    def ensure(self) -> None: ...

    def write(self, rows: list[FrameRow], events: list[OutboxEvent], files: Sequence[InspectedFile] = ()) -> None: ...

    def rows(self, limit: int = 50, status: str | None = None) -> list[FrameRow]: ...

    def history(self, limit: int = 50) -> list[HistoryRow]: ...

    def etags(self, proxy_ids: Iterable[str]) -> dict[str, str | None]: ...

    def write_clips(self, rows: list[ClipRow], events: list[OutboxEvent]) -> int: ...

    def clips(self, limit: int = 50) -> list[ClipRow]: ...

    def clip(self, clip_id: str) -> ClipRow | None: ...

    def retired_keys(self, keep: int, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str]]:
        """(generated_timestamp, s3_key) of frame rows older than the ``keep`` newest, oldest first, after
        ``after`` (a (timestamp, key) cursor), at most ``limit``: the keys whose partitions can retire."""
        ...

    def clip_shots(self, show: str | None, profile: str) -> set[str]:
        """The shots that have a ``profile`` clip row (of ``show``, or with no show; every show when None)."""
        ...

    def shot_clips(self, shots: Iterable[str], show: str | None, profile: str) -> list[ClipRow]:
        """Every ``profile`` clip row (each version, ok or failed) of ``shots``, as clip_shots filters them."""
        ...

    def write_cuts(self, rows: list[CutRow], events: list[OutboxEvent]) -> int: ...

    def cuts(self, limit: int = 50) -> list[CutRow]: ...

    def tracker_due(self, now: str, limit: int = 20) -> list[ClipRow]: ...

    def update_tracker(self, clip_id: str, planned_at: int | None, changes: dict[str, Any],
                       claim_at: str | None = None, force: bool = False, owner: str | None = None) -> bool: ...

    def pending_events(self, limit: int = 500) -> list[OutboxEvent]: ...

    def events(self, limit: int = 50) -> list[OutboxEvent]: ...

    def count(self, what: str, status: str | None = None) -> int: ...

    def claim_events(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxEvent]: ...

    def release(self, event_ids: Iterable[str], owner: str) -> None: ...

    def mark_sent(self, event_ids: Iterable[str], sent_at: str) -> None: ...

    def mark_attempted(self, event_ids: Iterable[str]) -> None: ...

    def prune(self, before: datetime) -> int: ...
