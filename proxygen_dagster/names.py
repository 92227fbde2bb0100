"""Every name proxygen gives Dagster, in one place: jobs, sensors, schedules, partitions, the asset group,
asset and op names, concurrency pools, tag keys and the values of the trigger tag.

Dagster stores them: runs name their job and carry their tags, sensors and schedules keep their cursors and
tick history under their names, dynamic partitions live under their definition's name, and the UI's links
(and the Helm chart's pool limits) spell them out. Renaming one orphans what an existing deployment
recorded under it, so none of them changes: ``tests/test_names.py`` pins each value literally.

Plain strings only (no Dagster import): the run launcher and the tests read them too.
"""
from __future__ import annotations

from dataclasses import dataclass

GROUP = "proxygen"  # the asset group of every asset


@dataclass(frozen=True)
class JobNames:
    frames: str = "proxygen_frames"
    clips: str = "proxygen_clips"
    dailies: str = "proxygen_dailies"
    publish: str = "proxygen_publish"
    retention: str = "proxygen_retention"
    cuts: str = "proxygen_cuts"


@dataclass(frozen=True)
class SensorNames:
    s3_new_frames: str = "s3_new_frames"
    s3_notifications: str = "s3_notifications"
    follow_upstream: str = "follow_upstream"
    sequence_clips: str = "sequence_clips"
    outbox_publisher: str = "outbox_publisher"
    failure_alerts: str = "failure_alerts"
    tracker_publisher: str = "tracker_publisher"
    cut_conform: str = "cut_conform"


@dataclass(frozen=True)
class ScheduleNames:
    dailies: str = "proxygen_dailies_schedule"
    retention: str = "proxygen_retention_schedule"


@dataclass(frozen=True)
class PartitionNames:
    frames: str = "frames"  # one per source object key
    sequences: str = "sequences"  # one per image sequence pattern
    days: str = "days"  # one per UTC day that has review clips
    cuts: str = "cuts"  # one per editorial cut key (under PROXYGEN_EDITORIAL_PREFIX)


@dataclass(frozen=True)
class AssetNames:
    """The assets (and ops) whose names the Dagster layer gives; the frame assets are the core's stage names
    (``proxygen_core.pipeline.chain.STAGES``: source_frame ... proxy_record)."""

    frame_chain: str = "frame_chain"  # the frame multi-asset's op
    shot_clip: str = "shot_clip"  # the review clip; other profiles are shot_clip_<profile>
    sequence_deliverables: str = "sequence_deliverables"  # the clip multi-asset's op
    daily_review: str = "daily_review"
    cut: str = "cut"  # an editorial cut conformed to its shots' versions
    quality: str = "quality"  # the check on every clip asset
    tracker_publish: str = "tracker_publish"  # the tracked clip's revision in the studio's tracker
    tracker_revision: str = "tracker_revision"  # its check: the tracker has the revision the row names
    tracker_playlist: str = "tracker_playlist"  # the daily review's check: the day's playlist in the tracker


@dataclass(frozen=True)
class PoolNames:
    render: str = "proxygen_render"  # the frame step (deploy/helm-values.yaml limits it)
    io: str = "proxygen_io"  # clips and dailies


@dataclass(frozen=True)
class TagKeys:
    """Tag keys proxygen writes or reads. Those under ``dagster/`` are Dagster's own, read or set here."""

    trigger: str = "proxygen/trigger"  # what requested the run (TRIGGER values)
    # the sequence a clips run builds (a digest): dagster.yaml limits runs to one per value, so two builds of
    # one sequence never overlap
    sequence: str = "proxygen/sequence"
    keys: str = "proxygen/keys"  # how many frame keys a ranged run covers
    failure: str = "proxygen/failure"  # content | infrastructure, on every failed run of ours
    failure_run: str = "proxygen/failure_run"  # the run the class was given to (a retry inherits the tags)
    retry_of: str = "proxygen/retry_of"  # the failed run a missed retry repeats
    run_worker: str = "proxygen/run_worker"  # host:pid:start-time of the forked run worker
    queue: str = "dagster-celery/queue"  # op tag: with the Celery executor, the queue a step's task goes to
    range_start: str = "dagster/asset_partition_range_start"
    range_end: str = "dagster/asset_partition_range_end"
    partition: str = "dagster/partition"
    retry_number: str = "dagster/retry_number"
    parent_run_id: str = "dagster/parent_run_id"
    retry_on_asset_or_op_failure: str = "dagster/retry_on_asset_or_op_failure"


@dataclass(frozen=True)
class Triggers:
    """Values of the ``proxygen/trigger`` tag (and prefixes of the run keys of those runs)."""

    s3poll: str = "s3poll"  # s3_new_frames
    s3notify: str = "s3notify"  # s3_notifications
    # The runs that complete a chain started part way (follow_upstream): like a retry, they take a key whose
    # current version already finished from its state instead of rendering it again.
    follow_upstream: str = "follow-upstream"
    # A run failure_alerts requests for a failed run whose promised retry the daemon never made; like a retry.
    missed_retry: str = "missed-retry"
    sequence_settled: str = "sequence-settled"  # sequence_clips
    tracker_due: str = "tracker-due"  # tracker_publisher: a clip waiting for its publish
    cut_changed: str = "cut-changed"  # cut_conform: a new cut, a changed cut file or a new version of a shot in it

    def reupload(self, source: str) -> str:
        """A known key whose etag changed, found by ``source`` (s3poll-reupload, s3notify-reupload)."""
        return f"{source}-reupload"


JOB = JobNames()
SENSOR = SensorNames()
SCHEDULE = ScheduleNames()
PARTITION = PartitionNames()
ASSET = AssetNames()
POOL = PoolNames()
TAG = TagKeys()
TRIGGER = Triggers()
EXECUTOR_CELERY = "proxygen_celery"  # the configured Celery executor's name, in each job's stored definition
