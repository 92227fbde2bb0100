"""The S3 polling sensor: adds one partition per new key and requests ranged batch runs."""

import hashlib

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from proxygen_core.discovery import Cursor, scan

from .assets import SETTINGS
from proxygen_core.pipeline.state import last_processed_etag
from .jobs import frames_job
from .partitions import frames
from .resources import CatalogResource, EventBus, MediaStorage

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def batch_requests(new_keys: list[str], known: set[str], etags: dict[str, str], batch_size: int,
                   source: str) -> list[RunRequest]:
    """Ranged runs over consecutive newly added keys; single-partition runs for re-uploaded keys.

    A range follows the order partitions were added, so only keys added together in this evaluation
    are grouped. ``RunRequest`` has no range argument: the range goes in the tags.
    """
    requests = []
    fresh = [k for k in new_keys if k not in known]
    for i in range(0, len(fresh), batch_size):
        chunk = fresh[i:i + batch_size]
        ident = hashlib.sha256("|".join(f"{k}@{etags[k]}" for k in chunk).encode()).hexdigest()[:20]
        requests.append(RunRequest(run_key=f"{source}-{ident}", job_name=frames_job.name,
                                   tags={RANGE_START: chunk[0], RANGE_END: chunk[-1], "proxygen/keys": str(len(chunk)),
                                         "proxygen/trigger": source}))
    for key in new_keys:
        if key in known:  # re-upload: new etag of a key we already have
            requests.append(RunRequest(run_key=f"{source}-{key}@{etags[key]}", job_name=frames_job.name,
                                       partition_key=key, tags={"proxygen/trigger": f"{source}-reupload"}))
    return requests


def new_key_result(context: SensorEvaluationContext, store, etags: dict[str, str], source: str,
                   cursor: str) -> SensorResult | None:
    """Partitions + runs for found keys; a known key only if its etag differs from the last one processed."""
    known = set(context.instance.get_dynamic_partitions(frames.name))
    keys = [k for k in etags if k not in known or last_processed_etag(store, k) != etags[k]]
    if not keys:
        return None
    requests = batch_requests(keys, known, etags, SETTINGS.pipeline.batch_size, source)
    to_add = [k for k in keys if k not in known]
    return SensorResult(run_requests=requests, cursor=cursor,
                        dynamic_partitions_requests=[frames.build_add_request(to_add)] if to_add else [])


@sensor(name="s3_new_frames", minimum_interval_seconds=SETTINGS.pipeline.sensor_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING, jobs=[frames_job],
        description="Lists the bucket in bounded slices (durable cursor), skips .proxies/ and unsupported "
                    "extensions, adds a partition per new key and requests batch runs.")
def s3_new_frames(context: SensorEvaluationContext, storage: MediaStorage) -> SensorResult | SkipReason:
    store = storage.store()
    cursor = Cursor.loads(context.cursor)
    found, cursor = scan(store, cursor, SETTINGS.pipeline.extension_set(), SETTINGS.pipeline.prefix,
                         SETTINGS.pipeline.max_keys_per_tick)
    if not found:
        context.update_cursor(cursor.dumps())
        return SkipReason("no new objects")
    result = new_key_result(context, store, {o.key: o.etag for o in found}, "s3poll", cursor.dumps())
    if result is None:
        context.update_cursor(cursor.dumps())
        return SkipReason("only already-processed objects")
    return result


@sensor(name="s3_notifications", minimum_interval_seconds=SETTINGS.pipeline.sensor_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING if SETTINGS.events.notifications_topic else DefaultSensorStatus.STOPPED,
        jobs=[frames_job],
        description="Consumes S3 bucket notifications (AWS/VAST Records JSON) from Kafka and adds partitions and "
                    "batch runs exactly like the polling sensor; offsets advance only after the tick was recorded.")
def s3_notifications(context: SensorEvaluationContext, storage: MediaStorage, events: EventBus) -> SensorResult | SkipReason:
    import json as _json

    from confluent_kafka import Consumer

    from .notifications import commit, consume, relevant

    topic = events.notifications_topic
    if not events.bootstrap or not topic:
        return SkipReason("no Kafka bootstrap or notifications topic configured")
    state = _json.loads(context.cursor) if context.cursor else {"offsets": {}, "malformed": 0}
    consumer = Consumer({"bootstrap.servers": events.bootstrap, "group.id": events.notifications_group,
                         "enable.auto.commit": False, "group.protocol": "classic", "session.timeout.ms": 6000,
                         "auto.offset.reset": "earliest"})
    try:
        commit(consumer, topic, state["offsets"])  # the previous tick's result is recorded: acknowledge it
        batch = consume(consumer, topic, state["offsets"], SETTINGS.events.notifications_max_messages, 5.0)
    finally:
        consumer.close()
    for problem in batch.malformed:
        context.log.warning(f"malformed S3 notification skipped: {problem}")
    state = {"offsets": batch.offsets, "malformed": state.get("malformed", 0) + len(batch.malformed)}
    store = storage.store()
    notes = relevant(batch.notifications, store.bucket, SETTINGS.pipeline.extension_set())
    if not notes:
        return SkipReason(f"no new objects ({len(batch.malformed)} malformed messages skipped)") if batch.malformed \
            else SensorResult(cursor=_json.dumps(state))
    result = new_key_result(context, store, {n.key: n.etag.strip('"') for n in notes}, "s3notify", _json.dumps(state))
    return result or SensorResult(cursor=_json.dumps(state))


@sensor(name="outbox_publisher", minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Drains the catalog's event outbox to Kafka (events that waited while the broker was down).")
def outbox_publisher(context: SensorEvaluationContext, catalog: CatalogResource, events: EventBus) -> SkipReason:
    from proxygen_core.events import publish_pending

    if not events.enabled:
        return SkipReason("no Kafka bootstrap configured: events stay in the outbox (proxygen events)")
    report = publish_pending(catalog.open(), events.producer_config(), events.timeout_seconds)
    for event_id, error in list(report.errors.items())[:10]:
        context.log.warning(f"event {event_id} not delivered yet: {error}")
    return SkipReason(f"published {report.sent} of {report.attempted} pending events")
