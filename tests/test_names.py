"""The names Dagster stores for proxygen never change (proxygen_dagster/names.py): existing deployments' runs,
sensor cursors, tick history, dynamic partitions, pool limits and UI links refer to them. Each is written here
literally, not read from the product; the rest of the suite uses the constants."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from proxygen_dagster import names

PINNED = {
    "GROUP": "proxygen",
    "EXECUTOR_CELERY": "proxygen_celery",
    "JOB": {"frames": "proxygen_frames", "clips": "proxygen_clips", "dailies": "proxygen_dailies",
            "publish": "proxygen_publish", "retention": "proxygen_retention", "cuts": "proxygen_cuts"},
    "SENSOR": {"s3_new_frames": "s3_new_frames", "s3_notifications": "s3_notifications",
               "follow_upstream": "follow_upstream", "sequence_clips": "sequence_clips",
               "outbox_publisher": "outbox_publisher", "failure_alerts": "failure_alerts",
               "tracker_publisher": "tracker_publisher", "cut_conform": "cut_conform"},
    "SCHEDULE": {"dailies": "proxygen_dailies_schedule", "retention": "proxygen_retention_schedule"},
    "PARTITION": {"frames": "frames", "sequences": "sequences", "days": "days", "cuts": "cuts"},
    "ASSET": {"frame_chain": "frame_chain", "shot_clip": "shot_clip", "sequence_deliverables": "sequence_deliverables",
              "daily_review": "daily_review", "quality": "quality", "tracker_publish": "tracker_publish",
              "tracker_revision": "tracker_revision", "tracker_playlist": "tracker_playlist", "cut": "cut"},
    "POOL": {"render": "proxygen_render", "io": "proxygen_io"},
    "TAG": {"trigger": "proxygen/trigger", "sequence": "proxygen/sequence", "keys": "proxygen/keys",
            "failure": "proxygen/failure",
            "failure_run": "proxygen/failure_run", "retry_of": "proxygen/retry_of",
            "run_worker": "proxygen/run_worker", "queue": "dagster-celery/queue",
            "range_start": "dagster/asset_partition_range_start", "range_end": "dagster/asset_partition_range_end",
            "partition": "dagster/partition", "retry_number": "dagster/retry_number",
            "parent_run_id": "dagster/parent_run_id",
            "retry_on_asset_or_op_failure": "dagster/retry_on_asset_or_op_failure"},
    "TRIGGER": {"s3poll": "s3poll", "s3notify": "s3notify", "follow_upstream": "follow-upstream",
                "missed_retry": "missed-retry", "sequence_settled": "sequence-settled",
                "tracker_due": "tracker-due", "cut_changed": "cut-changed"},
}


def test_every_name_is_what_deployments_recorded():
    for attr, expected in PINNED.items():
        value = getattr(names, attr)
        if isinstance(expected, dict):
            assert dataclasses.asdict(value) == expected, attr
        else:
            assert value == expected, attr
    assert names.TRIGGER.reupload(names.TRIGGER.s3poll) == "s3poll-reupload"
    assert names.TRIGGER.reupload(names.TRIGGER.s3notify) == "s3notify-reupload"


def test_the_dagster_tags_are_dagsters_own():
    """The ``dagster/`` keys are Dagster's: the constants must be the ones Dagster itself reads and writes."""
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
        PARENT_RUN_ID_TAG,
        PARTITION_NAME_TAG,
        RETRY_NUMBER_TAG,
        RETRY_ON_ASSET_OR_OP_FAILURE_TAG,
    )

    tag = names.TAG
    assert (tag.range_start, tag.range_end, tag.partition, tag.retry_number, tag.parent_run_id,
            tag.retry_on_asset_or_op_failure) == (
        ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG, PARTITION_NAME_TAG, RETRY_NUMBER_TAG,
        PARENT_RUN_ID_TAG, RETRY_ON_ASSET_OR_OP_FAILURE_TAG)


@pytest.mark.slow  # a fresh interpreter builds the code location (~6 s): the full suite runs it
def test_the_definitions_use_exactly_these_names():
    """The code location built from default settings: its jobs, sensors, schedule, partitions, pools, group and
    the frame and clip assets, under the pinned names."""
    code = """
import json
from dagster import DynamicPartitionsDefinition
from proxygen_core.settings import Settings
from proxygen_dagster.definitions import build_definitions
defs = build_definitions(Settings())
repo = defs.get_repository_def()
assets = {k.to_user_string(): a for a in defs.assets for k in a.keys}
print(json.dumps({
    "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
    "sensors": sorted(s.name for s in defs.sensors),
    "schedules": sorted(s.name for s in defs.schedules),
    "partitions": sorted({a.partitions_def.name for a in assets.values()
                          if isinstance(a.partitions_def, DynamicPartitionsDefinition)}),
    "groups": sorted({g for a in assets.values() for g in a.group_names_by_key.values()}),
    "ops": sorted({a.node_def.name for a in assets.values()}),
    "pools": sorted({p for a in assets.values() for p in a.node_def.pools}),
    "assets": sorted(assets),
}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    import json

    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {
        "jobs": ["proxygen_clips", "proxygen_cuts", "proxygen_dailies", "proxygen_frames", "proxygen_retention"],
        "sensors": ["cut_conform", "failure_alerts", "follow_upstream", "outbox_publisher", "s3_new_frames",
                    "s3_notifications", "sequence_clips"],
        "schedules": ["proxygen_dailies_schedule", "proxygen_retention_schedule"],
        "partitions": ["cuts", "days", "frames", "sequences"],
        "groups": ["proxygen"],
        "ops": ["cut", "daily_review", "frame_chain", "sequence_deliverables"],
        "pools": ["proxygen_io", "proxygen_render"],
        "assets": ["cut", "daily_review", "proxy", "proxy_record", "shot_clip", "source_frame", "thumbnail",
                   "working_frame"],
    }
