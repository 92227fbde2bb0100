"""The sequence plan: every decision about a sequence's clips made once, and a build that a newer state of
the sequence supersedes publishes nothing."""
from __future__ import annotations

from dataclasses import replace

from proxygen_core.media.samples import CHROMATICITIES, chart, write_exr
from proxygen_core.pipeline.folder import render_file
from proxygen_core.pipeline.sequence import build as build_module
from proxygen_core.pipeline.sequence import (
    build_fingerprint,
    build_sequence_clips,
    due,
    load_members,
    plan_clips,
    profiles_signature,
)
from proxygen_core.pipeline.state import load_state, save_state
from proxygen_core.settings import PipelineSettings, RenderSettings, Settings
from proxygen_core.store.local import LocalStore

PATTERN = "sh010.####.exr"


def _frames(tmp_path, numbers, settings):
    store = LocalStore(tmp_path / "out")
    keys = []
    for n in numbers:
        path = tmp_path / "src" / f"sh010.{n:04d}.exr"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_exr(path, chart(64, 36, frame=n)[0], CHROMATICITIES["ACEScg"])
        keys.append(render_file(path, tmp_path / "out", settings, store, keep_working=True).key)
    return store, keys


def _settings(profiles="review", slates="", **render):
    return Settings(render=RenderSettings(**render),
                    pipeline=PipelineSettings(clip_profiles=profiles, clip_slates=slates, working_retention="keep"))


def test_the_plan_decides_profiles_fast_path_poster_timing_and_the_fingerprint(tmp_path):
    settings = _settings()
    store, keys = _frames(tmp_path, [1001, 1002, 1004], settings)
    members = load_members(store, keys)
    plan = plan_clips(store, PATTERN, members, settings, "review")
    assert [p.name for p in plan.profiles] == ["review"] and plan.fast and plan.burnins is None
    assert plan.numbers == [1001, 1002, 1004] and plan.poster == 1002  # the middle frame with a picture
    assert (plan.fps, plan.start_timecode) == (24.0, "00:00:41:17")  # frame 1001 at 24 fps
    assert plan.slate is not None and dict(plan.slate.lines)["Frames"] == "1001-1004 (4, 1 missing)"
    assert set(plan.keys) == {"review", "poster", "timeline"} and plan.planned_at > 0
    # Burn-ins or a slate on the review clip take it off the fast path; more profiles too.
    assert not plan_clips(store, PATTERN, members, _settings(clip_burnin_profiles="review"), "review").fast
    assert not plan_clips(store, PATTERN, members, _settings(slates="review"), "review").fast
    both = _settings("review,prores_422hq", "prores_422hq")
    wide = plan_clips(store, PATTERN, members, both, "review")
    assert not wide.fast and wide.slated == {"prores_422hq"} and [p.name for p in wide.profiles] == [
        "review", "prores_422hq"]
    # The sensor's rule: due once every member finished; the fingerprint changes with the enabled profiles.
    assert due(members, settings) and not due(load_members(store, [*keys, "sh010.1005.exr"]), settings)
    assert build_fingerprint(members, settings).endswith("-review-slates-")
    assert profiles_signature(both) == "review+prores_422hq-slates-prores_422hq"
    assert build_fingerprint(members, both) != build_fingerprint(members, settings)


def test_a_build_overtaken_by_a_newer_frame_version_publishes_nothing(tmp_path, monkeypatch):
    """A deliberately slow first build: while it reads its frames, frame 1002 is re-rendered (a new version).
    The build must not publish its clip, poster or timeline, and must say it was superseded."""
    settings = _settings()
    store, keys = _frames(tmp_path, [1001, 1002, 1003], settings)
    members = load_members(store, keys)
    plan = plan_clips(store, PATTERN, members, settings, "review")
    real = build_module.WorkingFrames.planes_loader
    changed = []

    def slow(self, number, state):
        load = real(self, number, state)

        def loading():
            if not changed:  # meanwhile, a new version of frame 1002 finishes
                current = load_state(store, keys[1])
                save_state(store, replace(current, etag="a-newer-upload"))
                changed.append(keys[1])
            return load()
        return loading

    monkeypatch.setattr(build_module.WorkingFrames, "planes_loader", slow)
    outcomes = build_sequence_clips(store, plan, members)
    assert changed and [o.superseded for o in outcomes] == [True]
    assert not store.exists(plan.keys["review"]) and not store.exists(plan.keys["poster"])
    assert not store.exists(plan.keys["timeline"])
    # The newer state's own build publishes.
    monkeypatch.setattr(build_module.WorkingFrames, "planes_loader", real)
    fresh = load_members(store, keys)
    again = build_sequence_clips(store, plan_clips(store, PATTERN, fresh, settings, "review"), fresh)
    assert [o.superseded for o in again] == [False] and again[0].row.ok and store.exists(plan.keys["review"])
    assert again[0].row.frames_fingerprint != plan.fingerprint


def test_a_frame_that_arrives_during_the_build_supersedes_it(tmp_path):
    """Frame 1004 arrives (and is rendered) while 1001-1003 are being built: the members the caller lists when the
    build is about to publish are not the plan's, so nothing is published; with the same members it publishes."""
    settings = _settings()
    store, keys = _frames(tmp_path, [1001, 1002, 1003], settings)
    members = load_members(store, keys)
    plan = plan_clips(store, PATTERN, members, settings, "review")
    late = _frames(tmp_path, [1004], settings)[1]
    outcomes = build_sequence_clips(store, plan, members, members_now=lambda: [*keys, *late])
    assert [o.superseded for o in outcomes] == [True] and not store.exists(plan.keys["review"])
    same = build_sequence_clips(store, plan, members, members_now=lambda: list(keys))
    assert [o.superseded for o in same] == [False] and same[0].row.ok and store.exists(plan.keys["review"])
