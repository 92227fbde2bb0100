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
from proxygen_core.storage import ObjectInfo

from .assets import SETTINGS
from .io_managers import last_processed_etag
from .jobs import frames_job
from .partitions import frames
from .resources import MediaStorage

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def batch_requests(new_keys: list[str], known: set[str], objects: dict[str, ObjectInfo], batch_size: int,
                   source: str) -> list[RunRequest]:
    """Ranged runs over consecutive newly added keys; single-partition runs for re-uploaded keys.

    A range follows the order partitions were added, so only keys added together in this evaluation
    are grouped. ``RunRequest`` has no range argument: the range goes in the tags.
    """
    requests = []
    fresh = [k for k in new_keys if k not in known]
    for i in range(0, len(fresh), batch_size):
        chunk = fresh[i:i + batch_size]
        ident = hashlib.sha256("|".join(f"{k}@{objects[k].etag}" for k in chunk).encode()).hexdigest()[:20]
        requests.append(RunRequest(run_key=f"{source}-{ident}", job_name=frames_job.name,
                                   tags={RANGE_START: chunk[0], RANGE_END: chunk[-1], "proxygen/keys": str(len(chunk)),
                                         "proxygen/trigger": source}))
    for key in new_keys:
        if key in known:  # re-upload: new etag of a key we already have
            requests.append(RunRequest(run_key=f"{source}-{key}@{objects[key].etag}", job_name=frames_job.name,
                                       partition_key=key, tags={"proxygen/trigger": f"{source}-reupload"}))
    return requests


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
    objects = {o.key: o for o in found}
    keys = list(dict.fromkeys(o.key for o in found))
    known = set(context.instance.get_dynamic_partitions(frames.name))
    # A known key is re-processed only if its etag differs from the one last inspected (a re-upload).
    keys = [k for k in keys if k not in known or last_processed_etag(store, k) != objects[k].etag]
    if not keys:
        context.update_cursor(cursor.dumps())
        return SkipReason("only already-processed objects")
    requests = batch_requests(keys, known, objects, SETTINGS.pipeline.batch_size, "s3poll")
    to_add = [k for k in keys if k not in known]
    return SensorResult(run_requests=requests, cursor=cursor.dumps(),
                        dynamic_partitions_requests=[frames.build_add_request(to_add)] if to_add else [])
