"""Records tell the truth (real SeaweedFS, real Tansu): per-partition UI status for every asset, one row
per source, event ids from content, no silent overwrite, bounded cache, durable broker, S3 outage healed."""
from __future__ import annotations

import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path

from proxygen_core.catalog import SQLiteCatalog
from proxygen_core.pipeline.chain import RECORD
from proxygen_core.store.keys import MAX_KEY_BYTES, file_id, key_digest
from proxygen_dagster.names import JOB, PARTITION, TAG, TRIGGER

from .formats import chart_exr, chart_tif
from .kafka_helpers import consume_events
from .test_dagster_pipeline import ASSETS, materialized, partition_status
from .test_events_pipeline import resources, run


def _owner(store, key):
    return store.head_metadata(key).get("source-key-sha256")


def test_truth_under_collisions_odd_keys_reuploads_and_backfill(dagster_defs, instance, bucket_store, tansu, tmp_path,
                                                                 s3_env):
    import hashlib

    bootstrap = f"127.0.0.1:{tansu.ports['kafka']}"
    topic = f"truth-{uuid.uuid4().hex[:6]}"
    db = tmp_path / "catalog.db"
    res = resources(dagster_defs, db, bootstrap, topic)
    prefix = f"truth/{uuid.uuid4().hex[:6]}"
    # ~1010 bytes in all, in folders of 200 (SeaweedFS, like most file systems, limits one name to 255 bytes)
    folders = "/".join(["d" * 200] * 4)
    long_name = f"{folders}/" + "x" * (1010 - len(prefix) - 1 - len(folders) - 1 - len(".0001.exr")) + ".0001.exr"
    names = ["a.0001.exr", "a.0002.exr", "frame.0001.exr", "frame.0001.tif", long_name]
    keys = []
    for name in names:
        key = f"{prefix}/{name}"
        local = (chart_tif(tmp_path / "f.tif") if name.endswith(".tif")
                 else chart_exr(tmp_path / f"{uuid.uuid4().hex}.exr"))
        bucket_store.upload_file(local, key)
        keys.append(key)
    corrupt = f"{prefix}/a.0003.exr"
    bucket_store.put_bytes(corrupt, b"not an exr at all")
    keys.insert(2, corrupt)
    assert len(keys[-1].encode()) == 1010
    good = [k for k in keys if k != corrupt]

    first = run(dagster_defs, res, instance, keys)
    assert not first.success
    status = partition_status(instance, keys)
    for asset in ASSETS:
        assert status[asset] == {**{k: "MATERIALIZED" for k in good}, corrupt: "FAILED"}, (asset, status[asset])
    assert materialized(first, RECORD) == sorted(good)

    catalog = SQLiteCatalog(db)
    rows = {r.s3_key: r for r in catalog.rows(limit=100)}
    assert set(rows) == set(keys) and len(catalog.rows(limit=100)) == len(keys)
    bad = rows[corrupt]
    assert bad.status == "failed" and bad.thumbnail_s3_key is None and bad.proxy_s3_key is None
    assert bad.file_id == file_id(corrupt, bucket_store.head(corrupt).last_modified)
    assert bad.failed_step == "source_frame" and bad.error.startswith("UnreadableSourceError at source_frame: ")
    assert len(bad.error.split(": ", 1)[1]) <= 300  # the cause is cut at 300 characters; type and stage lead
    # Same stem, two sources: each row points at media made from its own source.
    exr, tif = rows[f"{prefix}/frame.0001.exr"], rows[f"{prefix}/frame.0001.tif"]
    assert exr.thumbnail_s3_key == f"{prefix}/.proxies/frame.0001_thumb.jpg"
    assert tif.thumbnail_s3_key == f"{prefix}/.proxies/frame.0001.tif_thumb.jpg"
    for key in good:
        row = rows[key]
        for out in (row.thumbnail_s3_key, row.proxy_s3_key):
            assert len(out.encode()) <= MAX_KEY_BYTES
            meta = bucket_store.head_metadata(out)
            assert meta["source-key-sha256"] == hashlib.sha256(key.encode()).hexdigest()
            assert meta["source-etag"] == row.etag
            assert bucket_store.head(out).size == (row.thumbnail_size_bytes if out.endswith(".jpg")
                                                   else row.proxy_size_bytes)
        if len(key.encode()) < 1000:
            assert urllib.parse.unquote(bucket_store.head_metadata(row.proxy_s3_key)["source-key"]) == key
    assert key_digest(keys[-1], 16) in rows[keys[-1]].proxy_s3_key  # shortened, not refused
    events_before = {e.event_id for e in catalog.events(100)}
    assert events_before == {r.event_id for r in rows.values()} and len(events_before) == len(keys)

    # Re-upload identical bytes (same etag, new LastModified) and new bytes for another key.
    same, changed = keys[0], keys[1]
    time.sleep(1.1)  # a new LastModified second
    bucket_store.client.copy_object(Bucket=bucket_store.bucket, Key=same, MetadataDirective="REPLACE",
                                    CopySource={"Bucket": bucket_store.bucket, "Key": same})
    bucket_store.upload_file(chart_exr(tmp_path / "changed.exr", value=0.25), changed)
    # ... then a backfill of everything.
    again = run(dagster_defs, res, instance, keys)
    assert not again.success  # the corrupt frame is still corrupt
    status = partition_status(instance, keys)
    for asset in ASSETS:
        assert status[asset] == {**{k: "MATERIALIZED" for k in good}, corrupt: "FAILED"}, (asset, status[asset])
    after = {r.s3_key: r for r in catalog.rows(limit=100)}
    assert len(catalog.rows(limit=100)) == len(keys)  # still exactly one row per source
    assert after[same].event_id == rows[same].event_id  # unchanged content, same event
    assert after[same].file_id != rows[same].file_id  # file_id follows the new mtime (exr-inspector)
    assert after[changed].etag != rows[changed].etag and after[changed].event_id != rows[changed].event_id
    new_events = {e.event_id for e in catalog.events(100)} - events_before
    assert new_events == {after[changed].event_id}
    assert after[changed].proxy_size_bytes == bucket_store.head(after[changed].proxy_s3_key).size
    assert {h.s3_key for h in catalog.history(100)} >= {changed}
    published = consume_events(bootstrap, topic, expected=len(keys) + 1)
    assert Counter(e["event_id"] for e in published) == Counter(events_before | new_events)
    # The local source cache holds in-flight keys only: nothing but the living process's lock is left once the
    # chains are done.
    from proxygen_core.store.cache import LOCK_NAME

    cache = Path(s3_env["PROXYGEN_CACHE_DIR"])
    assert [p for p in cache.rglob("*") if p.is_file() and p.name != LOCK_NAME] == []


def test_durable_broker_keeps_events_across_a_restart(dagster_defs, instance, bucket_store, tmp_path, s3_env):
    from proxygen_core.services.tansu import S3Storage, start_tansu
    from proxygen_core.store.s3 import ObjectStore

    kafka_bucket = f"kafka-{uuid.uuid4().hex[:6]}"
    ObjectStore(bucket_store.client, kafka_bucket).ensure_bucket()
    storage = S3Storage(s3_env["PROXYGEN_S3_ENDPOINT_URL"], kafka_bucket, s3_env["AWS_ACCESS_KEY_ID"],
                        s3_env["AWS_SECRET_ACCESS_KEY"])
    broker = start_tansu(tmp_path / "tansu", storage=storage)
    bootstrap = f"127.0.0.1:{broker.ports['kafka']}"
    topic = "spaceharbor.proxy"
    try:
        res = resources(dagster_defs, tmp_path / "c.db", bootstrap, topic)
        from .test_dagster_pipeline import _upload

        keys = _upload(bucket_store, tmp_path, f"durable/{uuid.uuid4().hex[:6]}", ["d.0001.exr", "d.0002.exr"])
        assert run(dagster_defs, res, instance, keys).success
        assert SQLiteCatalog(tmp_path / "c.db").pending_events() == []
        broker.stop()
        broker = broker.start_again()
        events = consume_events(bootstrap, topic, expected=2)
    finally:
        broker.stop()
    assert sorted(e["body"]["source_uri"].split("/", 3)[3] for e in events) == sorted(keys)


def test_s3_outage_mid_batch_heals_without_a_person(dagster_defs, instance, tmp_path):
    """SeaweedFS is stopped while a batch runs and started again ~6 s later: every frame ends with one
    ok row, by the step's own retries."""
    import threading

    from dagster_aws.s3 import S3Resource

    from proxygen_core.services.seaweedfs import start_seaweedfs
    from proxygen_dagster.resources import MediaStorage

    from .conftest import S3_ACCESS, S3_SECRET
    from .test_dagster_pipeline import _upload

    weed = start_seaweedfs(tmp_path / "weed", S3_ACCESS, S3_SECRET)
    try:
        endpoint = f"http://127.0.0.1:{weed.ports['s3.port']}"
        s3 = S3Resource(endpoint_url=endpoint, aws_access_key_id=S3_ACCESS, aws_secret_access_key=S3_SECRET,
                        region_name="us-east-1", max_attempts=2)
        storage = MediaStorage(s3=s3, bucket="outage", cache_dir=str(tmp_path / "cache"))
        store = storage.store().wait_ready(30)
        keys = _upload(store, tmp_path, "shot", [f"o.{i:04d}.exr" for i in range(1, 6)])
        res = resources(dagster_defs, tmp_path / "c.db", None, "t")
        res["storage"] = storage
        holder = {"weed": weed}

        def outage() -> None:
            first = "shot/.proxies/o.0001_proxy.mp4"
            limit = time.monotonic() + 60
            while time.monotonic() < limit and not store.exists(first):
                time.sleep(0.05)
            holder["weed"].stop()
            time.sleep(6)
            holder["weed"] = holder["weed"].start_again()

        t = threading.Thread(target=outage)
        t.start()
        result = run(dagster_defs, res, instance, keys)
        t.join(90)
        weed = holder["weed"]
        assert result.success, [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        rows = SQLiteCatalog(tmp_path / "c.db").rows(limit=100)
        assert sorted(r.s3_key for r in rows) == sorted(keys) and {r.status for r in rows} == {"ok"}
        attempts = [e.event_specific_data.materialization.metadata["attempts"].value for e in result.all_events
                    if e.event_type_value == "ASSET_MATERIALIZATION"
                    and e.event_specific_data.materialization.asset_key.to_user_string() == RECORD]
        retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert max(attempts) > 1 or retried, attempts  # healed by the step's own retries, not by a person
    finally:
        weed.stop()


def test_a_step_retried_for_storage_fetches_only_the_key_that_hit_it(s3_env, instance, bucket_store, tmp_path,
                                                                     monkeypatch):
    """One key's upload hits a transient storage failure: the step is retried; the corrupt key and the good
    key of the same batch are not fetched again (their versions already finished), only the flaky one is."""
    import dataclasses
    from collections import Counter

    from proxygen_core.errors import StorageError
    from proxygen_core.pipeline import stages
    from proxygen_core.settings import load_settings
    from proxygen_core.store.s3 import ObjectStore
    from proxygen_dagster.definitions import build_definitions

    base = load_settings()
    settings = dataclasses.replace(base, pipeline=dataclasses.replace(
        base.pipeline, transient_retry_seconds=0, step_retries=2, step_retry_wait_seconds=0))
    prefix = f"retry/{uuid.uuid4().hex[:6]}"
    good, flaky = (f"{prefix}/{n}" for n in ("a.exr", "b.exr"))
    corrupt = f"{prefix}/c.exr"
    for key in (good, flaky):
        bucket_store.upload_file(chart_exr(tmp_path / key.rsplit("/", 1)[1]), key)
    bucket_store.put_bytes(corrupt, b"not an exr")
    fetched: Counter = Counter()
    fetch, publish = ObjectStore.fetch, stages.publish
    failed_once: list[str] = []

    def counting_fetch(self, info):  # downloads, not cache hits (a chain's stages share one download)
        if not self.cache_path(info).exists():
            fetched.update([info.key])
        return fetch(self, info)

    monkeypatch.setattr(ObjectStore, "fetch", counting_fetch)

    def flaky_publish(store, kind, key, *args, **kwargs):
        if kind == "proxy" and key.startswith(f"{prefix}/.proxies/b") and not failed_once:
            failed_once.append(key)
            raise StorageError(store.uri(key), "upload failed: SlowDown", transient=True)
        return publish(store, kind, key, *args, **kwargs)

    monkeypatch.setattr(stages, "publish", flaky_publish)
    defs = build_definitions(settings)
    keys = [good, flaky, corrupt]
    instance.add_dynamic_partitions(PARTITION.frames, keys)
    run = defs.resolve_job_def(JOB.frames).execute_in_process(
        instance=instance, tags={TAG.range_start: good,
                                 TAG.range_end: corrupt}, raise_on_error=False)
    assert failed_once and not run.success  # the corrupt key still fails the run, after the retry
    assert [e.event_type_value for e in run.all_events].count("STEP_RESTARTED") == 1
    assert fetched == Counter({good: 1, corrupt: 1, flaky: 2})  # without reuse: 2, 2, 2
    status = partition_status(instance, keys)
    assert status[RECORD] == {good: "MATERIALIZED", flaky: "MATERIALIZED", corrupt: "FAILED"}
    assert status["source_frame"][corrupt] == "FAILED" and status["source_frame"][flaky] == "MATERIALIZED"


def test_a_follow_up_run_never_renders_a_finished_key_again(dagster_defs, instance, bucket_store, tmp_path,
                                                            monkeypatch):
    """A run the follow_upstream sensor asks for may meet a key whose batch already finished it (ok or
    corrupt): the run takes it from its state, downloading nothing; a person's own run renders it."""
    from collections import Counter

    from proxygen_core.store.s3 import ObjectStore

    from .test_dagster_pipeline import _upload, run_keys

    prefix = f"auto/{uuid.uuid4().hex[:6]}"
    keys = _upload(bucket_store, tmp_path, prefix, ["ok.0001.exr"], bad=["bad.0001.exr"])
    assert not run_keys(dagster_defs, instance, keys).success  # the corrupt one fails, the other is recorded
    downloads: Counter = Counter()
    fetch = ObjectStore.fetch

    def counting_fetch(self, info):
        if not self.cache_path(info).exists():
            downloads.update([info.key])
        return fetch(self, info)

    monkeypatch.setattr(ObjectStore, "fetch", counting_fetch)
    job = dagster_defs.resolve_job_def(JOB.frames)
    for key in keys:
        job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False,
                               tags={TAG.trigger: TRIGGER.follow_upstream})
    assert downloads == Counter()
    assert job.execute_in_process(instance=instance, partition_key=keys[0]).success  # by hand: rendered
    assert downloads == Counter({keys[0]: 1})
