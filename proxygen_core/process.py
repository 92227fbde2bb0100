"""One source file in, review media and a JSON report out; failures become reports, not crashes."""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .encode import write_jpeg, write_mp4
from .errors import ProxygenError, as_proxygen_error
from .geometry import resolution
from .keys import stem
from .media import Media
from .render import Outputs, WorkingFrame, render
from .settings import GENERATOR, RenderSettings


@dataclass
class Report:
    source: str
    status: str  # "ok" | "failed"
    generator: str = f"{GENERATOR} {__version__}"
    source_colorspace: str | None = None
    colorspace_rule: str | None = None
    review_layer: str | None = None
    display_referred: bool | None = None
    view: str | None = None
    source_resolution: str | None = None
    source_size_bytes: int | None = None
    nonfinite_pixels: int | None = None
    thumbnail: Media | None = None
    proxy: Media | None = None
    preview: Media | None = None
    timings: dict[str, float] = field(default_factory=dict)
    error: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("thumbnail", "proxy", "preview"):
            media = getattr(self, name)
            if media is not None:
                data[name]["resolution"] = media.resolution
        return data


def describe(frame: WorkingFrame, source: str) -> Report:
    """The part of the report known once the frame is decoded (shared by CLI and Dagster)."""
    return Report(
        source=source, status="ok",
        source_colorspace=frame.colour.source_colorspace, colorspace_rule=frame.colour.rule, review_layer=frame.layer,
        display_referred=frame.colour.display_referred, view=frame.colour.proxy_view,
        source_resolution=resolution(frame.source_width, frame.source_height),
        source_size_bytes=frame.probe.size_bytes, nonfinite_pixels=frame.nonfinite_pixels,
        timings={k: round(v, 4) for k, v in frame.timings.items()},
    )


def write_outputs(outputs: Outputs, thumb_path: str, proxy_path: str, preview_path: str | None,
                  settings: RenderSettings) -> tuple[Media, Media, Media | None, dict[str, float]]:
    t0 = time.perf_counter()
    th, tw = outputs.thumbnail.shape[:2]
    thumb = Media("thumbnail", thumb_path, tw, th, write_jpeg(outputs.thumbnail, thumb_path, settings.jpeg_quality),
                  settings.thumb_display)
    t1 = time.perf_counter()
    ph, pw = outputs.proxy.shape[:2]
    proxy = Media("proxy", proxy_path, pw, ph, write_mp4(outputs.proxy, proxy_path, settings), settings.proxy_display)
    t2 = time.perf_counter()
    preview = None
    if outputs.preview is not None and preview_path:
        vh, vw = outputs.preview.shape[:2]
        preview = Media("preview", preview_path, vw, vh,
                        write_jpeg(outputs.preview, preview_path, settings.preview_quality), settings.thumb_display)
    return thumb, proxy, preview, {"encode_jpeg": t1 - t0, "encode_h264": t2 - t1}


def output_name(out: Path, source: str) -> str:
    """``<stem>`` unless another source already wrote ``<stem>.json`` in ``out`` (``frame.0001.tif`` after
    ``frame.0001.exr``): then the full file name, so no source's outputs overwrite another's. Same rule
    as the pipeline's output keys: the first source to take the plain name keeps it."""
    plain = stem(source)
    report = out / f"{plain}.json"
    if report.exists():
        try:
            owner = json.loads(report.read_text()).get("source")
        except (ValueError, OSError):
            owner = None
        if owner and os.path.abspath(owner) != os.path.abspath(source):
            return os.path.basename(source)
    return plain


def process_file(source: str | os.PathLike[str], out_dir: str | os.PathLike[str], settings: RenderSettings,
                 source_colorspace: str | None = None) -> Report:
    """Render one file into ``out_dir`` as ``<stem>_thumb.jpg``, ``<stem>_proxy.mp4``, ``<stem>.json``
    (``<name>.<ext>_...`` when a same-stem sibling already took those names)."""
    source = str(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = output_name(out, source)
    started = time.perf_counter()
    try:
        frame, outputs = render(source, settings, source_colorspace)
        report = describe(frame, source)
        thumb, proxy, preview, enc = write_outputs(
            outputs, str(out / f"{name}_thumb.jpg"), str(out / f"{name}_proxy.mp4"),
            str(out / f"{name}_preview.jpg") if settings.preview_enabled else None, settings)
        report.thumbnail, report.proxy, report.preview = thumb, proxy, preview
        report.timings.update({k: round(v, 4) for k, v in {**outputs.timings, **enc}.items()})
    except Exception as exc:  # recorded in the report and re-raised by the caller's policy, never dropped
        err: ProxygenError = as_proxygen_error(source, exc)
        report = Report(source=source, status="failed", error=err.to_dict())
    report.timings["total"] = round(time.perf_counter() - started, 4)
    (out / f"{name}.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return report


def write_local_clips(reports: list[Report], out_dir: str | os.PathLike[str],
                      settings: RenderSettings) -> list[dict[str, Any]]:
    """For the rendered frames that form image sequences: ``<name><sep><ext>_clip.mp4`` and ``_poster.jpg``
    in ``out_dir``, from the proxies just written (same rules as the pipeline's clips)."""
    import shutil

    import posixpath

    from .clips import poster_frame, render_clip
    from .probe import probe
    from .sequences import group, parse_frame

    by_source = {r.source: r for r in reports}
    made = []
    for seq, frames in group(by_source).items():
        pictures = {n: by_source[s].proxy.path for n, s in frames.items() if by_source[s].status == "ok"}
        failed = {n for n, s in frames.items() if by_source[s].status != "ok"}
        if not pictures:
            continue
        first = min(pictures)
        header = probe(frames[first])
        pattern = seq.pattern(parse_frame(frames[first]).padding)
        name = f"{seq.name}{seq.sep}{seq.ext[1:]}"
        clip = render_clip(pictures, failed, Path(out_dir) / f"{name}_clip.mp4", settings, header.fps, header.timecode,
                           posixpath.basename(pattern))
        poster = poster_frame(list(pictures), settings.clip_poster_frame)
        shutil.copyfile(by_source[frames[poster]].thumbnail.path, Path(out_dir) / f"{name}_poster.jpg")
        made.append({**asdict(clip), "poster_frame": poster, "sequence": pattern})
    return made
