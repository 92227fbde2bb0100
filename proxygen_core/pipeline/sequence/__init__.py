"""One image sequence from its frames' state to its deliverables: members -> plan -> build.

``members``: each frame key's state and loaders of the working frames; ``plan``: every decision about the
sequence's clips, made once (the sensor asks it whether a sequence is due); ``build``: the encode pass, checks,
poster, timeline and rows from the plan. ``build_clips_of`` is the one call both front doors make.
"""
from __future__ import annotations

from collections.abc import Callable

from proxygen_core.pipeline.sequence.build import ClipOutcome, build_sequence_clips, is_current, release_working_frames
from proxygen_core.pipeline.sequence.members import Members, WorkingFrames, load_members
from proxygen_core.pipeline.sequence.plan import (
    SequencePlan,
    build_fingerprint,
    due,
    plan_clips,
    profiles_signature,
    slate_info,
)
from proxygen_core.profiles import ClipProfile
from proxygen_core.settings import Settings
from proxygen_core.store.base import Store

__all__ = ["ClipOutcome", "Members", "SequencePlan", "WorkingFrames", "build_clips_of", "build_fingerprint",
           "build_sequence_clips", "due", "is_current", "load_members", "plan_clips", "profiles_signature",
           "release_working_frames", "slate_info"]


def build_clips_of(store: Store, pattern: str, members: Members, settings: Settings, output_profile: str,
                   profiles: tuple[ClipProfile, ...] | None = None,
                   members_now: Callable[[], list[str]] | None = None) -> tuple[SequencePlan, list[ClipOutcome]]:
    """Plan the sequence's clips once, then build them: the plan and a row per planned profile (``members_now``:
    build_sequence_clips)."""
    plan = plan_clips(store, pattern, members, settings, output_profile, profiles)
    return plan, build_sequence_clips(store, plan, members, members_now)
