"""The frame assets: one dynamic partition per source key, run in batches (ranged runs).

One step defines all five assets (``frame_chain``), so lineage shows source -> working -> thumbnail /
proxy -> record while a batch pays the orchestration cost once. Each key runs the core chain on its
own; the step reports every (asset, key) that key passed as its own materialization with its own
metadata, then, if any key failed, fails the step naming them. Dagster marks exactly the partitions
that were not materialized as failed: a broken frame is failed at the stage it broke and below, and
stays materialized above it, and the other keys of the batch are untouched.
"""

import base64
import socket
from typing import Any, Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetSpec,
    AutomationCondition,
    BackfillPolicy,
    Failure,
    MetadataValue,
    RetryRequested,
    multi_asset,
)

from proxygen_core import __version__
from proxygen_core.errors import StorageError
from proxygen_core.events import build_event, publish_pending
from proxygen_core.pipeline.chain import PROXY, RECORD, SOURCE, THUMBNAIL, WORKING, KeyResult, run_chain
from proxygen_core.pipeline.steps import build_record

from .partitions import frames
from .resources import CatalogResource, EventBus, MediaStorage, ProxygenSettings

SETTINGS = ProxygenSettings().load()
QUEUE_TAG = "dagster-celery/queue"  # with the Celery executor, a step's task goes to the queue this op tag names
HOST = SETTINGS.execution.host_name or socket.gethostname()  # reported per key: which host rendered it
# A change of any render setting (or of the generator) changes the code version: outputs go stale.
CODE_VERSION = f"{__version__}-{SETTINGS.render.settings_hash()}"
GROUP = "proxygen"
OWNERS = ["team:pipeline"]
BATCH_POLICY = BackfillPolicy.multi_run(max_partitions_per_run=max(1, SETTINGS.pipeline.batch_size))


def _spec(name: str, deps: list[str], kinds: set[str], description: str) -> AssetSpec:
    # Downstream assets follow their inputs: materialize source_frame alone (UI, CLI) and the automation
    # sensor requests the rest of the chain for those partitions only. Full-chain batch runs update
    # every asset in one run, so eager() has nothing left to request for them (tested).
    return AssetSpec(name, deps=deps, kinds=kinds, description=description, group_name=GROUP, owners=OWNERS,
                     code_version=CODE_VERSION, partitions_def=frames, skippable=True,
                     automation_condition=AutomationCondition.eager() if deps else None)


SPECS = [
    _spec(SOURCE, [], {"s3", "openimageio"}, "The source object in S3: probe record (size, windows, channels, "
          "colour metadata), etag, mtime, file_id. No copy of the pixels is stored."),
    _spec(WORKING, [SOURCE], {"openexr", "opencolorio"}, "Scene-linear working-space intermediate at proxy "
          "resolution (half-float EXR under .proxies/.pipeline/), with the detected source colour space and rule."),
    _spec(THUMBNAIL, [WORKING], {"s3", "jpeg"}, "JPEG thumbnail (fits 256x256, sRGB display) at "
          "<dir>/.proxies/<stem>_thumb.jpg."),
    _spec(PROXY, [WORKING], {"s3", "h264"}, "H.264 MP4 proxy (at most 1920x1080, Rec.709) at "
          "<dir>/.proxies/<stem>_proxy.mp4."),
    _spec(RECORD, [THUMBNAIL, PROXY], {"sqlite", "kafka"}, "One catalog row per source (ok or failed) plus its "
          "proxy.generated / proxy.failed event, written together (transactional outbox) and published to Kafka."),
]
CHECKS = [
    AssetCheckSpec("finite_pixels", asset=WORKING, description="No NaN/Inf in the working frame."),
    AssetCheckSpec("fits_box_with_aspect", asset=THUMBNAIL, description="Fits the box, keeps the source aspect."),
    AssetCheckSpec("exposure", asset=THUMBNAIL,
                   description="Not an all-black or clipped-white frame; reports the fractions."),
    AssetCheckSpec("playable_rec709", asset=PROXY, description="h264, yuv420p, BT.709 tags, tv range, faststart, "
                                                                "even dims within 1920x1080, never upscaled."),
    AssetCheckSpec("outputs_in_s3", asset=RECORD, description="Both outputs exist in S3 with the sizes recorded."),
]
# The stage whose failure a check reports (the chain fails a key at the stage whose QC it missed).
CHECK_STAGE = {"finite_pixels": WORKING, "fits_box_with_aspect": THUMBNAIL, "playable_rec709": PROXY,
               "outputs_in_s3": PROXY}


def _inline_jpeg(data: bytes) -> str:
    return f"![thumbnail](data:image/jpeg;base64,{base64.b64encode(data).decode()})"


def stage_metadata(stage: str, r: KeyResult, bucket: str) -> dict[str, Any]:
    """What the partition page of ``stage`` shows for this key: its own values, nothing of other keys."""
    if stage == SOURCE:
        s = r.source
        return {"uri": MetadataValue.url(s.uri), "size_bytes": s.size_bytes, "etag": s.etag, "mtime": s.mtime,
                "file_id": s.file_id, "format": s.probe.get("format"),
                "resolution": f"{s.probe['width']}x{s.probe['height']}",
                "channels": ",".join(s.probe["channels"]), "pixel_type": s.probe["pixel_type"]}
    if stage == WORKING:
        return {**{k: v for k, v in (r.frame_info or {}).items() if v is not None}, **r.timings}
    if stage in (THUMBNAIL, PROXY):
        media = r.thumbnail if stage == THUMBNAIL else r.proxy
        meta: dict[str, Any] = {"uri": MetadataValue.url(f"s3://{bucket}/{media.path}"),
                                "resolution": media.resolution, "size_bytes": media.size_bytes,
                                "seconds": media.seconds}
        if stage == THUMBNAIL and r.thumbnail_jpeg:
            meta["thumbnail"] = MetadataValue.md(_inline_jpeg(r.thumbnail_jpeg))
        if stage == THUMBNAIL and r.exposure:
            meta.update(r.exposure)
        return meta
    return {}


def _record_metadata(row: dict[str, Any]) -> dict[str, Any]:
    return {"status": row["status"], "proxy_id": row["proxy_id"], "file_id": row["file_id"],
            "event_id": row["event_id"], "source_colorspace": row["source_colorspace"] or "",
            "thumbnail_uri": MetadataValue.url(f"s3://{row['s3_bucket']}/{row['thumbnail_s3_key']}"),
            "proxy_uri": MetadataValue.url(f"s3://{row['s3_bucket']}/{row['proxy_s3_key']}"),
            "processing_time_seconds": row["processing_time_seconds"]}


def _checks(context: AssetExecutionContext, results: dict[str, KeyResult]) -> Iterator[AssetCheckResult]:
    selected = {k.name for k in context.selected_asset_check_keys}
    for spec in CHECKS:
        if spec.name not in selected:
            continue
        if spec.name == "exposure":
            flagged = {k: r.warnings["exposure"] for k, r in results.items() if "exposure" in r.warnings}
            yield AssetCheckResult(asset_key=spec.asset_key, check_name=spec.name, passed=not flagged,
                                   severity=AssetCheckSeverity.WARN,
                                   metadata={"flagged_keys": MetadataValue.json(flagged),
                                             "fractions": MetadataValue.json({k: r.exposure for k, r in results.items()
                                                                              if r.exposure})})
            continue
        stage = CHECK_STAGE[spec.name]
        bad = {k: r.failed.message for k, r in results.items()
               if r.failed and r.failed.step == stage and r.failed.error.get("kind") in ("qc", "storage")}
        yield AssetCheckResult(asset_key=spec.asset_key, check_name=spec.name, passed=not bad,
                               metadata={"failed_keys": MetadataValue.json(bad)})


@multi_asset(name="frame_chain", specs=SPECS, check_specs=CHECKS, can_subset=True, partitions_def=frames,
             backfill_policy=BATCH_POLICY, pool="proxygen_render",
             op_tags={QUEUE_TAG: SETTINGS.execution.render_queue},
             description="The frame chain for a batch of source keys, key by key.")
def frame_chain(context: AssetExecutionContext, storage: MediaStorage, catalog: CatalogResource,
                events: EventBus) -> Iterator[Any]:
    store = storage.store()
    stages = frozenset(k.to_user_string() for k in context.selected_asset_keys)
    last_attempt = context.retry_number >= SETTINGS.pipeline.step_retries
    results: dict[str, KeyResult] = {}
    for key in context.partition_keys:
        r = results[key] = run_chain(store, key, SETTINGS, stages)
        for stage in r.passed:
            if stage in stages and stage != RECORD:
                yield AssetMaterialization(asset_key=AssetKey(stage), partition=key,
                                           metadata=stage_metadata(stage, r, store.bucket))
        if r.failed:
            context.log.error(f"{key}: {r.failed.message}" + (f" (after {r.attempts} attempts)" if r.attempts > 1 else ""))
        elif r.attempts > 1:
            context.log.warning(f"{key}: ok after {r.attempts} attempts (storage was unreachable in between)")
    # Keys that S3 kept failing are retried with the step; they get a row only if that never succeeds.
    waiting = {k: r for k, r in results.items() if r.failed and r.failed.transient and not last_attempt}
    done = {k: r for k, r in results.items() if k not in waiting}
    if RECORD in stages and done:
        db = catalog.open()
        rows = {k: build_record(r.source, k, store.bucket, SETTINGS.render, db.profile, r.frame_info, r.thumbnail,
                                r.proxy, r.failed, r.seconds, r.info) for k, r in done.items()}
        # Rows and their events in one transaction: an event can never be lost between the two.
        db.write(list(rows.values()), [build_event(row, events.topic) for row in rows.values()])
        report = publish_pending(db, events.producer_config(), events.timeout_seconds) if events.enabled else None
        context.log.info(f"{sum(r.ok for r in done.values())} records ok, {sum(not r.ok for r in done.values())} "
                         "failed; events " + (f"sent {report.sent}, pending {report.pending}" if report
                                               else "kept in the outbox"))
        if report and report.broker_error:
            context.log.warning(f"Kafka refused or unreachable, events wait in the outbox: {report.broker_error}")
        for key, row in rows.items():
            if row["status"] != "ok":  # not a materialization: tells the sequence sensor this frame is done
                yield AssetObservation(asset_key=AssetKey(RECORD), partition=key,
                                       metadata={"status": "failed", "error": row["error"] or ""})
            else:
                yield AssetMaterialization(asset_key=AssetKey(RECORD), partition=key,
                                           metadata={**_record_metadata(row), "attempts": done[key].attempts,
                                                     "host": HOST})
    yield from _checks(context, results)
    if waiting:
        first = next(iter(waiting.values())).failed
        cause = StorageError(first.error.get("path", first.key), first.error.get("cause", ""), transient=True)
        context.log.warning(f"{len(waiting)} keys hit storage failures; retrying the step in "
                            f"{SETTINGS.pipeline.step_retry_wait_seconds:.0f} s: {cause}")
        raise RetryRequested(max_retries=SETTINGS.pipeline.step_retries,
                             seconds_to_wait=SETTINGS.pipeline.step_retry_wait_seconds) from cause
    failed = {k: r.failed.message for k, r in results.items() if r.failed}
    if failed:
        raise Failure(
            description=f"{len(failed)} of {len(results)} frames failed: "
                        + "; ".join(f"{k}: {m}" for k, m in list(failed.items())[:5]),
            metadata={"failed_keys": MetadataValue.json(failed), "ok_keys": len(results) - len(failed)},
        )
