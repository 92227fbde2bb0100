"""One build of a cut: read it, match its events, plan the versions, render the movie, write the OTIO and page,
and the cut's row with its event. ``build_cut`` is the one call the Dagster asset and the tests make.

Nothing is published before the movie is made; a cut that cannot be read or rendered gets a failed row naming
why (the line of a malformed EDL), and no other cut or frame is touched.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, cast

from proxygen_core.editorial.conform import Approval, CutPlan, parse_pins, plan_cut
from proxygen_core.editorial.events import CutParseError, cut_name, read_cut
from proxygen_core.editorial.grades import publish_grades
from proxygen_core.editorial.match import match_cut, parse_match
from proxygen_core.editorial.outputs import audio_keys, cut_keys, cut_page, cut_timeline, deliverable_key
from proxygen_core.editorial.render import CutMovie, render_cut
from proxygen_core.editorial.uses import publish_uses, release_used
from proxygen_core.errors import as_proxygen_error
from proxygen_core.media.timeline import timeline_json
from proxygen_core.profiles import PRIMARY, ClipProfile
from proxygen_core.rows import FAILED, OK, ClipRow, CutRow
from proxygen_core.settings import GENERATOR, Settings
from proxygen_core.store.base import ObjectInfo, Store


def cut_id(bucket: str, key: str, output_profile: str) -> str:
    return hashlib.sha256(f"{bucket}|{key}|{output_profile}|cut".encode()).hexdigest()[:32]


def cut_show(key: str, prefix: str) -> str | None:
    """``editorial/<show>/<cut>.edl`` -> the show (its shots are looked for among that show's clips)."""
    rest = key[len(prefix):] if prefix and key.startswith(prefix) else ""
    parts = rest.split("/")
    return parts[0] if len(parts) > 1 and parts[0] else None


@dataclass
class CutOutcome:
    row: CutRow
    plan: CutPlan | None = None
    movie: CutMovie | None = None
    timings: dict[str, float] = field(default_factory=dict)
    released: int = 0  # working frames this build released (editorial/uses.py)
    transient: BaseException | None = None  # the store's passing failure: retry the build, record nothing


def _generator() -> str:
    try:
        from importlib.metadata import version

        return f"{GENERATOR} {version('proxygen')}"
    except Exception:
        return GENERATOR


@dataclass(frozen=True)
class CutInputs:
    """The files a build reads besides the clips: the cut's, and the sound beside it (when there is one)."""

    etag: str  # the cut file's
    audio: ObjectInfo | None = None  # the WAV or AAC of the same name (outputs.audio_keys)

    @property
    def version(self) -> str:
        """What changes when either file does: the plan's fingerprint and the sensor's change check use it."""
        return f"{self.etag}|audio:{self.audio.key}@{self.audio.etag}" if self.audio else self.etag


def cut_inputs(store: Store, key: str) -> CutInputs:
    """The cut file's etag and its sound file (one HEAD, plus one existence check per sound extension)."""
    etag = store.head(key).etag or ""
    for candidate in audio_keys(key):
        if store.exists(candidate):
            return CutInputs(etag, store.head(candidate))
    return CutInputs(etag)


class ClipSource(Protocol):
    """Where a cut's versions come from: the catalog (two targeted reads, never every clip row) or rows in hand."""

    def clip_shots(self, show: str | None, profile: str) -> set[str]: ...

    def shot_clips(self, shots: Iterable[str], show: str | None, profile: str) -> list[ClipRow]: ...


@dataclass(frozen=True)
class RowsSource:
    """Clip rows in hand as a ClipSource (the same show and profile rule as the catalog's queries)."""

    rows: tuple[ClipRow, ...]

    def clip_shots(self, show: str | None, profile: str) -> set[str]:
        return {r.shot for r in self.rows if r.shot and (r.profile or PRIMARY) == profile
                and (show is None or r.show in (None, show))}

    def shot_clips(self, shots: Iterable[str], show: str | None, profile: str) -> list[ClipRow]:
        wanted = set(shots)
        return [r for r in self.rows if r.shot in wanted and (r.profile or PRIMARY) == profile
                and (show is None or r.show in (None, show))]


def clip_source(clips: ClipSource | Iterable[ClipRow]) -> ClipSource:
    if hasattr(clips, "shot_clips"):
        return cast(ClipSource, clips)
    return RowsSource(tuple(clips))


def plan_of(store: Store, key: str, clips: ClipSource | Iterable[ClipRow],
            settings: Settings) -> tuple[CutPlan, CutInputs]:
    """The cut's plan and its input files (raises CutParseError for a cut that cannot be read). The events are
    matched against the shots of the cut's show that have a review clip (one read of the shot names), then only
    the matched shots' rows are read: a cut costs what its shots have, not what the catalog holds."""
    inputs = cut_inputs(store, key)
    cut = read_cut(store.get_bytes(key), key, float(settings.render.fps))
    source = clip_source(clips)
    pipeline = settings.pipeline
    show = cut_show(key, store.bucket_key(pipeline.editorial_prefix))
    matches = match_cut(cut, source.clip_shots(show, PRIMARY), parse_match(pipeline.cut_match))
    shots = {m.shot for m in matches if m.shot}
    rows = source.shot_clips(shots, show, PRIMARY)
    plan = plan_cut(key, cut, matches, rows, pipeline.cut_version, parse_pins(pipeline.cut_pins), show,
                    approvals(source, rows, shots, show, settings))
    return plan, inputs


def approvals(source: ClipSource, rows: list[ClipRow], shots: set[str], show: str | None,
              settings: Settings) -> Approval | None:
    """With ``cut_version=approved`` and a tracker: whether a version is approved, read from its published
    profile's row (``tracker_review``, refreshed by the cut sensor: trackers/reviews.py); else None."""
    trackers = settings.trackers
    if settings.pipeline.cut_version != "approved" or not trackers.enabled:
        return None
    profile = trackers.tracker_profile
    tracked = rows if profile == PRIMARY else source.shot_clips(shots, show, profile)
    approved = {(r.shot, r.version) for r in tracked if trackers.is_approved(r.tracker_review)}
    return lambda row: (row.shot, row.version) in approved


def editorial_profiles(settings: Settings) -> tuple[ClipProfile, ...]:
    """The enabled clip profiles a cut is delivered in besides the review: the editing intermediates."""
    return tuple(p for p in settings.pipeline.profiles() if p.editorial and p.name != PRIMARY)


def audio_warnings(inputs: CutInputs, movie: CutMovie) -> list[str]:
    """A sound file longer or shorter than the cut (by more than a picture): how it was fitted."""
    if inputs.audio is None or movie.audio_seconds is None:
        return []
    cut = movie.frames / movie.fps
    if abs(movie.audio_seconds - cut) <= 1 / movie.fps:
        return []
    how = "cut at the last picture" if movie.audio_seconds > cut else "silent after it ends"
    return [f"{inputs.audio.key}: the sound is {movie.audio_seconds:.3f} s, the cut {cut:.3f} s: {how}"]


def pinned_shots(settings: Settings) -> set[str]:
    """The shots whose version the cuts pin (``cut_version=pinned``): a newer version is never theirs."""
    pipeline = settings.pipeline
    return set(parse_pins(pipeline.cut_pins)) if pipeline.cut_version == "pinned" else set()


def build_cut(store: Store, key: str, rows: ClipSource | Iterable[ClipRow], settings: Settings,
              output_profile: str = "review", planned_at: int | None = None) -> CutOutcome:
    """Conform the cut at ``key`` against the clips of ``rows`` (the catalog, or clip rows in hand)."""
    planned_at = planned_at if planned_at is not None else int(time.time() * 1000)
    name = cut_name(key)
    keys = cut_keys(key, name)
    row = CutRow(cut_id=cut_id(getattr(store, "bucket", ""), key, output_profile), cut_key=key,
                 s3_bucket=getattr(store, "bucket", ""), output_profile=output_profile, cut_name=name, status=FAILED,
                 planned_at=planned_at, generator_version=_generator(),
                 generated_timestamp=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()))
    outcome = CutOutcome(row)
    t0 = time.perf_counter()
    try:
        plan, inputs = plan_of(store, key, rows, settings)
    except Exception as exc:
        err = exc if isinstance(exc, CutParseError) else as_proxygen_error(store.uri(key), exc)
        outcome.row = row.but(error=f"{type(err).__name__}: {err}")
        return outcome
    outcome.plan = plan
    records = [p.record() for p in plan.events]
    row = row.but(fps=plan.cut.fps, event_count=len(plan.events), cut_etag=inputs.etag,
                  fingerprint=plan.fingerprint(inputs.version), audio_s3_key=inputs.audio.key if inputs.audio else None,
                  matched_events=sum(1 for p in plan.events if p.match.matched), events=json.dumps(records),
                  versions=json.dumps(plan.versions, sort_keys=True), missing_events=json.dumps(plan.missing),
                  warnings=json.dumps(list(plan.warnings)))
    outcome.timings["plan_seconds"] = round(time.perf_counter() - t0, 4)
    profiles = editorial_profiles(settings)
    targets = {p.name: deliverable_key(key, name, p.name, p.extension) for p in profiles}
    folder = tempfile.mkdtemp(prefix="proxygen-cut-")
    try:
        path = os.path.join(folder, posixpath.basename(keys["movie"]))
        local = {profile: os.path.join(folder, posixpath.basename(target)) for profile, target in targets.items()}
        audio = store.fetch(inputs.audio).as_posix() if inputs.audio else None
        movie = render_cut(store, plan, settings, path, local, audio)
        outcome.movie = movie
        stamp = {"cut": key if len(key) < 1000 else "", "cut-fingerprint": row.fingerprint or ""}
        store.upload_file(path, keys["movie"], metadata=stamp)
        for profile, target in targets.items():
            store.upload_file(local[profile], target, metadata=stamp)
        show = cut_show(key, store.bucket_key(settings.pipeline.editorial_prefix))
        root = store.bucket_key(settings.pipeline.editorial_folder(show)) if show else None
        graded = publish_grades(store, plan, root)
        markers, held = publish_uses(store, plan, root, pinned_shots(settings)) if root else ({}, {})
        row = row.but(deliverables=json.dumps(targets, sort_keys=True),
                      warnings=json.dumps([*plan.warnings, *audio_warnings(inputs, movie), *graded, *movie.warnings]))
        timeline = cut_timeline(store, plan, keys["otio"], keys["movie"], settings.pipeline.otio_media)
        store.put_bytes(keys["otio"], timeline_json(timeline).encode(), "application/json")
        store.put_bytes(keys["html"], cut_page(plan, keys, movie.frames).encode(), "text/html; charset=utf-8")
        if settings.pipeline.working_retention == "until_clips":
            outcome.released, unreleased = release_used(store, plan, markers, held)
            row = row.but(warnings=json.dumps([*json.loads(row.warnings or "[]"), *unreleased])) if unreleased else row
    except Exception as exc:
        err = as_proxygen_error(store.uri(keys["movie"]), exc)
        outcome.row = row.but(error=f"{type(err).__name__}: {err.cause}")
        outcome.transient = err if err.transient else None
        return outcome
    finally:
        if inputs.audio:
            store.evict(inputs.audio)
        for leftover in os.listdir(folder):
            os.unlink(os.path.join(folder, leftover))
        os.rmdir(folder)
    outcome.timings["render_seconds"] = movie.seconds
    quality = {name: q.to_dict() for name, q in movie.quality.items()}
    failed = [f"{name}: quality {'; '.join(q.problems)}" for name, q in movie.quality.items() if not q.passed]
    outcome.row = row.but(status=OK, start_timecode=movie.start_timecode, frame_count=movie.frames,
                          duration_seconds=round(movie.frames / plan.cut.fps, 4), movie_s3_key=keys["movie"],
                          otio_s3_key=keys["otio"], html_s3_key=keys["html"],
                          quality=json.dumps(quality, sort_keys=True) if quality else None,
                          quality_passed=not failed if quality else None,
                          warnings=json.dumps([*json.loads(row.warnings or "[]"), *failed]) if failed else row.warnings)
    return outcome
