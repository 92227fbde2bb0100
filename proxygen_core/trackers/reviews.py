"""The review status of published clips, read back from the tracker: what ``PROXYGEN_CUT_VERSION=approved`` takes.

Why a column and a poll: a supervisor approves a version in the tracker, which tells us nothing. The cut sensor
(proxygen_dagster/cuts/sensors.py) reads, every ``tracker_review_seconds``, the status of the published revisions
of its cuts' shots (one call per revision, at most ``REVIEWS_PER_CHECK``), writes each one that changed into its
clip row's ``tracker_review`` (the tracker's own word: ``apr``, ``Approved``, ``done``...) and plans those cuts
again; the plan takes the newest ok version whose status ``TrackerSettings.is_approved``. A rebuilt version is
published again as pending review (its pictures changed), so it waits for a new approval.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from proxygen_core.catalog.schema import Catalog
from proxygen_core.rows import ClipRow
from proxygen_core.trackers.base import Tracker

PUBLISHED = "published"
REVIEWS_PER_CHECK = 200  # revisions whose status is read per check (one tracker call each)


@dataclass(frozen=True)
class ReviewChange:
    clip_id: str
    shot: str | None
    version: int | None
    before: str | None
    after: str | None


def reviewable(rows: Iterable[ClipRow]) -> list[ClipRow]:
    """The rows a tracker has a revision of: published, with the revision's id and a project (the show)."""
    return [r for r in rows if r.tracker_status == PUBLISHED and r.tracker_revision and r.show]


def refresh_reviews(catalog: Catalog, tracker: Tracker, rows: Iterable[ClipRow],
                    limit: int = REVIEWS_PER_CHECK) -> list[ReviewChange]:
    """Read the review status of ``rows``' revisions (newest versions first, at most ``limit``) and store each
    one that changed; the changes. Raises TrackerUnavailable / TrackerRefused (the caller retries later)."""
    chosen = sorted(reviewable(rows), key=lambda r: (r.version or 0, r.planned_at or 0), reverse=True)[:limit]
    changes = []
    for row in chosen:
        status = tracker.revision_status(row.show or "", row.tracker_revision or "")
        if status == row.tracker_review:
            continue
        if catalog.update_tracker(row.clip_id, row.planned_at, {"tracker_review": status}):
            changes.append(ReviewChange(row.clip_id, row.shot, row.version, row.tracker_review, status))
    return changes
