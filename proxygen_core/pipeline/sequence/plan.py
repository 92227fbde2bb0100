"""What a sequence's clips will be, decided once: the plan.

Every decision about a sequence's deliverables is made here, from the settings, the members' states and the
source objects' tags, and nowhere else: which profiles are built now, which carry a slate or burn-ins,
whether the review clip takes the fast path (encoded from its frames' proxy planes), the poster frame, the
rate and start timecode, the slate's fields, how many frames the quality check samples, and the rule the
sensor asks: is the sequence due, and what fingerprint names this build. The encode pass (media/clips.py),
the rows, the poster and the timeline (build.py) receive the plan; none of them reads settings.

``planned_at`` (ms since the epoch) orders the plans of one sequence: a build older than the newest one can
never replace its row or event (the catalog refuses it, catalog/schema.py ``planned_later``).
"""
from __future__ import annotations

import hashlib
import posixpath
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proxygen_core import __version__
from proxygen_core.catalog.schema import PENDING
from proxygen_core.colour.engine import engine
from proxygen_core.colour.grades import Grade, grade_for
from proxygen_core.errors import ProxygenError
from proxygen_core.media.burnins import BurnIns
from proxygen_core.media.clips import ClipJob
from proxygen_core.media.slate import SlateInfo
from proxygen_core.media.timecode import timecode
from proxygen_core.pipeline.sequence.members import Members
from proxygen_core.pipeline.sequence.show_config import show_render
from proxygen_core.pipeline.stages import utc_now_iso
from proxygen_core.pipeline.state import KeyState
from proxygen_core.profiles import ClipProfile, parse_template
from proxygen_core.rows import OK, ClipRow
from proxygen_core.settings import GENERATOR, RenderSettings, Settings
from proxygen_core.show_colour import show_colour
from proxygen_core.store.base import Store
from proxygen_core.store.identity import IDENTITY_FIELDS, identify
from proxygen_core.store.keys import clip_id
from proxygen_core.store.uses import shot_uses_key

POSTER_TAG = "proxygen-poster"  # an object tag on a source frame ("true") makes that frame the poster
QUALITY_SAMPLES = 3  # frames per clip the quality check decodes and compares (spread over the clip)
SLATE_TAGS = {"artist": ("proxygen-artist", "artist"), "note": ("proxygen-note", "note")}


def planned_at() -> int:
    """A plan's stamp: milliseconds since the epoch (comparable across hosts with synchronised clocks)."""
    return time.time_ns() // 1_000_000


def profiles_signature(settings: Settings) -> str:
    """The enabled and the slated profiles: a change of either means every sequence lacks a deliverable."""
    pipeline = settings.pipeline
    return "+".join(p.name for p in pipeline.profiles()) + "-slates-" + "+".join(p.name for p in pipeline.slated())


def lacking_profiles(old_signature: str, settings: Settings) -> tuple[str, ...]:
    """The enabled profiles a sequence built under ``old_signature`` (``profiles_signature``) lacks: those newly
    enabled, and those whose slate was switched on or off. Only they need building again; the others are as
    they were. Empty when nothing is lacking (a profile disabled needs no build)."""
    enabled, _, slated = old_signature.partition("-slates-")
    before, before_slated = set(enabled.split("+")) - {""}, set(slated.split("+")) - {""}
    now_slated = {p.name for p in settings.pipeline.slated()}
    return tuple(p.name for p in settings.pipeline.profiles()
                 if p.name not in before or (p.name in now_slated) != (p.name in before_slated))


def build_fingerprint(members: Members, settings: Settings, grade: str = "") -> str:
    """What names one build of a sequence: its members' versions and outcomes, the render settings, its grade
    (``grade_digest``: a new .cc is a new build) and the enabled profiles (the sensor's run key; enabling a
    profile makes every sequence's fingerprint new)."""
    return f"{members.fingerprint(settings.render.settings_hash())}{grade}-{profiles_signature(settings)}"


def grade_digest(store: Store, pattern: str, first_key: str | None, settings: Settings) -> str:
    """A short name of the grade a sequence's clips would get now ("" when none; a grade that cannot be read
    has its own, so fixing the file is a change too): what the sensor compares to see a grade change alone."""
    try:
        grade = grade_for(store, pattern, first_key, settings.pipeline)
    except ProxygenError as exc:
        return "e" + hashlib.sha256(exc.cause.encode()).hexdigest()[:8]
    return "g" + hashlib.sha256(grade.digest().encode()).hexdigest()[:8] if grade is not None else ""


def due(members: Members, settings: Settings) -> bool:
    """Whether a settled sequence's clips can be built now: every member finished with these render settings
    (ok or failed); frames still in flight mean look again later."""
    return bool(members.states) and not members.unfinished(settings.render.settings_hash())


@dataclass(frozen=True)
class SequencePlan:
    """One build of one sequence's clips: everything the pass, the rows, the poster and the timeline need."""

    pattern: str
    bucket: str
    output_profile: str
    profiles: tuple[ClipProfile, ...]  # built by this plan
    enabled: tuple[ClipProfile, ...]  # every enabled profile (the timeline lists those built; release waits)
    slated: frozenset[str]
    burnins: BurnIns | None
    fast: bool  # the review clip alone, no slate or burn-ins: encoded from the proxies' planes
    ok: dict[int, KeyState]
    failed: frozenset[int]
    fps: float
    start_timecode: str
    poster: int | None  # None when no frame has a picture
    slate: SlateInfo | None
    render: RenderSettings
    release_working: bool  # working frames go once every enabled profile is built
    fingerprint: str  # the members' versions and settings (the rows' frames_fingerprint)
    keys: dict[str, str]  # profile name -> clip key, "poster", "timeline"
    identity: dict[str, Any] = field(default_factory=dict)
    identity_note: str | None = None  # a flagged identity's problem: the rows' error text until a failure's
    samples: int = QUALITY_SAMPLES
    planned_at: int = 0
    tracked: str | None = None  # the clip profile published to the tracker (its row starts ``pending``)
    error: BaseException | None = None  # the sources' tags (or the grade) could not be read: every row fails with it
    grade: Grade | None = None  # the sequence's CDL (colour/grades.py), before every profile's display/view
    ocio_cache_id: str | None = None  # the review display's (grade, looks, display, view) processor, for the rows
    looks: str | None = None  # the show's named looks (PROXYGEN_LOOKS), after the grade
    clip_render: RenderSettings | None = None  # the show's config, display and view (PROXYGEN_SHOW_CONFIGS)
    ocio_config: str | None = None  # the config's name as set (a bucket config's s3:// URI, not its local copy)
    otio_media: str = "relative"  # how the timeline names its clips (PROXYGEN_OTIO_MEDIA, store/links.py)
    uses_key: str | None = None  # the shot's marker of the cuts that use it (store/uses.py): kept for them

    @property
    def picture_render(self) -> RenderSettings:
        """The render settings the clips' pictures (and their quality reference) are made with: the show's
        config, display and view when it has them, else the render settings (the frames' ones)."""
        return self.clip_render or self.render

    @property
    def numbers(self) -> list[int]:
        return sorted({*self.ok, *self.failed})

    def row(self, profile: ClipProfile) -> ClipRow:
        """A profile's row before the build fills it (ok until something fails)."""
        row = ClipRow(clip_id=clip_id(self.bucket, self.pattern, self.output_profile, profile.name),
                       sequence=self.pattern, s3_bucket=self.bucket, output_profile=self.output_profile,
                       profile=profile.name, codec=profile.stream_codec, pix_fmt=profile.pix_fmt, status=OK,
                       render_settings_hash=self.render.settings_hash(), frames_fingerprint=self.fingerprint,
                       generated_timestamp=utc_now_iso(), generator_version=f"{GENERATOR} {__version__}",
                       planned_at=self.planned_at, error=self.identity_note,
                       tracker_status=PENDING if profile.name == self.tracked else None, **self.identity,
                       ocio_config=self.ocio_config or self.render.ocio_config, ocio_cache_id=self.ocio_cache_id)
        return row.but(**self.grade.columns()) if self.grade else row

    def job(self, paths: dict[ClipProfile, str]) -> ClipJob:
        return ClipJob(paths, self.picture_render, self.fps, self.start_timecode, self.burnins, self.samples,
                       self.slate, self.slated, self.poster, self.grade, self.looks)


def plan_clips(store: Store, pattern: str, members: Members, settings: Settings, output_profile: str,
               profiles: tuple[ClipProfile, ...] | None = None) -> SequencePlan:
    """The plan of one build: ``profiles`` (default: every enabled one) of ``pattern`` from ``members``."""
    render, pipeline = settings.render, settings.pipeline
    enabled = pipeline.profiles()
    profiles = profiles or enabled
    ok, failed = members.ok(), members.failed()
    numbers = sorted({*ok, *failed})
    header = (ok[min(ok)].source or {}).get("probe", {}) if ok else {}
    fps, tc = clip_timing(header.get("fps"), header.get("timecode"), numbers, min(ok) if ok else None, render)
    shot = identify(pattern, pipeline.key_layout())
    identity = shot.columns()
    slated = frozenset(p.name for p in pipeline.slated())
    poster, slate, error, grade, cache_id, clip_render = None, None, None, None, None, None
    colour = show_colour(shot.show, pipeline.show_configs, pipeline.looks)
    try:  # tags, grade, the show's config: a storage failure, a bad CDL or config fails the rows, never loses them
        clip_render = show_render(store, colour, render, any(p.hdr for p in profiles))
        grade = grade_of(store, pattern, ok, settings)
        cache_id = graded_cache_id(grade, clip_render, colour.looks)
        poster = poster_choice(store, ok, render.clip_poster_frame) if ok else None
        slate = slate_info(store, pattern, ok, failed, identity, fps, tc, grade) if numbers else None
    except Exception as exc:
        error = exc
    burnins = burnins_for(pattern, identity, render, grade, colour.looks)
    # the review clip alone, no slate, burn-ins or grade: encoded from the frames' (ungraded) proxy planes
    fast = settings.clips_from_planes(profiles) and grade is None
    return SequencePlan(
        pattern=pattern, bucket=store.bucket, output_profile=output_profile, profiles=profiles, enabled=enabled,
        slated=slated, burnins=burnins if burnins.profiles else None, fast=fast, ok=ok, failed=failed, fps=fps,
        start_timecode=tc, poster=poster, slate=slate, render=render, error=error, grade=grade,
        ocio_cache_id=cache_id, looks=colour.looks, clip_render=clip_render,
        ocio_config=colour.config or render.ocio_config,
        release_working=pipeline.working_retention == "until_clips",
        fingerprint=members.fingerprint(render.settings_hash()),
        keys=store.clip_keys(pattern, {p.name: p.extension for p in enabled}), identity=dict(identity),
        identity_note=shot.note(), planned_at=planned_at(),
        tracked=settings.trackers.tracker_profile if settings.trackers.enabled else None,
        otio_media=pipeline.otio_media, uses_key=shot_uses_key(store, identity, settings))


def grade_of(store: Store, pattern: str, ok: dict[int, KeyState], settings: Settings) -> Grade | None:
    """The sequence's grade from the first of ``grade_sources`` that has one, in ``grade_space``; None when none
    has (or ``grade_sources`` is none). A malformed CDL raises GradeError naming the file and the cause."""
    return grade_for(store, pattern, ok[min(ok)].key if ok else None, settings.pipeline)


def graded_cache_id(grade: Grade | None, render: RenderSettings, looks: str | None = None) -> str:
    """OCIO's cache id of the review display's (grade, looks, display, view) processor: what the rows name."""
    return engine(render.ocio_config).graded_cache_id(grade, render.working_colorspace, render.proxy_display,
                                                      render.view, looks)


def clip_timing(header_fps: float | None, header_timecode: str | None, numbers: list[int],
                first_with_picture: int | None, render: RenderSettings) -> tuple[float, str]:
    """A sequence's rate and start timecode by the project's rules (the pipeline and ``proxygen render`` share
    them): the rate is the first frame's EXR ``framesPerSecond``, else the setting; the start timecode is that
    frame's EXR ``timeCode`` when it is also the first frame number, else the first frame number at that rate."""
    fps = float(header_fps or render.fps)
    start = min(numbers) if numbers else 0
    tc = header_timecode if header_timecode and first_with_picture == start else timecode(start, fps)
    return fps, tc


def burnins_for(pattern: str, identity: Mapping[str, Any], render: RenderSettings, grade: Grade | None = None,
                looks: str | None = None) -> BurnIns:
    """The burn-ins of a sequence's clips: the template, the sequence's fields (its grade and looks among them:
    ``{grade}`` is the CDL's one line, ``{grade_source}`` the file it came from), the profiles that carry them."""
    fields: dict[str, str | int | None] = {k: identity.get(k) for k in IDENTITY_FIELDS}
    fields.update(name=posixpath.basename(pattern), date=utc_now_iso()[:10], looks=looks,
                  grade=grade.label() if grade is not None else None,
                  grade_source=posixpath.basename(grade.source) if grade is not None else None)
    return BurnIns(parse_template(render.clip_burnin_template), fields, render.burned_profiles())


def poster_frame(frames: list[int], chosen: int | None = None) -> int:
    """The chosen frame if it is there, else the middle of the frames that have pictures."""
    if chosen is not None and chosen in frames:
        return chosen
    ordered = sorted(frames)
    return ordered[(len(ordered) - 1) // 2]


def poster_choice(store: Store, ok: dict[int, KeyState], chosen_setting: int | None) -> int:
    """A frame whose source object is tagged ``proxygen-poster``, else the setting, else the middle frame."""
    tagged = [n for n, s in ok.items() if store.tags(s.key).get(POSTER_TAG, "").lower() in ("1", "true", "yes")]
    return poster_frame(list(ok), tagged[0] if tagged else chosen_setting)


def slate_info(store: Store, pattern: str, ok: dict[int, KeyState], failed: frozenset[int] | set[int],
               identity: Mapping[str, Any] | ClipRow, fps: float, tc: str, grade: Grade | None = None) -> SlateInfo:
    """The slate's fields: shot identity, frames, duration, rate, size, date, generator, the grade (its CDL
    values and where it came from) when there is one, and the artist and note when the first frame's object
    carries them (tags ``proxygen-artist`` / ``proxygen-note``, or S3 metadata ``artist`` / ``note``)."""
    if isinstance(identity, ClipRow):
        identity = identity.record()
    numbers = sorted({*ok, *failed})
    first, last = numbers[0], numbers[-1]
    count = last - first + 1
    missing = count - len(ok) - len(failed)
    extra = {}
    if ok:
        source = ok[min(ok)].key
        tags, meta = store.tags(source), store.metadata_if_exists(source) or {}
        extra = {name: tags.get(tag) or meta.get(key) for name, (tag, key) in SLATE_TAGS.items()}
    version = identity.get("version")
    failed_numbers = sorted(failed)
    missing_numbers = [n for n in range(first, last + 1) if n not in ok and n not in failed]
    gaps = ", ".join(part for part in (f"{missing} missing" if missing else "",
                                       f"{len(failed)} failed" if failed else "") if part)
    info = (ok[min(ok)].frame_info or {}) if ok else {}
    stored = info.get("source_resolution")
    aspect = info.get("pixel_aspect_ratio")
    if stored and aspect and abs(float(aspect) - 1.0) > 1e-3:
        stored = f"{stored}, pixel aspect {float(aspect):g}"
    return SlateInfo(identity.get("shot") or posixpath.basename(pattern), [
        ("Show", identity.get("show")), ("Sequence", identity.get("seq")), ("Shot", identity.get("shot")),
        ("Task", identity.get("task")), ("Version", f"v{version:03d}" if version is not None else None),
        ("Frames", f"{first}-{last} ({count}{', ' + gaps if gaps else ''})"),
        ("Missing", frame_ranges(missing_numbers)), ("Failed", frame_ranges(failed_numbers)),
        ("Duration", f"{count / fps:.2f} s from {tc}"), ("FPS", f"{fps:g}"),
        ("Source size", stored), ("Colour space", info.get("source_colorspace")),
        ("Date", utc_now_iso()[:10]), ("Generator", f"{GENERATOR} {__version__}"),
        ("Artist", extra.get("artist")), ("Note", extra.get("note")), ("Source", posixpath.basename(pattern)),
        *grade_lines(grade)])


def grade_lines(grade: Grade | None) -> list[tuple[str, str | None]]:
    """The grade's slate lines: each CDL triple on its own line (a slate value holds ~44 characters), its space
    and the file (or metadata) it came from."""
    if grade is None:
        return []
    columns = grade.columns()
    return [("CDL slope", str(columns["grade_slope"])), ("CDL offset", str(columns["grade_offset"])),
            ("CDL power", str(columns["grade_power"])), ("CDL sat", f"{grade.saturation:g} in {grade.space}"),
            ("Grade from", posixpath.basename(grade.source))]


def frame_ranges(numbers: list[int]) -> str:
    """``[1005, 1010, 1011, 1012]`` -> ``1005, 1010-1012`` (what the slate names the gaps by)."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def sequence_digest(pattern: str) -> str:
    """A short stable name of a sequence for run tags (tag values are length-limited; patterns are not)."""
    return hashlib.sha256(pattern.encode()).hexdigest()[:16]
