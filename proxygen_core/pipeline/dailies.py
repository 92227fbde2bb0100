"""A day's review, gathered from what finished that day: one OTIO timeline in shot order, one playlist movie
(the review clips joined, each behind a slate card), and a static HTML contact sheet.

The clips are the catalog's ``review`` rows that finished ok on the day (UTC), optionally of one show,
ordered by show, sequence, shot, version and image sequence. The playlist is re-encoded once (the clips may
differ in size): each picture is decoded from its review clip's Y'CbCr planes with BT.709 (never swscale's
BT.601 default), scaled into the playlist's frame (the largest clip's) with bars, and encoded with the review
clip's own encoder
setup. The page links every shot's media by a path relative to itself, so it works in the bucket (S3
website hosting, a synced copy) and in the folder ``proxygen dailies --out`` writes. The OTIO names each review
clip by a path relative to itself too (or, with ``PROXYGEN_OTIO_MEDIA=presigned`` on S3, a presigned HTTPS URL a
week long: store/links.py). In the bucket the page also links the pages of the cuts built that day (the catalog's
ok cut rows whose build started on the day, UTC; every cut, whatever the page's show: a cut row has no show).
"""
from __future__ import annotations

import html
import os
import posixpath
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import av
import numpy as np

from proxygen_core.catalog import Catalog
from proxygen_core.media.clips import burnin_font
from proxygen_core.media.encode import bt709_frame, h264_stream, rgb_to_yuv420_bt709
from proxygen_core.media.resample import resize
from proxygen_core.media.slate import SlateInfo, slate_picture
from proxygen_core.media.timeline import Deliverable, add_gap_markers
from proxygen_core.media.yuv import picture_rgb
from proxygen_core.profiles import PRIMARY
from proxygen_core.rows import ClipRow, CutRow
from proxygen_core.settings import Settings
from proxygen_core.store.base import Store
from proxygen_core.store.identity import IDENTITY_FIELDS
from proxygen_core.store.keys import PROXY_DIR
from proxygen_core.store.links import media_url

DAILIES_DIR = f"{PROXY_DIR}/dailies"
SCAN_LIMIT = 100_000  # clip rows read to find a day's (the catalog lists newest first)
T = TypeVar("T")


@dataclass
class Daily:
    day: str
    show: str | None
    shots: list[ClipRow]  # the clip rows, in playlist order
    keys: dict[str, str] = field(default_factory=dict)  # playlist / timeline / page -> where they were written
    frames: int = 0  # pictures in the playlist (slates included)

    @property
    def empty(self) -> bool:
        return not self.shots


def day_clips(catalog: Catalog, day: date, show: str | None = None) -> list[ClipRow]:
    """The ok review clips finished on ``day`` (UTC), in shot order."""
    prefix = day.isoformat()
    rows = [r for r in catalog.clips(SCAN_LIMIT) if r.status == "ok" and (r.profile or PRIMARY) == PRIMARY
            and str(r.generated_timestamp or "").startswith(prefix) and (show is None or r.show == show)]
    return sorted(rows, key=lambda r: tuple(str(getattr(r, k) or "") for k in ("show", "seq", "shot")) + (
        r.version or 0, r.sequence))


def day_cuts(catalog: Catalog, day: date, rows: list[ClipRow] | None = None) -> list[CutRow]:
    """The day's cuts: ok cut rows with a page whose build started on ``day`` (UTC), or whose events show one of
    ``rows`` (the day's clips: a cut built earlier that holds today's version of a shot), one per page (a cut
    built for several output profiles has one page), by name."""
    prefix = day.isoformat()
    sequences = {r.sequence for r in rows or []}
    found: dict[str, CutRow] = {}
    for r in catalog.cuts(SCAN_LIMIT):
        if r.status != "ok" or not r.html_s3_key:
            continue
        shows = {str(e.get("sequence")) for e in r.event_list if e.get("sequence")}
        if str(r.generated_timestamp or "").startswith(prefix) or shows & sequences:
            found.setdefault(r.html_s3_key, r)
    return sorted(found.values(), key=lambda r: (r.cut_name or "", r.cut_key))


def _required(row: ClipRow, column: str, value: T | None) -> T:
    """A column every ok clip row has (its files, rate, timecode, length): a clear error when one does not."""
    if value is None:
        raise ValueError(f"clip row {row.clip_id} ({row.sequence}) is ok but has no {column}")
    return value


def daily_keys(day: date, show: str | None) -> dict[str, str]:
    folder = f"{DAILIES_DIR}/{day.isoformat()}" + (f"/{show}" if show else "")
    return {"playlist": f"{folder}/playlist.mp4", "timeline": f"{folder}/playlist.otio", "page": f"{folder}/index.html"}


def _slate(row: ClipRow, day: str) -> SlateInfo:
    version = row.version
    return SlateInfo(row.shot or posixpath.basename(row.sequence), [
        ("Show", row.show), ("Sequence", row.seq), ("Task", row.task),
        ("Version", f"v{version:03d}" if version is not None else None),
        ("Frames", f"{row.first_frame}-{row.last_frame} ({row.frame_count})"),
        ("Missing", ", ".join(map(str, row.missing)) or None),
        ("Failed", ", ".join(map(str, row.failed)) or None),
        ("Timecode", row.start_timecode), ("Dailies", day), ("Source", posixpath.basename(row.sequence))])


def _fit(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Into the playlist's frame, aspect kept, black bars."""
    h, w = rgb.shape[:2]
    scale = min(width / w, height / h)
    sw, sh = max(2, round(w * scale)) // 2 * 2, max(2, round(h * scale)) // 2 * 2
    out = np.zeros((height, width, 3), np.float32)
    top, left = (height - sh) // 2, (width - sw) // 2
    out[top:top + sh, left:left + sw] = rgb if (sw, sh) == (w, h) else resize(rgb, sw, sh, "box")
    return out


def _pictures(path: str):
    with av.open(path) as container:
        for frame in container.decode(video=0):
            yield picture_rgb(frame, "bt709").astype(np.float32)


def write_playlist(rows: list[ClipRow], media: dict[str, str], out: str, settings: Settings, day: str) -> int:
    """The review clips joined into one H.264 movie, each shot behind a slate card of ``dailies_slate_seconds``."""
    render = settings.render
    fps = float(rows[0].fps or render.fps)
    rate = Fraction(fps).limit_denominator(1001)
    sizes = [tuple(int(v) for v in str(r.clip_resolution).split("x")) for r in rows if r.clip_resolution]
    width, height = max(sizes, key=lambda s: s[0] * s[1]) if sizes else (1920, 1080)  # the largest clip's frame
    font = burnin_font()
    slate_frames = max(1, round(settings.pipeline.dailies_slate_seconds * fps))
    index = 0
    with av.open(out, mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        gop = str(max(1, render.clip_keyframe_interval))
        stream = h264_stream(container, rate, width, height, render.x264_preset, render.x264_crf,
                             {"g": gop, "keyint_min": gop, "bf": "0"}, "scenecut=0")

        def put(rgb: np.ndarray) -> None:
            nonlocal index
            for packet in stream.encode(bt709_frame(rgb_to_yuv420_bt709(rgb), index)):
                container.mux(packet)
            index += 1

        for row in rows:
            card = slate_picture(_slate(row, day), None, width, height, font)
            for _ in range(slate_frames):
                put(card)
            for rgb in _pictures(media[row.clip_id]):
                put(_fit(rgb, width, height))
        for packet in stream.encode(None):
            container.mux(packet)
    return index


def playlist_timeline(rows: list[ClipRow], urls: dict[str, str], day: str, name: str) -> Any:
    """One track, one clip per shot in playlist order, each referencing its review clip's available range."""
    import opentimelineio as otio

    timeline = otio.schema.Timeline(name=name)
    track = otio.schema.Track(name="review", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for row in rows:
        rate = float(_required(row, "fps", row.fps))
        d = Deliverable(PRIMARY, urls[row.clip_id], _required(row, "start_timecode", row.start_timecode),
                        _required(row, "frame_count", row.frame_count))
        start = otio.opentime.from_timecode(d.start_timecode, rate)
        available = otio.opentime.TimeRange(start, otio.opentime.RationalTime(d.pictures, rate))
        clip = otio.schema.Clip(name=row.shot or posixpath.basename(row.sequence),
                                media_reference=otio.schema.ExternalReference(target_url=d.url,
                                                                              available_range=available),
                                source_range=available)
        clip.metadata["proxygen"] = {k: getattr(row, k) for k in ("sequence", *IDENTITY_FIELDS, "missing_frames",
                                                             "failed_frames", "clip_id")}
        clip.metadata["proxygen"]["dailies"] = day
        add_gap_markers(clip, start, rate, row.first_frame or 0, row.missing, row.failed)
        track.append(clip)
    return timeline


def contact_sheet(daily: Daily, links: dict[str, dict[str, str]], playlist: str, timeline: str,
                  cuts: list[tuple[str, str]] | None = None) -> str:
    """The static page: one card per shot (poster, shot, version, frames, gaps, links to its media), and a
    link to each of ``cuts`` (name, href) when there are any."""
    title = f"Dailies {daily.day}" + (f" - {daily.show}" if daily.show else "")
    cards = []
    for row in daily.shots:
        link = links[row.clip_id]
        gaps = [f"missing {', '.join(map(str, row.missing))}" if row.missing else "",
                f"failed {', '.join(map(str, row.failed))}" if row.failed else ""]
        gap_text = "; ".join(g for g in gaps if g) or "no gaps"
        version = f"v{row.version:03d}" if row.version is not None else ""
        name = row.shot or posixpath.basename(row.sequence)
        media = " ".join(f'<a href="{html.escape(href)}">{html.escape(label)}</a>' for label, href in link.items()
                         if label != "poster")
        start = html.escape(row.start_timecode or "")
        cards.append(f"""<div class="card"><img src="{html.escape(link["poster"])}" alt="{html.escape(name)}">
<h2>{html.escape(name)} <span>{html.escape(version)}</span></h2>
<p>{html.escape(" / ".join(str(getattr(row, k)) for k in ("show", "seq", "task") if getattr(row, k)))}</p>
<p>frames {row.first_frame}-{row.last_frame} ({row.frame_count}), {start}</p>
<p class="{"gap" if gap_text != "no gaps" else "ok"}">{html.escape(gap_text)}</p>
<p>{media}</p></div>""")
    cut_anchors = " ".join(f'<a href="{html.escape(href)}">{html.escape(name)}</a>' for name, href in cuts or [])
    cut_links = f'<p class="cuts">Cuts of {html.escape(daily.day)}: {cut_anchors}</p>\n' if cuts else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;background:#1b1b1b;color:#eee;margin:24px}}
.grid{{display:flex;flex-wrap:wrap;gap:16px}}.card{{background:#2a2a2a;padding:12px;width:300px;border-radius:6px}}
.card img{{width:100%;display:block}}h2 span{{color:#9ad}}a{{color:#9cf;margin-right:8px}}.gap{{color:#f96}}
.ok{{color:#8c8}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{len(daily.shots)} shots, {daily.frames} pictures in the playlist.
<a href="{html.escape(playlist)}">playlist movie</a> <a href="{html.escape(timeline)}">OpenTimelineIO</a></p>
{cut_links}<div class="grid">
{chr(10).join(cards)}
</div></body></html>
"""


def build_daily(store: Store, catalog: Catalog, day: date, settings: Settings, show: str | None = None,
                out_dir: str | os.PathLike[str] | None = None) -> Daily:
    """Gather ``day``'s clips and write the playlist, timeline and page: into the bucket under
    ``.proxies/dailies/<day>[/<show>]/``, or, with ``out_dir``, into that folder with the posters and review
    clips copied beside them (so every link resolves offline)."""
    from proxygen_core.media.timeline import timeline_json

    rows = day_clips(catalog, day, show)
    daily = Daily(day.isoformat(), show, rows)
    if not rows:
        return daily
    # the local door's keys are paths: the day's folder is in its output folder
    keys = {kind: store.bucket_key(key) for kind, key in daily_keys(day, show).items()}
    mode = settings.pipeline.otio_media
    folder = Path(tempfile.mkdtemp(prefix="proxygen-dailies-"))
    try:
        local: dict[str, str] = {}
        links: dict[str, dict[str, str]] = {}
        urls: dict[str, str] = {}
        page_dir = posixpath.dirname(keys["page"])
        for row in rows:
            clip_key = _required(row, "clip_s3_key", row.clip_s3_key)
            poster_key = _required(row, "poster_s3_key", row.poster_s3_key)
            path = folder / f"{row.clip_id}.mp4"
            path.write_bytes(store.get_bytes(clip_key))
            local[row.clip_id] = str(path)
            if out_dir is None:
                links[row.clip_id] = {"poster": posixpath.relpath(poster_key, page_dir),
                                         "review": posixpath.relpath(clip_key, page_dir),
                                         **({"timeline": posixpath.relpath(row.timeline_s3_key, page_dir)}
                                            if row.timeline_s3_key else {})}
                urls[row.clip_id] = media_url(store, clip_key, keys["timeline"], mode)
            else:
                media = Path(out_dir) / "media"
                media.mkdir(parents=True, exist_ok=True)
                stem = f"{row.shot or 'shot'}_{row.clip_id[:8]}"
                shutil.copyfile(path, media / f"{stem}_review.mp4")
                (media / f"{stem}_poster.jpg").write_bytes(store.get_bytes(poster_key))
                links[row.clip_id] = {"poster": f"media/{stem}_poster.jpg", "review": f"media/{stem}_review.mp4"}
                urls[row.clip_id] = f"media/{stem}_review.mp4"
        playlist = folder / "playlist.mp4"
        daily.frames = write_playlist(rows, local, str(playlist), settings, daily.day)
        name = f"dailies {daily.day}" + (f" {show}" if show else "")
        timeline_text = timeline_json(playlist_timeline(rows, urls, daily.day, name))
        cuts = [] if out_dir is not None else [(r.cut_name or posixpath.basename(r.cut_key),
                                                  posixpath.relpath(str(r.html_s3_key), page_dir))
                                                 for r in day_cuts(catalog, day, rows)]
        page = contact_sheet(daily, links, "playlist.mp4", "playlist.otio", cuts)
        if out_dir is None:
            store.upload_file(playlist, keys["playlist"], tags={"media_type": "dailies_playlist"})
            store.put_bytes(keys["timeline"], timeline_text.encode(), "application/json")
            store.put_bytes(keys["page"], page.encode(), "text/html")
            daily.keys = keys
        else:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(playlist, out / "playlist.mp4")
            (out / "playlist.otio").write_text(timeline_text)
            (out / "index.html").write_text(page)
            daily.keys = {"playlist": str(out / "playlist.mp4"), "timeline": str(out / "playlist.otio"),
                          "page": str(out / "index.html")}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return daily
