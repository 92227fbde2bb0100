"""OpenTimelineIO for one image sequence: a timeline that editorial tools load beside its clips.

One video track with one clip named after the shot; the clip carries one media reference per built profile
(``review``, ``prores_422hq``, ...; the review clip active), each with its available range: its start timecode
and its length in pictures (a slate, when the profile has one, is the picture before the first frame, so that
profile's range starts one frame earlier). The clip's source range is the frames themselves. Missing and
failed frames are markers at their place, so a gap is visible in the cut, not only in the catalog. The callers
name the files by a path relative to the ``.otio`` (or a presigned URL): ``store/links.py`` ``media_url``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proxygen_core.profiles import PRIMARY


@dataclass(frozen=True)
class Deliverable:
    """One built profile's file, as the timeline references it."""

    profile: str
    url: str  # as the timeline names the file: relative to the .otio, or a presigned URL (store/links.py)
    start_timecode: str  # of its first picture (the slate's when it has one)
    pictures: int  # pictures in the file, slate included
    resolution: str | None = None  # the file's raster, e.g. "1920x1080" (None: not built by this run)
    active_area: str | None = None  # "x,y,w,h" the picture fills in it (PROXYGEN_CLIP_RASTER's letterbox)


def _reference_metadata(d: Deliverable) -> dict[str, Any]:
    """What a media reference says about its file: the profile, and its raster and active area when known."""
    out: dict[str, Any] = {"profile": d.profile}
    if d.active_area:
        out.update(resolution=d.resolution, active_area=d.active_area)
    return out


def sequence_timeline(name: str, fps: float, first_timecode: str, frame_count: int, deliverables: list[Deliverable],
                      missing: list[int], failed: list[int], first_frame: int,
                      metadata: dict[str, Any] | None = None) -> Any:
    """The ``opentimelineio.schema.Timeline`` of one sequence (``first_timecode``: its first frame's)."""
    import opentimelineio as otio

    rate = float(fps)
    start = otio.opentime.from_timecode(first_timecode, rate)
    timeline = otio.schema.Timeline(name=name, global_start_time=start)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    references = {}
    for d in deliverables:
        available = otio.opentime.TimeRange(otio.opentime.from_timecode(d.start_timecode, rate),
                                            otio.opentime.RationalTime(d.pictures, rate))
        references[d.profile] = otio.schema.ExternalReference(target_url=d.url, available_range=available,
                                                              metadata={"proxygen": _reference_metadata(d)})
    clip = otio.schema.Clip(name=name, source_range=otio.opentime.TimeRange(
        start, otio.opentime.RationalTime(frame_count, rate)))
    if references:
        active = PRIMARY if PRIMARY in references else next(iter(references))
        clip.set_media_references(references, active)
    clip.metadata["proxygen"] = dict(metadata or {})
    add_gap_markers(clip, start, rate, first_frame, missing, failed)
    track.append(clip)
    return timeline


def add_gap_markers(clip: Any, start: Any, rate: float, first_frame: int, missing: list[int],
                    failed: list[int]) -> None:
    """One marker per missing (red) and failed (orange) frame, one frame long, at its place in the clip: the
    sequence's timeline and the dailies' playlist mark gaps the same way."""
    import opentimelineio as otio

    for kind, numbers, colour in (("MISSING", missing, otio.schema.MarkerColor.RED),
                                  ("FAILED", failed, otio.schema.MarkerColor.ORANGE)):
        for number in numbers:
            at = start + otio.opentime.RationalTime(number - first_frame, rate)
            clip.markers.append(otio.schema.Marker(name=f"{kind} {number}", color=colour,
                                                   marked_range=otio.opentime.TimeRange(
                                                       at, otio.opentime.RationalTime(1, rate))))


def timeline_json(timeline: Any) -> str:
    import opentimelineio as otio

    return otio.adapters.write_to_string(timeline, "otio_json")
