"""Which show, sequence, shot, task and version a key belongs to: one key template, read from the settings.

The template is a format string with named fields (``{show}/{sequence}/{shot}/{task}/{name}_v{version}.{frame}.{ext}``,
the default) or a regular expression with named groups (``(?P<shot>...)``). It is matched against the end of the
key, so a bucket prefix before it (``shows/``, ``projects/2026/``) does not matter. ``version`` and ``frame`` are
digits; every other field is the shortest run within one path segment that lets the rest match. A key that does
not match still works: its fields are empty (docs/configuration.md).
"""
from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass
from typing import TypedDict

DEFAULT_KEY_TEMPLATE = "{show}/{sequence}/{shot}/{task}/{name}_v{version}.{frame}.{ext}"
FIELDS = ("show", "sequence", "shot", "task", "version")
IDENTITY_FIELDS = ("show", "seq", "shot", "task", "version")  # as catalog columns and event fields (``seq``)
_DIGITS = {"version", "frame"}


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

    def columns(self) -> IdentityColumns:
        """As catalog columns and event fields: ``seq`` is the editorial sequence (``sq010``), kept apart from
        ``sequence``, which names an image sequence's pattern in clip rows and events."""
        return {"show": self.show, "seq": self.sequence, "shot": self.shot, "task": self.task, "version": self.version}

    @property
    def known(self) -> bool:
        return any(v is not None for v in asdict(self).values())


def _pattern(template: str) -> re.Pattern[str]:
    """A format-string template as a regex anchored at the key's end (a regex template is used as given)."""
    if "(?P<" in template:
        return re.compile(template if template.endswith("$") else f"{template}$")
    out, pos = [], 0
    for match in re.finditer(r"\{(\w+)\}", template):
        out.append(re.escape(template[pos:match.start()]))
        name = match.group(1)
        # digits for version and frame; any other field is the shortest run within one path segment that
        # lets the rest match (so "sh020_comp" before "_v003" is one name)
        out.append(rf"(?P<{name}>\d+)" if name in _DIGITS else rf"(?P<{name}>[^/]+?)")
        pos = match.end()
    out.append(re.escape(template[pos:]))
    return re.compile(r"(?:^|/)" + "".join(out) + "$")


@functools.lru_cache(maxsize=8)
def compiled(template: str) -> re.Pattern[str]:
    try:
        return _pattern(template)
    except re.error as exc:
        raise ValueError(f"key template {template!r} is not a valid pattern: {exc}") from None


def identify(key: str, template: str = DEFAULT_KEY_TEMPLATE) -> ShotIdentity:
    """The fields the template names in ``key``; a sequence pattern (``beauty.####.exr``) reads as its frames do."""
    match = compiled(template).search(key.replace("#", "0"))
    if match is None:
        return ShotIdentity()
    groups = match.groupdict()
    version = groups.get("version")
    return ShotIdentity(
        show=groups.get("show") or None,
        sequence=groups.get("sequence") or None,
        shot=groups.get("shot") or None,
        task=groups.get("task") or None,
        version=int(version) if version else None,
    )
