"""``proxy.generated`` / ``proxy.failed`` / ``proxy.skipped`` / ``clip.*`` events: a versioned JSON schema, ids.

Event ids are deterministic from what the event says (source URI, etag, render-settings hash,
status), so re-processing unchanged content yields the same id, which the outbox keeps once."""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the catalog loads pyarrow (~0.2 s): not at import, so `proxygen render` starts without it
    from proxygen_core.catalog import OutboxEvent

SCHEMA_VERSION = "proxygen.event/1"
GENERATED, FAILED = "proxy.generated", "proxy.failed"
SKIPPED = "proxy.skipped"  # an object the registry of inputs ignores, said once per version (store/inputs.py)
CLIP_GENERATED, CLIP_FAILED = "clip.generated", "clip.failed"


IDENTITY_FIELDS = ("show", "seq", "shot", "task", "version")  # from the key template (store/identity.py)

def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def event_id(row: dict[str, Any]) -> str:
    """A UUID-shaped digest of (source URI, etag, render-settings hash, status, output profile)."""
    return _uuid_digest("|".join(str(row.get(k) or "") for k in (
        "s3_bucket", "s3_key", "etag", "render_settings_hash", "status", "output_profile")))


def build_event(row: dict[str, Any], topic: str) -> OutboxEvent:
    """The event for one catalog row (a superset of the original ProxyGeneratedEvent fields); a skipped row's
    event is ``proxy.skipped``, its reason in ``error``, so a consumer learns of an ignored object too."""
    kind = {"ok": GENERATED, "skipped": SKIPPED}.get(row["status"], FAILED)
    bucket = row["s3_bucket"]
    def uri(key):
        return (f"s3://{bucket}/{key}" if key else None)
    body = {
        "schema": SCHEMA_VERSION,
        "event_id": row.get("event_id") or event_id(row),
        "type": kind,
        "asset_id": row["asset_id"],
        "file_id": row["file_id"],
        "proxy_id": row["proxy_id"],
        "source_uri": uri(row["s3_key"]),
        "thumbnail_uri": uri(row["thumbnail_s3_key"]) if kind == GENERATED else None,
        "proxy_uri": uri(row["proxy_s3_key"]) if kind == GENERATED else None,
        "thumbnail_size_bytes": row.get("thumbnail_size_bytes"),
        "proxy_size_bytes": row.get("proxy_size_bytes"),
        "source_size_bytes": row.get("source_size_bytes"),
        "thumb_resolution": row.get("thumb_resolution"),
        "proxy_resolution": row.get("proxy_resolution"),
        "source_colorspace": row.get("source_colorspace"),
        "colorspace_rule": row.get("colorspace_rule"),
        "thumb_colorspace": row.get("thumb_colorspace"),
        "proxy_colorspace": row.get("proxy_colorspace"),
        "ocio_config": row.get("ocio_config"),
        "ocio_view": row.get("ocio_view"),
        "etag": row.get("etag"),
        "mtime": row.get("mtime"),
        "error": row.get("error"),
        # the original function's optional fields, filled from the shot identity when the key template matches
        "project_id": row.get("project_id") or row.get("show"),
        "shot_id": row.get("shot_id") or row.get("shot"),
        **{k: row.get(k) for k in IDENTITY_FIELDS},
        "generator_version": row.get("generator_version"),
        "timestamp": row.get("generated_timestamp") or now_iso(),
    }
    from proxygen_core.catalog import OutboxEvent

    return OutboxEvent(body["event_id"], row["proxy_id"], topic, row["asset_id"], json.dumps(body, sort_keys=True),
                       now_iso())


def _uuid_digest(basis: str) -> str:
    digest = hashlib.sha256(basis.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def clip_event_id(row: dict[str, Any]) -> str:
    """From what the clip event says: the sequence, the versions of its frames, settings, status."""
    return _uuid_digest("|".join(str(row.get(k) or "") for k in (
        "s3_bucket", "sequence", "frames_fingerprint", "render_settings_hash", "status", "output_profile"))
        + "|clip" + ("" if (row.get("profile") or "review") == "review" else f"|{row['profile']}"))


def build_clip_event(row: dict[str, Any], topic: str) -> OutboxEvent:
    kind = CLIP_GENERATED if row["status"] == "ok" else CLIP_FAILED
    bucket = row["s3_bucket"]
    body = {
        "schema": SCHEMA_VERSION, "event_id": row.get("event_id") or clip_event_id(row), "type": kind,
        "clip_id": row["clip_id"], "profile": row.get("profile") or "review", "sequence_uri": f"s3://{bucket}/{row['sequence']}",
        "clip_uri": f"s3://{bucket}/{row['clip_s3_key']}" if kind == CLIP_GENERATED else None,
        "poster_uri": f"s3://{bucket}/{row['poster_s3_key']}" if kind == CLIP_GENERATED and row.get("poster_s3_key")
        else None,
        "timeline_uri": f"s3://{bucket}/{row['timeline_s3_key']}" if kind == CLIP_GENERATED
        and row.get("timeline_s3_key") else None,
        "slate_frames": row.get("slate_frames"),
        **{k: row.get(k) for k in ("first_frame", "last_frame", "frame_count", "fps", "start_timecode",
                                   "duration_seconds", "clip_resolution", "clip_size_bytes", "poster_frame", "error",
                                   "generator_version", "codec", "pix_fmt", "quality_metric", "quality_de_mean",
                                   "quality_de_p99", "quality_psnr_db", "quality_passed", *IDENTITY_FIELDS)},
        "missing_frames": json.loads(row.get("missing_frames") or "[]"),
        "failed_frames": json.loads(row.get("failed_frames") or "[]"),
        "timestamp": row.get("generated_timestamp") or now_iso(),
    }
    from proxygen_core.catalog import OutboxEvent

    return OutboxEvent(body["event_id"], row["clip_id"], topic, row["clip_id"], json.dumps(body, sort_keys=True),
                       now_iso())

