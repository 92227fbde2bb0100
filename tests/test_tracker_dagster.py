"""The tracker publish in Dagster against a real SeaweedFS: the sensor requests each due clip once per attempt,
the asset publishes and shows the revision's page, a tracker that is down fails the run and leaves the row
pending for its retry, a refusal fails it with the cause. The tracker is the in-memory one
(tests/tracker_memory.py); the real zou is in test_kitsu_publish.py."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from proxygen_core.rows import ClipRow
from proxygen_core.settings import CatalogSettings, Settings, TrackerSettings
from proxygen_core.store.keys import clip_id

from . import tracker_memory
from .test_dagster_pipeline import checks, own_bucket


@pytest.fixture
def published_world(bucket_store, s3_env, tmp_path, monkeypatch, instance):
    from proxygen_core import trackers
    from proxygen_dagster.names import PARTITION
    from proxygen_dagster.resources import CatalogResource

    monkeypatch.setitem(trackers.TRACKERS, "kitsu", "tests.tracker_memory")
    monkeypatch.setattr(tracker_memory, "CURRENT", tracker_memory.MemoryTracker())
    storage = own_bucket(bucket_store, s3_env, "publish")
    store = storage.store()
    pattern = f"shows/demo/seq010/sh010/comp/sh010_comp_v003.####.exr-{uuid.uuid4().hex[:6]}"
    store.put_bytes("clips/sh010_clip.mp4", b"the movie")
    store.put_bytes("clips/sh010_poster.jpg", b"the poster")
    catalog = CatalogResource(sqlite_path=str(tmp_path / "catalog.db"))
    db = catalog.open()
    row = ClipRow(clip_id=clip_id(store.bucket, pattern, db.profile), sequence=pattern, s3_bucket=store.bucket,
                  output_profile=db.profile, profile="review", status="ok", clip_s3_key="clips/sh010_clip.mp4",
                  poster_s3_key="clips/sh010_poster.jpg", first_frame=1001, last_frame=1024, frame_count=24,
                  fps=24.0, clip_resolution="64x36", missing_frames=json.dumps([]), failed_frames=json.dumps([]),
                  show="demo", seq="seq010", shot="sh010", task="comp", version=3, planned_at=1,
                  generated_timestamp="2026-12-02T09:00:00+00:00", tracker_status="pending")
    assert db.write_clips([row], []) == 1
    instance.add_dynamic_partitions(PARTITION.sequences, [pattern])
    settings = Settings(catalog=CatalogSettings(sqlite_path=str(tmp_path / "catalog.db")),
                        trackers=TrackerSettings(tracker="kitsu", tracker_retry_seconds=30))
    return settings, storage, catalog, row


def _publish(settings, storage, catalog, instance, pattern, trigger="tracker-due"):
    import dagster as dg

    from proxygen_dagster.names import TAG
    from proxygen_dagster.trackers.assets import build_tracker_publish

    return dg.materialize([build_tracker_publish(settings)], partition_key=pattern, instance=instance,
                          resources={"storage": storage, "catalog": catalog}, tags={TAG.trigger: trigger},
                          raise_on_error=False)


def test_the_sensor_requests_each_due_clip_once_per_attempt_and_the_asset_publishes_it(published_world, instance):
    from proxygen_dagster.trackers.sensors import publish_requests

    settings, storage, catalog, row = published_world
    [request] = publish_requests(catalog)
    assert (request.run_key, request.partition_key, request.job_name) == (
        f"publish-{row.clip_id}-1-0", row.sequence, "proxygen_publish")
    assert [r.run_key for r in publish_requests(catalog)] == [request.run_key]  # the same key until it runs
    result = _publish(settings, storage, catalog, instance, row.sequence)
    assert result.success
    [mat] = result.asset_materializations_for_node("tracker_publish")
    assert mat.metadata["tracker_url"].url == "http://kitsu/rev-1" and mat.metadata["created"].value is True
    assert checks(result)["tracker_revision"].passed
    stored = catalog.open().clip(row.clip_id)
    assert (stored.tracker_status, stored.tracker_revision) == ("published", "rev-1")
    assert publish_requests(catalog) == []
    # a rebuild's row starts pending with no attempts: its publish is a run of its own, never one already used
    rebuilt = catalog.open().clip(row.clip_id).but(planned_at=5, tracker_status="pending", tracker_attempts=None)
    assert catalog.open().write_clips([rebuilt], []) == 1
    assert [r.run_key for r in publish_requests(catalog)] == [f"publish-{row.clip_id}-5-0"]
    # a materialization from the UI (or a backfill) re-publishes: the same revision, updated
    again = _publish(settings, storage, catalog, instance, row.sequence, trigger="manual")
    assert again.success and len(tracker_memory.CURRENT.revisions) == 1
    # publish: look up, create; the check looks up again; the re-publish: look up, update; its check
    assert tracker_memory.CURRENT.calls == ["find", "create", "find", "find", "update", "find"]
    assert tracker_memory.CURRENT.revisions[("demo", "sh010", "comp", 3)]["movie"] == b"the movie"


def test_a_tracker_that_is_down_is_a_warned_retry_not_a_failed_partition(published_world, instance):
    from proxygen_dagster.trackers.sensors import publish_requests

    settings, storage, catalog, row = published_world
    tracker_memory.CURRENT.down = True
    result = _publish(settings, storage, catalog, instance, row.sequence)
    assert result.success  # pending is a retry: the partition is not red
    assert [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"] == []
    [mat] = result.asset_materializations_for_node("tracker_publish")
    assert mat.metadata["tracker_status"].value == "pending"
    assert "kitsu: connection refused" in mat.metadata["error"].value and mat.metadata["retry_at"].value
    check = checks(result)["tracker_revision"]
    assert not check.passed and check.severity.value == "WARN"
    stored = catalog.open().clip(row.clip_id)
    assert (stored.tracker_status, stored.tracker_attempts, stored.tracker_claim) == ("pending", 1, None)
    assert publish_requests(catalog) == []  # backing off
    later = datetime.now(UTC) + timedelta(seconds=31)
    assert [r.run_key for r in publish_requests(catalog, later)] == [f"publish-{row.clip_id}-1-1"]


def test_a_materialization_from_the_ui_never_publishes_beside_the_sensors_run(published_world, instance):
    settings, storage, catalog, row = published_world
    db = catalog.open()
    until = (datetime.now(UTC) + timedelta(minutes=15)).replace(microsecond=0).isoformat()
    assert db.update_tracker(row.clip_id, row.planned_at, {"tracker_claim": "sensor-run", "tracker_retry_at": until,
                                                           "tracker_attempts": 1},
                             claim_at=datetime.now(UTC).replace(microsecond=0).isoformat())
    result = _publish(settings, storage, catalog, instance, row.sequence, trigger="manual")
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "another publisher holds this clip's publish" in failure.event_specific_data.error.message
    assert tracker_memory.CURRENT.calls == [] and db.clip(row.clip_id).tracker_claim == "sensor-run"


def test_a_refusal_fails_the_run_with_its_cause(published_world, instance):
    settings, storage, catalog, row = published_world
    tracker_memory.CURRENT.refuse = "no task type 'comp' in project demo"
    result = _publish(settings, storage, catalog, instance, row.sequence)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "publish failed: kitsu: no task type 'comp'" in failure.event_specific_data.error.message
    assert catalog.open().clip(row.clip_id).tracker_status == "failed"


def test_the_daily_review_is_the_trackers_playlist_and_a_tracker_down_fails_only_its_check(published_world,
                                                                                           instance):
    import dagster as dg

    from proxygen_dagster.dailies.assets import build_daily_review
    from proxygen_dagster.names import PARTITION

    from .tracker_helpers import media_dir

    settings, storage, catalog, row = published_world
    store = storage.store()
    store.upload_file(media_dir() / "sh010_comp_v003.mp4", row.clip_s3_key)  # a real movie for the playlist
    store.upload_file(media_dir() / "sh010_comp_v003.jpg", row.poster_s3_key)
    today = datetime.now(UTC).date().isoformat()
    db = catalog.open()
    assert db.write_clips([row.but(planned_at=2, generated_timestamp=f"{today}T08:00:00+00:00",
                                   start_timecode="00:00:41:17")], []) == 1
    assert db.update_tracker(row.clip_id, 2, {"tracker_status": "published", "tracker_revision": "rev-7",
                                              "tracker_url": "http://kitsu/rev-7"})
    instance.add_dynamic_partitions(PARTITION.days, [today])

    def daily():
        return dg.materialize([build_daily_review(settings)], partition_key=today, instance=instance,
                              resources={"storage": storage, "catalog": catalog}, raise_on_error=False)

    result = daily()
    assert result.success and checks(result)["tracker_playlist"].passed
    assert tracker_memory.CURRENT.playlists == {("demo", f"dailies {today}"): ["rev-7"]}
    tracker_memory.CURRENT.down = True
    down = daily()
    assert down.success  # the review page and movie are made; only the playlist check fails, with the cause
    check = checks(down)["tracker_playlist"]
    assert not check.passed and "connection refused" in check.metadata["error"].value
