"""The conform's files beside the cut movie: the conformed OTIO and the HTML page of events.

The OTIO has one video track: per event a clip named after its shot, whose media reference is the version's
review clip with its available range (the clip's start timecode and length) and whose source range is the
event's (so an editorial tool lands on the same frames); events without media are clips with a missing
reference and the card's reason in their metadata; record gaps stay gaps. Media references are paths relative
to the OTIO file (``PROXYGEN_OTIO_MEDIA=relative``: they resolve in a synced copy of the bucket) or presigned
HTTPS URLs (``presigned``, a week long, where the store is S3).
"""
from __future__ import annotations

import html
import posixpath
from typing import Any

from proxygen_core.editorial.conform import OK, CutPlan
from proxygen_core.media.audio import AUDIO_EXTENSIONS
from proxygen_core.media.timecode import frames_of, timecode
from proxygen_core.store.base import Store
from proxygen_core.store.links import media_url


def cut_keys(key: str, name: str) -> dict[str, str]:
    """The cut's outputs under its folder's ``.proxies/``."""
    folder = posixpath.join(posixpath.dirname(key), ".proxies")
    return {kind: posixpath.join(folder, f"{name}_cut{suffix}")
            for kind, suffix in (("movie", ".mp4"), ("otio", ".otio"), ("html", ".html"))}


def deliverable_key(key: str, name: str, profile: str, extension: str) -> str:
    """An editorial profile's cut movie: ``<cut>_cut_<profile>.<ext>`` beside the review's."""
    return posixpath.join(posixpath.dirname(key), ".proxies", f"{name}_cut_{profile}{extension}")


def audio_keys(key: str) -> list[str]:
    """Where the cut's sound is looked for: a WAV or AAC beside it with the same name (``reel1.edl`` ->
    ``reel1.wav``, ``reel1.aac``), in that order."""
    stem = posixpath.splitext(key)[0]
    return [f"{stem}{ext}" for ext in AUDIO_EXTENSIONS]


def cut_timeline(store: Store, plan: CutPlan, otio_key: str, movie_key: str, mode: str = "relative") -> Any:
    import opentimelineio as otio

    cut, fps = plan.cut, plan.cut.fps

    def span(start: int, length: int) -> Any:
        return otio.opentime.TimeRange(otio.opentime.RationalTime(start, fps), otio.opentime.RationalTime(length, fps))

    timeline = otio.schema.Timeline(name=cut.name, global_start_time=otio.opentime.RationalTime(cut.record_start, fps))
    timeline.metadata["proxygen"] = {"cut": plan.key, "movie": media_url(store, movie_key, otio_key, mode),
                                     "versions": plan.versions, "missing_events": plan.missing}
    track = otio.schema.Track(name="conform", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    position = cut.record_start
    for event in plan.events:
        e = event.event
        if e.record_in > position:
            track.append(otio.schema.Gap(source_range=span(0, e.record_in - position)))
        row = event.row
        if event.state == OK and row is not None and row.clip_s3_key:
            base = max(1, round(row.fps or fps))
            start = frames_of(row.start_timecode, base) if row.start_timecode else (row.first_frame or 0)
            reference: Any = otio.schema.ExternalReference(
                target_url=media_url(store, row.clip_s3_key, otio_key, mode),
                available_range=span(start - (row.slate_frames or 0), (row.frame_count or 0) + (row.slate_frames or 0)))
        else:
            reference = otio.schema.MissingReference()
        clip = otio.schema.Clip(name=event.match.label(), media_reference=reference,
                                source_range=span(e.source_in, e.duration))
        clip.metadata["proxygen"] = {k: v for k, v in event.record().items() if v is not None}
        track.append(clip)
        position = e.record_out
    return timeline


def cut_page(plan: CutPlan, keys: dict[str, str], movie_frames: int) -> str:
    """A static page: the cut's movie and OTIO, then every event with its shot, version and state."""
    fps = plan.cut.fps
    esc = html.escape
    movie, otio_file = posixpath.basename(keys["movie"]), posixpath.basename(keys["otio"])
    rows = []
    for p in plan.events:
        e = p.event
        rows.append("<tr class='{}'><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                    "<td>{}</td><td>{}</td></tr>".format(
                        esc(p.state), e.index, esc(e.name), esc(p.match.shot or "-"),
                        f"v{p.version:03d}" if p.version is not None else "-", esc(p.state), esc(p.reason),
                        f"{timecode(e.source_in, fps)} - {timecode(e.source_out, fps)}",
                        f"{timecode(e.record_in, fps)} - {timecode(e.record_out, fps)}",
                        f"{p.frames[0]}-{p.frames[-1]}" if p.state == OK else "-"))
    warnings = "".join(f"<li>{esc(w)}</li>" for w in plan.warnings)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{esc(plan.cut.name)} cut</title>
<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:2px 6px}}
tr.ok{{background:#efe}}tr:not(.ok){{background:#fee}}</style></head>
<body><h1>{esc(plan.cut.name)}</h1>
<p><a href="{esc(movie)}">{esc(movie)}</a> ({movie_frames} frames at {fps:g} fps) &middot;
<a href="{esc(otio_file)}">{esc(otio_file)}</a></p>
<ul class="warnings">{warnings}</ul>
<table><tr><th>#</th><th>clip</th><th>shot</th><th>version</th><th>state</th><th>why</th><th>source</th>
<th>record</th><th>frames</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
