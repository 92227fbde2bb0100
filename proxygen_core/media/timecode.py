"""SMPTE timecode maths, both ways, in one place (clips, slates, burn-ins, timelines and the plan use it)."""
from __future__ import annotations


def timecode(frame: int, fps: float) -> str:
    """Non-drop-frame SMPTE timecode of a frame number at ``fps`` (frame 1001 at 24 fps = 00:00:41:17)."""
    base = max(1, round(fps))
    ff = frame % base
    seconds = frame // base
    return f"{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{ff:02d}"


def frames_of(text: str, base: int) -> int:
    """The frame count a timecode stands for at ``base`` frames per second (the inverse of ``timecode``)."""
    hh, mm, ss, ff = (int(p) for p in text.replace(";", ":").split(":"))
    return ((hh * 60 + mm) * 60 + ss) * base + ff
