"""The tracker publisher interface: what one publish sends, what it returns, how it fails.

Why one interface: Kitsu, ShotGrid, ftrack and AYON name things differently (a Kitsu revision is a comment with
a preview on a task; a ShotGrid Version; an ftrack AssetVersion; an AYON version with a reviewable), but a
publish is the same three questions everywhere — is this (shot, task, version) already there? create it; or
replace its preview — and the same two failures: the tracker is unreachable (retried, nothing lost) or it
refuses (wrong credentials, unknown project or task type: a failure of that publish, never of the frames).

Trackers do not deduplicate, so ``publish`` looks the revision up before writing: a redelivered event, a retried
run or a restart never adds a second revision, and a rebuild of the same version updates its preview.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from proxygen_core.errors import ConfigurationError, clean_text


class TrackerError(Exception):
    """A publish that did not happen; ``str()`` is one line naming the tracker and the cause."""

    transient = False

    def __init__(self, tracker: str, cause: object) -> None:
        self.tracker = tracker
        self.cause = clean_text(cause)
        super().__init__(f"{tracker}: {self.cause}")


class TrackerUnavailable(TrackerError):
    """The tracker could not be reached or answered 5xx: retried with backoff, the clip stays ``pending``."""

    transient = True


class TrackerRefused(TrackerError):
    """The tracker refused the publish (credentials, permissions, unknown project, shot or task type): the clip's
    publish is ``failed`` with this cause until the settings or the tracker change (``proxygen clips --publish``)."""


_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")(]+")
_TIMED_OUT = re.compile(r"(?:Read|Connect(?:ion)?) timed out\.?(?: \((?:read|connect) timeout=[\d.]+\))?")
_OBJECT = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>:? ?")
SHORT_CAUSE_CHARS = 160
SUPERSEDED = "superseded"  # a revision_status: no longer its task's newest revision (Kitsu approves a task)


def describe(exc: BaseException) -> str:
    """A client library's exception as ``Class: short cause``, then its full text on a second line (when it says
    more): requests/urllib3 bury "[Errno 111] Connection refused" at the end of a long chain, and the short
    cause is what `proxygen clips` shows (``short_cause``; the record keeps the rest)."""
    full = _OBJECT.sub("", " ".join(str(exc).split()))
    found = _ERRNO.search(full) or _TIMED_OUT.search(full)
    short = found.group(0).strip() if found else full
    head = f"{type(exc).__name__}: {short}" if short else type(exc).__name__
    return head if short == full else f"{head}\n{full}"


def short_cause(error: str | None) -> str:
    """The first line of a recorded cause (``describe``'s head; lines are kept as "; "-separated), at most
    SHORT_CAUSE_CHARS: what a one-line listing shows of it."""
    first = (error or "").split("; ")[0]
    return first if len(first) <= SHORT_CAUSE_CHARS else first[:SHORT_CAUSE_CHARS - 1].rstrip() + "…"


# The settings each tracker cannot work without (its URL and credentials): checked before any clip is claimed.
REQUIRED_SETTINGS = {
    "kitsu": ("kitsu_url", "kitsu_user", "kitsu_password"),
    "shotgrid": ("shotgrid_url", "shotgrid_script", "shotgrid_key"),
    "ftrack": ("ftrack_url", "ftrack_user", "ftrack_key"),
    "ayon": ("ayon_url", "ayon_key"),
}


def require(tracker: str, settings: object) -> None:
    """ConfigurationError naming the environment variables of ``tracker``'s REQUIRED_SETTINGS that ``settings``
    (TrackerSettings) lacks: a tracker without its URL or credentials is our configuration to fix, never a
    failure recorded on a clip."""
    from proxygen_core.settings import env_name

    missing = [env_name(name) for name in REQUIRED_SETTINGS.get(tracker, ()) if not getattr(settings, name)]
    if missing:
        them = "it" if len(missing) == 1 else "them"
        raise ConfigurationError(missing, f"not set (the {tracker} publisher needs {them}: docs/trackers.md)")


def by_http_status(tracker: str, status: int, text: str) -> TrackerRefused | TrackerUnavailable:
    """An HTTP error status as one of the two failures: 5xx and 429 (too many requests) are the tracker's state
    (retried), anything else is a refusal of this publish."""
    return (TrackerUnavailable if status >= 500 or status == 429 else TrackerRefused)(tracker, text)


@contextmanager
def guarded(doing: str, classify: Callable[[Exception, str], TrackerRefused | TrackerUnavailable]) -> Iterator[None]:
    """Every exception a tracker's client library raises inside, turned by ``classify`` into TrackerUnavailable
    or TrackerRefused saying what was being done: none escapes a publisher as the library's own."""
    try:
        yield
    except (TrackerError, ConfigurationError):
        raise
    except Exception as exc:  # noqa: BLE001 - every library exception is classified, none escapes
        raise classify(exc, doing) from exc


@dataclass(frozen=True)
class Publication:
    """One clip as a tracker revision: who it belongs to, the files and what the comment says.

    ``version`` is the revision number (the identity's version); ``movie`` and ``poster`` are local files the
    publisher uploads (fetched from the store first)."""

    clip_id: str
    project: str
    sequence: str | None
    shot: str
    task: str
    version: int
    movie: Path
    poster: Path | None
    first_frame: int
    last_frame: int
    frame_count: int
    fps: float
    width: int
    height: int
    comment: str
    movie_uri: str  # where the movie lives in the bucket (s3://...): ShotGrid's sg_path_to_movie
    frames_uri: str  # the source frames' pattern (s3://.../sh010.####.exr): sg_path_to_frames
    status: str = "wfa"
    task_type: str | None = None  # the tracker's task type to publish on; default: matched from ``task``
    create: bool = False  # create missing project, sequence, shot and task (else refuse)

    @property
    def code(self) -> str:
        """The revision's name where a tracker wants one (ShotGrid Version code, ftrack/AYON version comment)."""
        return f"{self.shot}_{self.task}_v{self.version:03d}"


@dataclass(frozen=True)
class Revision:
    """A revision in a tracker: its id (for updates and playlists), its page, and whether this publish made it."""

    id: str
    url: str
    created: bool = False
    details: dict[str, str] = field(default_factory=dict)


class Tracker(Protocol):
    """One tracker's publisher (trackers/kitsu.py, shotgrid.py, ftrack.py, ayon.py).

    Each method raises TrackerUnavailable or TrackerRefused, never a client library's own exception."""

    name: str

    def find_revision(self, pub: Publication) -> Revision | None:
        """The revision of (project, shot, task, version) if the tracker already has it."""
        ...

    def create_revision(self, pub: Publication) -> Revision:
        """A new revision with the movie as its preview and the poster as the shot's thumbnail; the shot's frame
        range and fps set. Missing entities are created when ``pub.create``, else TrackerRefused."""
        ...

    def update_revision(self, revision: Revision, pub: Publication) -> Revision:
        """The same revision with this build's movie, poster and comment (a rebuild of the same version)."""
        ...

    def publish_playlist(self, name: str, project: str, revisions: list[Revision]) -> Revision:
        """A review playlist (the day's dailies) holding these revisions; the same name is updated, not added."""
        ...

    def revision_status(self, project: str, revision_id: str) -> str | None:
        """The revision's review status as the tracker names it (ShotGrid ``apr``, ftrack/AYON ``Approved``, Kitsu
        its task's status short name while it is the task's newest revision, else ``superseded``); None when the
        tracker has no such revision. What ``PROXYGEN_CUT_VERSION=approved`` reads (trackers/reviews.py)."""
        ...


def publish(tracker: Tracker, pub: Publication) -> Revision:
    """Exactly one revision per (shot, task, version): looked up first, created only when absent, else updated."""
    found = tracker.find_revision(pub)
    if found is None:
        return tracker.create_revision(pub)
    return tracker.update_revision(found, pub)
