"""The review clip of each image sequence: a sequence-partitioned asset fed by the frame assets.

Its partitions are sequence patterns (``renders/sh010/beauty.####.exr``), added by the
``sequence_clips`` sensor, which also decides when a sequence has settled and its clip is due.
"""
import base64
import json

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from proxygen_core.events import build_clip_event, publish_pending
from proxygen_core.pipeline.chain import PROXY
from proxygen_core.pipeline.sequence import build_sequence_clip, load_members
from proxygen_core.sequences import members_of, parse_pattern

from .assets import CODE_VERSION, OWNERS, QUEUE_TAG, SETTINGS
from .partitions import sequences
from .resources import CatalogResource, EventBus, MediaStorage

CLIP_GROUP = "proxygen"  # one group: the lineage shows frames and clips together


def sequence_members(instance, pattern: str) -> list[str]:
    """The frame partitions that belong to a sequence (from the instance: no bucket listing)."""
    return members_of(instance.get_dynamic_partitions("frames"), parse_pattern(pattern)[0])


@asset(partitions_def=sequences, group_name=CLIP_GROUP, owners=OWNERS, code_version=CODE_VERSION,
       kinds={"s3", "h264"}, pool="proxygen_io", op_tags={QUEUE_TAG: SETTINGS.execution.io_queue},
       # Every frame's proxy feeds its sequence's clip; the mapping is by pattern, which Dagster's
       # built-in mappings cannot express, so the edge is drawn from all frame partitions.
       deps=[AssetDep(PROXY, partition_mapping=AllPartitionMapping())],
       description="One H.264 review clip per image sequence at <dir>/.proxies/<name><sep><ext>_clip.mp4 "
                   "(timecode track, gaps filled and listed) and its poster JPEG.")
def shot_clip(context: AssetExecutionContext, storage: MediaStorage, catalog: CatalogResource,
              events: EventBus) -> MaterializeResult:
    store = storage.store()
    pattern = context.partition_key
    members = load_members(store, sequence_members(context.instance, pattern))
    db = catalog.open()
    row, extras = build_sequence_clip(store, pattern, members, SETTINGS, db.profile)
    db.write_clips([row], [build_clip_event(row, events.topic)])
    if events.enabled:
        publish_pending(db, events.producer_config(), events.timeout_seconds)
    if row["status"] != "ok":
        raise Failure(description=f"clip of {pattern} failed: {row['error']}",
                      metadata={"failed_frames": MetadataValue.json(json.loads(row["failed_frames"] or "[]"))})
    poster = extras["poster"]
    return MaterializeResult(metadata={
        "clip_uri": MetadataValue.url(f"s3://{store.bucket}/{row['clip_s3_key']}"),
        "poster_uri": MetadataValue.url(f"s3://{store.bucket}/{row['poster_s3_key']}"),
        "poster": MetadataValue.md(f"![poster](data:image/jpeg;base64,{base64.b64encode(poster).decode()})"
                                   if poster else ""),
        "frame_range": f"{row['first_frame']}-{row['last_frame']}", "frame_count": row["frame_count"],
        "missing_frames": MetadataValue.json(json.loads(row["missing_frames"])),
        "failed_frames": MetadataValue.json(json.loads(row["failed_frames"])),
        "filled": MetadataValue.json({str(k): v for k, v in extras["filled"].items()}),
        "fps": row["fps"], "start_timecode": row["start_timecode"], "poster_frame": row["poster_frame"],
        "resolution": row["clip_resolution"], "size_bytes": row["clip_size_bytes"],
        "encode_seconds": extras["encode_seconds"], "frames_fingerprint": row["frames_fingerprint"]})
