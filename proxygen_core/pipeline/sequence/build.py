"""One build of a sequence's deliverables from its plan: the encode pass, each profile's check and quality
measurement, the poster, the timeline and the rows.

Every enabled clip profile is encoded in one pass over the working frames (media/clips.py). Each profile
gets its own row (ok or failed), its own container check and its own quality measurement; the poster is a
server-side copy of one frame's thumbnail. Once every enabled profile is built, the members' working frames
are released per the retention rule, unless a cut uses the sequence's shot (store/uses.py): then they stay
until that cut is built.

A build checks that its plan is still the sequence's newest state (``is_current``: the members' versions
unchanged) before it publishes the poster and its media, and again before the timeline and the release: a
frame re-rendered or arrived meanwhile makes the build superseded, its outcomes say so and nothing stale is
published (the newer state gets its own build from the sensor).
"""
from __future__ import annotations

import json
import posixpath
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from proxygen_core.errors import ProxygenError, QCFailure, as_proxygen_error
from proxygen_core.events.schema import clip_event_id
from proxygen_core.media import clip_quality, qc
from proxygen_core.media.burnins import band_height
from proxygen_core.media.clips import ClipPass, ClipResult, build_clips, display_name, look, profile_pixels
from proxygen_core.media.geometry import area_text, resolution
from proxygen_core.media.render import display_encode
from proxygen_core.media.resample import resize
from proxygen_core.media.timecode import frames_of, timecode
from proxygen_core.media.timeline import Deliverable, sequence_timeline, timeline_json
from proxygen_core.pipeline.sequence.members import Members, WorkingFrames, load_members
from proxygen_core.pipeline.sequence.plan import SequencePlan
from proxygen_core.pipeline.stages import media_tags
from proxygen_core.pipeline.state import REVIEW_PLANES, WORKING, load_state, save_state
from proxygen_core.profiles import ClipProfile
from proxygen_core.rows import FAILED, ClipRow
from proxygen_core.store.base import Store
from proxygen_core.store.identity import IDENTITY_FIELDS
from proxygen_core.store.links import media_url
from proxygen_core.store.uses import cut_wants


@dataclass
class ClipOutcome:
    """One profile's row (ok or failed) and what the UI shows beside it."""

    profile: str
    row: ClipRow
    poster: bytes | None = None
    filled: dict[int, str] = field(default_factory=dict)
    quality: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    redecoded: int = 0
    error_kind: str = ""  # a failed profile's error kind (errors.py), for the run's failure class
    superseded: bool = False  # the sequence changed during the build: nothing of it was published
    light_levels: tuple[int, int] | None = None  # HDR: (MaxCLL, MaxFALL) measured from the file's pictures

    def fail(self, uri: str, exc: BaseException, plan: SequencePlan) -> None:
        """A failed row (and event), never dropped."""
        err = as_proxygen_error(uri, exc)
        self.error_kind = err.kind
        numbers = plan.numbers
        self.row = self.row.but(status=FAILED, error=f"{type(err).__name__}: {err.cause}",
                                first_frame=numbers[0] if numbers else None,
                                last_frame=numbers[-1] if numbers else None,
                                failed_frames=json.dumps(sorted(plan.failed)), missing_frames=json.dumps([]),
                                tracker_status=None)  # a failed clip has nothing to publish


def is_current(store: Store, plan: SequencePlan, members: Members, keys: list[str] | None = None) -> bool:
    """Whether the sequence is as the plan saw it: the same member keys (``keys``: the members now, when the
    caller can list them) with the same versions and outcomes. The generation check."""
    now = load_members(store, keys if keys is not None else list(members.states))
    return now.fingerprint(plan.render.settings_hash()) == plan.fingerprint


def build_sequence_clips(store: Store, plan: SequencePlan, members: Members,
                         members_now: Callable[[], list[str]] | None = None) -> list[ClipOutcome]:
    """A row per profile of the plan, ok or failed; never raises for one profile's failure. ``members_now``
    lists the sequence's frame keys as they are when the build is about to publish (a frame that arrived
    meanwhile supersedes it); without it the members are taken as fixed (the local door)."""
    outcomes = {p.name: ClipOutcome(p.name, plan.row(p)) for p in plan.profiles}
    folder = Path(tempfile.mkdtemp(prefix="proxygen-clip-"))
    try:
        _build(store, plan, members, outcomes, folder, members_now)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for outcome in outcomes.values():
        outcome.row = outcome.row.but(event_id=clip_event_id(outcome.row))
    return list(outcomes.values())


def _build(store: Store, plan: SequencePlan, members: Members, outcomes: dict[str, ClipOutcome], folder: Path,
           members_now: Callable[[], list[str]] | None) -> None:
    """Encode, check and measure everything first; then, only if the sequence is still as planned, publish:
    the poster, each profile's file, the timeline, and the release of the working frames."""
    working = WorkingFrames(store, plan.render)
    try:
        if plan.error is not None:
            raise plan.error
        t0 = time.perf_counter()
        # The review clip alone, without burn-ins, is encoded from the planes its frames' proxies were made
        # from (the same pictures, without a second display render); anything else from the working frames.
        loaders = {n: working.planes_loader(n, s) if plan.fast else working.loader(n, s)
                   for n, s in sorted(plan.ok.items())}
        made = build_clips(loaders, set(plan.failed), plan.job({p: str(folder / f"{p.name}{p.extension}")
                                                                 for p in plan.profiles}))
        pass_seconds = time.perf_counter() - t0
    except Exception as exc:  # nothing could be made: every profile's row says why
        for outcome in outcomes.values():
            outcome.fail(store.uri(plan.pattern), exc, plan)
        return
    references = _references(made, working, plan)
    measured: dict[str, tuple[ClipProfile, ClipResult, Any]] = {}
    for profile in plan.profiles:
        outcome = outcomes[profile.name]
        outcome.redecoded = len(working.redecoded)
        outcome.timings = {"pass_seconds": round(pass_seconds, 4), "read_seconds": made.read_seconds,
                           "display_seconds": made.display_seconds}
        try:
            measured[profile.name] = (profile, *_measure(store, outcome, profile, made, plan,
                                                         references.get(profile.name, {})))
        except Exception as exc:
            outcome.fail(store.uri(plan.keys[profile.name]), exc, plan)
    if not is_current(store, plan, members, members_now() if members_now is not None else None):
        _supersede(outcomes)  # nothing of this build was published: the newer state gets its own
        return
    try:
        poster = _poster(store, plan)
    except Exception as exc:
        for outcome in outcomes.values():
            outcome.fail(store.uri(plan.pattern), exc, plan)
        return
    for name, (profile, clip, quality) in measured.items():
        try:
            _publish(store, outcomes[name], profile, clip, quality, plan, poster)
        except Exception as exc:
            outcomes[name].fail(store.uri(plan.keys[name]), exc, plan)
    _timeline(store, plan, outcomes)
    if all(o.row.ok for o in outcomes.values()) and set(outcomes) >= {p.name for p in plan.enabled}:
        release_working_frames(store, members, plan.release_working and not used_by_cuts(store, plan))


def _supersede(outcomes: dict[str, ClipOutcome]) -> None:
    for outcome in outcomes.values():
        outcome.superseded = True


def _references(made: ClipPass, working: WorkingFrames, plan: SequencePlan) -> dict[str, dict[int, Any]]:
    """The exact display render of each sampled picture, per profile (computed once per display)."""
    render = plan.picture_render
    exact = replace(render, display_transform="exact")
    by_look: dict[tuple[str, str, bool, int, int], dict[int, Any]] = {}
    out: dict[str, dict[int, Any]] = {}
    frames = {}
    for index, number in made.samples.items():
        try:
            frames[index] = working.loader(number, plan.ok[number])()
        except ProxygenError:
            continue  # that sample is left out; the check reports which frames it measured
    for profile in plan.profiles:
        refs: dict[int, Any] = {}
        result = made.results.get(profile.name)
        area = result.active_area if result is not None and result.active_area else None
        for index, frame in frames.items():
            size = (area[2], area[3]) if area else (frame.width, frame.height)
            key = look(profile, frame, render, size)
            cache = by_look.setdefault(key, {})
            if index not in cache:
                pixels = profile_pixels(profile, frame)
                if (frame.width, frame.height) != size:  # the picture fills a raster's active area
                    pixels = resize(pixels, size[0], size[1], render.resize_filter)
                cache[index] = display_encode(pixels, frame.working_colorspace, key[0], key[1], exact, plan.grade,
                                              plan.looks)
            refs[index] = cache[index]
        out[profile.name] = refs
    return out


def _timeline(store: Store, plan: SequencePlan, outcomes: dict[str, ClipOutcome]) -> None:
    """The sequence's ``.otio`` beside its clips: every enabled profile whose file is in the store (built now
    or by an earlier run of the same frames) by a path relative to the timeline (or a presigned URL:
    ``otio_media``), the gaps as markers. A timeline that cannot be written fails the
    rows of this run's profiles: they would point at a timeline that is not there."""
    built = [o for o in outcomes.values() if o.row.ok]
    if not built:
        return
    row, key = built[0].row, plan.keys["timeline"]
    fps = row.fps or plan.fps
    start = row.start_timecode or plan.start_timecode
    frame_count = row.frame_count or 0
    slate_tc = timecode(round(frames_of(start, max(1, round(fps)))) - 1, fps)
    made = {name: o.row for name, o in outcomes.items() if o.row.ok}
    deliverables = [Deliverable(p.name, media_url(store, plan.keys[p.name], key, plan.otio_media),
                                slate_tc if p.name in plan.slated else start,
                                frame_count + int(p.name in plan.slated),
                                made[p.name].clip_resolution if p.name in made else None,
                                made[p.name].active_area if p.name in made else None)
                    for p in plan.enabled
                    if (p.name in outcomes and outcomes[p.name].row.ok) or store.exists(plan.keys[p.name])]
    try:
        timeline = sequence_timeline(posixpath.basename(plan.pattern), fps, start, frame_count, deliverables,
                                     row.missing, row.failed, row.first_frame or 0,
                                     {k: getattr(row, k) for k in ("sequence", *IDENTITY_FIELDS, "frames_fingerprint")})
        store.put_bytes(key, timeline_json(timeline).encode(), "application/json")
    except Exception as exc:
        err = as_proxygen_error(store.uri(key), exc)
        for outcome in built:
            outcome.row = outcome.row.but(status=FAILED, error=f"{type(err).__name__}: timeline: {err.cause}")
        return
    for outcome in built:
        outcome.row = outcome.row.but(timeline_s3_key=key)


@dataclass(frozen=True)
class _Poster:
    key: str
    frame: int
    data: bytes


def _poster(store: Store, plan: SequencePlan) -> _Poster:
    """A server-side copy of the poster frame's thumbnail."""
    if plan.poster is None:
        raise ProxygenError(store.uri(plan.pattern), "no frame of the sequence has a picture")
    key, chosen = plan.keys["poster"], plan.poster
    thumbnail = plan.ok[chosen].thumbnail or {}
    store.copy(thumbnail["path"], key, tags=media_tags("poster"), metadata={"poster-frame": str(chosen)})
    return _Poster(key, chosen, store.get_bytes(key))


def _bands(profile: ClipProfile, plan: SequencePlan) -> tuple[bool, bool]:
    """Whether the profile's pictures carry a burn-in band at the top, at the bottom (the quality check leaves
    them out)."""
    if plan.burnins is None or profile.name not in plan.burnins.profiles:
        return False, False
    return plan.burnins.bands


def _measure(store: Store, outcome: ClipOutcome, profile: ClipProfile, made: ClipPass, plan: SequencePlan,
             references: dict[int, Any]) -> tuple[ClipResult, Any]:
    """Check one profile's file (container, frame count) and measure its quality; nothing is published yet."""
    clip: ClipResult = made.results[profile.name]
    if clip.error is not None:
        raise clip.error
    check = qc.check_clip(qc.mp4_info(clip.path, count_frames=True), profile, clip.width, clip.height,
                          clip.frame_count + int(clip.slate), clip.alpha)
    if not check.passed:
        raise QCFailure(store.uri(plan.keys[profile.name]), "; ".join(check.problems))
    t0 = time.perf_counter()
    top, bottom = _bands(profile, plan)
    area = clip.active_area or (0, 0, clip.width, clip.height)
    band = band_height(area[3])  # burn-ins are drawn on the picture, inside a raster's active area
    shift = int(clip.slate)  # a slate is picture 0: the frames come one later
    quality = clip_quality.measure(clip.path, profile, display_name(profile, plan.picture_render),
                                   {i + shift: r for i, r in references.items()},
                                   {i + shift: n for i, n in made.samples.items()}, band if bottom else 0,
                                   band if top else 0, area)
    outcome.timings["quality_seconds"] = round(time.perf_counter() - t0, 4)
    return clip, quality


def _publish(store: Store, outcome: ClipOutcome, profile: ClipProfile, clip: ClipResult, quality: Any,
             plan: SequencePlan, poster: _Poster) -> None:
    """Upload one profile's checked file and fill its row."""
    key = plan.keys[profile.name]
    meta = {"sequence": plan.pattern if len(plan.pattern) < 1000 else "",
            "frames-fingerprint": plan.fingerprint, "clip-profile": profile.name}
    stored = store.upload_file(clip.path, key, tags=media_tags(f"clip_{profile.name}"), metadata=meta)
    outcome.poster, outcome.filled, outcome.quality = poster.data, clip.filled, quality.to_dict()
    outcome.light_levels = clip.light_levels
    outcome.timings["encode_seconds"] = clip.encode_seconds
    outcome.row = outcome.row.but(
        clip_s3_key=key, poster_s3_key=poster.key, poster_frame=poster.frame,
        first_frame=clip.first_frame, last_frame=clip.last_frame, frame_count=clip.frame_count,
        missing_frames=json.dumps(clip.missing_frames), failed_frames=json.dumps(clip.failed_frames),
        fps=clip.fps, start_timecode=clip.start_timecode, duration_seconds=clip.duration_seconds,
        clip_resolution=resolution(clip.width, clip.height), clip_size_bytes=stored.size,
        quality_metric=quality.metric, quality_de_mean=quality.de_mean, quality_de_p99=quality.de_p99,
        quality_psnr_db=quality.psnr_db, quality_passed=quality.passed,
        pix_fmt=profile.encoded_pix_fmt(clip.alpha), slate_frames=int(clip.slate),
        active_area=area_text(clip.active_area or (0, 0, clip.width, clip.height)))


def used_by_cuts(store: Store, plan: SequencePlan) -> bool:
    """Whether a cut will show this version of the sequence's shot (its marker, store/uses.py): then its working
    frames stay until that cut is built (editorial/uses.py releases them)."""
    return cut_wants(store, plan.uses_key, plan.identity.get("version"))


def release_working_frames(store: Store, members: Members, release: bool) -> int:
    """With ``until_clips`` retention (``release``: the plan's ``release_working``), the members' working frames
    go once every enabled profile is built; each state then says it has none (a later rebuild decodes the source
    again). Returns how many were deleted."""
    if not release:
        return 0
    released = 0
    for key, state in members.states.items():
        if state is None or not state.working_exr:
            continue
        current = load_state(store, key)
        if current is None or current.etag != state.etag or current.working_exr != state.working_exr:
            continue  # a newer version of the frame is being processed: its working frame is not ours to drop
        store.delete(store.state_key(key, WORKING))
        store.delete(store.state_key(key, REVIEW_PLANES))
        save_state(store, replace(current, working_exr=None, review_planes=None))
        released += 1
    return released
