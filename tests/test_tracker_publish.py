"""The outbox-driven tracker publish (trackers/outbox.py) against an in-memory tracker that behaves as the real
ones do where it matters: it does not deduplicate, it can be down, it can refuse. The real trackers' modules
are tested against zou, mockgun and recorded exchanges (test_kitsu_*.py, test_shotgrid_tracker.py, ...)."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from proxygen_core.catalog import SQLiteCatalog
from proxygen_core.rows import ClipRow
from proxygen_core.settings import Settings, TrackerSettings
from proxygen_core.store.local import LocalStore
from proxygen_core.trackers.outbox import (
    FAILED,
    PUBLISHED,
    SKIPPED,
    backoff_seconds,
    comment,
    publish_clip,
    publish_due,
    publish_playlist,
    state_line,
)

from .tracker_memory import MemoryTracker

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path):
    catalog = SQLiteCatalog(tmp_path / "catalog.db")
    catalog.ensure()
    store = LocalStore(tmp_path / "bucket")
    movie, poster = store.root / "sh010.####_clip.mp4", store.root / "sh010.####_poster.jpg"
    store.put_bytes(str(movie), b"movie-1")
    store.put_bytes(str(poster), b"poster-1")
    row = ClipRow(clip_id="c1", sequence=str(store.root / "sh010.####.exr"), s3_bucket=store.bucket, status="ok",
                  profile="review", codec="h264", pix_fmt="yuv420p", clip_s3_key=str(movie),
                  poster_s3_key=str(poster), first_frame=1001, last_frame=1024, frame_count=24, fps=24.0,
                  clip_resolution="1920x1080", start_timecode="00:00:41:17", missing_frames=json.dumps([1010]),
                  failed_frames=json.dumps([1012, 1013]), quality_metric="CIEDE2000", quality_de_mean=0.21,
                  quality_de_p99=0.6, quality_psnr_db=47.5, quality_passed=True, show="demo", seq="seq010",
                  shot="sh010", task="comp", version=3, planned_at=100, generated_timestamp="2026-12-02T09:00:00+00:00",
                  tracker_status="pending")
    assert catalog.write_clips([row], []) == 1
    settings = Settings(trackers=TrackerSettings(tracker="kitsu", kitsu_url="http://127.0.0.1:1"))
    return catalog, store, settings, row, MemoryTracker()


def test_a_clip_is_published_once_whatever_is_redelivered_retried_or_restarted(world):
    catalog, store, settings, row, tracker = world
    [first] = publish_due(catalog, store, settings, NOW, connect=tracker.connect)
    assert (first.status, first.url, first.revision, first.created) == (PUBLISHED, "http://kitsu/rev-1", "rev-1", True)
    stored = catalog.clip("c1")
    assert (stored.tracker_status, stored.tracker_url, stored.tracker_revision, stored.tracker_attempts) == (
        PUBLISHED, "http://kitsu/rev-1", "rev-1", 1)
    # redelivery and restarts: nothing is due, and a stale copy of the row cannot claim it again
    assert publish_due(catalog, store, settings, NOW + timedelta(hours=2), connect=tracker.connect) == []
    assert publish_clip(catalog, store, settings, row, NOW, connect=tracker.connect).status == SKIPPED
    # a retried run that re-publishes on purpose looks the revision up: an update, never a second revision
    again = publish_clip(catalog, store, settings, catalog.clip("c1"), NOW, connect=tracker.connect, force=True)
    assert (again.status, again.revision, again.created) == (PUBLISHED, "rev-1", False)
    assert len(tracker.revisions) == 1 and tracker.calls == ["find", "create", "find", "update"]
    [entry] = tracker.revisions.values()
    assert entry["poster"] == b"poster-1" and entry["movie"] == b"movie-1"


def test_a_rebuild_of_the_same_version_updates_its_revision(world):
    catalog, store, settings, row, tracker = world
    publish_due(catalog, store, settings, NOW, connect=tracker.connect)
    store.put_bytes(row.clip_s3_key, b"movie-2")  # the rebuild's movie
    assert catalog.write_clips([row.but(planned_at=200)], []) == 1  # the rebuild's row: pending again
    [outcome] = publish_due(catalog, store, settings, NOW + timedelta(minutes=1), connect=tracker.connect)
    assert (outcome.status, outcome.revision, outcome.created) == (PUBLISHED, "rev-1", False)
    [entry] = tracker.revisions.values()
    assert (entry["movie"], entry["uploads"]) == (b"movie-2", 2)


def test_a_tracker_that_is_down_is_retried_with_backoff_and_nothing_is_lost(world):
    catalog, store, settings, row, tracker = world
    tracker.down = True
    [outcome] = publish_due(catalog, store, settings, NOW, connect=tracker.connect)
    assert outcome.status == "pending" and "connection refused" in outcome.error
    assert outcome.retry_at == (NOW + timedelta(seconds=30)).isoformat()
    stored = catalog.clip("c1")
    assert (stored.tracker_status, stored.tracker_attempts) == ("pending", 1)
    assert publish_due(catalog, store, settings, NOW + timedelta(seconds=29), connect=tracker.connect) == []
    [second] = publish_due(catalog, store, settings, NOW + timedelta(seconds=30), connect=tracker.connect)
    assert second.retry_at == (NOW + timedelta(seconds=90)).isoformat()  # 30 s after the first, then 60 s
    tracker.down = False
    [third] = publish_due(catalog, store, settings, NOW + timedelta(seconds=90), connect=tracker.connect)
    assert (third.status, third.attempts) == (PUBLISHED, 3) and len(tracker.revisions) == 1
    assert catalog.clip("c1").tracker_error is None
    assert [backoff_seconds(n, settings.trackers) for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


def test_a_refusal_is_a_failed_publish_with_its_cause_and_never_touches_the_clip(world):
    catalog, store, settings, row, tracker = world
    tracker.refuse = "wrong login or password for admin@example.com"
    [outcome] = publish_due(catalog, store, settings, NOW, connect=tracker.connect)
    assert outcome.status == FAILED and "wrong login or password" in outcome.error
    stored = catalog.clip("c1")
    assert (stored.tracker_status, stored.status, stored.clip_s3_key) == (FAILED, "ok", row.clip_s3_key)
    assert "kitsu: wrong login or password" in stored.tracker_error
    assert publish_due(catalog, store, settings, NOW + timedelta(days=1), connect=tracker.connect) == []
    assert state_line(stored).startswith("failed ") and "wrong login" in state_line(stored)


def test_an_identity_lacking_what_a_revision_needs_fails_clearly(world):
    catalog, store, settings, row, tracker = world
    catalog.write_clips([row.but(planned_at=300, shot=None, version=None)], [])
    [outcome] = publish_due(catalog, store, settings, NOW, connect=tracker.connect)
    assert outcome.status == FAILED and "lacks shot, version" in outcome.error and "proxygen identity" in outcome.error
    assert tracker.revisions == {}


def test_a_missing_movie_in_the_store_fails_naming_it(world):
    catalog, store, settings, row, tracker = world
    (store.root / "sh010.####_clip.mp4").unlink()
    [outcome] = publish_due(catalog, store, settings, NOW, connect=tracker.connect)
    assert outcome.status in (FAILED, "pending") and "sh010.####_clip.mp4" in outcome.error
    assert tracker.revisions == {}


def test_the_comment_says_what_no_tracker_shows(world):
    _, _, settings, row, _ = world
    text = comment(row, settings)
    assert "sh010 comp v003" in text
    assert "Frames 1001-1024: 24 at 24 fps" in text
    assert "Missing frames: 1 (1010)" in text and "Failed frames: 2 (1012, 1013)" in text
    assert settings.render.proxy_display in text and settings.render.view in text and "Grade: none" in text
    assert "CIEDE2000 mean 0.21, p99 0.6, PSNR 47.5 dB (passed)" in text


def test_the_daily_playlist_holds_the_published_revisions_per_project(world):
    catalog, store, settings, row, tracker = world
    publish_due(catalog, store, settings, NOW, connect=tracker.connect)
    other = replace(row, clip_id="c2", tracker_status="failed")
    made = publish_playlist(settings, "dailies 2026-12-02", [catalog.clip("c1"), other], connect=tracker.connect)
    assert made is not None and tracker.playlists == {("demo", "dailies 2026-12-02"): ["rev-1"]}
    assert publish_playlist(settings, "x", [other], connect=tracker.connect) is None


def test_only_the_tracked_profile_starts_pending_and_a_failed_clip_has_nothing_to_publish(tmp_path):
    from proxygen_core.pipeline.sequence.build import ClipOutcome
    from proxygen_core.pipeline.sequence.members import Members
    from proxygen_core.pipeline.sequence.plan import plan_clips
    from proxygen_core.profiles import PROFILES

    store = LocalStore(tmp_path)
    on = Settings(trackers=TrackerSettings(tracker="kitsu"))
    plan = plan_clips(store, "shows/demo/sq/sh010/comp/sh010_comp_v003.####.exr", Members({}, {}), on, "review")
    assert plan.row(PROFILES["review"]).tracker_status == "pending"
    assert plan.row(PROFILES["prores_422hq"]).tracker_status is None
    off = plan_clips(store, "shows/demo/sq/sh010/comp/sh010_comp_v003.####.exr", Members({}, {}), Settings(), "review")
    assert off.row(PROFILES["review"]).tracker_status is None
    outcome = ClipOutcome("review", plan.row(PROFILES["review"]))
    outcome.fail("x", ValueError("no frames"), plan)
    assert outcome.row.tracker_status is None


def test_a_flagged_identity_fails_the_publish_saying_why(world):
    catalog, store, settings, row, tracker = world
    flagged = row.but(planned_at=400, shot=None,
                      error="identity: shot folder sh010 but the file name says sh020 (template 1)")
    catalog.write_clips([flagged], [])
    [outcome] = publish_due(catalog, store, settings, NOW, connect=tracker.connect)
    assert outcome.status == FAILED and "lacks shot (shot folder sh010 but the file name says sh020" in outcome.error
