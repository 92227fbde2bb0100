"""``proxygen identity --rederive``: read the shot identity of every current catalog row again, under the key
templates configured now.

Why: a changed template used to apply to new rows only, so the catalog mixed two readings of the same layout
(issue 29). Each frame row whose reading changed gets a new version (the old one goes to the history, as any
replaced version does: VERSION_COLUMNS covers the identity) and a new event in the same transaction, through
the outbox like every row change; each clip row likewise, in place (clips keep no history), and its tracker
publish starts over (``pending``) when it had one, since the old one went to the old reading's shot. A row
whose reading did not change is not written.
"""
from __future__ import annotations

from dataclasses import dataclass

from proxygen_core.catalog import Catalog
from proxygen_core.catalog.schema import PENDING
from proxygen_core.events.outbox import Publisher, PublishReport
from proxygen_core.events.schema import build_clip_event, build_event, clip_event_id, event_id
from proxygen_core.rows import ClipRow, FrameRow
from proxygen_core.store.identity import KeyLayout, ShotIdentity, identify, with_note, without_note

BATCH = 500  # rows per transaction: a large catalog is rewritten in bounded steps


@dataclass(frozen=True)
class Rederived:
    examined_rows: int
    changed_rows: int  # frame rows with a new version
    examined_clips: int
    changed_clips: int
    flagged: int  # of the changed rows and clips, those now flagged (folders and file name disagree)
    report: PublishReport | None  # None: no drain (no publisher given), the events wait in the outbox


def _reread(error: str | None, identity: ShotIdentity) -> dict[str, object]:
    return {**identity.columns(), "error": with_note(without_note(error), identity)}


def rederived_frame(row: FrameRow, layout: KeyLayout) -> FrameRow | None:
    """The row under ``layout``, or None when its reading is unchanged."""
    new = row.but(**_reread(row.error, identify(row.s3_key, layout)))
    return None if new == row else new.but(event_id=event_id(new))


def rederived_clip(row: ClipRow, layout: KeyLayout) -> ClipRow | None:
    new = row.but(**_reread(row.error, identify(row.sequence, layout)))
    if new == row:
        return None
    if row.tracker_status is not None:  # published (or failed) under the old reading: publish the new one
        new = new.but(tracker_status=PENDING, tracker_url=None, tracker_revision=None, tracker_error=None,
                      tracker_attempts=0, tracker_retry_at=None)
    return new.but(event_id=clip_event_id(new))


def rederive(catalog: Catalog, layout: KeyLayout, topic: str, publisher: Publisher | None = None) -> Rederived:
    """Re-read every current frame and clip row's identity; write the changed ones with their events."""
    frames = catalog.rows(limit=max(catalog.count("rows"), 1))
    clips = catalog.clips(limit=max(catalog.count("clips"), 1))
    new_frames = [r for r in (rederived_frame(row, layout) for row in frames) if r is not None]
    new_clips = [r for r in (rederived_clip(row, layout) for row in clips) if r is not None]
    for start in range(0, len(new_frames), BATCH):
        batch = new_frames[start:start + BATCH]
        catalog.write(batch, [build_event(row, topic) for row in batch])
    written = 0
    for start in range(0, len(new_clips), BATCH):
        batch_clips = new_clips[start:start + BATCH]
        written += catalog.write_clips(batch_clips, [build_clip_event(row, topic) for row in batch_clips])
    flagged = sum(identify(key, layout).flagged for key in [*(r.s3_key for r in new_frames),
                                                            *(r.sequence for r in new_clips)])
    report = publisher.drain(catalog) if publisher is not None else None
    return Rederived(len(frames), len(new_frames), len(clips), written, flagged, report)
