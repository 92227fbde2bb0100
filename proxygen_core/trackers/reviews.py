"""The review status of published clips, read back from the tracker: what ``PROXYGEN_CUT_VERSION=approved`` takes.

Why a column and a poll: a supervisor approves a version in the tracker, which tells us nothing. The cut sensor
(proxygen_dagster/cuts/sensors.py) reads, every ``tracker_review_seconds``, the status of the published revisions
of its cuts' shots (one call per revision, at most ``REVIEWS_PER_CHECK``), writes each one that changed into its
clip row's ``tracker_review`` (the tracker's own word: ``apr``, ``Approved``, ``done``...) and plans those cuts
again; the plan takes the newest ok version whose status ``TrackerSettings.is_approved``. A rebuilt version is
published again as pending review (its pictures changed), so it waits for a new approval.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from proxygen_core.catalog.schema import Catalog
from proxygen_core.rows import ClipRow
from proxygen_core.trackers.base import SUPERSEDED, Tracker, TrackerError, TrackerUnavailable

PUBLISHED = "published"
REVIEWS_PER_CHECK = 200  # revisions whose status is read per check (one tracker call each, Kitsu ~4)
REVIEW_BUDGET_SECONDS = 20.0  # a check stops reading after this, well inside a sensor tick's time limit


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


@dataclass
class ReviewPass:
    """One check's outcome: the changes stored, where the next check starts, and what could not be read."""

    changes: list[ReviewChange] = field(default_factory=list)
    next_offset: int = 0
    errors: list[str] = field(default_factory=list)


def refresh_reviews(catalog: Catalog, tracker: Tracker, rows: Iterable[ClipRow], offset: int = 0,
                    limit: int = REVIEWS_PER_CHECK, budget_seconds: float = REVIEW_BUDGET_SECONDS) -> ReviewPass:
    """Read the review status of ``rows``' revisions, ``limit`` of them from ``offset`` (newest versions first,
    then round again: a show with more revisions than one check reads has them all read in turn), within
    ``budget_seconds``, and store each one that changed. A revision the tracker cannot answer for is named in
    ``errors`` and the check goes on; a tracker that is down ends it there, keeping what was read. Kitsu's
    ``superseded`` (a newer revision of the task) keeps the status last read: an approval is not taken back by
    the next publish."""
    chosen = sorted(reviewable(rows), key=lambda r: (-(r.version or 0), -(r.planned_at or 0), r.clip_id))
    done = ReviewPass(next_offset=0)
    if not chosen:
        return done
    start = offset % len(chosen)
    order = (chosen[start:] + chosen[:start])[:limit]
    deadline = time.monotonic() + budget_seconds
    for count, row in enumerate(order, 1):
        done.next_offset = (start + count) % len(chosen)
        try:
            status = tracker.revision_status(row.show or "", row.tracker_revision or "")
        except TrackerUnavailable as exc:
            done.errors.append(f"{row.shot} v{row.version or 0:03d}: {exc}")
            done.next_offset = (start + count - 1) % len(chosen)  # this one again first, next time
            break
        except (TrackerError, ValueError) as exc:  # refused for this revision (gone, malformed id): the others go on
            done.errors.append(f"{row.shot} v{row.version or 0:03d}: {exc}")
            continue
        if status == SUPERSEDED and row.tracker_review is not None:
            status = row.tracker_review
        if status != row.tracker_review and catalog.update_tracker(row.clip_id, row.planned_at,
                                                                   {"tracker_review": status}):
            done.changes.append(ReviewChange(row.clip_id, row.shot, row.version, row.tracker_review, status))
        if time.monotonic() > deadline:
            break
    return done
