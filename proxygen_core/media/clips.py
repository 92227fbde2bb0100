"""Per image sequence: one movie per clip profile, all from the scene-linear working frames in one pass.

Each working frame is read once; its display rendering (the proxy display for SDR profiles, the PQ display
for HDR) is made once per display and fed to every profile that shows it, each with its own encoder setup
(proxygen_core/profiles.py). So every deliverable is first generation: no 8-bit picture is decoded and encoded again.
Gaps (missing or failed frame numbers) are filled per the gap policy and listed; nothing is dropped,
reordered or duplicated without being listed. One profile failing never stops the others.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import av
import numpy as np

from proxygen_core.colour.grades import Grade
from proxygen_core.errors import EncodeError, ProxygenError
from proxygen_core.media.audio import AudioFeed
from proxygen_core.media.burnins import BurnIns
from proxygen_core.media.burnins import draw as draw_burnins
from proxygen_core.media.encode import h264_stream
from proxygen_core.media.frame import WorkingFrame
from proxygen_core.media.geometry import letterbox
from proxygen_core.media.graphics import levels, text_over
from proxygen_core.media.hdr10 import LightLevels, add_hdr10_boxes
from proxygen_core.media.mp4_boxes import PRORES_ENTRIES, edit_sample_entries
from proxygen_core.media.render import display_encode, straight
from proxygen_core.media.resample import resize
from proxygen_core.media.slate import SlateInfo, slate_picture
from proxygen_core.media.timecode import frames_of as tc_frames
from proxygen_core.media.timecode import timecode
from proxygen_core.media.yuv import alpha_plane, planar_frame, planes_to_rgb, rgb_to_planes
from proxygen_core.parallel import WORKERS
from proxygen_core.profiles import (
    AV_LIMITED,
    AV_MATRIX,
    AV_PRIMARIES,
    AV_TRANSFER,
    HDR10_MASTER_DISPLAY,
    ClipProfile,
)

if TYPE_CHECKING:
    from proxygen_core.settings import RenderSettings

GAP_POLICIES = ("hold", "black", "checkerboard")
# Gap cards in display code values: black, or a grey checkerboard that no render looks like.
_CHECKER_LEVELS = ((64 - 16) / 219, (160 - 16) / 219)


@dataclass
class ClipResult:
    profile: str
    path: str
    width: int
    height: int
    first_frame: int
    last_frame: int
    frame_count: int
    missing_frames: list[int]
    failed_frames: list[int]
    filled: dict[int, str] = field(default_factory=dict)  # frame number -> how it was filled
    fps: float = 24.0
    start_timecode: str = ""
    size_bytes: int = 0
    encode_seconds: float = 0.0  # this profile's encoder alone
    alpha: bool = False  # the file carries the frames' alpha
    slate: bool = False  # one slate picture before the first frame (the timecode track starts a frame earlier)
    active_area: tuple[int, int, int, int] | None = None  # (x, y, w, h) the picture fills in the file
    light_levels: tuple[int, int] | None = None  # HDR: (MaxCLL, MaxFALL) in its SEI and clli box
    error: ProxygenError | None = None  # set when this profile failed (the others may still be fine)

    @property
    def duration_seconds(self) -> float:
        return round(self.frame_count / self.fps, 4)


@dataclass
class ClipPass:
    """What one pass over a sequence made: a result per profile, and the shared cost."""

    results: dict[str, ClipResult]
    read_seconds: float = 0.0  # reading (or re-decoding) the working frames
    display_seconds: float = 0.0  # display transforms, gap cards and burn-ins, per display
    samples: dict[int, int] = field(default_factory=dict)  # clip index -> frame number, for the quality check
    unreadable: dict[int, str] = field(default_factory=dict)  # frame number -> why its working frame failed


def burnin_font() -> str:
    """DroidSansMono from the OpenImageIO wheel: burn-ins never depend on the system's fonts."""
    import OpenImageIO as oiio

    path = Path(oiio.__file__).parent / "share" / "fonts" / "OpenImageIO" / "DroidSansMono.ttf"
    if not path.exists():
        raise EncodeError(str(path), "the OpenImageIO package ships no DroidSansMono.ttf: burn-ins need it")
    return str(path)


def gap_band(height: int) -> tuple[int, int]:
    """First row and height of the band a gap frame's mark takes: the middle eighth, on even rows (so 4:2:0
    chroma rows split with it)."""
    band = max(24, (height // 8) // 2 * 2)
    return ((height - band) // 2) // 2 * 2, band


def mark_band(band_rgb: np.ndarray, text: str, font: str, display: str | None = None) -> np.ndarray:
    """The band darkened, ``text`` centred on it in graphics white (``display``'s levels, media/graphics.py)."""
    import OpenImageIO as oiio

    band, width = band_rgb.shape[:2]
    size = max(12, int(band * 0.45))
    mask = oiio.ImageBuf(oiio.ImageSpec(width, band, 1, oiio.FLOAT))
    oiio.ImageBufAlgo.render_text(mask, width // 2, int(band * 0.66), text, size, font, (1.0,), alignx="center")
    pixels = mask.get_pixels(oiio.FLOAT)
    if pixels is None:
        from proxygen_core.probe import oiio_error

        raise RuntimeError(f"gap mark: reading the text mask failed: {oiio_error(mask)}")
    return text_over(band_rgb, pixels[..., 0], size, 0.2, display)


def gap_mark(rgb: np.ndarray, text: str, font: str, display: str | None = None) -> np.ndarray:
    """``text`` in graphics white on a dark band across the middle of a picture in ``display``'s code values
    (what every gap frame carries)."""
    top, band = gap_band(rgb.shape[0])
    out = np.array(rgb, dtype=np.float32, copy=True)
    out[top:top + band] = mark_band(out[top:top + band], text, font, display)
    return out


def gap_card(kind: str, width: int, height: int, display: str | None = None) -> np.ndarray:
    """A gap's picture in ``display``'s code values: black, or the checkerboard at graphics levels (on PQ
    its greys sit under 203 cd/m2 graphics white, media/graphics.py)."""
    if kind == "checkerboard":
        yy, xx = np.mgrid[0:height, 0:width]
        dark, light = (float(levels(v, display)) for v in _CHECKER_LEVELS)
        grey = np.where(((yy // 32) + (xx // 32)) % 2 == 0, dark, light).astype(np.float32)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.zeros((height, width, 3), np.float32)


def display_name(profile: ClipProfile, settings: RenderSettings) -> str:
    return settings.hdr_display if profile.hdr else settings.proxy_display


def profile_display(profile: ClipProfile, frame: WorkingFrame, settings: RenderSettings) -> tuple[str, str]:
    """The (display, view) a profile shows a frame on. A display-referred source keeps its un-tone-mapped
    view on the PQ display too (graded video is not tone-mapped again). The view is the clip's settings' (a show's
    config may name its own, show_colour.py), not the one the frame was rendered with."""
    view = settings.display_referred_view if frame.colour.display_referred else settings.view
    if not profile.hdr:
        return display_name(profile, settings), view
    return display_name(profile, settings), view if frame.colour.display_referred else settings.hdr_view


# Intra-only encoders are given frame threads, one a core: each picture is coded on its own, so they code
# side by side with identical output, where libavcodec's default slice threads left prores_ks's 2K pass
# 1.4 s longer over 48 frames (docs/benchmarks.md, "A shot").
INTRA_CODECS = frozenset({"prores_ks", "dnxhd"})


class ProfileEncoder:
    """One profile's file: its stream setup (the one place for it) and its frames.

    Every file is written with ``movflags +faststart`` (``moov`` before ``mdat``, MP4 and MOV alike). A ProRes
    MOV's sample description gets vendor ``apl0`` after the file is written (libavformat's mov muxer
    hard-codes ``FFMP`` there; media/mp4_boxes.py), as its frame headers have it (``prores_ks -vendor``).
    The HDR profile's pictures wait in a spill file beside the output until the last one is in: x265
    writes MaxCLL / MaxFALL in its first headers, and they are measured from these very pictures
    (media/hdr10.py); then they are encoded and the container's ``mdcv`` / ``clli`` boxes added."""

    def __init__(self, profile: ClipProfile, path: str, width: int, height: int, rate: Fraction, tc: str,
                 settings: RenderSettings, alpha: bool = False, audio: str | None = None) -> None:
        self.profile, self.path, self.seconds, self.index = profile, path, 0.0, 0
        self.audio_path = audio  # a sound track from the first picture (media/audio.py)
        self.audio: AudioFeed | None = None
        self.pix_fmt = profile.encoded_pix_fmt(alpha)
        self.rate, self.width, self.height, self.tc, self.settings = rate, width, height, tc, settings
        self.light: LightLevels | None = LightLevels() if profile.hdr else None
        self.spill: Any = None  # the HDR profile's pictures until MaxCLL / MaxFALL are known
        self.spilled: list[tuple[bool, list[tuple[tuple[int, ...], Any]]]] = []  # (intra, plane shapes/dtypes)
        self.container: Any = None
        t0 = time.perf_counter()
        if self.light is not None:
            self.spill = open(path + ".planes", "w+b")  # noqa: SIM115 (closed by finish / abandon)
        else:
            self._open(None)
        self.seconds += time.perf_counter() - t0

    def _open(self, light: tuple[int, int] | None) -> None:
        self.container = av.open(self.path, mode="w", format=self.profile.container,
                                 options={"movflags": "+faststart"})
        try:
            self.stream = self._stream(self.rate, self.width, self.height, self.settings, light)
            self.stream.metadata["timecode"] = self.tc  # mp4 and mov muxers write a tmcd timecode track
            if self.audio_path is not None:
                self.audio = AudioFeed(self.audio_path, self.container, self.profile.container)
        except Exception:
            self.container.close()
            raise

    def _stream(self, rate: Fraction, width: int, height: int, settings: RenderSettings,
                light: tuple[int, int] | None) -> Any:
        p = self.profile
        gop = str(max(1, settings.clip_keyframe_interval))
        if p.codec == "libx264":
            return h264_stream(self.container, rate, width, height, settings.x264_preset, settings.x264_crf,
                               {"g": gop, "keyint_min": gop, "bf": "0"}, "scenecut=0")
        stream = cast(av.video.stream.VideoStream, self.container.add_stream(p.codec, rate=rate))  # a video codec
        stream.width, stream.height, stream.pix_fmt = width, height, self.pix_fmt
        cc = stream.codec_context
        cc.color_range = AV_LIMITED
        cc.color_primaries, cc.color_trc, cc.colorspace = (AV_PRIMARIES[p.primaries], AV_TRANSFER[p.transfer],
                                                           AV_MATRIX[p.matrix])
        options: dict[str, object] = dict(p.options)  # the type PyAV declares for stream.options
        if p.codec == "libx265":
            params = [f"colorprim={p.primaries}", f"transfer={p.transfer}", f"colormatrix={p.matrix}",
                      "range=limited", f"keyint={gop}", f"min-keyint={gop}", "scenecut=0", "bframes=0",
                      "log-level=error"]
            if p.hdr and light is not None:
                params += [f"master-display={HDR10_MASTER_DISPLAY}", f"max-cll={light[0]},{light[1]}", "hdr10=1",
                           "repeat-headers=1"]
            options["x265-params"] = ":".join(params)
        stream.options = options
        if p.codec_tag:
            cc.codec_tag = p.codec_tag
        if p.codec in INTRA_CODECS:
            cc.thread_type, cc.thread_count = "FRAME", WORKERS
        return stream

    def add(self, planes: list[np.ndarray], intra: bool = False) -> None:
        """One picture; ``intra`` codes it without prediction (a gap picture: predicted from the real frame
        before it, its band's text came out up to ~6 cd/m2 over graphics white on the PQ profile)."""
        t0 = time.perf_counter()
        if self.spill is not None:
            assert self.light is not None  # an HDR profile's encoder spills
            self.light.add(planes, self.profile.matrix, self.profile.bits)
            for plane in planes:
                self.spill.write(np.ascontiguousarray(plane).tobytes())
            self.spilled.append((intra, [(p.shape, p.dtype) for p in planes]))
        else:
            self._encode(planes, intra)
        self.seconds += time.perf_counter() - t0

    def _encode(self, planes: list[np.ndarray], intra: bool) -> None:
        frame = planar_frame(planes, self.pix_fmt)
        frame.color_range = AV_LIMITED
        frame.color_primaries = AV_PRIMARIES[self.profile.primaries]
        frame.color_trc = AV_TRANSFER[self.profile.transfer]
        frame.colorspace = AV_MATRIX[self.profile.matrix]
        frame.pts = self.index
        if intra:
            frame.pict_type = av.video.frame.PictureType.I
        self.index += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        if self.audio is not None:  # interleaved: the sound up to the end of this picture
            self.audio.until(float(self.index / self.rate), self.container)

    def _unspill(self) -> tuple[int, int]:
        """Encode the spilled pictures with the light levels measured from them; returns the levels."""
        assert self.light is not None and self.spill is not None  # only an HDR profile spills
        levels = self.light.values()
        self._open(levels)
        self.spill.seek(0)
        for intra, shapes in self.spilled:
            planes = []
            for shape, dtype in shapes:
                count = int(np.prod(shape))
                planes.append(np.frombuffer(self.spill.read(count * np.dtype(dtype).itemsize), dtype).reshape(shape))
            self._encode(planes, intra)
        return levels

    def finish(self) -> int:
        t0 = time.perf_counter()
        levels = None
        try:
            if self.spill is not None:
                levels = self._unspill()
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            if self.audio is not None:
                self.audio.finish(float(self.index / self.rate), self.container)
        finally:
            if self.audio is not None:
                self.audio.close()
            if self.container is not None:
                self.container.close()
            self._drop_spill()
        if levels is not None:
            add_hdr10_boxes(self.path, HDR10_MASTER_DISPLAY, *levels, entry=(self.profile.codec_tag or "hvc1").encode())
        if self.profile.vendor:
            edit_sample_entries(self.path, PRORES_ENTRIES, vendor=self.profile.vendor.encode())
        self.seconds += time.perf_counter() - t0
        return os.path.getsize(self.path)

    @property
    def light_levels(self) -> tuple[int, int] | None:
        """(MaxCLL, MaxFALL) measured from the pictures (the HDR profile), else None."""
        return self.light.values() if self.light is not None else None

    def _drop_spill(self) -> None:
        if self.spill is not None:
            self.spill.close()
            self.spill = None
            Path(self.path + ".planes").unlink(missing_ok=True)

    def abandon(self) -> None:
        if self.audio is not None:
            self.audio.close()
        try:
            if self.container is not None:
                self.container.close()
        except Exception:  # the file is discarded with its folder; its error is already the profile's
            pass
        self._drop_spill()


# (display, view, straight alpha, width, height): what one rendering of a frame is for, at the active size
Look = tuple[str, str, bool, int, int]


@dataclass(frozen=True)
class Framing:
    """Where a profile's picture sits in its file: the file's size and the active area (x, y, w, h) the
    picture fills; the rest is the pad colour (``PROXYGEN_CLIP_RASTER``; media/geometry.py ``letterbox``)."""

    width: int
    height: int
    area: tuple[int, int, int, int]

    @classmethod
    def of(cls, width: int, height: int, raster: tuple[int, int] | None) -> Framing:
        if raster is None:
            return cls(width, height, (0, 0, width, height))
        return cls(raster[0], raster[1], letterbox(width, height, *raster))

    @property
    def padded(self) -> bool:
        return self.area != (0, 0, self.width, self.height)

    def place(self, picture: np.ndarray, pad: tuple[float, ...]) -> np.ndarray:
        """``picture`` (the active area's size) in the file's raster, the rest ``pad``."""
        if not self.padded:
            return picture
        x, y, w, h = self.area
        out = np.empty((self.height, self.width, *picture.shape[2:]), np.float32)
        out[...] = np.asarray(pad, np.float32) if picture.ndim == 3 else pad[0]
        out[y:y + h, x:x + w] = picture
        return out


@dataclass
class ReviewPlanes:
    """A frame given as the yuv420p planes its proxy was encoded from (the chain keeps them): for a clip of
    the review profile alone, with no burn-ins, exactly the pictures the working frame would give."""

    planes: np.ndarray  # (h * 3 / 2, w) uint8, as rgb_to_yuv420_bt709 makes them
    alpha: None = None

    @property
    def width(self) -> int:
        return int(self.planes.shape[1])

    @property
    def height(self) -> int:
        return int(self.planes.shape[0] * 2 // 3)

    def split(self) -> list[np.ndarray]:
        h, w = self.height, self.width
        c = (h // 2) * (w // 2)
        flat = self.planes.reshape(-1)
        return [flat[:h * w].reshape(h, w), flat[h * w:h * w + c].reshape(h // 2, w // 2),
                flat[h * w + c:].reshape(h // 2, w // 2)]


FrameLoader = Callable[[], WorkingFrame | ReviewPlanes]  # a frame number's picture, read when called


@dataclass
class _Prepared:
    """One frame number made ready for every encoder: its renderings (kept for a held gap), which rendering
    each profile shows, its alpha, and each profile's planes."""

    displays: dict[Look, np.ndarray]
    looks: dict[str, Look]
    alpha: np.ndarray | None
    planes: dict[str, list[np.ndarray] | np.ndarray]  # an R'G'B' card (one array) only in a gap's shown picture
    frame: WorkingFrame | ReviewPlanes | None = None
    read_seconds: float = 0.0
    display_seconds: float = 0.0
    error: str | None = None
    gap: bool = False  # a gap's picture (held or a card, with its band): coded intra


def look(profile: ClipProfile, frame: WorkingFrame, settings: RenderSettings, size: tuple[int, int]) -> Look:
    display, view = profile_display(profile, frame, settings)
    return display, view, bool(profile.alpha_pix_fmt) and frame.alpha is not None, size[0], size[1]


def profile_pixels(profile: ClipProfile, frame: WorkingFrame) -> np.ndarray:
    """Working pixels as a profile shows them: straight (un-premultiplied) colour when it carries alpha."""
    return straight(frame) if profile.alpha_pix_fmt and frame.alpha is not None else frame.pixels


class _Pictures:
    """Turns a working frame (or a gap) into what each profile's encoder takes, in float: the display render
    (once per look), burn-ins, then R'G'B' -> Y'CbCr per matrix, bit depth and chroma layout (+ alpha)."""

    def __init__(self, profiles: list[ClipProfile], settings: RenderSettings, width: int, height: int,
                 labels: Callable[[int, int], tuple[str, str]], burnins: BurnIns | None,
                 with_alpha: set[str], framing: dict[str, Framing] | None = None, grade: Grade | None = None,
                 looks: str | None = None) -> None:
        self.profiles, self.settings, self.width, self.height = profiles, settings, width, height
        self.framing = {p.name: (framing or {}).get(p.name) or Framing.of(width, height, None) for p in profiles}
        self.pad = settings.raster_pad()
        self.grade, self.looks = grade, looks
        self.labels, self.burnins, self.with_alpha = labels, burnins, with_alpha
        self.font = burnin_font() if burnins is not None else ""

    def render(self, frame: WorkingFrame | ReviewPlanes) -> _Prepared:
        if isinstance(frame, ReviewPlanes):
            if (frame.width, frame.height) != (self.width, self.height):
                raise EncodeError("", f"review planes of {frame.width}x{frame.height}, clip is "
                                      f"{self.width}x{self.height}")
            return _Prepared({}, {}, None, {p.name: frame.split() for p in self.profiles}, frame)
        looks = {p.name: look(p, frame, self.settings, self.framing[p.name].area[2:]) for p in self.profiles}
        displays: dict[Look, np.ndarray] = {}
        for p in self.profiles:
            key = looks[p.name]
            if key not in displays:
                pixels = profile_pixels(p, frame)
                if (frame.width, frame.height) != key[3:]:  # in linear light, to the active area's size
                    pixels = resize(pixels, key[3], key[4], self.settings.resize_filter)
                displays[key] = display_encode(pixels, frame.working_colorspace, key[0], key[1], self.settings,
                                               self.grade, self.looks)
        alpha = frame.alpha
        if alpha is not None and (frame.width, frame.height) != (self.width, self.height):
            alpha = resize(np.repeat(alpha[..., None], 3, 2), self.width, self.height, "box")[..., 0]
        return _Prepared(displays, looks, alpha, {}, frame)

    def planes_of(self, ready: _Prepared, index: int, number: int) -> dict[str, list[np.ndarray] | np.ndarray]:
        if not ready.displays:  # given as planes (ReviewPlanes): nothing to render, no burn-ins on this path
            return ready.planes
        burned: dict[tuple[Look, str], np.ndarray] = {}
        out: dict[str, list[np.ndarray] | np.ndarray] = {}
        cache: dict[tuple, list[np.ndarray]] = {}
        for p in self.profiles:
            look_ = ready.looks[p.name]
            with_text = self.burnins is not None and p.name in self.burnins.profiles
            # profiles through one look share their burned picture unless the text names the profile
            text_key = (look_, p.name if self.burnins is not None and self.burnins.per_profile else "")
            if with_text and text_key not in burned:
                assert self.burnins is not None  # with_text
                timecode_, state = self.labels(index, number)
                texts = self.burnins.texts(number, timecode_, state, look_[0], look_[1], p.name)
                burned[text_key] = draw_burnins(ready.displays[look_], texts, self.font, look_[0])
            framing = self.framing[p.name]
            key = (text_key, with_text, p.matrix, p.bits, p.chroma, framing)
            if key not in cache:
                picture = burned[text_key] if with_text else ready.displays[look_]
                cache[key] = rgb_to_planes(framing.place(picture, self.pad), p.matrix, p.bits, p.chroma)
            out[p.name] = cache[key]
            if p.name in self.with_alpha:
                coverage = ready.alpha if ready.alpha is not None else np.ones((self.height, self.width), np.float32)
                if coverage.shape != (framing.area[3], framing.area[2]):
                    coverage = resize(np.repeat(coverage[..., None], 3, 2), framing.area[2], framing.area[3],
                                      "box")[..., 0]
                out[p.name] = [*cache[key], alpha_plane(framing.place(coverage, (1.0,)), p.bits)]  # opaque pad
        return out

    def gap(self, shown: _Prepared, text: str, index: int, number: int) -> _Prepared:
        """A gap frame's pictures with ``text`` across the middle, burn-ins on or off: a held frame must never
        pass for a real one. ``shown.planes`` on the planes path holds each profile's picture (planes, or an
        R'G'B' card)."""
        font = burnin_font()
        if shown.displays:
            marked = _Prepared({k: gap_mark(v, text, font, k[0]) for k, v in shown.displays.items()}, shown.looks,
                               shown.alpha, {})
            marked.planes = self.planes_of(marked, index, number)
            return marked
        planes: dict[str, list[np.ndarray] | np.ndarray] = {}
        top, band = gap_band(self.height)
        for p in self.profiles:
            picture = shown.planes[p.name]
            if isinstance(picture, np.ndarray):  # a card, as R'G'B'
                planes[p.name] = rgb_to_planes(gap_mark(picture, text, font, display_name(p, self.settings)),
                                               p.matrix, p.bits, p.chroma)
                continue
            # held planes: only the band is re-made, the rest of the picture stays exactly as it was
            y = picture[0]
            ry = y.shape[0] // picture[1].shape[0]
            rows = [slice(top, top + band), *[slice(top // ry, (top + band) // ry)] * 2]
            rgb = planes_to_rgb(
                [c[r].astype(np.float32) for c, r in zip(picture[:3], rows, strict=False)], p.matrix, p.bits
            )
            marked_planes = rgb_to_planes(mark_band(rgb, text, font, display_name(p, self.settings)), p.matrix,
                                          p.bits, p.chroma)
            out = [c.copy() for c in picture[:3]]
            for plane, r, new in zip(out, rows, marked_planes, strict=False):
                plane[r] = new
            planes[p.name] = out
        return _Prepared({}, {}, None, planes)

    def prepare(self, loader: FrameLoader, index: int, number: int) -> _Prepared:
        """Runs on the reader thread, while the encoders work on the frame before."""
        t0 = time.perf_counter()
        try:
            frame = loader()
        except ProxygenError as exc:  # that frame becomes a listed gap; the clip goes on
            return _Prepared({}, {}, None, {}, error=f"{type(exc).__name__}: {exc.cause}")
        t1 = time.perf_counter()
        ready = self.render(frame)
        ready.planes = self.planes_of(ready, index, number) if ready.displays else ready.planes
        ready.read_seconds, ready.display_seconds = t1 - t0, time.perf_counter() - t1
        return ready


@dataclass(frozen=True)
class ClipJob:
    """What one pass encodes, as the sequence's plan decided it (pipeline/sequence/plan.py): the files, the
    rate and start timecode, burn-ins, the slate and which profiles get it, the poster, the sampled frames.
    ``render`` carries the encoder and display settings; nothing here is read from settings again."""

    outputs: dict[ClipProfile, str]  # profile -> the file to write
    render: RenderSettings
    fps: float
    start_timecode: str | None = None
    burnins: BurnIns | None = None
    samples: int = 5  # frames spread over the clip that the quality check measures
    slate: SlateInfo | None = None
    slated: frozenset[str] = frozenset()  # profiles that get the slate as their first picture
    poster: int | None = None  # the frame the slate shows
    grade: Grade | None = None  # the sequence's CDL, applied before every profile's display/view
    looks: str | None = None  # the show's named looks (OCIO looks string), after the grade


def build_clips(frames: dict[int, FrameLoader], failed: set[int], job: ClipJob) -> ClipPass:
    """Encode frame numbers min..max of ``frames`` and ``failed`` into one file per profile of ``job``.

    ``frames`` maps frame number -> a loader of its working frame. A frame number with no loader is a gap;
    ``failed`` ones are listed apart from the missing ones. Frames of another size are scaled (in linear
    light) to the first frame's size, and listed. ``job.samples`` frames spread over the clip are remembered
    for the quality check. A reader thread loads and prepares the next frames while the encoders run.
    ``job.slated`` profiles get ``job.slate`` as one picture before the first frame (showing the poster
    frame), their timecode track starting one frame earlier."""
    if job.render.clip_gap_policy not in GAP_POLICIES:
        raise ValueError(f"unknown gap policy {job.render.clip_gap_policy!r} (one of {', '.join(GAP_POLICIES)})")
    if not frames:
        raise EncodeError(next(iter(job.outputs.values()), ""), "no frame of the sequence has a working frame")
    return _Pass(frames, failed, job).run()


class _Pass:
    """One pass over a sequence's frame numbers, feeding every profile's encoder (build_clips)."""

    def __init__(self, frames: dict[int, FrameLoader], failed: set[int], job: ClipJob) -> None:
        self.frames, self.job, settings = frames, job, job.render
        numbers = sorted(set(frames) | set(failed))
        self.first, self.last = numbers[0], numbers[-1]
        self.missing = [n for n in range(self.first, self.last + 1) if n not in frames and n not in failed]
        self.failed_list = sorted(n for n in failed if n not in frames)
        self.rate = Fraction(job.fps).limit_denominator(1001)
        self.tc = job.start_timecode or timecode(self.first, float(self.rate))
        self.tc_start = tc_frames(self.tc, max(1, round(float(self.rate))))
        self.order = sorted(frames)
        t_read = time.perf_counter()
        self.ref = frames[self.order[0]]()  # its size is the clip's
        self.read_seconds = time.perf_counter() - t_read
        self.display_seconds = 0.0
        self.width, self.height = self.ref.width, self.ref.height
        rasters = settings.rasters()
        self.framing = {p.name: Framing.of(self.width, self.height, rasters.get(p.name)) for p in job.outputs}
        self.outcome = ClipPass({p.name: ClipResult(p.name, path, self.framing[p.name].width,
                                                    self.framing[p.name].height, self.first, self.last,
                                                    self.last - self.first + 1, self.missing, self.failed_list,
                                                    fps=float(self.rate), start_timecode=self.tc,
                                                    active_area=self.framing[p.name].area)
                                 for p, path in job.outputs.items()})
        order, samples = self.order, job.samples
        self.chosen = {order[round(i * (len(order) - 1) / max(1, samples - 1))] for i in range(min(samples,
                                                                                                    len(order)))}
        self.with_alpha = {p.name for p in job.outputs if p.alpha_pix_fmt and self.ref.alpha is not None}
        self.slated = {p.name for p in job.outputs if p.name in job.slated} if job.slate is not None else set()
        self.encoders = self._encoders()
        self.pictures = _Pictures(list(job.outputs), settings, self.width, self.height, self._label, job.burnins,
                                  self.with_alpha, self.framing, job.grade, job.looks)
        self.previous: _Prepared | None = None
        self.previous_number = order[0]
        self.filled: dict[int, str] = {}

    def _encoders(self) -> dict[str, ProfileEncoder]:
        encoders: dict[str, ProfileEncoder] = {}
        tc_slate = timecode(self.tc_start - 1, float(self.rate))
        for profile, path in self.job.outputs.items():
            try:
                framing = self.framing[profile.name]
                encoders[profile.name] = ProfileEncoder(profile, path, framing.width, framing.height, self.rate,
                                                        tc_slate if profile.name in self.slated else self.tc,
                                                        self.job.render, profile.name in self.with_alpha)
            except Exception as exc:
                self.outcome.results[profile.name].error = EncodeError(
                    path, f"{profile.name} encoder cannot start: {type(exc).__name__}: {exc}")
        return encoders

    def _label(self, index: int, number: int) -> tuple[str, str]:
        state = " MISSING" if number in self.missing else " FAILED" if number in self.failed_list else ""
        return timecode(self.tc_start + index, float(self.rate)), state

    def run(self) -> ClipPass:
        if self.slated:
            assert self.job.slate is not None  # profiles are slated only when the job has a slate
            _add_slates(self.encoders, self.slated, self.pictures, self.job.slate, self.frames, self.job.poster,
                        self.ref, self.outcome)
        loaders = {n: (lambda: self.ref) if n == self.order[0] else self.frames[n] for n in self.order}
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-read")
        ahead = iter(self.order)
        pending: dict[int, Any] = {}

        def submit_next() -> None:
            number = next(ahead, None)
            if number is not None:
                pending[number] = pool.submit(self.pictures.prepare, loaders[number], number - self.first, number)

        try:
            submit_next()
            submit_next()
            for index, number in enumerate(range(self.first, self.last + 1)):
                ready = None
                if number in pending:
                    ready = self._taken(pending.pop(number).result(), index, number)
                    submit_next()
                if ready is None:  # a gap: held picture or an opaque card, always marked as such (rare)
                    ready = self._gap(index, number)
                self._feed(ready, number)
                if not self.encoders:
                    break
        except BaseException:
            for encoder in self.encoders.values():
                encoder.abandon()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return self._finish()

    def _taken(self, ready: _Prepared, index: int, number: int) -> _Prepared | None:
        """A prepared frame, or None when its working frame was unreadable (it becomes a listed failed gap)."""
        self.read_seconds += ready.read_seconds
        self.display_seconds += ready.display_seconds
        if ready.error is not None:
            self.outcome.unreadable[number] = ready.error
            for result in self.outcome.results.values():
                result.failed_frames = sorted({*result.failed_frames, number})
            return None
        self.previous, self.previous_number = ready, number
        frame = ready.frame
        assert frame is not None  # render gives every read frame's _Prepared its frame
        if (frame.width, frame.height) != (self.width, self.height):
            self.filled[number] = f"scaled from {frame.width}x{frame.height}"
        elif number in self.chosen:
            self.outcome.samples[index] = number
        return ready

    def _gap(self, index: int, number: int) -> _Prepared:
        t0 = time.perf_counter()
        base = self.previous or self.pictures.render(self.ref)
        state = "FAILED" if number in self.failed_list or number in self.outcome.unreadable else "MISSING"
        policy = self.job.render.clip_gap_policy
        if policy == "hold" and self.previous is not None:
            self.filled[number] = "held previous frame"
            text = f"FRAME {number} {state} - HOLDING {self.previous_number}"
            shown = base
        else:
            kind = "black" if policy == "hold" else policy
            self.filled[number] = kind
            text = f"FRAME {number} {state}"
            size = self.width, self.height
            shown = _Prepared({k: gap_card(kind, k[3], k[4], k[0]) for k in base.displays}, base.looks, None,
                              {} if base.displays else {p.name: gap_card(kind, *size, display_name(p, self.job.render))
                                                        for p in self.job.outputs})
        ready = self.pictures.gap(shown, text, index, number)
        ready.gap = True
        self.display_seconds += time.perf_counter() - t0
        return ready

    def _feed(self, ready: _Prepared, number: int) -> None:
        for name, encoder in list(self.encoders.items()):
            try:
                planes = ready.planes[name]
                assert isinstance(planes, list)  # a card (one array) is only a gap's shown picture, never fed
                encoder.add(planes, intra=ready.gap)
            except Exception as exc:
                self.outcome.results[name].error = EncodeError(
                    encoder.path, f"{name} encode failed at frame {number}: {type(exc).__name__}: {exc}")
                self.encoders.pop(name).abandon()

    def _finish(self) -> ClipPass:
        for result in self.outcome.results.values():
            result.filled = dict(self.filled)
            result.alpha = result.profile in self.with_alpha
            result.slate = result.profile in self.slated
        for name, encoder in self.encoders.items():
            result = self.outcome.results[name]
            try:
                result.size_bytes = encoder.finish()
            except Exception as exc:
                result.error = EncodeError(encoder.path,
                                           f"{name} encode failed at the end: {type(exc).__name__}: {exc}")
            result.encode_seconds = round(encoder.seconds, 4)
            result.light_levels = encoder.light_levels
        self.outcome.read_seconds = round(self.read_seconds, 4)
        self.outcome.display_seconds = round(self.display_seconds, 4)
        return self.outcome


def profile_slate(slate: SlateInfo, profile: ClipProfile, look_: Look | None, width: int, height: int,
                  alpha: bool = False, area: tuple[int, int, int, int] | None = None) -> SlateInfo:
    """The sequence's slate lines and what this profile's file holds: its resolution and display aspect (square
    pixels: an anamorphic source is delivered desqueezed), the active picture inside a raster, its codec and
    pixel format, the display and view."""
    boxed = area is not None and area != (0, 0, width, height)
    picture = f"{area[2]}x{area[3]} at {area[0]},{area[1]} ({area[2] / area[3]:.2f}:1)" if area and boxed else None
    return SlateInfo(slate.title, [
        *slate.lines, ("Resolution", f"{width}x{height} ({width / height:.2f}:1, square pixels)"),
        ("Picture", picture), ("Codec", f"{profile.title}, {profile.encoded_pix_fmt(alpha)}"),
        ("Display", look_[0] if look_ else ""), ("View", look_[1] if look_ else "")])


def _add_slates(encoders: dict[str, ProfileEncoder], slated: set[str], pictures: _Pictures, slate: SlateInfo,
                frames: dict[int, FrameLoader], poster: int | None, ref: WorkingFrame | ReviewPlanes,
                outcome: ClipPass) -> None:
    """Each slated profile's first picture: the slate, with the poster frame as that profile shows it."""
    try:
        shown = ref if poster is None or poster not in frames else frames[poster]()
    except ProxygenError:
        shown = ref  # the poster's working frame is unreadable: the first frame stands in
    rendered = pictures.render(shown)
    font = burnin_font()
    for name in sorted(slated):
        encoder = encoders.get(name)
        if encoder is None:
            continue
        profile = encoder.profile
        key = rendered.looks.get(name)
        display = rendered.displays.get(key) if key else None
        framing = pictures.framing[name]
        info = profile_slate(slate, profile, key, framing.width, framing.height, name in pictures.with_alpha,
                             framing.area)
        rgb = slate_picture(info, display, framing.width, framing.height, font,
                            key[0] if key else display_name(profile, pictures.settings))
        planes = rgb_to_planes(rgb, profile.matrix, profile.bits, profile.chroma)
        if name in pictures.with_alpha:
            planes = [*planes, alpha_plane(np.ones(rgb.shape[:2], np.float32), profile.bits)]
        try:
            encoder.add(planes)
        except Exception as exc:
            outcome.results[name].error = EncodeError(encoder.path, f"{name} slate encode failed: "
                                                                    f"{type(exc).__name__}: {exc}")
            encoders.pop(name).abandon()
