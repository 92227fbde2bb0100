"""Events to shots: which shot each event of a cut shows, by a configurable rule (``PROXYGEN_CUT_MATCH``).

The rule is an ordered list of what to read from an event: ``clip_name`` (the clip's name, ``* FROM CLIP NAME``
in an EDL), ``source_file`` (the media reference's file name), ``locator`` (a locator's / marker's name),
``reel``. Each is compared with the shots the catalog knows (the identity's ``shot`` field of their clip rows):
a shot matches when the text is the shot's name or carries it as a whole token (``sh010_comp_v002`` carries
``sh010``; ``sh0100`` does not), case-insensitively; the longest such shot wins, and the first part of the rule
that names a shot decides. An event that names no known shot is unmatched, and reported as such.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from proxygen_core.editorial.events import Cut, CutEvent

MATCH_FIELDS = ("clip_name", "source_file", "locator", "reel")
DEFAULT_MATCH = "clip_name,source_file,locator,reel"


def parse_match(text: str) -> tuple[str, ...]:
    """``clip_name,reel`` -> the fields, in order; an unknown one is refused naming the known ones."""
    fields = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    unknown = [f for f in fields if f not in MATCH_FIELDS]
    if unknown or not fields:
        raise ValueError(f"{text!r}: a comma-separated list of {', '.join(MATCH_FIELDS)}")
    return fields


@dataclass(frozen=True)
class EventMatch:
    event: CutEvent
    shot: str | None  # None: no known shot is named by the event
    by: str | None = None  # which field of the rule named it
    token: str = ""  # the text that named it (or, unmatched, the event's clip name)

    @property
    def matched(self) -> bool:
        return self.shot is not None

    def label(self) -> str:
        """What a card or report calls the event's shot: the shot, else the best text the event has."""
        return self.shot or self.token or self.event.name or self.event.reel or f"event {self.event.index}"


def texts(event: CutEvent, field: str) -> list[str]:
    if field == "clip_name":
        return [event.name]
    if field == "source_file":
        return [event.source_file.rsplit(".", 1)[0]] if event.source_file else []
    if field == "locator":
        return list(event.locators)
    return [event.reel]


def _names(text: str, shot: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(shot.lower())}(?![a-z0-9])", text.lower()) is not None


def match_event(event: CutEvent, shots: Iterable[str], rule: tuple[str, ...]) -> EventMatch:
    known = sorted(set(shots), key=lambda s: (-len(s), s))
    for field in rule:
        for text in texts(event, field):
            if not text:
                continue
            for shot in known:
                if _names(text, shot):
                    return EventMatch(event, shot, field, text)
    return EventMatch(event, None, None, event.name or event.reel)


def match_cut(cut: Cut, shots: Iterable[str], rule: tuple[str, ...]) -> list[EventMatch]:
    known = list(shots)
    return [match_event(e, known, rule) for e in cut.events]
