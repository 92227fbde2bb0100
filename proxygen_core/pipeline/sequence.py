"""One image sequence from its frames' state to its deliverables, poster and catalog rows.

Runs after the frames: each member's ``state.json`` says whether that version finished ok (and where its
working frame and thumbnail are) or failed. Every enabled clip profile is encoded in one pass over the
working frames (media/clips.py); a member whose working frame is gone (retention, or never kept) is decoded
from its source again, and the row says how many were. Each profile gets its own row (ok or failed), its
own container check and its own quality measurement; the poster is a server-side copy of one frame's
thumbnail. Once every enabled profile is built, the members' working frames are released per the
retention rule.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from proxygen_core import __version__
from proxygen_core.errors import ProxygenError, QCFailure, as_proxygen_error
from proxygen_core.events.schema import clip_event_id
from proxygen_core.media import clip_quality, qc
from proxygen_core.media.burnins import BurnIns, band_height
from proxygen_core.media.clips import (
    ClipPass,
    ClipResult,
    ReviewPlanes,
    build_clips,
    clip_timing,
    display_name,
    look,
    poster_frame,
    profile_pixels,
    tc_frames,
)
from proxygen_core.media.geometry import resolution
from proxygen_core.media.render import WorkingFrame, decode_working, display_encode
from proxygen_core.media.sequences import parse_frame, timecode
from proxygen_core.media.slate import SlateInfo
from proxygen_core.media.timeline import Deliverable, sequence_timeline, timeline_json
from proxygen_core.pipeline.stages import media_tags, utc_now_iso
from proxygen_core.pipeline.state import (
    REVIEW_PLANES,
    WORKING,
    KeyState,
    load_review_planes_bytes,
    load_state,
    load_working_if_exists,
    save_state,
)
from proxygen_core.profiles import PROFILES, ClipProfile, parse_template
from proxygen_core.settings import GENERATOR, Settings
from proxygen_core.store.base import Store
from proxygen_core.store.identity import identify

POSTER_TAG = "proxygen-poster"  # an object tag on a source frame ("true") makes that frame the poster
QUALITY_SAMPLES = 3  # frames per clip the quality check decodes and compares (spread over the clip)


@dataclass
class Members:
    states: dict[str, KeyState | None]  # key -> its state (None: not processed yet)
    numbers: dict[str, int]

    def unfinished(self, settings_hash: str) -> list[str]:
        return [k for k, s in self.states.items() if s is None or s.settings_hash != settings_hash]

    def fingerprint(self, settings_hash: str) -> str:
        basis = "|".join(f"{k}@{s.etag if s else '-'}:{s.status if s else '-'}" for k, s in sorted(self.states.items()))
        return hashlib.sha256(f"{basis}|{settings_hash}".encode()).hexdigest()[:24]


@dataclass
class ClipOutcome:
    """One profile's row (ok or failed) and what the UI shows beside it."""

    profile: str
    row: dict[str, Any]
    poster: bytes | None = None
    filled: dict[int, str] = field(default_factory=dict)
    quality: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    redecoded: int = 0
    error_kind: str = ""  # a failed profile's error kind (errors.py), for the run's failure class


def load_members(store: Store, keys: list[str]) -> Members:
    parsed = {k: parse_frame(k) for k in keys}
    numbers = {k: f.frame for k, f in parsed.items() if f is not None}
    return Members({k: load_state(store, k) for k in numbers}, numbers)


def clip_id(bucket: str, pattern: str, output_profile: str, clip_profile: str = "review") -> str:
    """One row per sequence, output profile and clip profile; the review clip keeps the id it always had."""
    suffix = "" if clip_profile == "review" else f"|{clip_profile}"
    return hashlib.sha256(f"{bucket}/{pattern}|{output_profile}|clip{suffix}".encode()).hexdigest()[:32]


class WorkingFrames:
    """Loaders of the members' working frames: the stored EXR, else a fresh decode of the source."""

    def __init__(self, store: Store, settings: Settings, folder: Path) -> None:
        self.store, self.settings, self.folder = store, settings, folder
        self.redecoded: set[int] = set()
        self._lock = threading.Lock()

    def planes_loader(self, number: int, state: KeyState) -> Callable[[], ReviewPlanes | WorkingFrame]:
        """The kept proxy planes; when they are gone (released, or an older state), the working frame instead
        (the same pictures, rendered): no listing or HEAD per frame to find out beforehand."""
        working = self.loader(number, state)

        def load() -> ReviewPlanes | WorkingFrame:
            data = self.store.get_bytes_if_exists(state.review_planes) if state.review_planes else None
            if data is None:
                return working()
            try:
                return ReviewPlanes(load_review_planes_bytes(data))
            except Exception as exc:
                raise as_proxygen_error(self.store.uri(state.key), exc) from exc
        return load

    def loader(self, number: int, state: KeyState) -> Callable[[], WorkingFrame]:
        def load() -> WorkingFrame:
            try:
                stored = load_working_if_exists(self.store, state.working_exr) if state.working_exr else None
                if stored is not None:
                    return stored
                info = self.store.head(state.key)
                frame = decode_working(str(self.store.fetch(info)), self.settings.render)
                self.store.evict(info)
                with self._lock:
                    self.redecoded.add(number)
                return frame
            except Exception as exc:
                raise as_proxygen_error(self.store.uri(state.key), exc) from exc
        return load


def build_sequence_clips(store: Store, pattern: str, members: Members, settings: Settings, output_profile: str,
                         profiles: tuple[ClipProfile, ...] | None = None) -> list[ClipOutcome]:
    """A row per enabled profile (or per ``profiles``), ok or failed; never raises for one profile's failure."""
    render = settings.render
    profiles = profiles or settings.pipeline.profiles()
    keys = store.clip_keys(pattern, {p.name: p.extension for p in profiles})
    ok = {members.numbers[k]: s for k, s in members.states.items() if s and s.status == "ok" and s.thumbnail}
    failed = {members.numbers[k] for k, s in members.states.items() if s and s.status == "failed"}
    base: dict[str, Any] = {
        "sequence": pattern, "s3_bucket": store.bucket, "output_profile": output_profile,
        "render_settings_hash": render.settings_hash(),
        "frames_fingerprint": members.fingerprint(render.settings_hash()),
        "generated_timestamp": utc_now_iso(), "generator_version": f"{GENERATOR} {__version__}", "status": "ok",
        **identify(pattern, settings.pipeline.key_template).columns(),
    }
    outcomes = {p.name: ClipOutcome(p.name, {**base, "clip_id": clip_id(store.bucket, pattern, output_profile, p.name),
                                             "profile": p.name, "codec": p.stream_codec, "pix_fmt": p.pix_fmt})
                for p in profiles}
    folder = Path(tempfile.mkdtemp(prefix="proxygen-clip-"))
    try:
        try:
            working = WorkingFrames(store, settings, folder)
            header = (ok[min(ok)].source or {}).get("probe", {}) if ok else {}
            numbers = sorted({*ok, *failed})
            fps, tc = clip_timing(header.get("fps"), header.get("timecode"), numbers, min(ok) if ok else None, render)
            t0 = time.perf_counter()
            # The review clip alone, without burn-ins, is encoded from the planes its frames' proxies were made
            # from (the same pictures, without a second display render); anything else from the working frames.
            slated = frozenset(p.name for p in settings.pipeline.slated())
            burnins = burnins_for(pattern, base, settings)
            fast = ([p.name for p in profiles] == ["review"] and "review" not in burnins.profiles
                    and "review" not in slated)
            loaders = {n: working.planes_loader(n, s) if fast else working.loader(n, s) for n, s in sorted(ok.items())}
            chosen = _poster_choice(store, ok, render.clip_poster_frame)
            made = build_clips(loaders, failed,
                               {p: str(folder / f"{p.name}{p.extension}") for p in profiles}, render, fps, tc,
                               burnins if burnins.profiles else None, QUALITY_SAMPLES,
                               slate_info(store, pattern, ok, failed, base, fps, tc, render), slated, chosen)
            pass_seconds = time.perf_counter() - t0
            poster = _poster(store, keys["poster"], ok, chosen)
        except Exception as exc:  # nothing could be made: every profile's row says why
            for outcome in outcomes.values():
                _fail(outcome, store.uri(pattern), exc, ok, failed)
        else:
            references = _references(made, working, ok, profiles, render)
            for profile in profiles:
                outcome = outcomes[profile.name]
                outcome.redecoded = len(working.redecoded)
                outcome.timings = {"pass_seconds": round(pass_seconds, 4), "read_seconds": made.read_seconds,
                                   "display_seconds": made.display_seconds}
                try:
                    _finish(store, outcome, profile, made, keys, poster, references.get(profile.name, {}), render)
                except Exception as exc:
                    _fail(outcome, store.uri(keys[profile.name]), exc, ok, failed)
            _timeline(store, pattern, keys["timeline"], outcomes, settings, made)
            if all(o.row["status"] == "ok" for o in outcomes.values()) and set(outcomes) >= {
                    p.name for p in settings.pipeline.profiles()}:
                release_working_frames(store, members, settings)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for outcome in outcomes.values():
        outcome.row["event_id"] = clip_event_id(outcome.row)
    return list(outcomes.values())


def _references(made: ClipPass, working: WorkingFrames, ok: dict[int, KeyState], profiles: tuple[ClipProfile, ...],
                render) -> dict[str, dict[int, Any]]:
    """The exact display render of each sampled picture, per profile (computed once per display)."""
    exact = replace(render, display_transform="exact")
    by_look: dict[tuple[str, str, bool], dict[int, Any]] = {}
    out: dict[str, dict[int, Any]] = {}
    frames = {}
    for index, number in made.samples.items():
        try:
            frames[index] = working.loader(number, ok[number])()
        except ProxygenError:
            continue  # that sample is left out; the check reports which frames it measured
    for profile in profiles:
        refs: dict[int, Any] = {}
        for index, frame in frames.items():
            key = look(profile, frame, render)
            cache = by_look.setdefault(key, {})
            if index not in cache:
                cache[index] = display_encode(profile_pixels(profile, frame), frame.working_colorspace, key[0],
                                              key[1], exact)
            refs[index] = cache[index]
        out[profile.name] = refs
    return out


def _timeline(store: Store, pattern: str, key: str, outcomes: dict[str, ClipOutcome], settings: Settings,
              made: ClipPass) -> None:
    """The sequence's ``.otio`` beside its clips: every enabled profile whose file is in the store (built now
    or by an earlier run of the same frames), the gaps as markers. A timeline that cannot be written fails the
    rows of this run's profiles: they would point at a timeline that is not there."""
    built = [o for o in outcomes.values() if o.row["status"] == "ok"]
    if not built:
        return
    row = built[0].row
    keys = store.clip_keys(pattern, {p.name: p.extension for p in settings.pipeline.profiles()})
    slated = {p.name for p in settings.pipeline.slated()}
    fps = row["fps"]
    slate_tc = timecode(round(tc_frames(row["start_timecode"], max(1, round(fps)))) - 1, fps)
    deliverables = [Deliverable(p.name, store.uri(keys[p.name]),
                                slate_tc if p.name in slated else row["start_timecode"],
                                row["frame_count"] + int(p.name in slated))
                    for p in settings.pipeline.profiles()
                    if (p.name in outcomes and outcomes[p.name].row["status"] == "ok") or store.exists(keys[p.name])]
    try:
        timeline = sequence_timeline(posixpath.basename(pattern), row["fps"], row["start_timecode"],
                                     row["frame_count"], deliverables, json.loads(row["missing_frames"]),
                                     json.loads(row["failed_frames"]), row["first_frame"],
                                     {k: row.get(k) for k in ("sequence", "show", "seq", "shot", "task", "version",
                                                              "frames_fingerprint")})
        store.put_bytes(key, timeline_json(timeline).encode(), "application/json")
    except Exception as exc:
        err = as_proxygen_error(store.uri(key), exc)
        for outcome in built:
            outcome.row.update(status="failed", error=f"{type(err).__name__}: timeline: {err.cause}")
        return
    for outcome in built:
        outcome.row["timeline_s3_key"] = key


def burnin_profiles(render) -> frozenset[str]:
    """Every profile with ``clip_burnins``, else those ``clip_burnin_profiles`` lists."""
    if render.clip_burnins:
        return frozenset(PROFILES)
    return frozenset(p.strip() for p in render.clip_burnin_profiles.split(",") if p.strip())


def parse_template_bands(template: str) -> tuple[bool, bool]:
    return BurnIns(parse_template(template)).bands


def burnins_for(pattern: str, row: dict[str, Any], settings: Settings) -> BurnIns:
    """The burn-ins of a sequence's clips: the template, the sequence's fields, the profiles that carry them."""
    fields = {k: row.get(k) for k in ("show", "seq", "shot", "task", "version")}
    fields.update(name=posixpath.basename(pattern), date=utc_now_iso()[:10])
    return BurnIns(parse_template(settings.render.clip_burnin_template), fields, burnin_profiles(settings.render))


def _poster_choice(store: Store, ok: dict[int, KeyState], chosen_setting: int | None) -> int:
    tagged = [n for n, s in ok.items() if store.tags(s.key).get(POSTER_TAG, "").lower() in ("1", "true", "yes")]
    return poster_frame(list(ok), tagged[0] if tagged else chosen_setting)


SLATE_TAGS = {"artist": ("proxygen-artist", "artist"), "note": ("proxygen-note", "note")}


def slate_info(store: Store, pattern: str, ok: dict[int, KeyState], failed: set[int], row: dict[str, Any],
               fps: float, tc: str, render) -> SlateInfo:
    """The slate's fields: shot identity, frames, duration, rate, size, date, generator, and the artist and
    note when the first frame's object carries them (tags ``proxygen-artist`` / ``proxygen-note``, or S3
    metadata ``artist`` / ``note``)."""
    numbers = sorted({*ok, *failed})
    first, last = numbers[0], numbers[-1]
    count = last - first + 1
    missing = count - len(ok) - len(failed)
    extra = {}
    if ok:
        source = ok[min(ok)].key
        tags, meta = store.tags(source), store.metadata_if_exists(source) or {}
        extra = {name: tags.get(tag) or meta.get(key) for name, (tag, key) in SLATE_TAGS.items()}
    version = row.get("version")
    gaps = ", ".join(part for part in (f"{missing} missing" if missing else "", f"{len(failed)} failed" if failed
                                       else "") if part)
    probe = (ok[min(ok)].source or {}).get("probe", {}) if ok else {}
    return SlateInfo(row.get("shot") or posixpath.basename(pattern), [
        ("Show", row.get("show")), ("Sequence", row.get("seq")), ("Shot", row.get("shot")), ("Task", row.get("task")),
        ("Version", f"v{version:03d}" if version is not None else None),
        ("Frames", f"{first}-{last} ({count}{', ' + gaps if gaps else ''})"),
        ("Duration", f"{count / fps:.2f} s from {tc}"), ("FPS", f"{fps:g}"),
        ("Resolution", f"{probe.get('width')}x{probe.get('height')}" if probe else None),
        ("Date", utc_now_iso()[:10]), ("Generator", f"{GENERATOR} {__version__}"),
        ("Artist", extra.get("artist")), ("Note", extra.get("note")), ("Source", posixpath.basename(pattern))])


def _poster(store: Store, key: str, ok: dict[int, KeyState], chosen: int) -> dict[str, Any]:
    store.copy(ok[chosen].thumbnail["path"], key, tags=media_tags("poster"), metadata={"poster-frame": str(chosen)})
    return {"key": key, "frame": chosen, "bytes": store.get_bytes(key)}


def _finish(store: Store, outcome: ClipOutcome, profile: ClipProfile, made: ClipPass, keys: dict[str, str],
            poster: dict[str, Any], references: dict[int, Any], render) -> None:
    """Check, measure and publish one profile's file, and fill its row."""
    clip: ClipResult = made.results[profile.name]
    if clip.error is not None:
        raise clip.error
    key = keys[profile.name]
    check = qc.check_clip(qc.mp4_info(clip.path, count_frames=True), profile, clip.width, clip.height,
                          clip.frame_count + int(clip.slate), clip.alpha)
    if not check.passed:
        raise QCFailure(store.uri(key), "; ".join(check.problems))
    t0 = time.perf_counter()
    display = display_name(profile, render)
    burned = profile.name in burnin_profiles(render)
    top, bottom = parse_template_bands(render.clip_burnin_template) if burned else (False, False)
    band = band_height(clip.height)
    shift = int(clip.slate)  # a slate is picture 0: the frames come one later
    quality = clip_quality.measure(clip.path, profile, display, {i + shift: r for i, r in references.items()},
                                   {i + shift: n for i, n in made.samples.items()}, band if bottom else 0,
                                   band if top else 0)
    outcome.timings["quality_seconds"] = round(time.perf_counter() - t0, 4)
    meta = {"sequence": outcome.row["sequence"] if len(outcome.row["sequence"]) < 1000 else "",
            "frames-fingerprint": outcome.row["frames_fingerprint"], "clip-profile": profile.name}
    stored = store.upload_file(clip.path, key, tags=media_tags(f"clip_{profile.name}"), metadata=meta)
    outcome.poster, outcome.filled, outcome.quality = poster["bytes"], clip.filled, quality.to_dict()
    outcome.timings["encode_seconds"] = clip.encode_seconds
    outcome.row.update({
        "clip_s3_key": key, "poster_s3_key": poster["key"], "poster_frame": poster["frame"],
        "first_frame": clip.first_frame, "last_frame": clip.last_frame, "frame_count": clip.frame_count,
        "missing_frames": json.dumps(clip.missing_frames), "failed_frames": json.dumps(clip.failed_frames),
        "fps": clip.fps, "start_timecode": clip.start_timecode, "duration_seconds": clip.duration_seconds,
        "clip_resolution": resolution(clip.width, clip.height), "clip_size_bytes": stored.size,
        "quality_metric": quality.metric, "quality_de_mean": quality.de_mean, "quality_de_p99": quality.de_p99,
        "quality_psnr_db": quality.psnr_db, "quality_passed": quality.passed,
        "pix_fmt": profile.encoded_pix_fmt(clip.alpha), "slate_frames": int(clip.slate),
    })


def _fail(outcome: ClipOutcome, uri: str, exc: BaseException, ok: dict[int, KeyState], failed: set[int]) -> None:
    """A failed row (and event), never dropped."""
    err = as_proxygen_error(uri, exc)
    outcome.error_kind = err.kind
    numbers = sorted({*ok, *failed})
    outcome.row.update({"status": "failed", "error": f"{type(err).__name__}: {err.cause}",
                        "first_frame": numbers[0] if numbers else None, "last_frame": numbers[-1] if numbers else None,
                        "failed_frames": json.dumps(sorted(failed)), "missing_frames": json.dumps([])})


def release_working_frames(store: Store, members: Members, settings: Settings) -> int:
    """With ``until_clips`` retention, the members' working frames go once every enabled profile is built; each
    state then says it has none (a later rebuild decodes the source again). Returns how many were deleted."""
    if settings.pipeline.working_retention != "until_clips":
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
