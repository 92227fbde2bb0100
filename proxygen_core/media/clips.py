"""One review movie per image sequence, made from the per-frame proxies already encoded.

No source is decoded again and no colour transform runs again: each frame's proxy MP4 holds one
BT.709 limited-range yuv420p picture; the clip decodes those pictures (H.264 decode of a 1080p picture
costs milliseconds) and encodes them as one H.264 stream with a short keyframe interval, so every frame
is seekable. Gaps (missing or failed frame numbers) are filled per the gap policy and listed; nothing
is dropped, reordered or duplicated without being listed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np

from proxygen_core.errors import EncodeError, UnreadableSourceError
from proxygen_core.media.encode import bt709_frame, h264_stream
from proxygen_core.media.sequences import timecode

if TYPE_CHECKING:
    from proxygen_core.settings import RenderSettings

GAP_POLICIES = ("hold", "black", "checkerboard")


@dataclass
class ClipResult:
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

    @property
    def duration_seconds(self) -> float:
        return round(self.frame_count / self.fps, 4)


def first_picture(path: str | os.PathLike[str]) -> av.VideoFrame:
    """The one picture of a per-frame proxy MP4, as decoded yuv420p."""
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                return frame.reformat(format="yuv420p")
    except Exception as exc:
        raise UnreadableSourceError(str(path), f"proxy picture cannot be decoded: {type(exc).__name__}: {exc}") from exc
    raise UnreadableSourceError(str(path), "proxy has no picture")


def _planes(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray()  # (h * 3 / 2, w) uint8 for yuv420p


def _fill(kind: str, width: int, height: int) -> np.ndarray:
    """A yuv420p picture for a gap: limited-range black, or a grey checkerboard that no render looks like."""
    y = np.full((height, width), 16, np.uint8)
    if kind == "checkerboard":
        yy, xx = np.mgrid[0:height, 0:width]
        y = np.where(((yy // 32) + (xx // 32)) % 2 == 0, 64, 160).astype(np.uint8)
    chroma = np.full((height // 2 * 2 // 2, width), 128, np.uint8)  # U and V planes stacked: h/4 rows each
    return np.vstack([y, chroma])


def burnin_font() -> str:
    """DroidSansMono from the OpenImageIO wheel: burn-ins never depend on the system's fonts."""
    import OpenImageIO as oiio

    path = Path(oiio.__file__).parent / "share" / "fonts" / "OpenImageIO" / "DroidSansMono.ttf"
    if not path.exists():
        raise EncodeError(str(path), "the OpenImageIO package ships no DroidSansMono.ttf: burn-ins need it")
    return str(path)


def burn_in(planes: np.ndarray, width: int, height: int, left: str, right: str, font: str) -> np.ndarray:
    """Text on a darkened, neutral band at the bottom of a yuv420p picture; the rest is untouched."""
    import OpenImageIO as oiio

    band = max(16, (height // 18) // 2 * 2)
    size = max(10, int(band * 0.7))
    mask = oiio.ImageBuf(oiio.ImageSpec(width, band, 1, oiio.FLOAT))
    oiio.ImageBufAlgo.render_text(mask, band // 3, int(band * 0.78), left, size, font, (1.0,))
    oiio.ImageBufAlgo.render_text(mask, width - band // 3, int(band * 0.78), right, size, font, (1.0,), alignx="right")
    alpha = np.clip(mask.get_pixels(oiio.FLOAT)[..., 0], 0.0, 1.0)
    out = planes.copy()
    y = out[:height].astype(np.float32)
    top = height - band
    y[top:] = 16 + (y[top:] - 16) * 0.35  # darken the band ...
    y[top:] = y[top:] * (1 - alpha) + 235 * alpha  # ... and write the text in white
    out[:height] = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    chroma = out[height:].reshape(2, height // 2, width // 2).astype(np.float32)
    chroma[:, top // 2:] = 128 + (chroma[:, top // 2:] - 128) * 0.35  # a neutral band under white text
    out[height:] = np.clip(np.rint(chroma), 0, 255).astype(np.uint8).reshape(-1, width)
    return out


def build_clip(pictures: dict[int, str | os.PathLike[str]], failed: set[int], out: str | os.PathLike[str],
               fps: float, start_timecode: str | None = None, gap_policy: str = "hold", keyframe_interval: int = 12,
               crf: int = 18, preset: str = "veryfast", burnin_name: str | None = None) -> ClipResult:
    """Encode frame numbers min..max of ``pictures`` and ``failed`` into one MP4.

    ``pictures`` maps frame number -> local per-frame proxy MP4. A frame number with no picture is a gap:
    ``failed`` ones are listed apart from the missing ones. Pictures of another size are scaled to the
    first frame's size (and listed). ``burnin_name`` draws the name, frame number and timecode on each
    picture (gaps say MISSING or FAILED).
    """
    if gap_policy not in GAP_POLICIES:
        raise ValueError(f"unknown gap policy {gap_policy!r} (one of {', '.join(GAP_POLICIES)})")
    if not pictures:
        raise EncodeError(str(out), "no frame of the sequence has a proxy picture")
    numbers = sorted(set(pictures) | set(failed))
    first, last = numbers[0], numbers[-1]
    missing = [n for n in range(first, last + 1) if n not in pictures and n not in failed]
    failed_list = sorted(n for n in failed if n not in pictures)
    ref = first_picture(pictures[min(pictures)])
    width, height = ref.width, ref.height
    rate = Fraction(fps).limit_denominator(1001)
    tc = start_timecode or timecode(first, float(rate))
    result = ClipResult(str(out), width, height, first, last, last - first + 1, missing, failed_list,
                        fps=float(rate), start_timecode=tc)
    font = burnin_font() if burnin_name is not None else ""
    tc_start = _tc_frames(tc, max(1, round(float(rate))))
    try:
        with av.open(str(out), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = h264_stream(container, rate, width, height, preset, crf,
                                 {"g": str(max(1, keyframe_interval)), "keyint_min": str(max(1, keyframe_interval)),
                                  "bf": "0"}, "scenecut=0")
            stream.metadata["timecode"] = tc  # the mp4 muxer writes it as a tmcd timecode track
            previous: np.ndarray | None = None
            for index, number in enumerate(range(first, last + 1)):
                if number in pictures:
                    picture = ref if number == min(pictures) else first_picture(pictures[number])
                    if (picture.width, picture.height) != (width, height):
                        result.filled[number] = f"scaled from {picture.width}x{picture.height}"
                        picture = picture.reformat(width=width, height=height, format="yuv420p")
                    planes = _planes(picture)
                elif gap_policy == "hold" and previous is not None:
                    planes = previous
                    result.filled[number] = "held previous frame"
                else:
                    kind = "black" if gap_policy == "hold" else gap_policy
                    planes = _fill(kind, width, height)
                    result.filled[number] = kind
                previous = planes
                if burnin_name is not None:
                    state = " MISSING" if number in missing else " FAILED" if number in failed_list else ""
                    label = f"{number}{state}  {timecode(tc_start + index, float(rate))}"
                    planes = burn_in(planes, width, height, burnin_name, label, font)
                frame = bt709_frame(planes, index)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
    except (EncodeError, UnreadableSourceError):
        raise
    except Exception as exc:
        raise EncodeError(str(out), f"clip encode failed: {type(exc).__name__}: {exc}") from exc
    result.size_bytes = Path(out).stat().st_size
    return result


def _tc_frames(text: str, base: int) -> int:
    hh, mm, ss, ff = (int(p) for p in text.replace(";", ":").split(":"))
    return ((hh * 60 + mm) * 60 + ss) * base + ff


def render_clip(pictures: dict[int, str | os.PathLike[str]], failed: set[int], out: str | os.PathLike[str],
                settings: "RenderSettings", header_fps: float | None, header_timecode: str | None,
                name: str) -> ClipResult:
    """A sequence's clip by the project's rules (the pipeline and ``proxygen render`` share them): the
    rate is the first picture's EXR ``framesPerSecond``, else the setting; the start timecode is that
    frame's EXR ``timeCode`` when it is also the first frame number, else the first frame number at that
    rate; ``name`` (the sequence pattern's file name) is burnt in when burn-ins are on."""
    fps = float(header_fps or settings.fps)
    numbers = [*pictures, *failed]
    start = min(numbers) if numbers else 0
    first = min(pictures) if pictures else None
    tc = header_timecode if header_timecode and first == start else timecode(start, fps)
    return build_clip(pictures, failed, out, fps, tc, settings.clip_gap_policy, settings.clip_keyframe_interval,
                      settings.x264_crf, settings.x264_preset, name if settings.clip_burnins else None)


def poster_frame(frames: list[int], chosen: int | None = None) -> int:
    """The chosen frame if it is there, else the middle of the frames that have pictures."""
    if chosen is not None and chosen in frames:
        return chosen
    ordered = sorted(frames)
    return ordered[(len(ordered) - 1) // 2]
