"""The Dagster pipeline against a real SeaweedFS: sensor, batches, IO managers, checks, failures."""
from __future__ import annotations

import uuid

from proxygen_core.pipeline.chain import PROXY, RECORD, SOURCE, THUMBNAIL, WORKING
from proxygen_dagster.names import JOB, PARTITION, SENSOR, TAG, TRIGGER

from .formats import chart_exr

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def _upload(store, tmp_path, prefix, names, bad=()):
    keys = []
    for name in names:
        key = f"{prefix}/{name}"
        store.upload_file(chart_exr(tmp_path / name.replace("/", "_")), key)
        keys.append(key)
    for name in bad:
        key = f"{prefix}/{name}"
        store.put_bytes(key, b"definitely not an image")
        keys.append(key)
    return keys


def own_bucket(bucket_store, s3_env, name: str):
    """A new, empty bucket on the suite's SeaweedFS and the storage resource over it (sensor tests sweep a
    whole bucket, so they get one of their own)."""
    from dagster_aws.s3 import S3Resource

    from proxygen_dagster.resources import MediaStorage

    bucket = f"{name}-{uuid.uuid4().hex[:8]}"
    bucket_store.client.create_bucket(Bucket=bucket)
    s3 = S3Resource(endpoint_url=s3_env["PROXYGEN_S3_ENDPOINT_URL"], aws_access_key_id=s3_env["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=s3_env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    return MediaStorage(s3=s3, bucket=bucket, cache_dir=s3_env["PROXYGEN_CACHE_DIR"])


def sensor_resources(storage, tmp_path) -> dict:
    """What the polling sensor needs: the bucket, and a catalog of the test's own for the skipped rows (events
    wait in its outbox: no broker)."""
    from proxygen_dagster.resources import CatalogResource, EventBus

    return {"storage": storage, "catalog": CatalogResource(sqlite_path=str(tmp_path / "sensor-catalog.db")),
            "events": EventBus()}


def run_keys(defs, instance, keys):
    known = set(instance.get_dynamic_partitions(PARTITION.frames))
    instance.add_dynamic_partitions(PARTITION.frames, [k for k in keys if k not in known])
    from dagster import AssetKey

    job = defs.resolve_job_def(JOB.frames)
    # the asset selection every sensor request carries (sensors.frame_assets)
    selection = [AssetKey(a) for a in ASSETS]
    if len(keys) == 1:
        return job.execute_in_process(instance=instance, partition_key=keys[0], raise_on_error=False,
                                      asset_selection=selection)
    return job.execute_in_process(instance=instance, tags={TAG.range_start: keys[0], TAG.range_end: keys[-1]},
                                  raise_on_error=False, asset_selection=selection)


ASSETS = (SOURCE, WORKING, THUMBNAIL, PROXY, RECORD)


def materialized(result, asset):
    return sorted(e.event_specific_data.materialization.partition for e in result.all_events
                  if e.event_type_value == "ASSET_MATERIALIZATION"
                  and e.event_specific_data.materialization.asset_key.to_user_string() == asset)


def partition_status(instance, keys):
    """What the UI shows: the instance's per-partition status of every frame asset."""
    from dagster import AssetKey

    from proxygen_dagster.partitions import frames

    out = {}
    for asset in ASSETS:
        status = instance.get_status_by_partition(AssetKey(asset), keys, frames) or {}
        out[asset] = {k: (status.get(k).value if status.get(k) else None) for k in keys}
    return out


def checks(result):
    return {e.event_specific_data.check_name: e.event_specific_data for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_batch_with_a_corrupt_frame_fails_only_that_frame(dagster_defs, instance, bucket_store, tmp_path):
    prefix = f"renders/{uuid.uuid4().hex[:6]}/shot 010/ünïcode"
    keys = _upload(bucket_store, tmp_path, prefix, ["beauty.1001.exr", "beauty.1002.exr", "beauty.1003.exr"],
                   bad=["beauty.1004.exr"])
    result = run_keys(dagster_defs, instance, keys)
    assert not result.success
    good, bad = keys[:3], keys[3]
    assert materialized(result, RECORD) == sorted(good)
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [f.step_key for f in failures] == ["frame_chain"]
    message = failures[0].event_specific_data.error.message
    assert bad in message and "UnreadableSourceError" in message and "not an OpenEXR file" in message
    # The UI's truth: the bad key failed at every stage (it broke at the first), the good ones are
    # materialized at every stage, each with its own metadata.
    status = partition_status(instance, keys)
    for asset in ASSETS:
        assert status[asset] == {**{k: "MATERIALIZED" for k in good}, bad: "FAILED"}, (asset, status[asset])
    from dagster import AssetKey, AssetRecordsFilter

    for key in good:
        # What the key's own thumbnail partition page shows (the instance's record for that partition).
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("thumbnail"), asset_partitions=[key]), limit=1).records
        md = records[0].asset_materialization.metadata
        stem = key.rsplit("/", 1)[1][:-4]
        assert md["uri"].value == f"s3://{bucket_store.bucket}/{prefix}/.proxies/{stem}_thumb.jpg"
        assert md["thumbnail"].value.startswith("![thumbnail](data:image/jpeg;base64,")
        assert md["resolution"].value == "256x144"
    for key in good:
        stem = key.rsplit("/", 1)[1][:-4]
        thumb, proxy = f"{prefix}/.proxies/{stem}_thumb.jpg", f"{prefix}/.proxies/{stem}_proxy.mp4"
        assert bucket_store.head(thumb).size > 0 and bucket_store.head(proxy).size > 0
        head = bucket_store.client.head_object(Bucket=bucket_store.bucket, Key=thumb)
        assert head["ContentType"] == "image/jpeg"
        assert bucket_store.client.head_object(Bucket=bucket_store.bucket, Key=proxy)["ContentType"] == "video/mp4"
        tags = bucket_store.tags(proxy)
        assert tags["media_type"] == "proxy" and tags["generator"] == "proxygen" and tags["version"]
        assert bucket_store.tags(thumb)["media_type"] == "thumbnail"
    stem = bad.rsplit("/", 1)[1][:-4]
    assert not bucket_store.exists(f"{prefix}/.proxies/{stem}_proxy.mp4")
    # Each failed partition page says why (its latest event), not only that the run failed.
    for asset in ASSETS:
        observed = instance.fetch_observations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[bad]), limit=1).records
        meta = observed[0].event_log_entry.asset_observation.metadata
        assert meta["status"].value == "failed" and meta["failed_step"].value == "source_frame", asset
        assert meta["error_kind"].value == "unreadable" and "UnreadableSourceError" in meta["error"].value, asset
    evaluated = checks(result)
    assert evaluated["playable_rec709"].passed and evaluated["fits_box_with_aspect"].passed
    assert evaluated["outputs_in_s3"].passed and evaluated["finite_pixels"].passed

    # The bad key, once fixed, is retried alone through the same code path.
    bucket_store.upload_file(chart_exr(tmp_path / "fixed.exr"), bad)
    retry = run_keys(dagster_defs, instance, [bad])
    assert retry.success and materialized(retry, RECORD) == [bad]
    assert bucket_store.exists(f"{prefix}/.proxies/{stem}_proxy.mp4")


def test_rerun_is_idempotent(dagster_defs, instance, bucket_store, tmp_path):
    prefix = f"renders/{uuid.uuid4().hex[:6]}/deep/a/b/c"
    keys = _upload(bucket_store, tmp_path, prefix, ["plate.0001.exr", "plate.0002.exr"])
    first = run_keys(dagster_defs, instance, keys)
    assert first.success
    before = {o.key: o.size for o in bucket_store.iter_objects(prefix)}
    second = run_keys(dagster_defs, instance, keys)
    assert second.success
    after = {o.key: o.size for o in bucket_store.iter_objects(prefix)}
    assert before == after and len(after) == 2 + 4
    assert materialized(second, RECORD) == sorted(keys)


def test_black_frame_fails_the_exposure_check(dagster_defs, instance, bucket_store, tmp_path):
    prefix = f"renders/{uuid.uuid4().hex[:6]}"
    key = f"{prefix}/black.0001.exr"
    bucket_store.upload_file(chart_exr(tmp_path / "black.exr", value=0.0), key)
    result = run_keys(dagster_defs, instance, [key])
    evaluated = checks(result)
    exposure = evaluated["exposure"]
    assert not exposure.passed
    assert exposure.metadata["fractions"].value[key]["black_fraction"] == 1.0
    assert evaluated["fits_box_with_aspect"].passed  # the other checks still pass
    # A warning, not a blocker: the record is written.
    assert materialized(result, RECORD) == [key]


def test_sensor_adds_exactly_the_new_keys(dagster_defs, instance, bucket_store, tmp_path, s3_env):
    import dataclasses

    from dagster import RunRequest, SensorResult, SkipReason, build_sensor_context

    from proxygen_core.settings import load_settings
    from proxygen_dagster.frames.sensors import build_frame_sensors
    from proxygen_dagster.jobs import build_jobs

    storage = own_bucket(bucket_store, s3_env, "sensor")
    store = storage.store()
    names = ["shot/a.0001.exr", "shot/a.0002.exr", "shot/a.0003.exr", "shot/a.0004.exr", "shot/a.0005.exr",
             "other shot/ü.0001.exr"]
    for n in names:
        store.upload_file(chart_exr(tmp_path / n.replace("/", "_")), n)
    store.put_bytes("shot/.proxies/a.0001_thumb.jpg", b"x")
    store.put_bytes("shot/.proxies/a.0001_proxy.exr", b"x")
    store.put_bytes("shot/notes.txt", b"x")

    sensor = {}

    def tick(cursor):
        with build_sensor_context(instance=instance, cursor=cursor,
                                  resources=sensor_resources(storage, tmp_path)) as ctx:
            return sensor[SENSOR.s3_new_frames](ctx), ctx

    def settle(seconds: float) -> None:
        # The sensors as a deployment with this settle time builds them: settings passed in, no global patched.
        settings = load_settings()
        settings = dataclasses.replace(settings, pipeline=dataclasses.replace(settings.pipeline,
                                                                              batch_settle_seconds=seconds))
        sensor.update({s.name: s for s in build_frame_sensors(settings, build_jobs(settings))})

    settle(600)  # the suite runs with 0 (cut every tick); here the burst is held
    result, ctx = tick(None)
    assert isinstance(result, SensorResult)
    added = list(result.dynamic_partitions_requests[0].partition_keys)
    ranged = [r for r in result.run_requests if isinstance(r, RunRequest)]
    # Batch size 4: a full batch runs at once; the burst's remainder (2) is held until it settles.
    assert [int(r.tags[TAG.keys]) for r in ranged] == [4] and len(added) == 4
    assert ranged[0].tags[TAG.range_start] == added[0]
    assert ranged[0].tags[TAG.range_end] == added[3]
    instance.add_dynamic_partitions(PARTITION.frames, added)

    held, ctx = tick(result.cursor)
    assert isinstance(held, SkipReason) and "2 new keys held" in held.skip_message
    settle(0)
    settled, _ = tick(ctx.cursor)  # settled: the remainder runs, nothing found twice
    rest = list(settled.dynamic_partitions_requests[0].partition_keys)
    assert sorted(added + rest) == sorted(names) and len(settled.run_requests) == 1
    assert settled.run_requests[0].tags[TAG.keys] == "2"
    instance.add_dynamic_partitions(PARTITION.frames, rest)
    result = settled

    again, ctx = tick(result.cursor)
    assert isinstance(again, SkipReason) and again.skip_message == "no new objects"

    store.upload_file(chart_exr(tmp_path / "new.exr", value=0.3), "shot/a.0002.exr")  # re-upload: new etag
    store.upload_file(chart_exr(tmp_path / "new2.exr"), "shot/a.0006.exr")
    third, _ = tick(ctx.cursor)
    assert isinstance(third, SensorResult)
    assert third.dynamic_partitions_requests[0].partition_keys == ["shot/a.0006.exr"]
    reupload = [r for r in third.run_requests if r.partition_key == "shot/a.0002.exr"]
    assert len(reupload) == 1 and reupload[0].tags[TAG.trigger] == TRIGGER.reupload(TRIGGER.s3poll)


def test_the_polling_sensor_records_each_ignored_object_once(instance, bucket_store, s3_env, tmp_path):
    """A .psd, a grade sidecar and an extensionless frame get one skipped row and event each, counted on the tick
    that recorded them; later ticks say nothing about them; a re-upload (new etag) is recorded and counted again."""
    from dagster import SensorResult, SkipReason, build_sensor_context

    from proxygen_core.catalog import SQLiteCatalog
    from proxygen_core.settings import load_settings
    from proxygen_dagster.frames.sensors import build_frame_sensors
    from proxygen_dagster.jobs import build_jobs

    storage = own_bucket(bucket_store, s3_env, "skips")
    store = storage.store()
    store.upload_file(chart_exr(tmp_path / "a.exr"), "sh010/a.0001.exr")
    store.put_bytes("sh010/matte.psd", b"8BPS")
    store.put_bytes("sh010/sh010.cdl", b"<ColorDecisionList/>")
    store.put_bytes("sh010/plate_1001", b"raw")
    store.put_bytes("sh010/.proxies/a.0001_thumb.jpg", b"x")
    settings = load_settings()
    sensor = next(s for s in build_frame_sensors(settings, build_jobs(settings)) if s.name == SENSOR.s3_new_frames)
    res = sensor_resources(storage, tmp_path)
    catalog = SQLiteCatalog(tmp_path / "sensor-catalog.db")

    def tick(cursor):
        with build_sensor_context(instance=instance, cursor=cursor, resources=res) as ctx:
            return sensor(ctx), ctx

    first, ctx = tick(None)
    assert isinstance(first, SensorResult)  # the frame runs; the ignored objects are recorded beside it
    assert list(first.dynamic_partitions_requests[0].partition_keys) == ["sh010/a.0001.exr"]
    instance.add_dynamic_partitions(PARTITION.frames, ["sh010/a.0001.exr"])
    rows = {r.s3_key: r for r in catalog.rows(status="skipped")}
    assert {k: r.error for k, r in rows.items()} == {
        "sh010/matte.psd": "unknown input: extension .psd", "sh010/sh010.cdl": "grade sidecar: no grade stage yet",
        "sh010/plate_1001": "unknown input: no extension"}
    assert rows["sh010/matte.psd"].etag == store.head("sh010/matte.psd").etag
    assert rows["sh010/matte.psd"].source_size_bytes == 4 and rows["sh010/matte.psd"].s3_bucket == storage.bucket
    assert sorted(e.body["type"] for e in catalog.events()) == ["proxy.skipped"] * 3
    second, ctx = tick(first.cursor)
    assert isinstance(second, SkipReason) and second.skip_message == "no new objects"  # said once, not every tick
    third, ctx = tick(ctx.cursor)
    assert isinstance(third, SkipReason) and third.skip_message == "no new objects"
    assert catalog.count("rows", "skipped") == 3 and catalog.count("events") == 3
    # A lost cursor sweeps everything again: the frame is found again, but the catalog knows the skips.
    lost, _ = tick(None)
    assert catalog.count("rows", "skipped") == 3 and catalog.count("events") == 3
    assert not isinstance(lost, SkipReason) or "skipped" not in lost.skip_message
    store.put_bytes("sh010/matte.psd", b"8BPS v2")  # a new version: recorded and counted again
    fourth, _ = tick(ctx.cursor)
    assert isinstance(fourth, SkipReason)
    assert fourth.skip_message == "no new objects; 1 skipped (1 unknown input: extension .psd)"
    assert catalog.count("rows", "skipped") == 3 and catalog.count("events") == 4
    assert [h.s3_key for h in catalog.history()] == ["sh010/matte.psd"]


def test_a_key_that_failed_for_its_content_is_not_requested_again_until_it_changes(dagster_defs, instance,
                                                                                   bucket_store, tmp_path):
    from dagster import build_sensor_context

    from proxygen_core.events.batching import Held
    from proxygen_core.settings import Settings
    from proxygen_dagster.frames import sensors

    prefix = f"notretried/{uuid.uuid4().hex[:6]}"
    key = _upload(bucket_store, tmp_path, prefix, [], bad=["plate.0001.exr"])[0]
    assert not run_keys(dagster_defs, instance, [key]).success  # failed for its content: state says so

    def plan() -> list:
        with build_sensor_context(instance=instance) as ctx:
            return sensors.plan_runs(ctx, bucket_store, {key: bucket_store.head(key).etag}, Held(), TRIGGER.s3poll,
                                     Settings())[0]

    assert plan() == [] and plan() == []  # seen again on later ticks: never requested again
    bucket_store.upload_file(chart_exr(tmp_path / "fixed.exr"), key)  # a new version: requested once
    again = plan()
    assert [(r.partition_key, r.tags[TAG.trigger]) for r in again] == [(key, TRIGGER.reupload(TRIGGER.s3poll))]


def test_a_held_key_added_meanwhile_runs_alone_not_inside_a_range(dagster_defs, instance, bucket_store):
    """A key held for its burst that another sensor (or a user) made a partition in between cannot sit in
    a range of partitions added together: the rest of the batch is one ranged run, it runs on its own."""
    from dagster import build_sensor_context

    from proxygen_core.events.batching import Held
    from proxygen_core.settings import Settings
    from proxygen_dagster.frames import sensors

    prefix = f"held/{uuid.uuid4().hex[:6]}"
    a, b, c = (f"{prefix}/f.{i:04d}.exr" for i in (1, 2, 3))
    held = Held({a: ["e1", 0.0], b: ["e1", 0.0], c: ["e1", 0.0]}, 0.0)  # settled long ago
    instance.add_dynamic_partitions(PARTITION.frames, [b])
    with build_sensor_context(instance=instance) as ctx:
        requests, to_add, held = sensors.plan_runs(ctx, bucket_store, {}, held, TRIGGER.s3poll, Settings())
    assert to_add == [a, c] and held == Held()
    ranged = [r for r in requests if r.partition_key is None]
    assert len(ranged) == 1 and ranged[0].tags[TAG.keys] == "2"
    # every request names the whole chain as its asset selection (see sensors.frame_assets)
    assert all([k.to_user_string() for k in r.asset_selection] == list(ASSETS) for r in requests)
    assert [r.partition_key for r in requests if r.partition_key] == [b]


def follow_tick(defs, instance, cursor):
    """One tick of the follow_upstream sensor, its requests resolved as the daemon resolves them:
    (requests, next cursor)."""
    from dagster import build_sensor_context
    from dagster._core.definitions.partitions.context import partition_loading_context

    sensor = defs.resolve_sensor_def(SENSOR.follow_upstream)
    with build_sensor_context(instance=instance, cursor=cursor, definitions=defs) as ctx, \
            partition_loading_context(dynamic_partitions_store=instance):
        result = sensor.evaluate_tick(ctx)
    return list(result.run_requests or []), result.cursor


def test_follow_upstream_completes_partial_materializations_only(dagster_defs, instance, bucket_store, tmp_path):
    """Nothing to request after a full-chain batch; the rest of the chain after source_frame alone, for that
    key only, as one run selecting exactly the assets below it."""
    import dagster as dg

    frame_chain = dagster_defs.get_assets_def("source_frame")
    _, cursor = follow_tick(dagster_defs, instance, None)  # first tick: starts at the newest event

    prefix = f"auto/{uuid.uuid4().hex[:6]}"
    keys = _upload(bucket_store, tmp_path, prefix, ["c.0001.exr", "c.0002.exr"])
    assert run_keys(dagster_defs, instance, keys).success
    requests, cursor = follow_tick(dagster_defs, instance, cursor)
    assert requests == []  # the batch run left nothing behind

    lone = _upload(bucket_store, tmp_path, prefix, ["c.0003.exr"])[0]
    instance.add_dynamic_partitions(PARTITION.frames, [lone])
    res = dict(dagster_defs.resources)
    assert dg.materialize([frame_chain], selection=[dg.AssetKey("source_frame")],
                          resources={k: res[k] for k in ("storage", "catalog", "events")},
                          instance=instance, partition_key=lone).success
    requests, cursor = follow_tick(dagster_defs, instance, cursor)
    assert [(r.partition_key, [k.to_user_string() for k in r.asset_selection], r.tags[TAG.trigger])
            for r in requests] == [(lone, list(ASSETS[1:]), TRIGGER.follow_upstream)]
    assert follow_tick(dagster_defs, instance, cursor)[0] == []  # asked once
    # Then the rest of the chain alone, as requested: it reuses the stored source record of this very version.
    rest = dagster_defs.resolve_job_def(JOB.frames).execute_in_process(
        instance=instance, partition_key=lone, asset_selection=requests[0].asset_selection,
        tags=requests[0].tags, raise_on_error=False)
    assert rest.success and materialized(rest, RECORD) == [lone]
    assert follow_tick(dagster_defs, instance, cursor)[0] == []


def test_start_from_now_never_requests_what_the_bucket_already_held(instance, bucket_store, s3_env, tmp_path):
    """First start against an existing bucket with PROXYGEN_START_FROM=now: the objects already there are
    never requested; an object uploaded afterwards is."""
    import dataclasses
    import time as clock

    from dagster import SensorResult, SkipReason, build_sensor_context

    from proxygen_core.settings import load_settings
    from proxygen_dagster.frames.sensors import build_frame_sensors
    from proxygen_dagster.jobs import build_jobs

    storage = own_bucket(bucket_store, s3_env, "existing")
    store = storage.store()
    for i in range(3):
        store.upload_file(chart_exr(tmp_path / f"old{i}.exr"), f"archive/plate.{i:04d}.exr")
    clock.sleep(3)  # past LastModified's 1 s resolution and the sweep's skew allowance
    settings = load_settings()
    settings = dataclasses.replace(settings, pipeline=dataclasses.replace(settings.pipeline, start_from="now"))
    sensor = next(s for s in build_frame_sensors(settings, build_jobs(settings)) if s.name == SENSOR.s3_new_frames)

    def tick(cursor):
        with build_sensor_context(instance=instance, cursor=cursor,
                                  resources=sensor_resources(storage, tmp_path)) as ctx:
            return sensor(ctx), ctx

    first, ctx = tick(None)
    assert isinstance(first, SkipReason) and first.skip_message == "no new objects"
    store.upload_file(chart_exr(tmp_path / "new.exr"), "archive/plate.0100.exr")
    second, ctx = tick(ctx.cursor)
    assert isinstance(second, SensorResult)
    assert list(second.dynamic_partitions_requests[0].partition_keys) == ["archive/plate.0100.exr"]


def test_follow_upstream_never_asks_again_for_what_a_batch_run_targeted(dagster_defs, instance, bucket_store,
                                                                      tmp_path):
    """A batch run over a range of keys, shaped as the sensors request it, leaves a key with source_frame
    materialized and the rest of its chain not (its pixels are corrupt: it fails at working_frame); the other
    key passes. Nothing may be requested again for either: the run that wrote them targeted the whole chain.
    (Issue 20: with Dagster's eager(), a run over a range counted as targeting the asset for its last key only,
    and ticks racing a batch's events asked for its keys again.) A whole-job run without a selection, as from
    the UI, targeted everything as well."""
    prefix = f"targeted/{uuid.uuid4().hex[:6]}"
    first, good = _upload(bucket_store, tmp_path, prefix, ["t.0001.exr", "t.0002.exr"])
    corrupt = f"{prefix}/t.0003.exr"
    data = bytearray(chart_exr(tmp_path / "corrupt.exr").read_bytes())
    data[len(data) // 2:] = b"\x55" * (len(data) - len(data) // 2)  # header intact, pixel chunks garbage
    bucket_store.put_bytes(corrupt, bytes(data))
    _, cursor = follow_tick(dagster_defs, instance, None)
    result = run_keys(dagster_defs, instance, [first, good, corrupt])
    assert materialized(result, "source_frame") == [first, good, corrupt]  # the corrupt key's source was read
    assert materialized(result, "working_frame") == [first, good]  # and its pixels were not
    requests, cursor = follow_tick(dagster_defs, instance, cursor)
    assert requests == [], f"asked again for keys its batch run had targeted: {requests}"
    whole_job = dagster_defs.resolve_job_def(JOB.frames).execute_in_process(
        instance=instance, partition_key=first, raise_on_error=False)
    assert whole_job.success and follow_tick(dagster_defs, instance, cursor)[0] == []
