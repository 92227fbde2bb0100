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
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from proxygen_core.media.sequences import members_of, parse_pattern
from proxygen_core.pipeline.chain import PROXY
from proxygen_core.pipeline.record import record_clip
from proxygen_core.pipeline.sequence import build_sequence_clip, load_members
from proxygen_core.settings import Settings
from proxygen_dagster.assets import GROUP, OWNERS, QUEUE_TAG, code_version
from proxygen_dagster.partitions import sequences
from proxygen_dagster.resources import CatalogResource, EventBus, MediaStorage


def sequence_members(instance, pattern: str) -> list[str]:
    """The frame partitions that belong to a sequence (from the instance: no bucket listing)."""
    return members_of(instance.get_dynamic_partitions("frames"), parse_pattern(pattern)[0])


def build_shot_clip(settings: Settings) -> AssetsDefinition:
    @asset(partitions_def=sequences, group_name=GROUP, owners=OWNERS, code_version=code_version(settings),
           kinds={"s3", "h264"}, pool="proxygen_io", op_tags={QUEUE_TAG: settings.execution.io_queue},
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
        row, extras = build_sequence_clip(store, pattern, members, settings, db.profile)
        record_clip(db, events.publisher(), row)
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

    return shot_clip
