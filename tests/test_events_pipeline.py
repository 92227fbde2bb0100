"""Rows and events through the real pipeline, a real SeaweedFS and a real Kafka broker (Tansu)."""
from __future__ import annotations

import json
import urllib.parse
import uuid
from collections import Counter

from proxygen_core.catalog import SQLiteCatalog
from proxygen_core.events.outbox import producer_config, publish_pending
from proxygen_core.services.tansu import start_tansu
from proxygen_dagster.names import PARTITION, SENSOR, TAG

from .formats import chart_exr
from .kafka_helpers import consume_events, produce
from .test_dagster_pipeline import _upload


def resources(defs, db_path, bootstrap, topic, timeout=3.0, notifications=None):
    from proxygen_dagster.resources import CatalogResource, EventBus

    res = dict(defs.resources)
    res["catalog"] = CatalogResource(catalog_backend="sqlite", sqlite_path=str(db_path))
    res["events"] = EventBus(
        bootstrap=bootstrap, topic=topic, timeout_seconds=timeout, notifications_topic=notifications
    )
    return res


def run(defs, res, instance, keys):
    from dagster import materialize

    known = set(instance.get_dynamic_partitions(PARTITION.frames))
    instance.add_dynamic_partitions(PARTITION.frames, [k for k in keys if k not in known])
    assets = [defs.get_assets_def("source_frame")]
    kwargs = ({"partition_key": keys[0]} if len(keys) == 1
              else {"tags": {TAG.range_start: keys[0], TAG.range_end: keys[-1]}})
    return materialize(assets, resources=res, instance=instance, raise_on_error=False, **kwargs)


def test_rows_and_events_once_per_file(dagster_defs, instance, bucket_store, tansu, tmp_path):
    bootstrap = f"127.0.0.1:{tansu.ports['kafka']}"
    topic = f"proxy-{uuid.uuid4().hex[:6]}"
    db = tmp_path / "catalog.db"
    defs = dagster_defs
    res = resources(defs, db, bootstrap, topic)
    prefix = f"ev/{uuid.uuid4().hex[:6]}"
    keys = _upload(bucket_store, tmp_path, prefix, ["a.0001.exr", "a.0002.exr"], bad=["a.0003.exr"])
    first = run(defs, res, instance, keys)
    assert not first.success  # the corrupt frame fails its own partition
    catalog = SQLiteCatalog(db)
    rows = {r.s3_key: r for r in catalog.rows()}
    assert len(rows) == 3
    assert rows[keys[0]].status == "ok" and rows[keys[0]].proxy_size_bytes > 0
    from proxygen_core.store.keys import file_id, proxy_id

    for key in keys:  # exr-inspector's id of this very object version (failed rows too), and the row id
        assert rows[key].file_id == file_id(key, bucket_store.head(key).last_modified)
        assert rows[key].proxy_id == proxy_id(bucket_store.bucket, key, "review")
    assert rows[keys[2]].status == "failed" and "UnreadableSourceError" in rows[keys[2]].error
    assert catalog.pending_events() == []  # all acknowledged by the broker
    events = consume_events(bootstrap, topic, expected=3)
    by_key = {e["body"]["source_uri"].split("/", 3)[3]: e for e in events}
    assert by_key[keys[0]]["body"]["type"] == "proxy.generated" and by_key[keys[2]]["body"]["type"] == "proxy.failed"
    assert by_key[keys[0]]["key"] == rows[keys[0]].asset_id  # message key = asset_id
    assert by_key[keys[0]]["event_id"] == by_key[keys[0]]["body"]["event_id"]
    ids = {e["event_id"] for e in events}

    second = run(defs, res, instance, keys)  # re-run: same rows, same event ids, nothing new to send
    assert not second.success
    assert len(catalog.rows()) == 3
    assert {e.event_id for e in catalog.events(100)} == ids
    assert len(consume_events(bootstrap, topic, expected=3)) == 3

    bucket_store.upload_file(chart_exr(tmp_path / "fixed.exr"), keys[2])  # fixed: the failed row is replaced
    third = run(defs, res, instance, [keys[2]])
    assert third.success
    rows = {r.s3_key: r for r in catalog.rows()}
    assert len(rows) == 3 and rows[keys[2]].status == "ok"


def test_broker_outage_loses_nothing(dagster_defs, instance, bucket_store, tmp_path):
    broker = start_tansu(tmp_path / "tansu")
    port = broker.ports["kafka"]
    bootstrap = f"127.0.0.1:{port}"
    topic = "spaceharbor.proxy"
    db = tmp_path / "catalog.db"
    defs = dagster_defs
    res = resources(defs, db, bootstrap, topic, timeout=3.0)
    prefix = f"outage/{uuid.uuid4().hex[:6]}"
    try:
        batch1 = _upload(bucket_store, tmp_path, prefix, ["b.0001.exr", "b.0002.exr"])
        assert run(defs, res, instance, batch1).success
        before = consume_events(bootstrap, topic, expected=2)
        broker.stop()
        batch2 = _upload(bucket_store, tmp_path, prefix, ["b.0003.exr", "b.0004.exr", "b.0005.exr"])
        assert run(defs, res, instance, batch2).success  # processing goes on without the broker
        catalog = SQLiteCatalog(db)
        assert len(catalog.pending_events()) == 3 and len(catalog.rows()) == 5
        broker = start_tansu(tmp_path / "tansu2", port=port)  # the broker returns
        report = publish_pending(catalog, producer_config(bootstrap, timeout_ms=10000), timeout=20)
        assert report.sent == 3 and catalog.pending_events() == []
        after = consume_events(bootstrap, topic, expected=3)
    finally:
        broker.stop()
    counts = Counter(e["event_id"] for e in before + after)
    assert set(counts) == {e.event_id for e in SQLiteCatalog(db).events(100)}
    assert all(n == 1 for n in counts.values()), counts


def vast_record(bucket: str, key: str, name: str = "ObjectCreated:Put", etag: str = "abc") -> dict:
    return {"eventVersion": "2.2", "eventSource": "vast:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-21T10:00:00.000Z", "eventName": name,
            "s3": {"bucket": {"name": bucket}, "object": {"key": urllib.parse.quote_plus(key), "size": 10,
                                                          "eTag": etag, "sequencer": "0001"}}}


def test_notification_sensor(dagster_defs, instance, bucket_store, tansu, tmp_path):
    from dagster import SensorResult, build_sensor_context


    bootstrap = f"127.0.0.1:{tansu.ports['kafka']}"
    topic = f"s3-events-{uuid.uuid4().hex[:6]}"
    bucket = bucket_store.bucket
    keys = [f"notify/{uuid.uuid4().hex[:4]}/shot 010/ü.{i:04d}.exr" for i in range(3)]
    grade = f"notify/{uuid.uuid4().hex[:4]}/sh010.cdl"
    bucket_store.put_bytes(grade, b"<ColorDecisionList/>")
    messages = [
        json.dumps({"Records": [vast_record(bucket, keys[0], "s3:ObjectCreated:Put"),
                                vast_record(bucket, keys[1], "ObjectCreated:CompleteMultipartUpload")]}).encode(),
        b"{not json",
        json.dumps({"Records": [vast_record(bucket, keys[2], "ObjectCreated:Copy"),
                                vast_record(bucket, "notify/x/.proxies/a_thumb.jpg"),
                                vast_record(bucket, "notify/x/readme.txt"),  # not in the bucket: no row
                                vast_record(bucket, grade),
                                vast_record("other-bucket", "notify/y.exr"),
                                vast_record(bucket, "notify/z.exr", "s3:ObjectRemoved:Delete")]}).encode(),
        json.dumps({"no": "records"}).encode(),
    ]
    produce(bootstrap, topic, messages)
    defs = dagster_defs
    res = resources(defs, tmp_path / "c.db", bootstrap, "unused", notifications=topic)

    def tick(cursor):
        with build_sensor_context(instance=instance, cursor=cursor,
                                  resources={"storage": res["storage"], "events": res["events"],
                                             "catalog": res["catalog"]}) as ctx:
            return dagster_defs.get_sensor_def(SENSOR.s3_notifications)(ctx)

    result = tick(None)
    assert isinstance(result, SensorResult)
    assert sorted(result.dynamic_partitions_requests[0].partition_keys) == sorted(keys)
    assert sum(int(r.tags.get(TAG.keys, 1)) for r in result.run_requests) == 3
    state = json.loads(result.cursor)
    assert sum(state["offsets"].values()) == 4 and state["malformed"] == 2  # every message consumed once
    skipped = SQLiteCatalog(tmp_path / "c.db").rows(status="skipped")  # the grade sidecar, once
    assert [(r.s3_key, r.error, r.etag) for r in skipped] == [
        (grade, "grade sidecar: no grade stage yet", bucket_store.head(grade).etag)]
    instance.add_dynamic_partitions(PARTITION.frames, keys)
    again = tick(result.cursor)  # commits the previous offsets, finds nothing new
    assert not getattr(again, "run_requests", None)
    produce(bootstrap, topic, [json.dumps({"Records": [vast_record(bucket, grade)]}).encode()])  # redelivered
    redelivered = tick(again.cursor)
    assert isinstance(redelivered, SensorResult) and not redelivered.run_requests  # nothing said twice
    assert len(SQLiteCatalog(tmp_path / "c.db").rows(status="skipped")) == 1
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "proxygen-notifications", "enable.auto.commit": False})
    committed = c.committed([TopicPartition(topic, int(p)) for p in state["offsets"]], timeout=10)
    c.close()
    assert {str(tp.partition): tp.offset for tp in committed} == state["offsets"]
