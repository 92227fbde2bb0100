"""``proxy.generated`` / ``proxy.failed`` / ``proxy.skipped`` / ``clip.*`` events: a versioned JSON schema, ids.

Event ids are deterministic from what the event says (source URI, etag, render-settings hash,
status), so re-processing unchanged content yields the same id, which the outbox keeps once."""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from proxygen_core.profiles import PRIMARY, id_suffix
from proxygen_core.rows import OK, SKIPPED, ClipRow, FrameRow
from proxygen_core.store.identity import IDENTITY_FIELDS  # the key template's fields

if TYPE_CHECKING:  # the catalog loads pyarrow (~0.2 s): not at import, so `proxygen render` starts without it
    from proxygen_core.catalog import OutboxEvent

SCHEMA_VERSION = "proxygen.event/1"
GENERATED, FAILED = "proxy.generated", "proxy.failed"
CLIP_GENERATED, CLIP_FAILED = "clip.generated", "clip.failed"
SKIPPED_EVENT = "proxy.skipped"  # an object the registry of inputs ignores, said once per version (store/inputs.py)



def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def event_id(row: FrameRow) -> str:
    """A UUID-shaped digest of (source URI, etag, render-settings hash, status, output profile) and the shot
    identity when the key has one: a re-derived identity (``proxygen identity --rederive``) is news, a re-run
    of the same version with the same reading is not."""
    return _uuid_digest("|".join(str(v or "") for v in (
        row.s3_bucket, row.s3_key, row.etag, row.render_settings_hash, row.status, row.output_profile))
        + _identity_basis(row))


def _identity_basis(row: FrameRow | ClipRow) -> str:
    """The identity's part of an event id: empty for a key without identity (its ids stay what they were)."""
    values = [getattr(row, name) for name in IDENTITY_FIELDS]
    return "|identity:" + "/".join(str(v or "") for v in values) if any(v is not None for v in values) else ""


def _identity(row: FrameRow | ClipRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in IDENTITY_FIELDS}


def build_event(row: FrameRow, topic: str) -> OutboxEvent:
    """The event for one catalog row (a superset of the original ProxyGeneratedEvent fields)."""
    kind = GENERATED if row.status == OK else SKIPPED_EVENT if row.status == SKIPPED else FAILED
    bucket = row.s3_bucket

    def uri(key: str | None) -> str | None:
        return f"s3://{bucket}/{key}" if key else None

    body = {
        "schema": SCHEMA_VERSION,
        "event_id": row.event_id or event_id(row),
        "type": kind,
        "asset_id": row.asset_id,
        "file_id": row.file_id,
        "proxy_id": row.proxy_id,
        "source_uri": uri(row.s3_key),
        "thumbnail_uri": uri(row.thumbnail_s3_key) if kind == GENERATED else None,
        "proxy_uri": uri(row.proxy_s3_key) if kind == GENERATED else None,
        "thumbnail_size_bytes": row.thumbnail_size_bytes,
        "proxy_size_bytes": row.proxy_size_bytes,
        "source_size_bytes": row.source_size_bytes,
        "thumb_resolution": row.thumb_resolution,
        "proxy_resolution": row.proxy_resolution,
        "source_colorspace": row.source_colorspace,
        "colorspace_rule": row.colorspace_rule,
        "thumb_colorspace": row.thumb_colorspace,
        "proxy_colorspace": row.proxy_colorspace,
        "ocio_config": row.ocio_config,
        "ocio_view": row.ocio_view,
        "etag": row.etag,
        "mtime": row.mtime,
        "error": row.error,
        # the original function's optional fields, filled from the shot identity when the key template matches
        "project_id": row.show,
        "shot_id": row.shot,
        **_identity(row),
        "generator_version": row.generator_version,
        "timestamp": row.generated_timestamp or now_iso(),
    }
    from proxygen_core.catalog import OutboxEvent

    return OutboxEvent(body["event_id"], row.proxy_id, topic, row.asset_id or "", json.dumps(body, sort_keys=True),
                       now_iso())


def _uuid_digest(basis: str) -> str:
    digest = hashlib.sha256(basis.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def clip_event_id(row: ClipRow) -> str:
    """From what the clip event says: the sequence, the versions of its frames, settings, status, identity."""
    return _uuid_digest("|".join(str(v or "") for v in (
        row.s3_bucket, row.sequence, row.frames_fingerprint, row.render_settings_hash, row.status,
        row.output_profile)) + "|clip" + id_suffix(row.profile or PRIMARY) + _identity_basis(row))


CLIP_FIELDS = ("first_frame", "last_frame", "frame_count", "fps", "start_timecode", "duration_seconds",
               "clip_resolution", "clip_size_bytes", "poster_frame", "error", "generator_version", "codec", "pix_fmt",
               "quality_metric", "quality_de_mean", "quality_de_p99", "quality_psnr_db", "quality_passed")


def build_clip_event(row: ClipRow, topic: str) -> OutboxEvent:
    kind = CLIP_GENERATED if row.status == OK else CLIP_FAILED
    bucket = row.s3_bucket
    made = kind == CLIP_GENERATED
    body = {
        "schema": SCHEMA_VERSION, "event_id": row.event_id or clip_event_id(row), "type": kind,
        "clip_id": row.clip_id, "profile": row.profile or PRIMARY, "sequence_uri": f"s3://{bucket}/{row.sequence}",
        "clip_uri": f"s3://{bucket}/{row.clip_s3_key}" if made else None,
        "poster_uri": f"s3://{bucket}/{row.poster_s3_key}" if made and row.poster_s3_key else None,
        "timeline_uri": f"s3://{bucket}/{row.timeline_s3_key}" if made and row.timeline_s3_key else None,
        "slate_frames": row.slate_frames,
        **{k: getattr(row, k) for k in CLIP_FIELDS}, **_identity(row),
        "missing_frames": row.missing,
        "failed_frames": row.failed,
        "timestamp": row.generated_timestamp or now_iso(),
    }
    from proxygen_core.catalog import OutboxEvent

    return OutboxEvent(body["event_id"], row.clip_id, topic, row.clip_id, json.dumps(body, sort_keys=True),
                       now_iso())
