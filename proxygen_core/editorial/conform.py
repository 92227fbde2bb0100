"""The conform's decisions, made once from the cut, its matches and the catalog's clip rows: for each event, the
shot's version it shows (or why it shows a card), and which of the shot's frames.

Versions (``PROXYGEN_CUT_VERSION``): ``latest`` (default) is the highest version of the shot whose review clip
row is ok; ``pinned`` takes the version ``PROXYGEN_CUT_PINS`` names for the shot (``sh010=2,sh020=1``; a shot not
named there takes the latest); ``approved`` is the highest ok version whose revision the tracker approved (the
status trackers/reviews.py reads back into the row; ``PROXYGEN_TRACKER_APPROVED``), a card saying so when none is.

Frames: an event's source timecode is read against the shot's own timecode, the one its review clip starts at
(the first frame's EXR ``timeCode``, else the first frame number at the clip's rate: frame 1001 at 24 fps =
00:00:41:17). So source in 00:00:41:17 on a shot rendered 993-1108 (handles) is frame 1001. An event reaching
outside the frames the version has is a card ("out of range"), never a shorter or shifted event. A cut at
another rate than the shot is a warning naming the conversion (frame for frame: one cut frame is one shot frame).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from proxygen_core.editorial.events import Cut, CutEvent
from proxygen_core.editorial.match import EventMatch
from proxygen_core.media.timecode import frames_of
from proxygen_core.profiles import PRIMARY
from proxygen_core.rows import ClipRow

VERSION_RULES = ("latest", "pinned", "approved")
OK, NO_VERSION, FAILED, OUT_OF_RANGE, UNMATCHED = "ok", "no_version", "version_failed", "out_of_range", "unmatched"


class CutVersionError(ValueError):
    """A version rule that cannot be applied (``approved`` without a tracker's approvals; a malformed pin)."""


Approval = Callable[[ClipRow], bool]  # whether a version's row is approved (cut_version=approved)


def parse_pins(text: str) -> dict[str, int]:
    """``sh010=2, sh020=v001`` -> {shot: version}."""
    pins: dict[str, int] = {}
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        shot, sep, version = part.partition("=")
        digits = version.strip().lstrip("vV")
        if not sep or not shot.strip() or not digits.isdigit():
            raise CutVersionError(f"cut_pins {part!r}: shot=version, e.g. sh010=2")
        pins[shot.strip()] = int(digits)
    return pins


def check_version_rule(rule: str, approved: Approval | None = None) -> None:
    if rule not in VERSION_RULES:
        raise CutVersionError(f"cut_version {rule!r}: one of {', '.join(VERSION_RULES)}")
    if rule == "approved" and approved is None:
        raise CutVersionError("cut_version 'approved' needs a tracker's approvals: set PROXYGEN_TRACKER "
                              "(docs/editorial.md)")


@dataclass(frozen=True)
class EventPlan:
    """What one event shows: the version and its first frame, or a card and why."""

    match: EventMatch
    state: str  # ok | no_version | version_failed | out_of_range | unmatched
    reason: str = ""  # the card's text; empty when ok
    version: int | None = None
    first_frame: int | None = None  # the shot's frame number of the event's first picture
    row: ClipRow | None = field(default=None, compare=False)  # the version's review clip row

    @property
    def event(self) -> CutEvent:
        return self.match.event

    @property
    def frames(self) -> range:
        start = self.first_frame or 0
        return range(start, start + self.event.duration)

    def record(self) -> dict[str, object]:
        """The event as the cut's row and report list it."""
        e = self.event
        return {"index": e.index, "name": e.name, "reel": e.reel, "shot": self.match.shot,
                "matched_by": self.match.by, "version": self.version, "state": self.state, "reason": self.reason,
                "source_in": e.source_in, "source_out": e.source_out, "record_in": e.record_in,
                "record_out": e.record_out, "first_frame": self.first_frame,
                "last_frame": self.first_frame + e.duration - 1 if self.first_frame is not None else None,
                "sequence": self.row.sequence if self.row else None}


@dataclass(frozen=True)
class CutPlan:
    key: str
    cut: Cut
    events: tuple[EventPlan, ...]
    warnings: tuple[str, ...] = ()
    candidates: tuple[ClipRow, ...] = field(default=(), compare=False)  # every version of its shots it chose from

    @property
    def versions(self) -> dict[str, int]:
        """Shot -> the version the cut holds (one per shot: a shot shows one version everywhere)."""
        return {p.match.shot: p.version for p in self.events if p.match.shot and p.version is not None}

    @property
    def missing(self) -> list[int]:
        return [p.event.index for p in self.events if p.state != OK]

    def fingerprint(self, cut_etag: str = "") -> str:
        """What the build is made from: the cut file's version and each event's clip row (id and stamp), so a
        new version of a shot or a changed cut gives another one."""
        basis = "|".join(f"{p.event.index}:{p.state}:{p.row.clip_id if p.row else '-'}@"
                         f"{p.row.planned_at if p.row else '-'}" for p in self.events)
        return hashlib.sha256(f"{cut_etag}|{basis}".encode()).hexdigest()[:24]


def review_rows(rows: Iterable[ClipRow], show: str | None = None) -> dict[str, list[ClipRow]]:
    """Shot -> its review clip rows (every version, ok or failed), of ``show`` when given and known."""
    out: dict[str, list[ClipRow]] = {}
    for row in rows:
        if row.shot and (row.profile or PRIMARY) == PRIMARY and (show is None or row.show in (None, show)):
            out.setdefault(row.shot, []).append(row)
    return out


def choose(rows: list[ClipRow], rule: str, pin: int | None,
           approved: Approval | None = None) -> tuple[ClipRow | None, str]:
    """The row of the version to show, else None and why."""
    ok = [r for r in rows if r.ok and r.version is not None]
    if rule == "approved" and approved is not None:
        chosen = [r for r in ok if approved(r)]
        if chosen:
            best = max(r.version or 0 for r in chosen)
            return max((r for r in chosen if r.version == best), key=lambda r: r.planned_at or 0), ""
        if ok:
            newest = max(ok, key=lambda r: (r.version or 0, r.planned_at or 0))
            return None, (f"no approved version yet (newest ok v{newest.version or 0:03d}: "
                          f"{newest.tracker_review or newest.tracker_status or 'not published'})")
    if pin is not None and rule == "pinned":
        pinned = [r for r in ok if r.version == pin]
        if pinned:
            return max(pinned, key=lambda r: r.planned_at or 0), ""
        failed = any(r.version == pin for r in rows)
        return None, f"pinned v{pin:03d} {'failed' if failed else 'has no clip'}"
    if ok:
        latest = max(r.version or 0 for r in ok)
        return max((r for r in ok if r.version == latest), key=lambda r: r.planned_at or 0), ""
    if rows:
        worst = max(rows, key=lambda r: r.version or 0)
        return None, f"v{worst.version or 0:03d} failed: {(worst.error or 'no ok clip')[:80]}"
    return None, "no version yet"


def plan_event(match: EventMatch, rows: dict[str, list[ClipRow]], cut: Cut, rule: str,
               pins: dict[str, int], warnings: list[str], approved: Approval | None = None) -> EventPlan:
    if match.shot is None:
        return EventPlan(match, UNMATCHED, f"{match.label()}: no version yet (no shot of that name has a clip)")
    shot_rows = rows.get(match.shot, [])
    row, why = choose(shot_rows, rule, pins.get(match.shot), approved)
    if row is None:
        state = FAILED if "failed" in why else NO_VERSION
        return EventPlan(match, state, f"{match.shot}: {why}")
    fps = row.fps or cut.fps
    if round(fps, 3) != round(cut.fps, 3):
        warnings.append(f"{match.shot} v{row.version:03d} is at {fps:g} fps, the cut at {cut.fps:g}: converted "
                        "frame for frame (one cut frame is one shot frame)")
    base = max(1, round(fps))
    first = row.first_frame or 0
    start_tc = frames_of(row.start_timecode, base) if row.start_timecode else first
    frame = first + (match.event.source_in - start_tc)
    last = frame + match.event.duration - 1
    if frame < first or last > (row.last_frame if row.last_frame is not None else first):
        return EventPlan(match, OUT_OF_RANGE, f"{match.shot} v{row.version:03d}: out of range (the cut needs "
                         f"{frame}-{last}, the version has {first}-{row.last_frame})", row.version, frame, row)
    return EventPlan(match, OK, "", row.version, frame, row)


def plan_cut(key: str, cut: Cut, matches: list[EventMatch], rows: Iterable[ClipRow], rule: str = "latest",
             pins: dict[str, int] | None = None, show: str | None = None,
             approved: Approval | None = None) -> CutPlan:
    check_version_rule(rule, approved)
    by_shot = review_rows(rows, show)
    warnings: list[str] = []
    plans = tuple(plan_event(m, by_shot, cut, rule, pins or {}, warnings, approved) for m in matches)
    return CutPlan(key, cut, plans, tuple(dict.fromkeys(warnings)),
                   tuple(r for shot_rows in by_shot.values() for r in shot_rows))
