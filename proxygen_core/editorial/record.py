"""A cut build's record: its ``proxy_cuts`` row and its event (``cut.generated`` / ``cut.failed``) written in one
transaction, the row refused (with its event) when a newer build's row is stored (the generation check)."""
from __future__ import annotations

import hashlib
import json

from proxygen_core.catalog.schema import Catalog, OutboxEvent
from proxygen_core.events.schema import SCHEMA_VERSION, now_iso
from proxygen_core.rows import OK, CutRow

CUT_GENERATED, CUT_FAILED = "cut.generated", "cut.failed"


def cut_event_id(row: CutRow) -> str:
    """From what the event says: the cut, what its build was made from and its outcome."""
    digest = hashlib.sha256("|".join(str(v or "") for v in (
        row.s3_bucket, row.cut_key, row.output_profile, row.fingerprint, row.status, row.error,
        "cut")).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def cut_event(row: CutRow, topic: str) -> OutboxEvent:
    made = row.status == OK
    bucket = row.s3_bucket

    def uri(key: str | None) -> str | None:
        return f"s3://{bucket}/{key}" if made and key else None

    body = {"schema": SCHEMA_VERSION, "event_id": row.event_id or cut_event_id(row),
            "type": CUT_GENERATED if made else CUT_FAILED, "cut_id": row.cut_id, "cut_uri": f"s3://{bucket}/{row.cut_key}",
            "cut_name": row.cut_name, "movie_uri": uri(row.movie_s3_key), "otio_uri": uri(row.otio_s3_key),
            "html_uri": uri(row.html_s3_key),
            "deliverable_uris": {p: uri(k) for p, k in row.deliverable_keys.items()} if made else {},
            "audio_uri": f"s3://{bucket}/{row.audio_s3_key}" if row.audio_s3_key else None,
            "quality": row.quality_figures, "quality_passed": row.quality_passed,
            "versions": json.loads(row.versions or "{}"),
            "missing_events": json.loads(row.missing_events or "[]"), "events": json.loads(row.events or "[]"),
            "frame_count": row.frame_count, "fps": row.fps, "start_timecode": row.start_timecode,
            "duration_seconds": row.duration_seconds, "error": row.error, "warnings": json.loads(row.warnings or "[]"),
            "timestamp": row.generated_timestamp or now_iso()}
    return OutboxEvent(body["event_id"], row.cut_id, topic, row.cut_id, json.dumps(body, sort_keys=True), now_iso())


def record_cut(catalog: Catalog, row: CutRow, topic: str) -> bool:
    """Write the row and its event; False when a newer build's row is stored (nothing written)."""
    row = row.but(event_id=row.event_id or cut_event_id(row))
    return catalog.write_cuts([row], [cut_event(row, topic)]) == 1
