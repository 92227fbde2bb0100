"""The cut through Dagster against SeaweedFS (issue 31's acceptance): the cut file found by the frame discovery,
built by the cut asset, rebuilt with sh010 v003 in both of its events once v003's clip lands, with no manual
step; a malformed cut fails its own partition naming the line, and the other cut is untouched."""
from __future__ import annotations

import json
import uuid

import pytest

from proxygen_dagster.names import ASSET, JOB, PARTITION, SENSOR, TAG

from .editorial_helpers import code, decode_code, ffprobe_frames, movie_codes, picture
from .test_dagster_pipeline import own_bucket
from .test_editorial import EDL, LENGTHS
from .test_events_pipeline import resources, run

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _upload_shot(store, tmp_path, show: str, shot: str, version: int, frames: range) -> list[str]:
    from proxygen_core.media.samples import CHROMATICITIES, write_exr

    keys = []
    for n in frames:
        local = tmp_path / f"{shot}_v{version}_{n}.exr"
        write_exr(local, picture(code(shot, version, n)), CHROMATICITIES["ACEScg"])
        key = f"shows/{show}/sq010/{shot}/comp/v{version:03d}/{shot}_comp_v{version:03d}.{n:04d}.exr"
        store.upload_file(local, key)
        keys.append(key)
    return keys


def test_a_cut_is_found_built_and_rebuilt_when_a_new_version_lands(dagster_defs, instance, bucket_store, s3_env,
                                                                   tmp_path):
    import dagster as dg
    from dagster import SensorResult, build_sensor_context

    from proxygen_core.catalog import SQLiteCatalog

    storage = own_bucket(bucket_store, s3_env, "cut")
    store = storage.store()
    show = f"demo{uuid.uuid4().hex[:6]}"
    db = tmp_path / "c.db"
    res = resources(dagster_defs, db, None, "t")
    res["storage"] = storage
    clip_res = {k: res[k] for k in ("storage", "catalog", "events")}

    def seq_tick(cursor):
        with build_sensor_context(instance=instance, cursor=cursor, resources={"storage": storage}) as ctx:
            return dagster_defs.get_sensor_def(SENSOR.sequence_clips)(ctx)

    def cut_tick(cursor):
        with build_sensor_context(instance=instance, cursor=cursor,
                                  resources={"storage": storage, "catalog": res["catalog"]}) as ctx:
            return dagster_defs.get_sensor_def(SENSOR.cut_conform)(ctx), ctx

    def deliver(keys: list[str], cursor):
        """Frames through the frame job, then every sequence the clip sensor requests (as the daemon would)."""
        assert run(dagster_defs, res, instance, keys).success
        result = seq_tick(cursor)
        assert isinstance(result, SensorResult)
        for add in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(PARTITION.sequences, list(add.partition_keys))
        for request in result.run_requests:
            assert dg.materialize([dagster_defs.get_assets_def(ASSET.shot_clip)], instance=instance,
                                  partition_key=request.partition_key, resources=clip_res).success
        return result.cursor

    def build(key: str):
        return dg.materialize([dagster_defs.get_assets_def(ASSET.cut)], instance=instance, partition_key=key,
                              resources=clip_res, raise_on_error=False)

    cursor = deliver(_upload_shot(store, tmp_path, show, "sh010", 1, range(1001, 1009))
                     + _upload_shot(store, tmp_path, show, "sh010", 2, range(1001, 1009))
                     + _upload_shot(store, tmp_path, show, "sh020", 1, range(993, 1013)), None)
    assert len(SQLiteCatalog(db).clips()) == 3

    # The cut lands under editorial/: the frame discovery makes it a cut partition, not a frame.
    cut_key, bad_key = f"editorial/{show}/reel1.edl", f"editorial/{show}/broken.edl"
    store.put_bytes(cut_key, EDL.encode())
    store.put_bytes(f"elsewhere/{show}/reel1.edl", EDL.encode())  # outside the prefix: a skipped object, as before
    frames_res = {"storage": storage, "catalog": res["catalog"], "events": res["events"]}
    with build_sensor_context(instance=instance, cursor=None, resources=frames_res) as ctx:
        dagster_defs.get_sensor_def(SENSOR.s3_new_frames)(ctx)
    assert instance.get_dynamic_partitions(PARTITION.cuts) == [cut_key]
    assert cut_key not in instance.get_dynamic_partitions(PARTITION.frames)
    skipped = {r.s3_key: r.error for r in SQLiteCatalog(db).rows(50, status="skipped")}
    assert skipped == {f"elsewhere/{show}/reel1.edl":
                       "editorial file outside PROXYGEN_EDITORIAL_PREFIX, or audio: not a cut"}

    first, ctx = cut_tick(None)
    assert [(r.partition_key, r.job_name) for r in first.run_requests] == [(cut_key, JOB.cuts)]
    assert build(cut_key).success
    row = SQLiteCatalog(db).cuts()[0]
    assert row.ok and row.version_map == {"sh010": 2, "sh020": 1} and row.frame_count == sum(LENGTHS)
    local = tmp_path / "cut.mp4"
    local.write_bytes(store.get_bytes(row.movie_s3_key))
    assert ffprobe_frames(local) == sum(LENGTHS)
    seen = [decode_code(c) for c in movie_codes(local)]
    assert seen[:6] == [("sh010", 2, n) for n in range(1001, 1007)] and seen[13:] == [("sh010", 2, n)
                                                                                        for n in range(1003, 1007)]
    assert seen[6:10] == [("sh020", 1, n) for n in range(1001, 1005)]
    again, ctx = cut_tick(first.cursor)
    assert not getattr(again, "run_requests", None)  # nothing changed: no second build

    # sh010 v003 renders: the clip sensor builds its clip, and the cut sensor rebuilds the cut by itself.
    deliver(_upload_shot(store, tmp_path, show, "sh010", 3, range(1001, 1009)), cursor)
    rebuilt, ctx = cut_tick(ctx.cursor)
    assert [r.partition_key for r in rebuilt.run_requests] == [cut_key]
    assert rebuilt.run_requests[0].tags[TAG.trigger] == "cut-changed"
    assert build(cut_key).success
    row3 = SQLiteCatalog(db).cuts()[0]
    assert row3.version_map == {"sh010": 3, "sh020": 1} and row3.fingerprint != row.fingerprint
    local.write_bytes(store.get_bytes(row3.movie_s3_key))
    seen = [decode_code(c) for c in movie_codes(local)]
    assert seen[:6] == [("sh010", 3, n) for n in range(1001, 1007)]
    assert seen[13:] == [("sh010", 3, n) for n in range(1003, 1007)]
    events = [e.body for e in SQLiteCatalog(db).events(500) if e.body["type"].startswith("cut.")]
    assert sorted(json.dumps(e["versions"], sort_keys=True) for e in events if e["type"] == "cut.generated") == [
        json.dumps({"sh010": 2, "sh020": 1}), json.dumps({"sh010": 3, "sh020": 1})]  # one event per build

    # A malformed cut fails its own partition naming the line; the good cut's row stays.
    lines = EDL.splitlines()
    lines[7] = "002  SH020    V     C        00:00:4X:17 00:00:41:21 01:00:00:06 01:00:00:10"
    store.put_bytes(bad_key, "\n".join(lines).encode())
    instance.add_dynamic_partitions(PARTITION.cuts, [bad_key])
    failed = build(bad_key)
    assert not failed.success
    failure = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "line 8" in str(failure.event_specific_data.error)
    rows = {r.cut_key: r for r in SQLiteCatalog(db).cuts()}
    assert rows[bad_key].status == "failed" and "line 8" in rows[bad_key].error
    assert rows[cut_key].ok and rows[cut_key].fingerprint == row3.fingerprint
    assert json.loads(rows[cut_key].versions) == {"sh010": 3, "sh020": 1}
