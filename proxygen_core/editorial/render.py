"""The cut movie: every event's pictures in record order, one H.264 review file at the cut's rate, and the same
pictures in every enabled editorial profile (``ClipProfile.editorial``: ProRes, DNxHR; ``<cut>_cut_<profile>``).

A picture of an event with media is rendered from its shot version's working frame (the scene-linear EXR the
frame's chain kept, ``PROXYGEN_WORKING_RETENTION``), else from the source decoded again (members.py's loader):
either way first generation, through the proxy display as the review clips are, never a decode of the H.264
review clip. An event without media is a card (the slate's drawing) naming the shot and why; a frame the version
lacks inside an event's range (missing or failed) is black with the gap mark; so is a frame whose working
frame and source are both gone or unreadable (``UNREADABLE``, named in the row's warnings): one broken frame
never stops the cut (a transient store error does: the run retries). Burn-ins, when the review profile
carries them (``PROXYGEN_CLIP_BURNINS`` / ``PROXYGEN_CLIP_BURNIN_PROFILES``), use the burn-in template per event
(shot, version, the shot's frame) with the cut's record timecode. Each picture is rendered once, in float, and
quantised per profile (8-bit 4:2:0 for the review, 10-bit 4:2:2/4:4:4 for the intermediates): the deliverables
are first generation too, never made from the H.264. A WAV or AAC beside the cut (media/audio.py) is muxed into
every file from the first picture.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from proxygen_core.colour.grades import from_columns
from proxygen_core.editorial.conform import OK, CutPlan, EventPlan
from proxygen_core.editorial.fallback import DeliverableFrames
from proxygen_core.errors import EncodeError, ProxygenError
from proxygen_core.media import clip_quality
from proxygen_core.media.audio import audio_seconds
from proxygen_core.media.burnins import BurnIns, band_height
from proxygen_core.media.burnins import draw as draw_burnins
from proxygen_core.media.clip_quality import ClipQuality
from proxygen_core.media.clips import ProfileEncoder, burnin_font, gap_card, gap_mark, profile_display, profile_pixels
from proxygen_core.media.render import display_encode
from proxygen_core.media.resample import resize
from proxygen_core.media.sequences import parse_pattern
from proxygen_core.media.slate import SlateInfo, slate_picture
from proxygen_core.media.timecode import timecode
from proxygen_core.media.yuv import rgb_to_planes
from proxygen_core.pipeline.sequence.members import WorkingFrames
from proxygen_core.pipeline.sequence.show_config import show_render
from proxygen_core.pipeline.state import load_state
from proxygen_core.profiles import PRIMARY, PROFILES, parse_template
from proxygen_core.settings import RenderSettings, Settings
from proxygen_core.show_colour import show_colour
from proxygen_core.store.base import Store

CARD_SIZE = (640, 360)  # a cut with no media at all
QUALITY_SAMPLES = 5  # pictures of the cut whose decoded files are measured against the exact render


@dataclass
class CutMovie:
    path: str  # the review file
    width: int
    height: int
    frames: int
    fps: float
    start_timecode: str
    redecoded: int = 0  # pictures whose working frame was gone (decoded from the source again)
    gap_frames: dict[int, str] = field(default_factory=dict)  # cut picture index -> why it is a gap
    seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)  # profile -> the file made (the review's is ``path``)
    quality: dict[str, ClipQuality] = field(default_factory=dict)  # profile -> its sampled pictures' figures
    audio_seconds: float | None = None  # the muxed sound file's length (None: no sound)
    warnings: list[str] = field(default_factory=list)  # frames shown as gaps because they cannot be read


def _even(n: int) -> int:
    return max(2, n - n % 2)


class _Pictures:
    def __init__(self, store: Store, settings: Settings, width: int, height: int,
                 profiles: tuple[str, ...] = ()) -> None:
        render = settings.render
        self.store, self.render, self.width, self.height = store, render, width, height
        self.pipeline = settings.pipeline
        self.colours: dict[str | None, tuple[RenderSettings, str | None]] = {}
        self.reference: np.ndarray | None = None
        self.working = WorkingFrames(store, render)
        self.font = burnin_font()
        self.review = PROFILES[PRIMARY]
        self.burn = bool(render.burned_profiles() & {PRIMARY, *profiles})
        self.template = parse_template(render.clip_burnin_template) if self.burn else {}
        self.unreadable: dict[tuple[str, int], str] = {}  # (pattern, frame) -> why, for the row's warnings
        self.deliverables = DeliverableFrames(store, render.resize_filter)  # the last source (editorial/fallback.py)

    def card(self, plan: EventPlan) -> np.ndarray:
        e = plan.event
        info = SlateInfo(plan.match.label(), [("state", plan.state.replace("_", " ")), ("why", plan.reason),
                                              ("event", str(e.index)), ("clip", e.name), ("reel", e.reel),
                                              ("duration", f"{e.duration} frames")])
        return slate_picture(info, None, self.width, self.height, self.font)

    def frame(self, plan: EventPlan, number: int, exact: bool = False) -> tuple[np.ndarray | None, str]:
        """The display picture of the shot's frame ``number``, else None and why; with ``exact``, the exact
        display render of it is kept in ``self.reference`` too (the quality check's reference)."""
        self.reference = None
        assert plan.row is not None  # an ok event has its row
        seq, padding = parse_pattern(plan.row.sequence)
        state = load_state(self.store, seq.frame_key(number, padding))
        if state is None or state.status != OK or not state.thumbnail:
            return None, "FAILED" if state is not None and state.status != OK else "MISSING"
        try:
            frame = self.working.loader(number, state)()
        except ProxygenError as exc:  # working frame and source both gone (or broken): a gap, the others carry on
            if exc.transient:
                raise  # the store's hiccup: the build fails and the run retries
            where = f"{plan.match.shot} v{plan.version or 0:03d} frame {number}"
            found = self.deliverables.picture(plan.row, number, self.width, self.height)
            if found is not None:  # the version's 10-bit clip: display-referred, a near-lossless generation
                self.unreadable[(plan.row.sequence, number)] = (
                    f"{where}: from its {found[1]} clip: no working frame and the source cannot be read "
                    f"({type(exc).__name__}: {exc.cause})")
                return found[0], ""
            self.unreadable[(plan.row.sequence, number)] = (
                f"{where}: shown as a gap: no working frame, the source cannot be read ({type(exc).__name__}: "
                f"{exc.cause}) and the version has no 10-bit clip")
            return None, "UNREADABLE"
        pixels = profile_pixels(self.review, frame)
        if (frame.width, frame.height) != (self.width, self.height):
            pixels = resize(pixels, self.width, self.height, self.render.resize_filter)
        render, looks = self.colour(plan.row.show)
        display, view = profile_display(self.review, frame, render)
        grade = from_columns(plan.row, self.pipeline.grade_space)
        if exact:
            self.reference = display_encode(pixels, frame.working_colorspace, display, view,
                                            replace(render, display_transform="exact"), grade, looks)
        return display_encode(pixels, frame.working_colorspace, display, view, render, grade, looks), ""

    def colour(self, show: str | None) -> tuple[RenderSettings, str | None]:
        """A show's clip render settings (its config, display and view) and looks, as its review clips have them
        (pipeline/sequence/show_config.py), with the version's grade from its row: the cut looks like its clips."""
        if show not in self.colours:
            colour = show_colour(show, self.pipeline.show_configs, self.pipeline.looks)
            self.colours[show] = (show_render(self.store, colour, self.render), colour.looks)
        return self.colours[show]

    def burned(self, rgb: np.ndarray, plan: EventPlan, number: int, tc: str, state: str) -> np.ndarray:
        if not self.burn:
            return rgb
        row = plan.row
        fields: dict[str, str | int | None] = {"shot": plan.match.label()}
        if row is not None:
            fields = {"show": row.show, "seq": row.seq, "shot": row.shot, "task": row.task, "version": row.version,
                      "name": row.sequence.rsplit("/", 1)[-1]}
        texts = BurnIns(self.template, fields, frozenset({PRIMARY})).texts(number, tc, state,
                                                                           self.render.proxy_display, "")
        return draw_burnins(rgb, texts, self.font)


def sample_indices(plan: CutPlan, samples: int = QUALITY_SAMPLES) -> set[int]:
    """``samples`` cut pictures spread over the events that show a version (cards are not measured)."""
    shown: list[int] = []
    index = 0
    for event in plan.events:
        if event.state == OK:
            shown += range(index, index + event.event.duration)
        index += event.event.duration
    if not shown:
        return set()
    return {shown[round(i * (len(shown) - 1) / max(1, samples - 1))] for i in range(min(samples, len(shown)))}


def first_size(store: Store, plan: CutPlan, render: RenderSettings) -> tuple[int, int]:
    """The first ok event's working-frame size (even, within the proxy bounds): the cut's size."""
    pictures = WorkingFrames(store, render)
    for event in plan.events:
        if event.state != OK or event.row is None:
            continue
        seq, padding = parse_pattern(event.row.sequence)
        state = load_state(store, seq.frame_key(event.frames[0], padding))
        if state is not None and state.status == OK:
            try:
                frame = pictures.loader(event.frames[0], state)()
            except ProxygenError as exc:
                if exc.transient:
                    raise
                continue  # that picture is a gap (_Pictures.frame says why): the next event's gives the size
            return _even(frame.width), _even(frame.height)
    return CARD_SIZE


def render_cut(store: Store, plan: CutPlan, settings: Settings, path: str,
               deliverables: dict[str, str] | None = None, audio: str | None = None) -> CutMovie:
    """Encode the cut into ``path`` (the review) and each of ``deliverables`` (profile -> path), with the sound
    file ``audio`` from the first picture; raises EncodeError when nothing can be written."""
    t0 = time.perf_counter()
    render = settings.render
    cut = plan.cut
    if not plan.events:
        raise EncodeError(plan.key, "the cut has no events")
    width, height = first_size(store, plan, render)
    files = {PRIMARY: path, **(deliverables or {})}
    pictures = _Pictures(store, settings, width, height, tuple(files))
    start = timecode(cut.record_start, cut.fps)
    rate = Fraction(cut.fps).limit_denominator(1001)
    encoders: dict[str, ProfileEncoder] = {}
    movie = CutMovie(path, width, height, 0, cut.fps, start, files=files,
                     audio_seconds=audio_seconds(audio) if audio else None)
    burned = render.burned_profiles()
    sampled = sample_indices(plan)
    references: dict[int, np.ndarray] = {}
    numbers: dict[int, int] = {}
    try:
        for name, out in files.items():
            encoders[name] = ProfileEncoder(PROFILES[name], out, width, height, rate, start, render, audio=audio)
        for event in plan.events:
            card = pictures.card(event) if event.state != OK else None
            for offset in range(event.event.duration):
                index = movie.frames
                tc = timecode(cut.record_start + index, cut.fps)
                if card is not None:
                    shown = plain = card
                    movie.gap_frames[index] = event.state
                else:
                    number = event.frames[offset]
                    found, why = pictures.frame(event, number, exact=index in sampled)
                    if pictures.reference is not None:
                        references[index], numbers[index] = pictures.reference, number
                    if found is None:
                        label = f"{event.match.shot} v{event.version or 0:03d} FRAME {number} {why}"
                        found = gap_mark(gap_card("black", width, height), label, pictures.font)
                        movie.gap_frames[index] = why.lower()
                    plain = found
                    shown = pictures.burned(plain, event, number, tc, f" {why}" if why else "")
                for name, encoder in encoders.items():
                    p = encoder.profile
                    rgb = shown if name in burned else plain
                    encoder.add(rgb_to_planes(rgb, p.matrix, p.bits, p.chroma))
                movie.frames += 1
        for encoder in encoders.values():
            encoder.finish()
    except Exception:
        for encoder in encoders.values():
            encoder.abandon()
        raise
    finally:
        pictures.deliverables.close()
    band = band_height(height)
    movie.quality = {name: clip_quality.measure(out, PROFILES[name], render.proxy_display, references, numbers,
                                                band if name in burned else 0, band if name in burned else 0)
                     for name, out in files.items()} if references else {}
    movie.redecoded = len(pictures.working.redecoded)
    movie.warnings = list(pictures.unreadable.values())
    movie.seconds = round(time.perf_counter() - t0, 3)
    return movie
