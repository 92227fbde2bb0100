"""Which show, sequence, shot, task and version a key belongs to: the key templates and root, from the settings.

A template is a format string with named fields (``{show}/{sequence}/{shot}/{task}/v{version}/{name}.{frame}.{ext}``)
or a regular expression with named groups (``(?P<shot>...)``). ``version`` and ``frame`` are digits; every other
field is the shortest run within one path segment that lets the rest match; a field named twice must read the
same both times. The templates are tried in order against the WHOLE key after the key root (``shows/`` by
default): the first that matches gives the identity. Why whole-key: matched against the key's end, the old
single template read ``shows/demo/seq010/sh010/comp/v003/sh010_comp_v003.1001.exr`` as show ``seq010``, shot
``comp``, task ``v003``, without a word. A key outside the root, or that no template matches, has no identity
(its fields are empty, as before); it is never an error of its frame.

A local path (``proxygen render``: an absolute path) has no bucket root: the part after the key root's segments
when they occur in the path (``/mnt/shows/demo/...``), else its suffixes are tried, longest first, for each
template in order (``/home/me/demo/seq010/sh010/comp/v003/x.1001.exr`` matches the version-folder template on
its last six segments).

A key whose folders and file name disagree is flagged, not guessed: when the file name carries a token shaped
like the shot read from a folder (``sh020`` against the folder ``sh010``) or a version token (``_v004`` in the
folder ``v003``) that differs from it (and the other way round: a shot or version read from the file name
against a folder shaped like it), or when a field other than the version reads as a version token (task
``v003``: a version folder the matching template does not have), the identity names the problem and the
contradicted field is left empty, so what needs it (a tracker publish) fails clearly instead of publishing a
guess. docs/configuration.md, "Shot identity".
"""
from __future__ import annotations

import functools
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, TypedDict

KEY_TEMPLATES = ("{show}/{sequence}/{shot}/{task}/v{version}/{name}.{frame}.{ext}",
                 "{show}/{sequence}/{shot}/{task}/{name}_v{version}.{frame}.{ext}")
DEFAULT_KEY_TEMPLATES = "; ".join(KEY_TEMPLATES)  # the setting's text: templates separated by ";" or newlines
DEFAULT_KEY_ROOT = "shows/"
FIELDS = ("show", "sequence", "shot", "task", "version")
IDENTITY_FIELDS = ("show", "seq", "shot", "task", "version")  # as catalog columns and event fields (``seq``)
NEEDED = ("show", "shot", "task", "version")  # what a tracker revision needs (``project`` is the show)
NOTE = "identity: "  # how a flagged identity's problem starts in a row's error text
_DIGITS = {"version", "frame"}
_VERSION_TOKEN = r"(?<![A-Za-z0-9])[vV](\d+)(?![0-9])"


class IdentityColumns(TypedDict):
    """The identity as catalog columns and event fields (IDENTITY_FIELDS), each with its own type."""

    show: str | None
    seq: str | None
    shot: str | None
    task: str | None
    version: int | None


@dataclass(frozen=True)
class ShotIdentity:
    show: str | None = None
    sequence: str | None = None
    shot: str | None = None
    task: str | None = None
    version: int | None = None
    template: str | None = field(default=None, compare=False)  # the template that matched (None: none did)
    problem: str | None = None  # why the key is flagged: its folders and file name disagree

    def columns(self) -> IdentityColumns:
        """As catalog columns and event fields: ``seq`` is the editorial sequence (``sq010``), kept apart from
        ``sequence``, which names an image sequence's pattern in clip rows and events."""
        return {"show": self.show, "seq": self.sequence, "shot": self.shot, "task": self.task, "version": self.version}

    def report(self) -> dict[str, Any]:
        """The columns plus which template matched and the problem: a frame's JSON report."""
        return {**self.columns(), "identity_template": self.template, "identity_problem": self.problem}

    @property
    def known(self) -> bool:
        return any(getattr(self, name) is not None for name in FIELDS)

    @property
    def flagged(self) -> bool:
        return self.problem is not None

    def note(self) -> str | None:
        """The problem as a row's error text says it (``identity: ...``), None when not flagged."""
        return f"{NOTE}{self.problem}" if self.problem else None

    def lacking(self, needed: tuple[str, ...] = NEEDED) -> list[str]:
        """Which of ``needed`` (field names; ``project`` means the show, ``seq`` the sequence) are empty."""
        alias = {"project": "show", "seq": "sequence"}
        return [name for name in needed if getattr(self, alias.get(name, name)) in (None, "")]

    @classmethod
    def of_columns(cls, record: Any) -> ShotIdentity:
        """From a row's identity columns (``show``, ``seq``, ...), which carry no template."""
        return cls(record.show, record.seq, record.shot, record.task, record.version)


def with_note(error: str | None, identity: ShotIdentity) -> str | None:
    """A row's error text with the identity's problem after it (the failure, when there is one, comes first)."""
    return "; ".join(text for text in (error, identity.note()) if text) or None


def without_note(error: str | None) -> str | None:
    """A row's error text without its identity note (always last: ``with_note``)."""
    if error is None or NOTE not in error:
        return error
    return error[:error.index(NOTE)].rstrip("; ") or None


def noted_problem(error: str | None) -> str | None:
    """The identity problem a row's error text carries (``with_note``), None when it carries none."""
    return error[error.index(NOTE) + len(NOTE):] if error and NOTE in error else None


def _pattern(template: str) -> re.Pattern[str]:
    """A format-string template as a regex (matched against the whole key after the root); a regex template is
    used as given."""
    if "(?P<" in template:
        return re.compile(template)
    out, pos, seen = [], 0, set()
    for match in re.finditer(r"\{(\w+)\}", template):
        out.append(re.escape(template[pos:match.start()]))
        name = match.group(1)
        if name in seen:  # named twice: the same text both times (a backreference)
            out.append(f"(?P={name})")
        else:
            # digits for version and frame; any other field is the shortest run within one path segment that
            # lets the rest match (so "sh020_comp" before "_v003" is one name)
            out.append(rf"(?P<{name}>\d+)" if name in _DIGITS else rf"(?P<{name}>[^/]+?)")
        seen.add(name)
        pos = match.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out))


@functools.lru_cache(maxsize=32)
def compiled(template: str) -> re.Pattern[str]:
    try:
        return _pattern(template)
    except re.error as exc:
        raise ValueError(f"key template {template!r} is not a valid pattern: {exc}") from None


def split_templates(text: str) -> tuple[str, ...]:
    """The templates of the setting's text: separated by ``;`` or newlines, blanks dropped."""
    return tuple(t.strip() for t in re.split(r"[;\n]", text) if t.strip())


@dataclass(frozen=True)
class KeyLayout:
    """The compiled key templates, tried in order, and the root they are matched after (``PipelineSettings``'s
    ``key_templates`` and ``key_root``: ``settings.pipeline.key_layout()``)."""

    templates: tuple[str, ...] = KEY_TEMPLATES
    root: str = DEFAULT_KEY_ROOT

    def __post_init__(self) -> None:
        if not self.templates:
            raise ValueError("no key template: give at least one (templates are separated by ';' or newlines)")
        for template in self.templates:
            compiled(template)  # a broken template is refused when the layout is made
        root = self.root.strip().strip("/")
        object.__setattr__(self, "root", f"{root}/" if root else "")

    @classmethod
    def parse(cls, templates: str, root: str = DEFAULT_KEY_ROOT) -> KeyLayout:
        return cls(split_templates(templates), root)

    def rests(self, key: str) -> list[str]:
        """What the templates are matched against: the key after the root (none outside it); for a local path,
        the part after the root's segments, else every suffix of the path, longest first."""
        if not key.startswith("/"):
            return [key[len(self.root):]] if key.startswith(self.root) else []
        if self.root and f"/{self.root}" in key:
            return [key[key.rindex(f"/{self.root}") + len(self.root) + 1:]]
        parts = key.lstrip("/").split("/")
        return ["/".join(parts[i:]) for i in range(len(parts))]

    def outside(self, key: str) -> bool:
        """Whether a bucket key lies outside the root (so no template is tried)."""
        return not self.rests(key)


DEFAULT_LAYOUT = KeyLayout()


def identify(key: str, layout: KeyLayout = DEFAULT_LAYOUT) -> ShotIdentity:
    """The fields the first matching template names in ``key``; a sequence pattern (``beauty.####.exr``) reads as
    its frames do. Empty (``template`` None) when no template matches; flagged when folders and file disagree."""
    rests = layout.rests(key.replace("#", "0"))
    for template in layout.templates:
        pattern = compiled(template)
        for rest in rests:
            match = pattern.fullmatch(rest)
            if match is not None:
                return _read(rest, match, template)
    return ShotIdentity()


def _read(rest: str, match: re.Match[str], template: str) -> ShotIdentity:
    groups = {name: value for name, value in match.groupdict().items() if value}
    problems = _disagreements(rest, match, groups)
    for name in problems:
        groups.pop(name, None)  # contradicted: left empty, never guessed
    version = groups.get("version")
    return ShotIdentity(
        show=groups.get("show"), sequence=groups.get("sequence"), shot=groups.get("shot"), task=groups.get("task"),
        version=int(version) if version else None, template=template,
        problem="; ".join(problems.values()) or None,
    )


def _shape(value: str) -> str | None:
    """A regex for tokens shaped like a shot name: its letters as they are, each run of digits any digits
    (``sh010`` -> ``sh\\d+``). None for a name without both letters and digits (``010``, ``hero``): too common a
    shape to contradict anything."""
    if not (re.search(r"[A-Za-z]", value) and re.search(r"\d", value)):
        return None
    return "".join(r"\d+" if part.isdigit() else re.escape(part) for part in re.split(r"(\d+)", value) if part)


def _disagreements(rest: str, match: re.Match[str], groups: dict[str, str]) -> dict[str, str]:
    """Field -> problem, for a shot or version the file name contradicts (read from a folder), or a folder
    contradicts (read from the file name)."""
    file_start = rest.rfind("/") + 1
    name, folders = rest[file_start:], rest[:max(file_start - 1, 0)].split("/") if file_start else []
    problems: dict[str, str] = {
        fld: f"{fld} {groups[fld]!r} is a version token (a version folder where the template has none?)"
        for fld in ("show", "sequence", "shot", "task") if re.fullmatch(r"[vV]\d+", groups.get(fld) or "")}
    for fld in ("shot", "version"):
        value = groups.get(fld)
        if value is None:
            continue
        in_folder = match.end(fld) <= file_start
        if fld == "shot":
            shape = _shape(value)
            if shape is None:
                continue
            token = rf"(?<![A-Za-z0-9]){shape}(?![0-9])"
            others = ([m.group(0) for m in re.finditer(token, name, re.IGNORECASE)] if in_folder else
                      [f for f in folders if re.fullmatch(shape, f, re.IGNORECASE)])
            differ = sorted({o for o in others if o.lower() != value.lower()})
        else:
            others = (re.findall(_VERSION_TOKEN, name) if in_folder else
                      [m.group(1) for f in folders if (m := re.fullmatch(r"[vV](\d+)", f))])
            differ = sorted({f"v{o}" for o in others if int(o) != int(value)})
            value = f"v{value}"
        if differ:
            where, other = ("folder", "file name") if in_folder else ("file name", "folder")
            problems[fld] = (f"{fld} {value!r} from the {where} disagrees with {', '.join(map(repr, differ))} "
                             f"in the {other} {name if in_folder else posixpath.dirname(rest)!r}")
    return problems


def show_folder(key: str, layout: KeyLayout = DEFAULT_LAYOUT) -> str | None:
    """The key prefix of the show's root folder (``shows/demo/`` for ``shows/demo/sq010/...``): where a show's
    own files (its ``.ccc`` of per-shot grades, colour/grades.py) live. The folder whose segment the first
    matching template reads as ``show``; None when no template matches or none names a show folder."""
    rests = layout.rests(key.replace("#", "0"))
    for template in layout.templates:
        pattern = compiled(template)
        for rest in rests:
            match = pattern.fullmatch(rest)
            if match is None:
                continue
            if not match.groupdict().get("show"):
                return None
            end = rest.find("/", match.end("show"))
            return key[:len(key) - len(rest) + end + 1] if end >= 0 else None
    return None
