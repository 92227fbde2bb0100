"""Publishing clips to the studio's production tracker: one module per tracker, one registry (``TRACKERS``).

A new tracker is one entry here plus its module, which defines ``connect(settings) -> Tracker`` (base.Tracker).
Modules are imported when chosen: a tracker's client library is needed only where that tracker is configured.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from proxygen_core.trackers.base import (
    Publication,
    Revision,
    Tracker,
    TrackerError,
    TrackerRefused,
    TrackerUnavailable,
    publish,
)

if TYPE_CHECKING:
    from proxygen_core.settings import TrackerSettings

# PROXYGEN_TRACKER value -> the module that publishes to it
TRACKERS = {
    "kitsu": "proxygen_core.trackers.kitsu",
    "shotgrid": "proxygen_core.trackers.shotgrid",
    "ftrack": "proxygen_core.trackers.ftrack",
    "ayon": "proxygen_core.trackers.ayon",
}

__all__ = ["TRACKERS", "Publication", "Revision", "Tracker", "TrackerError", "TrackerRefused", "TrackerUnavailable",
           "open_tracker", "publish"]


def open_tracker(settings: TrackerSettings) -> Tracker:
    """The configured tracker's publisher, logged in (TrackerRefused: bad credentials or missing settings;
    TrackerUnavailable: it cannot be reached)."""
    if settings.tracker not in TRACKERS:
        raise ValueError(f"tracker {settings.tracker!r}: one of {', '.join(TRACKERS)} (or none)")
    module = importlib.import_module(TRACKERS[settings.tracker])
    tracker: Tracker = module.connect(settings)
    return tracker
