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


# --- every publish path claims; a stale claimer cannot overwrite (user trial, issue 29) -------------------------

def _hold(catalog, row, token="sensor-run", until=NOW + timedelta(minutes=15)):
    """The row as the sensor's publisher leaves it while it publishes: claimed, its lease running."""
    assert catalog.update_tracker(row.clip_id, row.planned_at, {
        "tracker_status": "pending", "tracker_attempts": 1, "tracker_retry_at": until.isoformat(),
        "tracker_claim": token}, claim_at=NOW.isoformat())


def test_a_forced_publish_takes_the_claim_and_never_publishes_beside_a_running_one(world):
    catalog, store, settings, row, tracker = world
    _hold(catalog, row)
    forced = publish_clip(catalog, store, settings, catalog.clip("c1"), NOW + timedelta(minutes=1),
                          connect=tracker.connect, force=True)
    assert forced.status == SKIPPED and tracker.calls == []  # the UI's materialization or a backfill waits its turn
    stored = catalog.clip("c1")
    assert (stored.tracker_claim, stored.tracker_attempts) == ("sensor-run", 1)
    # once the holder has recorded its outcome, a forced re-publish claims and updates the same revision
    assert catalog.update_tracker("c1", row.planned_at, {"tracker_status": PUBLISHED, "tracker_claim": None,
                                                         "tracker_retry_at": None}, owner="sensor-run")
    again = publish_clip(catalog, store, settings, catalog.clip("c1"), NOW + timedelta(minutes=2),
                         connect=tracker.connect, force=True)
    assert again.status == PUBLISHED and catalog.clip("c1").tracker_claim is None


def test_a_stale_claimer_cannot_overwrite_the_outcome_of_the_one_that_took_over(world):
    catalog, store, settings, row, tracker = world
    late = NOW + timedelta(seconds=901)  # past the first claimer's lease: it is taken over
    results = {}

    class SlowFirst(MemoryTracker):
        def connect(self, s):
            if "second" not in results:  # the first claimer stalls here; the second takes its row over
                results["second"] = publish_clip(catalog, store, settings, catalog.clip("c1"), late,
                                                 connect=tracker.connect)
            return tracker

    first = publish_clip(catalog, store, settings, row, NOW, connect=SlowFirst().connect)
    assert results["second"].status == PUBLISHED and results["second"].attempts == 2
    assert first.status == SKIPPED and "taken over" in first.error
    stored = catalog.clip("c1")
    assert (stored.tracker_status, stored.tracker_attempts, stored.tracker_claim) == (PUBLISHED, 2, None)
    assert len(tracker.revisions) == 1  # the first claimer looked up before writing: the same revision


# --- our configuration is not a clip's failure ------------------------------------------------------------------

def test_no_tracker_url_is_a_configuration_error_and_leaves_the_row_as_it_was(world):
    from proxygen_core.errors import ConfigurationError

    catalog, store, _, row, _ = world
    settings = Settings(trackers=TrackerSettings(tracker="kitsu", kitsu_user="u", kitsu_password="p"))
    with pytest.raises(ConfigurationError, match="^PROXYGEN_KITSU_URL: not set") as caught:
        publish_due(catalog, store, settings, NOW)  # the real Kitsu module's connect
    assert caught.value.settings == ("PROXYGEN_KITSU_URL",)
    stored = catalog.clip("c1")
    assert (stored.tracker_status, stored.tracker_attempts, stored.tracker_error, stored.tracker_claim,
            stored.tracker_retry_at) == ("pending", None, None, None, None)


def _no_aws_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_no_s3_credentials_is_a_configuration_error_not_a_failed_publish(world, monkeypatch, tmp_path):
    from proxygen_core.errors import ConfigurationError
    from proxygen_core.store.s3 import ObjectStore, s3_client

    catalog, _, settings, row, tracker = world
    _no_aws_credentials(monkeypatch, tmp_path)
    store = ObjectStore(s3_client("http://127.0.0.1:1"), "frames", tmp_path / "cache")
    with pytest.raises(ConfigurationError, match="^AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: no usable S3 "
                                                 "credentials \\(NoCredentialsError"):
        publish_due(catalog, store, settings, NOW, connect=tracker.connect)
    stored = catalog.clip("c1")
    assert (stored.tracker_status, stored.tracker_attempts, stored.tracker_error, stored.tracker_claim) == (
        "pending", None, None, None)
    assert tracker.revisions == {}


def test_clips_publish_without_s3_credentials_says_so_and_records_nothing(world, monkeypatch, tmp_path, capsys):
    from proxygen_core.cli import main

    catalog, _, _, _, _ = world
    _no_aws_credentials(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    for name, value in {"PROXYGEN_SQLITE_PATH": str(tmp_path / "catalog.db"), "PROXYGEN_TRACKER": "kitsu",
                        "PROXYGEN_KITSU_URL": "http://127.0.0.1:1", "PROXYGEN_KITSU_USER": "u",
                        "PROXYGEN_KITSU_PASSWORD": "p", "PROXYGEN_S3_ENDPOINT_URL": "http://127.0.0.1:1"}.items():
        monkeypatch.setenv(name, value)
    assert main(["clips", "--publish"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: no usable S3 credentials"), err
    assert catalog.clip("c1").tracker_status == "pending" and catalog.clip("c1").tracker_error is None


# --- one clip's failure never stops the others; the listing's cause is short --------------------------------------

def test_one_clips_exception_never_stops_the_others(world):
    catalog, store, settings, row, tracker = world
    store.put_bytes(str(store.root / "sh020.####_clip.mp4"), b"movie-2")
    second = row.but(clip_id="c2", sequence=str(store.root / "sh020.####.exr"), shot="sh020",
                     clip_s3_key=str(store.root / "sh020.####_clip.mp4"), poster_s3_key=None,
                     generated_timestamp="2026-12-02T09:30:00+00:00")
    assert catalog.write_clips([second], []) == 1

    class Flaky:  # the catalog fails under the first clip's claim (a lock timeout, a dropped connection)
        def __getattr__(self, name):
            return getattr(catalog, name)

        def update_tracker(self, clip_id, *args, **kwargs):
            if clip_id == "c1":
                raise RuntimeError("database is locked")
            return catalog.update_tracker(clip_id, *args, **kwargs)

    outcomes = publish_due(Flaky(), store, settings, NOW, connect=tracker.connect)
    assert [(o.clip_id, o.status) for o in outcomes] == [("c1", "pending"), ("c2", PUBLISHED)]
    assert "RuntimeError: database is locked" in outcomes[0].error
    assert list(tracker.revisions) == [("demo", "sh020", "comp", 3)]


def test_the_listing_shows_a_short_cause_and_the_record_keeps_all_of_it(world):
    from proxygen_core.trackers.kitsu import open_kitsu

    catalog, store, settings, row, _ = world

    def unreachable(s):
        return open_kitsu("http://127.0.0.1:1", "u", "p", timeout=(2.0, 2.0))  # nothing listens on port 1

    [outcome] = publish_due(catalog, store, settings, NOW, connect=unreachable)
    stored = catalog.clip("c1")
    assert state_line(stored) == (f"pending (attempt 1, retry {outcome.retry_at}): "
                                  "kitsu: log in: ConnectionError: [Errno 111] Connection refused")
    assert "Max retries exceeded" in stored.tracker_error and "/auth/login" in stored.tracker_error  # all of it
