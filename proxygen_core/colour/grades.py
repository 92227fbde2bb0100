"""Per-shot grades (ASC CDL): where a sequence's grade comes from, what it is, and the OCIO look that applies it.

Why a module of its own: editorial sends a CDL per shot and dailies must be watched through it, so the grade is a
plan decision (pipeline/sequence/plan.py) made once per build from the bucket, carried to the encode pass and the
quality reference, and recorded on the row and the slate. Nothing here reads settings: the plan passes the order
and the process space.

Sources, tried in the order of ``PROXYGEN_GRADE_SOURCES`` (default ``metadata,cc,ccc,edl``; docs/colour.md, "Grades
and looks"): the first that has a grade wins.

- ``metadata``: the first frame's source object carries it as S3 user metadata, either one JSON key
  ``proxygen-cdl`` (``{"slope": [r, g, b], "offset": [...], "power": [...], "sat": s}``) or four keys
  ``proxygen-cdl-slope`` / ``-offset`` / ``-power`` (three numbers, spaces or commas) and ``proxygen-cdl-sat``;
- ``cc``: a ``.cc`` or ``.cdl`` file in the sequence's folder, named after the sequence (``sh010_comp.cc`` beside
  ``sh010_comp.####.exr``) or after the shot (``sh010.cc``), tried in that order, ``.cc`` before ``.cdl``;
- ``ccc``: a ``.ccc`` in the show's root folder (``shows/demo/demo.ccc``, else ``shows/demo/grades.ccc``) whose
  ``ColorCorrection id`` is the shot;
- ``edl``: the ``*ASC_SOP`` / ``*ASC_SAT`` of the shot's event in an editorial cut of its show. A cut's build
  (editorial/grades.py) writes each of its shots' event CDL as ``<editorial prefix><show>/.proxies/grades/
  <shot>.cc`` (``edl_grade_key``), naming the cut and event in its Description; this source reads that file.

More sources register in ``SOURCES``: a name and a function of a ``GradeContext``.
A file that is there but cannot be read as a CDL raises ``GradeError`` naming it and the cause: that sequence's
clips fail with it, nothing else does.
"""
from __future__ import annotations

import json
import posixpath
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypedDict

from proxygen_core.errors import ProxygenError
from proxygen_core.settings import DEFAULT_GRADE_SPACE, GRADE_SOURCES, PipelineSettings, parse_grade_sources
from proxygen_core.store.identity import identify, show_folder

DEFAULT_SPACE = DEFAULT_GRADE_SPACE
META_JSON = "proxygen-cdl"
META_KEYS = {"slope": "proxygen-cdl-slope", "offset": "proxygen-cdl-offset", "power": "proxygen-cdl-power",
             "sat": "proxygen-cdl-sat"}
Triple = tuple[float, float, float]

if TYPE_CHECKING:
    import PyOpenColorIO as ocio


class GradeColumns(TypedDict):
    """A grade as clip-row columns (rows.ClipRow): each triple one text column."""

    grade_slope: str
    grade_offset: str
    grade_power: str
    grade_sat: float
    grade_source: str


class GradeError(ProxygenError):
    """A grade file or metadata is there but is not a usable ASC CDL (the file and the cause named)."""

    kind = "grade"

    def __init__(self, path: str, cause: str) -> None:
        super().__init__(path, f"{path}: {cause}")  # the row's error text is the cause: it names the file too


@dataclass(frozen=True)
class Grade:
    """One ASC CDL: out = clamp((in * slope + offset) ^ power), then saturation (Rec.709 luma), in ``space``."""

    slope: Triple = (1.0, 1.0, 1.0)
    offset: Triple = (0.0, 0.0, 0.0)
    power: Triple = (1.0, 1.0, 1.0)
    saturation: float = 1.0
    source: str = ""  # where it came from: "metadata:<key>", "cc:<file>", "ccc:<file>#<id>"
    id: str | None = None  # the ColorCorrection id, when the file gave one
    space: str = DEFAULT_SPACE  # the process space the CDL is applied in (PROXYGEN_GRADE_SPACE; the plan sets it)

    def columns(self) -> GradeColumns:
        """As the clip row stores it: each triple one text column ("1.1 0.95 0.9")."""
        return {"grade_slope": _text(self.slope), "grade_offset": _text(self.offset), "grade_power": _text(self.power),
                "grade_sat": self.saturation, "grade_source": self.source}

    def label(self) -> str:
        """One line for the slate and the partition page."""
        return (f"slope {_text(self.slope)} offset {_text(self.offset)} power {_text(self.power)} "
                f"sat {self.saturation:g}")

    def digest(self) -> str:
        """What changes the pictures (not where it came from): part of the build's fingerprint."""
        return json.dumps([self.slope, self.offset, self.power, self.saturation, self.space])


def _text(values: Triple) -> str:
    return " ".join(f"{v:g}" for v in values)


def _triple(text: str, where: str, name: str) -> Triple:
    parts = [p for p in re.split(r"[\s,]+", text.strip()) if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise GradeError(where, f"{name} {text.strip()!r} is not three numbers") from None
    if len(values) != 3:
        raise GradeError(where, f"{name} {text.strip()!r} has {len(values)} numbers, not 3")
    return values[0], values[1], values[2]


def _number(text: str, where: str, name: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise GradeError(where, f"{name} {text.strip()!r} is not a number") from None


def from_columns(row: object, space: str) -> Grade | None:
    """The grade a clip row was built with (its ``grade_*`` columns, Grade.columns), in ``space``; None when the
    row has none: what the cut shows that version with, so the cut's pictures match its clips."""
    slope = getattr(row, "grade_slope", None)
    if slope is None:
        return None
    where = str(getattr(row, "clip_id", "") or "clip row")
    return Grade(_triple(slope, where, "grade_slope"), _triple(getattr(row, "grade_offset", None) or "0 0 0", where,
                                                                "grade_offset"),
                 _triple(getattr(row, "grade_power", None) or "1 1 1", where, "grade_power"),
                 float(getattr(row, "grade_sat", None) or 1.0), str(getattr(row, "grade_source", "") or ""),
                 space=space)


def _checked(grade: Grade, where: str) -> Grade:
    if any(v < 0 for v in grade.slope) or any(v <= 0 for v in grade.power) or grade.saturation < 0:
        raise GradeError(where, f"slope and saturation must be >= 0 and power > 0 ({grade.label()})")
    return grade


# --- the XML forms (.cc, .cdl, .ccc) ------------------------------------------------------------------------

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in node if _local(c.tag) == name), None)


def _correction(node: ET.Element, where: str, source: str) -> Grade:
    """A ``ColorCorrection`` element: SOPNode (Slope, Offset, Power) and SatNode (Saturation), both optional."""
    sop, sat = _child(node, "SOPNode"), _child(node, "SatNode")
    if sop is None and sat is None:
        raise GradeError(where, "ColorCorrection has neither SOPNode nor SatNode")
    values: dict[str, Triple] = {}
    for name, default in (("Slope", (1.0, 1.0, 1.0)), ("Offset", (0.0, 0.0, 0.0)), ("Power", (1.0, 1.0, 1.0))):
        element = _child(sop, name) if sop is not None else None
        values[name] = _triple(element.text or "", where, name) if element is not None else default
    saturation = 1.0
    if sat is not None:
        element = _child(sat, "Saturation")
        if element is None:
            raise GradeError(where, "SatNode has no Saturation")
        saturation = _number(element.text or "", where, "Saturation")
    return _checked(Grade(values["Slope"], values["Offset"], values["Power"], saturation, source,
                          node.get("id")), where)


def _corrections(root: ET.Element) -> list[ET.Element]:
    """Every ColorCorrection of a document, in order (a .cdl nests them in ColorDecision elements)."""
    if _local(root.tag) == "ColorCorrection":
        return [root]
    return [n for n in root.iter() if _local(n.tag) == "ColorCorrection"]


def parse_cdl(data: bytes | str, where: str, kind: str = "cc", shot: str | None = None) -> Grade | None:
    """The grade of a ``.cc`` / ``.cdl`` (its first ColorCorrection) or, with ``shot``, the ColorCorrection of a
    ``.ccc`` whose id is the shot (None when there is none). ``where`` names the file in errors and the source."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise GradeError(where, f"not a readable CDL XML document: {exc}") from None
    top = _local(root.tag)
    if top not in ("ColorCorrection", "ColorDecisionList", "ColorCorrectionCollection", "ColorDecision"):
        raise GradeError(where, f"root element {top!r} is not ColorCorrection, ColorDecisionList or "
                                "ColorCorrectionCollection")
    found = _corrections(root)
    if shot is not None:
        found = [n for n in found if (n.get("id") or "").lower() == shot.lower()]
        if not found:
            return None
        return _correction(found[0], where, f"{kind}:{where}#{found[0].get('id')}")
    if not found:
        raise GradeError(where, "no ColorCorrection in the document")
    return _correction(found[0], where, f"{kind}:{where}")


def from_metadata(meta: dict[str, str], where: str) -> Grade | None:
    """The grade an object's user metadata carries (``proxygen-cdl`` JSON, or the four keys), else None."""
    lower = {k.lower(): v for k, v in meta.items()}
    if META_JSON in lower:
        try:
            doc = json.loads(lower[META_JSON])
            return _checked(Grade(_as_triple(doc.get("slope", [1, 1, 1])), _as_triple(doc.get("offset", [0, 0, 0])),
                                  _as_triple(doc.get("power", [1, 1, 1])), float(doc.get("sat", 1.0)),
                                  f"metadata:{where}#{META_JSON}", doc.get("id")), where)
        except (ValueError, TypeError, AttributeError) as exc:
            raise GradeError(where, f"metadata {META_JSON} is not a CDL ({{\"slope\": [r, g, b], ...}}): "
                                    f"{exc}") from None
    if not any(key in lower for key in META_KEYS.values()):
        return None
    parts = {name: lower.get(key) for name, key in META_KEYS.items()}
    return _checked(Grade(
        _triple(parts["slope"], where, META_KEYS["slope"]) if parts["slope"] else (1.0, 1.0, 1.0),
        _triple(parts["offset"], where, META_KEYS["offset"]) if parts["offset"] else (0.0, 0.0, 0.0),
        _triple(parts["power"], where, META_KEYS["power"]) if parts["power"] else (1.0, 1.0, 1.0),
        _number(parts["sat"], where, META_KEYS["sat"]) if parts["sat"] else 1.0,
        f"metadata:{where}"), where)


def _as_triple(value: object) -> Triple:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ValueError(f"{value!r} is not three numbers")
    return (float(value[0]), float(value[1]), float(value[2]))


# --- where to look --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GradeContext:
    """What a grade source may look at: the store (bytes and metadata by key, no listing), the sequence's
    pattern, its first frame's source key, the shot, and the show's root folder (a key prefix, "" when unknown)."""

    store: object  # store.base.Store (not imported: the colour package stays below the store)
    pattern: str
    source_key: str | None
    shot: str | None
    show_root: str | None
    show: str | None
    editorial_root: str | None = None  # the show's cuts' folder (``<editorial prefix><show>/``, as a key)


def _metadata_source(ctx: GradeContext) -> Grade | None:
    if ctx.source_key is None:
        return None
    meta = ctx.store.metadata_if_exists(ctx.source_key) or {}  # type: ignore[attr-defined]
    return from_metadata(meta, ctx.store.uri(ctx.source_key))  # type: ignore[attr-defined]


def sequence_name(pattern: str) -> str:
    """``renders/sh010_comp.####.exr`` -> ``sh010_comp`` (the name before the frame number)."""
    base = posixpath.basename(pattern)
    return re.sub(r"[._]#+\.[^.]+$", "", base)


def _read(ctx: GradeContext, key: str, kind: str, shot: str | None = None) -> Grade | None | bool:
    data = ctx.store.get_bytes_if_exists(key)  # type: ignore[attr-defined]
    if data is None:
        return False  # not there: the next candidate
    return parse_cdl(data, ctx.store.uri(key), kind, shot)  # type: ignore[attr-defined]


def _cc_source(ctx: GradeContext) -> Grade | None:
    folder = posixpath.dirname(ctx.pattern)
    names = [sequence_name(ctx.pattern)] + ([ctx.shot] if ctx.shot else [])
    for name in dict.fromkeys(names):
        for ext in (".cc", ".cdl"):
            got = _read(ctx, posixpath.join(folder, name + ext), "cc")
            if got is not False:
                return got  # type: ignore[return-value]  # a Grade (a file without a correction raises)
    return None


def _ccc_source(ctx: GradeContext) -> Grade | None:
    if not ctx.show_root or not ctx.shot:
        return None
    for name in dict.fromkeys([f"{ctx.show}.ccc" if ctx.show else "", "grades.ccc"]):
        if name:
            got = _read(ctx, ctx.show_root + name, "ccc", ctx.shot)
            if got is not False:
                return got  # type: ignore[return-value]  # the shot's entry, or None when the file has none
    return None


EDL_GRADES = ".proxies/grades/"  # under the show's editorial folder: one .cc per shot, written by its cuts' builds
_DESCRIPTION = re.compile(rb"<Description>\s*(edl:[^<]*?)\s*</Description>")


def edl_grade_key(editorial_root: str, shot: str) -> str:
    """Where the cuts of a show leave a shot's event CDL (one rule for the writer and the ``edl`` source)."""
    return f"{editorial_root}{EDL_GRADES}{shot}.cc"


def cdl_document(grade: Grade, correction_id: str, description: str) -> str:
    """A ``.cc`` of ``grade`` (ASC CDL 1.01) with its id and Description: what parse_cdl reads back."""
    from xml.sax.saxutils import escape, quoteattr

    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<ColorCorrection id={quoteattr(correction_id)} xmlns="urn:ASC:CDL:v1.01">'
            f"<Description>{escape(description)}</Description>"
            f"<SOPNode><Slope>{_text(grade.slope)}</Slope><Offset>{_text(grade.offset)}</Offset>"
            f"<Power>{_text(grade.power)}</Power></SOPNode>"
            f"<SatNode><Saturation>{grade.saturation:g}</Saturation></SatNode></ColorCorrection>\n")


def edl_origin(data: bytes) -> str | None:
    """The ``edl:<cut>#<event>`` a cut's build wrote into a shot's .cc, else None (a file it did not write)."""
    import html

    found = _DESCRIPTION.search(data)
    return html.unescape(found.group(1).decode()) if found else None  # written escaped (cdl_document)


def _edl_source(ctx: GradeContext) -> Grade | None:
    if not ctx.editorial_root or not ctx.shot:
        return None
    key = edl_grade_key(ctx.editorial_root, ctx.shot)
    data = ctx.store.get_bytes_if_exists(key)  # type: ignore[attr-defined]
    if data is None:
        return None
    grade = parse_cdl(data, ctx.store.uri(key), "edl")  # type: ignore[attr-defined]
    origin = edl_origin(data)
    return replace(grade, source=origin) if grade is not None and origin else grade


# name -> function; the cut issue's EDL source registers here (one entry and one function) and its name in
# settings.GRADE_SOURCES (what PROXYGEN_GRADE_SOURCES may name, checked at load)
SOURCES: dict[str, Callable[[GradeContext], Grade | None]] = {
    "metadata": _metadata_source, "cc": _cc_source, "ccc": _ccc_source, "edl": _edl_source}
if tuple(SOURCES) != GRADE_SOURCES:
    raise RuntimeError(f"grade sources {tuple(SOURCES)} and settings.GRADE_SOURCES {GRADE_SOURCES} differ")


def find_grade(ctx: GradeContext, order: tuple[str, ...]) -> Grade | None:
    """The first source in ``order`` that has a grade for the sequence; None when none has."""
    for name in order:
        grade = SOURCES[name](ctx)
        if grade is not None:
            return grade
    return None


def grade_for(store: object, pattern: str, source_key: str | None, pipeline: PipelineSettings) -> Grade | None:
    """A sequence's grade by the settings (``grade_sources`` in order, applied in ``grade_space``), looked for
    beside ``pattern`` and in its show's folder, with ``source_key``'s metadata: one rule for the clips (the
    plan) and, with ``grade_frames``, the frames' own outputs."""
    order = parse_grade_sources(pipeline.grade_sources)
    if not order:
        return None
    layout = pipeline.key_layout()
    shot = identify(pattern, layout)
    editorial = (store.bucket_key(pipeline.editorial_folder(shot.show))  # type: ignore[attr-defined]
                 if "edl" in order and shot.show and pipeline.editorial_prefix else None)
    grade = find_grade(GradeContext(store, pattern, source_key, shot.shot, show_folder(pattern, layout), shot.show,
                                    editorial), order)
    return replace(grade, space=pipeline.grade_space) if grade is not None else None


# --- the OCIO look ------------------------------------------------------------------------------------------

def look_transform(grade: Grade, working: str) -> ocio.GroupTransform:
    """working -> the grade's space -> CDL -> working: what goes before the display/view (the ASC CDL is defined on
    log-like values in colourist practice: ACEScct by default). OCIO is imported here: settings read this
    module's defaults and parser without loading OCIO."""
    import PyOpenColorIO as ocio

    cdl = ocio.CDLTransform()
    cdl.setSlope(list(grade.slope))
    cdl.setOffset(list(grade.offset))
    cdl.setPower(list(grade.power))
    cdl.setSat(grade.saturation)
    cdl.setStyle(ocio.CDL_ASC)
    group = ocio.GroupTransform()
    group.appendTransform(ocio.ColorSpaceTransform(working, grade.space))
    group.appendTransform(cdl)
    group.appendTransform(ocio.ColorSpaceTransform(grade.space, working))
    return group
