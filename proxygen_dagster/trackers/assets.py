"""The tracker publish: one asset per sequence partition, the tracked clip's revision in the studio's tracker.

Downstream of the tracked profile's clip (``PROXYGEN_TRACKER_PROFILE``, the review clip by default). The clip
row is the outbox (proxygen_core/trackers/outbox.py): its build left it ``pending``; the ``tracker_publisher``
sensor requests this asset for each clip due now, and the asset claims the row, publishes (looked up first:
one revision per shot, task and version) and records the outcome. A tracker that is down is a retry, not a
failure: the run materializes with ``tracker_status: pending`` and its retry time, its check warns (severity
WARN), and the sensor requests it again then. A refusal fails the run with the cause and leaves the row
``failed``; our own configuration missing (ConfigurationError: no tracker URL, no S3 credentials) fails it naming
the setting and leaves the row as it was. Either way the frames and the clip are untouched. A materialization
from the UI or a backfill re-publishes whatever the row says (still an update of the same revision, never a
second), and claims the row like the sensor's runs: while another publisher holds it, the run fails saying so.
"""
from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from proxygen_core.catalog.schema import PENDING
from proxygen_core.errors import ConfigurationError
from proxygen_core.settings import Settings
from proxygen_core.store.keys import clip_id
from proxygen_core.trackers.outbox import PUBLISHED, SKIPPED, publish_clip, verify
from proxygen_dagster.alerts import FAILURE_CLASS
from proxygen_dagster.common import OWNERS, clip_asset_key
from proxygen_dagster.names import ASSET, GROUP, POOL, TAG, TRIGGER
from proxygen_dagster.partitions import sequences
from proxygen_dagster.resources import CatalogResource, MediaStorage


def build_tracker_publish(settings: Settings) -> AssetsDefinition:
    trackers = settings.trackers
    profile = trackers.tracker_profile

    @asset(name=ASSET.tracker_publish, partitions_def=sequences, group_name=GROUP, owners=OWNERS,
           kinds={trackers.tracker}, pool=POOL.io, op_tags={TAG.queue: settings.execution.io_queue},
           deps=[clip_asset_key(profile)],
           check_specs=[AssetCheckSpec(ASSET.tracker_revision, asset=AssetKey(ASSET.tracker_publish),
                                       description=f"{trackers.tracker} holds the revision the clip row names "
                                                   "(looked up again after the publish).")],
           description=f"The {profile} clip of the sequence as a revision in {trackers.tracker}: one per shot, "
                       "task and version (a rebuild updates it); its page in the metadata.")
    def tracker_publish(context: AssetExecutionContext, storage: MediaStorage,
                        catalog: CatalogResource) -> Iterator:
        store, db = storage.store(), catalog.open()
        pattern = context.partition_key
        row = db.clip(clip_id(store.bucket, pattern, db.profile, profile))
        if row is None or not row.ok:
            raise Failure(description=f"{pattern}: no finished {profile} clip to publish"
                                      + (f" (the clip failed: {row.error})" if row is not None else ""),
                          metadata={FAILURE_CLASS: "content"})
        # the sensor's runs publish what is due; anything else (the UI, a backfill) re-publishes on purpose
        force = context.run.tags.get(TAG.trigger) != TRIGGER.tracker_due
        try:
            outcome = publish_clip(db, store, settings, row, force=force)
        except ConfigurationError as exc:  # ours to fix: nothing was recorded on the clip
            raise Failure(description=f"{pattern}: not published, the configuration: {exc}",
                          metadata={"settings": ", ".join(exc.settings), FAILURE_CLASS: "infrastructure"}) from exc
        if outcome.status == SKIPPED:
            now = db.clip(row.clip_id)
            if now is None or now.tracker_status != PUBLISHED:
                raise Failure(description=f"{pattern}: another publisher holds this clip's publish (until "
                                          f"{now.tracker_retry_at if now else '?'}), or a newer build replaced it",
                              metadata={FAILURE_CLASS: "infrastructure"})
            row = now
            url, revision, created, attempts = now.tracker_url, now.tracker_revision, False, now.tracker_attempts
        elif outcome.status == PUBLISHED:
            url, revision, created, attempts = outcome.url, outcome.revision, outcome.created, outcome.attempts
            row = db.clip(row.clip_id) or row
        elif outcome.status == PENDING:
            # the tracker could not be reached: a retry (the sensor requests it again at retry_at), not a failure of
            # this partition. Materialized with the state in its metadata; the check warns until it is published.
            yield MaterializeResult(metadata={
                "tracker": trackers.tracker, "tracker_status": PENDING, "error": outcome.error or "",
                "attempts": outcome.attempts, "retry_at": outcome.retry_at or "",
                "shot": row.shot or "", "task": row.task or "", "version": row.version or 0})
            yield AssetCheckResult(check_name=ASSET.tracker_revision, passed=False, severity=AssetCheckSeverity.WARN,
                                   description=f"publish pending: {outcome.error}; retried at {outcome.retry_at}",
                                   metadata={"detail": outcome.error or "", "retry_at": outcome.retry_at or ""})
            return
        else:
            raise Failure(
                description=f"{pattern}: publish {outcome.status}: {outcome.error}",
                metadata={"tracker": trackers.tracker, "tracker_status": outcome.status,
                          "error": outcome.error or "", "attempts": outcome.attempts, FAILURE_CLASS: "content"})
        yield MaterializeResult(metadata={
            "tracker": trackers.tracker, "tracker_status": PUBLISHED, "tracker_url": MetadataValue.url(url or ""),
            "revision": revision or "", "created": created, "attempts": attempts or 0,
            "shot": row.shot or "", "task": row.task or "", "version": row.version or 0,
            "clip_uri": MetadataValue.url(store.uri(row.clip_s3_key or ""))})
        passed, detail = verify(row, store, settings)
        yield AssetCheckResult(check_name=ASSET.tracker_revision, passed=passed,
                               metadata={"detail": detail, "revision": revision or ""})

    return tracker_publish
