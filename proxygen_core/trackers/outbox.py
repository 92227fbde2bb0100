"""Publishing a built clip to the tracker, driven by its catalog row: the row is the outbox.

A build of the tracked profile (``tracker_profile``, the review clip by default) writes its clip row with
``tracker_status = pending`` in the same transaction as the row itself (pipeline/sequence/plan.py), so a clip
that exists is a clip that will be published: nothing can be lost between the two. A publisher (the Dagster
``tracker_publish`` asset, or ``proxygen clips --publish``) then:

1. claims the row (catalog ``update_tracker`` with ``claim_at``: only a pending row past its backoff, and only the
   build that wrote it; the claim is a lease, so a publisher killed mid-way is taken over after ``LEASE_SECONDS``);
2. fetches the movie and the poster from the store and asks the tracker (base.publish: looked up first, so a
   redelivered event, a retried run or a restart never adds a second revision, and a rebuild of the same
   version updates that revision's preview);
3. records the outcome on the row: ``published`` with the revision's URL and id; ``pending`` with a retry time
   doubling from ``tracker_retry_seconds`` to ``tracker_retry_max_seconds`` when the tracker (or the store) could
   not be reached; ``failed`` with the cause when the tracker refused (credentials, unknown project or task
   type) or the clip's identity lacks what a revision needs. A failed publish never touches the frames or the
   clip: only its tracker columns.
"""
from __future__ import annotations

import posixpath
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from proxygen_core import __version__
from proxygen_core.catalog.schema import PENDING, Catalog
from proxygen_core.errors import ConfigurationError, StorageError, clean_text
from proxygen_core.profiles import PROFILES
from proxygen_core.rows import ClipRow
from proxygen_core.settings import GENERATOR, Settings, TrackerSettings
from proxygen_core.store.base import Store
from proxygen_core.store.identity import NEEDED, ShotIdentity, noted_problem
from proxygen_core.store.s3 import CREDENTIAL_SETTINGS, credentials_problem
from proxygen_core.trackers import open_tracker
from proxygen_core.trackers.base import (
    Publication,
    Revision,
    Tracker,
    TrackerError,
    TrackerRefused,
    publish,
    short_cause,
)

PUBLISHED, FAILED = "published", "failed"
SKIPPED = "skipped"  # not this publisher's to do: another holds the claim, or a newer build replaced the row
LEASE_SECONDS = 900  # a claimed publish not recorded within this is taken over (its publisher died)

Connect = Callable[[TrackerSettings], Tracker]


@dataclass(frozen=True)
class PublishOutcome:
    """What one publish attempt did to one clip (also what the Dagster asset shows and `proxygen clips` prints)."""

    clip_id: str
    sequence: str
    status: str  # published | pending | failed | skipped
    tracker: str
    url: str | None = None
    revision: str | None = None
    created: bool = False  # this attempt made the revision (else it updated one that was there)
    error: str | None = None
    attempts: int = 0
    retry_at: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == PUBLISHED


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def backoff_seconds(attempts: int, settings: TrackerSettings) -> float:
    """The wait after the ``attempts``-th unreachable attempt: doubling from the first, capped."""
    return float(min(settings.tracker_retry_seconds * 2 ** max(attempts - 1, 0), settings.tracker_retry_max_seconds))


def tracked(settings: Settings, profile: str | None) -> bool:
    """Whether a clip of ``profile`` is published (a tracker is configured and it is the tracked profile)."""
    return settings.trackers.enabled and profile == settings.trackers.tracker_profile


def lacking(row: ClipRow) -> list[str]:
    """The identity fields a revision needs that the clip's key did not give (docs/configuration.md, identity)."""
    return ShotIdentity.of_columns(row).lacking(NEEDED)


def comment(row: ClipRow, settings: Settings) -> str:
    """The revision's comment: what no tracker shows by itself (frames, gaps, colour, measured quality)."""
    render = settings.render
    profile = PROFILES.get(row.profile or "")
    display = render.hdr_display if profile is not None and profile.hdr else render.proxy_display
    missing, failed = row.missing, row.failed
    quality = "not measured"
    if row.quality_metric:
        verdict = "passed" if row.quality_passed else "FAILED its bound"
        quality = (f"{row.quality_metric} mean {row.quality_de_mean}, p99 {row.quality_de_p99}, "
                   f"PSNR {row.quality_psnr_db} dB ({verdict})")
    lines = [
        f"{row.shot} {row.task} v{row.version:03d}" if row.version is not None else f"{row.shot} {row.task}",
        f"Frames {row.first_frame}-{row.last_frame}: {row.frame_count} at {row.fps:g} fps, from {row.sequence}"
        if row.fps else f"Frames {row.first_frame}-{row.last_frame}: {row.frame_count}, from {row.sequence}",
        f"Missing frames: {_numbers(missing)}",
        f"Failed frames: {_numbers(failed)}",
        f"Colour: {render.ocio_config} / {display} / {render.view}",
        "Grade: none",
        f"Quality: {quality}",
        f"{row.profile} {row.codec} {row.pix_fmt} {row.clip_resolution}, timecode {row.start_timecode}",
        f"{GENERATOR} {__version__}",
    ]
    return "\n".join(lines)


def _numbers(numbers: list[int]) -> str:
    if not numbers:
        return "none"
    shown = ", ".join(str(n) for n in numbers[:40])
    return f"{len(numbers)} ({shown}{', ...' if len(numbers) > 40 else ''})"


def publication(row: ClipRow, store: Store, settings: Settings, folder: Path, fetch: bool = True) -> Publication:
    """The clip as a Publication, its movie and poster fetched from the store into ``folder`` (``fetch=False``:
    named only, for a look-up).

    TrackerRefused when the identity lacks what a revision needs; StorageError (transient) when the store
    cannot give the files."""
    missing = lacking(row)
    if missing:
        problem = noted_problem(row.error)
        raise TrackerRefused(settings.trackers.tracker,
                             f"{row.sequence}: its identity lacks {', '.join(missing)}"
                             + (f" ({problem})" if problem else "")
                             + f" (the key templates, PROXYGEN_KEY_TEMPLATES; try `proxygen identity {row.sequence}`)")
    if not row.clip_s3_key:
        raise TrackerRefused(settings.trackers.tracker, f"{row.sequence}: the clip row names no movie")
    movie = folder / posixpath.basename(row.clip_s3_key)
    poster = folder / posixpath.basename(row.poster_s3_key) if row.poster_s3_key else None
    if fetch:
        movie.write_bytes(_get(store, row.clip_s3_key))
        if poster is not None and row.poster_s3_key:
            poster.write_bytes(_get(store, row.poster_s3_key))
    trackers = settings.trackers
    assert row.show and row.shot and row.task and row.version is not None  # lacking() said so
    return Publication(
        clip_id=row.clip_id, project=row.show, sequence=row.seq, shot=row.shot, task=row.task, version=row.version,
        movie=movie, poster=poster, first_frame=row.first_frame or 0, last_frame=row.last_frame or 0,
        frame_count=row.frame_count or 0, fps=float(row.fps or settings.render.fps),
        width=_dimension(row.clip_resolution, 0), height=_dimension(row.clip_resolution, 1),
        comment=comment(row, settings), movie_uri=store.uri(row.clip_s3_key), frames_uri=store.uri(row.sequence),
        status=trackers.tracker_status, task_type=trackers.tracker_task_type, create=trackers.tracker_create)


def _get(store: Store, key: str) -> bytes:
    try:
        return store.get_bytes(key)
    except Exception as exc:
        problem = credentials_problem(exc)
        if problem:  # our S3 credentials, not the clip or the tracker: a setting to fix
            raise ConfigurationError(CREDENTIAL_SETTINGS, f"{problem}, reading {store.uri(key)} for the tracker "
                                                          "publish (the S3 credentials of this process)") from exc
        if isinstance(exc, StorageError):
            raise
        # the store's client error: the object or the store is not there now
        raise StorageError(store.uri(key), f"could not be read for the tracker publish: {exc}", transient=True) from exc


def _dimension(resolution: str | None, index: int) -> int:
    try:
        return int((resolution or "").split("x")[index])
    except (ValueError, IndexError):
        return 0


def publish_clip(catalog: Catalog, store: Store, settings: Settings, row: ClipRow, now: datetime | None = None,
                 connect: Connect = open_tracker, force: bool = False) -> PublishOutcome:
    """One publish attempt of one clip row, recorded on the row. ``force`` publishes a clip whatever its tracker
    state (a re-publish after fixing the settings, or a backfill): still claimed first (never beside another
    publisher's live claim) and still looked up first, so never a second revision.

    The claim writes a token of this attempt (``tracker_claim``) with its lease; the outcome is written only
    while the row still holds that token, so a publisher whose lease ran out and was taken over cannot overwrite
    the new holder's outcome. ConfigurationError (our side: no tracker URL or credentials, no S3 credentials) is
    raised, never recorded on the row: the row is given back as it was."""
    name = settings.trackers.tracker
    now = now or datetime.now(UTC)
    attempts = (row.tracker_attempts or 0) + 1
    token = uuid.uuid4().hex
    claim = {"tracker_status": PENDING, "tracker_attempts": attempts,
             "tracker_retry_at": _iso(now + timedelta(seconds=LEASE_SECONDS)), "tracker_claim": token}
    if not row.ok or not catalog.update_tracker(row.clip_id, row.planned_at, claim, claim_at=_iso(now), force=force):
        return PublishOutcome(row.clip_id, row.sequence, SKIPPED, name, attempts=attempts - 1)

    def record(changes: dict[str, object]) -> bool:
        return catalog.update_tracker(row.clip_id, row.planned_at, {**changes, "tracker_claim": None}, owner=token)

    def outcome(status: str, **fields: object) -> PublishOutcome:
        done = PublishOutcome(row.clip_id, row.sequence, status, name, attempts=attempts, **fields)  # type: ignore[arg-type]
        changes: dict[str, object] = {"tracker_status": status, "tracker_error": done.error,
                                      "tracker_retry_at": done.retry_at}
        if status == PUBLISHED:
            changes.update(tracker_url=done.url, tracker_revision=done.revision)
        if not record(changes):
            return replace(done, status=SKIPPED, error=clean_text(
                f"{name}: this attempt ({status}) was not recorded: its claim was taken over by another "
                f"publisher, or a newer build replaced the row" + (f" ({done.error})" if done.error else "")))
        return done

    try:
        with tempfile.TemporaryDirectory(prefix="proxygen-publish-") as folder:
            pub = publication(row, store, settings, Path(folder))
            revision = publish(connect(settings.trackers), pub)
    except ConfigurationError:
        record({"tracker_status": row.tracker_status, "tracker_attempts": row.tracker_attempts,
                "tracker_retry_at": row.tracker_retry_at})  # given back untouched: not the clip's failure
        raise
    except (TrackerError, StorageError) as exc:
        transient = exc.transient
        error = clean_text(str(exc) if isinstance(exc, TrackerError) else f"{name}: {exc}")
        retry_at = _iso(now + timedelta(seconds=backoff_seconds(attempts, settings.trackers))) if transient else None
        return outcome(PENDING if transient else FAILED, error=error, retry_at=retry_at)
    except Exception as exc:  # a defect of ours or of a client: the publish fails with it, visibly, never silently
        return outcome(FAILED, error=clean_text(f"{name}: {type(exc).__name__}: {exc}"))
    return outcome(PUBLISHED, url=revision.url, revision=revision.id, created=revision.created)


def verify(row: ClipRow, store: Store, settings: Settings, connect: Connect = open_tracker) -> tuple[bool, str]:
    """Whether the tracker has the revision the row names (looked up afresh): the publish asset's check."""
    if row.tracker_status != PUBLISHED or not row.tracker_revision:
        return False, f"the clip's publish is {row.tracker_status}: {row.tracker_error or 'not published'}"
    try:
        found = connect(settings.trackers).find_revision(publication(row, store, settings, Path("."), fetch=False))
    except TrackerError as exc:
        return False, str(exc)
    if found is None:
        return False, f"{settings.trackers.tracker} has no revision for {row.shot} {row.task} v{row.version}"
    if found.id != row.tracker_revision:
        return False, f"{settings.trackers.tracker} holds revision {found.id}, the row names {row.tracker_revision}"
    return True, found.url


def publish_due(catalog: Catalog, store: Store, settings: Settings, now: datetime | None = None,
                connect: Connect = open_tracker, limit: int = 20) -> list[PublishOutcome]:
    """Every clip waiting for its publish now (pending, past its backoff), oldest first: the local door's
    drain (``proxygen clips --publish``); Dagster runs one asset per clip instead (proxygen_dagster/trackers).

    One clip's failure never stops the others: whatever one attempt raises (the catalog failing under it, a
    defect) is that clip's outcome, ``pending`` (its row was not changed, or keeps its claim's lease: it is due
    again then). Only a ConfigurationError stops the drain (the row it met is given back as it was): it is every
    clip's."""
    name = settings.trackers.tracker
    now = now or datetime.now(UTC)
    outcomes = []
    for row in catalog.tracker_due(_iso(now), limit):
        try:
            outcomes.append(publish_clip(catalog, store, settings, row, now, connect))
        except ConfigurationError:
            raise
        except Exception as exc:  # noqa: BLE001 - this clip's outcome; the next clip is published all the same
            outcomes.append(PublishOutcome(
                row.clip_id, row.sequence, PENDING, name, attempts=row.tracker_attempts or 0,
                error=clean_text(f"{name}: not recorded on the clip row ({type(exc).__name__}: {exc}); "
                                 f"due again after its lease")))
    return outcomes


def publish_playlist(settings: Settings, name: str, rows: list[ClipRow],
                     connect: Connect = open_tracker) -> Revision | None:
    """The day's review as a tracker playlist of the published revisions among ``rows`` (per project: a
    playlist lives in one project). None when none of them is published. Raises TrackerError."""
    published = [r for r in rows if r.tracker_status == PUBLISHED and r.tracker_revision and r.show]
    if not published:
        return None
    tracker = connect(settings.trackers)
    made = None
    for project in sorted({r.show for r in published if r.show}):
        revisions = [Revision(r.tracker_revision or "", r.tracker_url or "") for r in published if r.show == project]
        made = tracker.publish_playlist(name, project, revisions)
    return made


def state_line(row: ClipRow) -> str:
    """The tracker state of a clip as `proxygen clips` prints it: one short line (the cause's class and first
    line; the whole cause is the row's ``tracker_error``, in `proxygen clips --json`)."""
    if row.tracker_status is None:
        return "-"
    if row.tracker_status == PUBLISHED:
        return f"published {row.tracker_url or ''}".strip()
    detail = [f"attempt {row.tracker_attempts}" if row.tracker_attempts else "",
              f"retry {row.tracker_retry_at}" if row.tracker_retry_at and row.tracker_status == PENDING else ""]
    said = ", ".join(d for d in detail if d)
    return (f"{row.tracker_status}" + (f" ({said})" if said else "")
            + (f": {short_cause(row.tracker_error)}" if row.tracker_error else ""))
