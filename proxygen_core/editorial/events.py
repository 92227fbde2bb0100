"""A cut file as typed events: what editorial says each event shows (the clip, its reel, its source range) and
where it sits in the cut (its record range).

Read with OpenTimelineIO and its adapters (``otio-cmx3600-adapter``, ``otio-fcp-adapter``, ``otio-aaf-adapter``):
one place turns whatever the adapter gives into ``CutEvent`` rows, so the matching and the conform never touch
an adapter's own metadata layout. A CMX 3600 EDL is checked line by line first, because the adapter's errors do
not say which line is wrong; a malformed line raises ``CutParseError`` naming the line and the cause.
"""
from __future__ import annotations

import posixpath
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxygen_core.colour.grades import Grade
from proxygen_core.errors import ProxygenError
from proxygen_core.media.timecode import frames_of

# Extension -> OTIO adapter. FCP X (.fcpxml) is not listed: its adapter (otio-fcpx-xml-adapter 1.0.0) cannot
# write a cut read from an EDL back ("computed time range would be invalid"), so it is not tested and not
# supported (docs/editorial.md).
ADAPTERS = {".edl": "cmx_3600", ".otio": "otio_json", ".xml": "fcp_xml", ".aaf": "AAF"}
_TC = re.compile(r"^\d{2}[:;]\d{2}[:;]\d{2}[:;]\d{2}$")
_EVENT = re.compile(r"^\s*(\d{1,6})\s+")


class CutParseError(ProxygenError):
    """The cut file cannot be read: which line (where known) and why."""

    kind = "cut"

    def __init__(self, path: str, cause: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(path, f"line {line}: {cause}" if line is not None else cause)


@dataclass(frozen=True)
class CutEvent:
    """One event of the cut, in frames at the cut's rate. ``source_in``/``record_in`` are inclusive,
    ``*_out`` exclusive (as EDLs write them)."""

    index: int  # 1-based, in record order
    name: str  # the clip name (``* FROM CLIP NAME`` in an EDL)
    reel: str = ""
    source_file: str = ""  # the media reference's file name, where the cut names one
    locators: tuple[str, ...] = ()
    source_in: int = 0
    source_out: int = 0
    record_in: int = 0
    record_out: int = 0
    grade: Grade | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def duration(self) -> int:
        return self.record_out - self.record_in


@dataclass(frozen=True)
class Cut:
    name: str  # the file name without its extension
    fps: float
    record_start: int  # the cut's first record frame (01:00:00:00 -> 86400 at 24)
    events: tuple[CutEvent, ...]

    @property
    def frames(self) -> int:
        return sum(e.duration for e in self.events)


def cut_name(key: str) -> str:
    return posixpath.splitext(posixpath.basename(key))[0]


def is_cut_file(key: str) -> bool:
    return posixpath.splitext(key)[1].lower() in ADAPTERS


def check_edl(text: str, path: str, fps: float) -> int | None:
    """Every event line of a CMX 3600 EDL well formed: enough fields, four timecodes, source and record of one
    length for a cut. Raises ``CutParseError`` naming the first bad line. Returns the first event's record in
    (the adapter starts the timeline at 0, so the cut's record timecode would be lost)."""
    base = max(1, round(fps))
    first: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not _EVENT.match(line) or line.lstrip().startswith("*"):
            continue
        fields = line.split()
        if len(fields) < 8:
            raise CutParseError(path, f"an event needs 8 fields or more, this one has {len(fields)}: {line.strip()!r}",
                                number)
        tcs = fields[-4:]
        bad = [t for t in tcs if not _TC.match(t)]
        if bad:
            raise CutParseError(path, f"not a timecode: {bad[0]!r} in {line.strip()!r}", number)
        s_in, s_out, r_in, r_out = (frames_of(t, base) for t in tcs)
        if s_out < s_in or r_out < r_in:
            raise CutParseError(path, f"an out point before its in point: {line.strip()!r}", number)
        if fields[3].upper() == "C" and s_out - s_in != r_out - r_in:
            raise CutParseError(path, f"source length {s_out - s_in} != record length {r_out - r_in} frames: "
                                      f"{line.strip()!r}", number)
        first = r_in if first is None else min(first, r_in)
    return first


def read_cut(data: bytes, key: str, fps: float = 24.0) -> Cut:
    """The cut in ``data`` (named ``key``: its extension picks the adapter) as events at its rate (an EDL has
    none of its own: ``fps``, the shots' rate)."""
    import opentimelineio as otio

    ext = posixpath.splitext(key)[1].lower()
    adapter = ADAPTERS.get(ext)
    if adapter is None:
        raise CutParseError(key, f"not a cut this version reads ({ext or 'no extension'}; "
                                 f"one of {', '.join(sorted(ADAPTERS))})")
    try:
        if adapter == "cmx_3600":
            text = data.decode("utf-8", errors="replace")
            record_start = check_edl(text, key, fps)
            timeline = otio.adapters.read_from_string(text, adapter_name=adapter, rate=fps)
            if timeline.global_start_time is None and record_start is not None:
                timeline.global_start_time = otio.opentime.RationalTime(record_start, fps)
        elif adapter == "otio_json":
            timeline = otio.adapters.read_from_string(data.decode("utf-8"), adapter_name=adapter)
        else:  # the XML and AAF adapters read files
            with tempfile.TemporaryDirectory(prefix="proxygen-cut-") as folder:
                path = Path(folder) / f"cut{ext}"
                path.write_bytes(data)
                timeline = otio.adapters.read_from_file(str(path), adapter_name=adapter)
    except CutParseError:
        raise
    except Exception as exc:
        raise CutParseError(key, f"{type(exc).__name__}: {exc}") from exc
    return cut_of_timeline(timeline, key, fps)


def cut_of_timeline(timeline: Any, key: str, fps: float = 24.0) -> Cut:
    """Events of the first video track (clips only; gaps leave record time between events)."""
    import opentimelineio as otio

    tracks = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video] or list(timeline.tracks)
    if not tracks:
        raise CutParseError(key, "the cut has no video track")
    clips = [c for c in tracks[0] if isinstance(c, otio.schema.Clip)]
    rate = clips[0].source_range.duration.rate if clips and clips[0].source_range else fps
    start = timeline.global_start_time
    record_start = round(start.rescaled_to(rate).value) if start is not None else 0
    events = []
    for index, clip in enumerate(clips, start=1):
        placed = clip.range_in_parent()
        source = clip.source_range or clip.trimmed_range()
        s_in = round(source.start_time.rescaled_to(rate).value)
        s_len = round(source.duration.rescaled_to(rate).value)
        r_in = record_start + round(placed.start_time.rescaled_to(rate).value)
        events.append(CutEvent(index, clip.name or "", _reel(clip), _source_file(clip),
                               tuple(m.name for m in clip.markers if m.name), s_in, s_in + s_len, r_in,
                               r_in + s_len, _grade(clip.metadata), _plain(clip.metadata)))
    return Cut(cut_name(key), float(rate), record_start, tuple(events))


def _plain(value: Any) -> Any:
    """OTIO's metadata dictionaries as plain Python (JSON-able)."""
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "AnyVector":
        return [_plain(v) for v in value]
    return value


def _reel(clip: Any) -> str:
    meta = clip.metadata
    for adapter in ("cmx_3600", "fcp_xml"):
        reel = (meta.get(adapter) or {}).get("reel") if hasattr(meta.get(adapter) or {}, "get") else None
        if reel:
            return str(reel)
    return str(meta.get("reel") or "")


def _source_file(clip: Any) -> str:
    url = getattr(clip.media_reference, "target_url", "") or ""
    return posixpath.basename(url.split("?", 1)[0]) if url else ""


def _grade(meta: Any) -> Grade | None:
    cdl = meta.get("cdl") if hasattr(meta, "get") else None
    if not cdl:
        return None
    sop = cdl.get("asc_sop") or {}

    def triple(name: str, default: float) -> tuple[float, float, float]:
        values = [float(v) for v in (sop.get(name) or [default] * 3)]
        return (values[0], values[1], values[2])

    return Grade(triple("slope", 1.0), triple("offset", 0.0), triple("power", 1.0),
                 float(cdl.get("asc_sat", 1.0) or 1.0), "edl")
