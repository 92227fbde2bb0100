"""The frame assets: one dynamic partition per source key, run in batches (ranged runs).

One step defines every frame asset (``frame_chain``), so lineage shows source -> working -> thumbnail /
proxy (/ preview) -> record while a batch pays the orchestration cost once. Each key runs the core chain
on its own; the step reports every (asset, key) that key passed as its own materialization with its own
metadata, records rows and events through the core's record stage, then, if any key failed, fails the
step naming them. Dagster marks exactly the partitions that were not materialized as failed: a broken
frame is failed at the stage it broke and below, and stays materialized above it, and the other keys of
the batch are untouched.
"""

import base64
import socket
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Failure,
    MetadataValue,
    RetryRequested,
    multi_asset,
)

from proxygen_core.errors import StorageError, failure_class
from proxygen_core.pipeline.chain import (
    NEEDS,
    PREVIEW,
    PROXY,
    RECORD,
    SOURCE,
    STAGES,
    THUMBNAIL,
    WORKING,
    KeyResult,
    run_chain,
    stages_for,
)
from proxygen_core.pipeline.record import record_frames
from proxygen_core.rows import FrameRow
from proxygen_core.settings import Settings
from proxygen_core.store.identity import IDENTITY_FIELDS, noted_problem
from proxygen_dagster.alerts import FAILURE_CLASS
from proxygen_dagster.common import OWNERS, code_version
from proxygen_dagster.names import ASSET, GROUP, POOL, TAG, TRIGGER
from proxygen_dagster.partitions import frames
from proxygen_dagster.resources import CatalogResource, EventBus, MediaStorage

DESCRIPTIONS = {
    SOURCE: ({"s3", "openimageio"}, "The source object in S3: probe record (size, windows, channels, colour "
             "metadata), etag, mtime, file_id. No copy of the pixels is stored."),
    WORKING: ({"openexr", "opencolorio"}, "Scene-linear working-space intermediate at proxy resolution (half-float "
              "EXR under .proxies/.pipeline/), with the detected source colour space and rule."),
    THUMBNAIL: ({"s3", "jpeg"}, "JPEG thumbnail (fits 256x256, sRGB display) at <dir>/.proxies/<stem>_thumb.jpg."),
    PROXY: ({"s3", "h264"}, "H.264 MP4 proxy (at most 1920x1080, Rec.709) at <dir>/.proxies/<stem>_proxy.mp4."),
    PREVIEW: ({"s3", "jpeg"}, "Full-resolution JPEG preview (sRGB display) at <dir>/.proxies/<stem>_preview.jpg; "
              "only when PROXYGEN_PREVIEW_ENABLED is on."),
    RECORD: ({"sqlite", "kafka"}, "One catalog row per source (ok or failed) plus its proxy.generated / proxy.failed "
             "event, written together (transactional outbox) and published to Kafka."),
}
DEPS = {stage: list(parents) for stage, parents in NEEDS.items()}  # the chain's own stage graph (chain.NEEDS)
# Each check: the asset it is shown on, the stages whose failures it reports and of which kind (the chain
# fails a key at the stage whose check it missed: a QC failure for a bad output, a storage failure for an
# output that could not be stored).
CHECKS = {
    "finite_pixels": (WORKING, (WORKING,), "qc", "No NaN/Inf in the working frame."),
    "fits_box_with_aspect": (THUMBNAIL, (THUMBNAIL,), "qc", "Fits the box, keeps the source aspect."),
    "exposure": (THUMBNAIL, (THUMBNAIL,), "", "Not an all-black or clipped-white frame; reports the fractions."),
    "playable_rec709": (PROXY, (PROXY,), "qc", "h264, yuv420p, BT.709 tags, tv range, faststart, even dims "
                                               "within 1920x1080, never upscaled."),
    "full_resolution": (PREVIEW, (PREVIEW,), "qc", "The preview has the source's display-window size."),
    "outputs_in_s3": (RECORD, (THUMBNAIL, PROXY, PREVIEW), "storage",
                      "Every output was stored in S3 with the size that was written."),
}


def _inline_jpeg(data: bytes) -> str:
    return f"![thumbnail](data:image/jpeg;base64,{base64.b64encode(data).decode()})"


def _media_metadata(media: Any, bucket: str) -> dict[str, Any]:
    return {"uri": MetadataValue.url(f"s3://{bucket}/{media.path}"), "resolution": media.resolution,
            "size_bytes": media.size_bytes, "seconds": media.seconds}


def stage_metadata(stage: str, r: KeyResult, bucket: str) -> dict[str, Any]:
    """What the partition page of ``stage`` shows for this key: its own values, nothing of other keys."""
    if stage == SOURCE:
        s = r.source
        if s is None:
            return {}  # the stage did not finish for this key: nothing of its own to show
        return {"uri": MetadataValue.url(s.uri), "size_bytes": s.size_bytes, "etag": s.etag, "mtime": s.mtime,
                "file_id": s.file_id, "format": s.probe.get("format"),
                "resolution": f"{s.probe['width']}x{s.probe['height']}",
                "channels": ",".join(s.probe["channels"]), "pixel_type": s.probe["pixel_type"]}
    if stage == WORKING:
        return {**{k: v for k, v in (r.frame_info or {}).items() if v is not None},
                **{f"seconds_{n}": v for n, v in r.timings.items()}}
    if stage == THUMBNAIL:
        meta = _media_metadata(r.thumbnail, bucket)
        if r.thumbnail_jpeg:
            meta["thumbnail"] = MetadataValue.md(_inline_jpeg(r.thumbnail_jpeg))
        return {**meta, **(r.exposure or {})}
    if stage in (PROXY, PREVIEW):
        return _media_metadata(r.proxy if stage == PROXY else r.preview, bucket)
    return {}


def parent_failure(instance: Any, run_id: str) -> str:
    """Why the run this one retries failed, as Dagster recorded it (a killed run worker leaves no step
    failure of its own: run monitoring's message is the cause)."""
    from dagster import DagsterEventType

    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_FAILURE).records
    return records[-1].event_log_entry.message if records else "no failure recorded"


def failure_observations(r: KeyResult, selected: frozenset[str]) -> Iterator[AssetObservation]:
    """Why this key did not materialize, on the partition page of every asset it did not reach: the stage
    that failed, the kind of failure and the cause, where the UI shows the partition's latest event (the
    run's own failure names only the step). proxy_record gets its observation with the row, below."""
    if r.failed is None:
        return
    failed = r.failed
    error = failed.error
    for stage in STAGES:
        if stage in selected and stage not in r.passed and stage != RECORD:
            yield AssetObservation(asset_key=AssetKey(stage), partition=r.key, metadata={
                "status": "failed", "failed_step": failed.step, "error_kind": error.get("kind", ""),
                "error": f"{error.get('type', 'Error')}: {error.get('cause', '')}",
                "source": MetadataValue.url(r.uri) if r.uri.startswith("s3://") else r.uri})


def _record_metadata(row: FrameRow) -> dict[str, Any]:
    def url(key: str | None) -> Any:
        return MetadataValue.url(f"s3://{row.s3_bucket}/{key}") if key else ""

    return {"status": row.status, "proxy_id": row.proxy_id, "file_id": row.file_id,
            "event_id": row.event_id, "source_colorspace": row.source_colorspace or "",
            "thumbnail_uri": url(row.thumbnail_s3_key), "proxy_uri": url(row.proxy_s3_key),
            **({"preview_uri": url(row.preview_s3_key)} if row.preview_s3_key else {}),
            "processing_time_seconds": row.processing_time_seconds,
            **{k: getattr(row, k) for k in IDENTITY_FIELDS if getattr(row, k) is not None},  # the shot identity
            **({"identity_problem": problem} if (problem := noted_problem(row.error)) else {})}  # flagged key


def _checks(context: AssetExecutionContext, specs: list[AssetCheckSpec],
            results: dict[str, KeyResult]) -> Iterator[AssetCheckResult]:
    selected = {k.name for k in context.selected_asset_check_keys}
    for spec in specs:
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
        _, stages, kind, _ = CHECKS[spec.name]
        bad = {k: r.failed.message for k, r in results.items()
               if r.failed and r.failed.step in stages and r.failed.error.get("kind") == kind}
        yield AssetCheckResult(asset_key=spec.asset_key, check_name=spec.name, passed=not bad,
                               metadata={"failed_keys": MetadataValue.json(bad)})


def _is_retry(context: AssetExecutionContext) -> bool:
    """A retried step, a run restarted after its worker died, or a run follow_upstream asked for: keys whose
    current version already finished (ok, or failed for its content) are taken from their state, never fetched,
    decoded or published again. A person's own run (UI, backfill, CLI) always renders."""
    tags = context.run.tags
    if TAG.parent_run_id in tags and TAG.retry_number in tags:
        context.log.warning(f"retrying run {tags[TAG.parent_run_id]}: "
                            f"{parent_failure(context.instance, tags[TAG.parent_run_id])}")
    return (context.retry_number > 0 or TAG.retry_number in tags
            or tags.get(TAG.trigger) in (TRIGGER.follow_upstream, TRIGGER.missed_retry))


def _render_keys(context: AssetExecutionContext, store: Any, settings: Settings, selected: frozenset[str],
                 results: dict[str, KeyResult]) -> Iterator[Any]:
    """Each key's chain, its stages' materializations, and the failure observations of keys that will not be
    retried; ``results`` is filled as the keys finish."""
    last_attempt = context.retry_number >= settings.pipeline.step_retries
    retried = _is_retry(context)
    for key in context.partition_keys:
        r = results[key] = run_chain(store, key, settings, selected, reuse_finished=retried)
        for stage in r.passed:
            if stage in selected and stage != RECORD:
                yield AssetMaterialization(asset_key=AssetKey(stage), partition=key,
                                           metadata=stage_metadata(stage, r, store.bucket))
        if r.failed:
            context.log.error(f"{key}: {r.failed.message}"
                              + (f" (after {r.attempts} attempts)" if r.attempts > 1 else ""))
            if not r.failed.transient or last_attempt:
                yield from failure_observations(r, selected)
        elif r.attempts > 1:
            context.log.warning(f"{key}: ok after {r.attempts} attempts (storage was unreachable in between)")


def _record(context: AssetExecutionContext, catalog: CatalogResource, events: EventBus, bucket: str,
            done: dict[str, KeyResult], settings: Settings, host: str) -> Iterator[Any]:
    """The rows and events of the finished keys (one transaction), and proxy_record's event per key: a
    materialization for an ok row, an observation for a failed one (the sequence sensor reads both)."""
    recorded = record_frames(catalog.open(), events.publisher(), bucket, done, settings.render,
                             settings.pipeline.key_layout())
    report = recorded.report
    context.log.info(f"{sum(r.ok for r in done.values())} records ok, "
                     f"{sum(not r.ok for r in done.values())} failed; events "
                     + (f"sent {report.sent}, pending {report.pending}" if report else "kept in the outbox"))
    if report and report.broker_error:
        context.log.warning(f"Kafka refused or unreachable, events wait in the outbox: {report.broker_error}")
    for key, row in recorded.rows.items():
        shown = MetadataValue.json(done[key].report())  # the same JSON report `proxygen render` writes
        why = done[key].failed
        if why is not None:
            yield AssetObservation(asset_key=AssetKey(RECORD), partition=key,
                                   metadata={"status": "failed", "failed_step": why.step,
                                             "error_kind": why.error.get("kind", ""),
                                             "error": row.error or "", "report": shown})
        else:
            yield AssetMaterialization(asset_key=AssetKey(RECORD), partition=key,
                                       metadata={**_record_metadata(row), "attempts": done[key].attempts,
                                                 "host": host, "report": shown})


def _end_step(results: dict[str, KeyResult], waiting: dict[str, KeyResult], settings: Settings,
              context: AssetExecutionContext) -> None:
    """Retry the step for the keys storage kept failing; else fail it naming the broken frames (their class
    read by the failure_alerts sensor: a batch with only broken frames needs no operator)."""
    pipeline = settings.pipeline
    if waiting:
        first = next(iter(waiting.values())).failed
        assert first is not None  # waiting holds the keys that failed for storage
        cause = StorageError(first.error.get("path", first.key), first.error.get("cause", ""), transient=True)
        context.log.warning(f"{len(waiting)} keys hit storage failures; retrying the step in "
                            f"{pipeline.step_retry_wait_seconds:.0f} s: {cause}")
        raise RetryRequested(max_retries=pipeline.step_retries,
                             seconds_to_wait=pipeline.step_retry_wait_seconds) from cause
    broken = {k: r.failed.message for k, r in results.items() if r.failed}
    if broken:
        raise Failure(
            description=f"{len(broken)} of {len(results)} frames failed: "
                        + "; ".join(f"{k}: {m}" for k, m in list(broken.items())[:5]),
            metadata={"failed_keys": MetadataValue.json(broken), "ok_keys": len(results) - len(broken),
                      FAILURE_CLASS: failure_class(r.failed.error.get("kind", "") for r in results.values()
                                                   if r.failed)},
        )


def build_frame_chain(settings: Settings) -> AssetsDefinition:
    """The frame multi-asset for these settings (the preview asset exists only where the tier is enabled)."""
    stages = stages_for(settings)
    version = code_version(settings)
    host = settings.execution.host_name or socket.gethostname()  # reported per key: which host rendered it
    pipeline = settings.pipeline
    # Downstream assets follow their inputs: materialize source_frame alone (UI, CLI) and the follow_upstream
    # sensor requests the rest of the chain for those partitions only (frames/sensors.rest_of_chains says why not
    # Dagster's eager()). Full-chain batch runs select every asset, so nothing is left to request for them.
    specs = [AssetSpec(stage, deps=DEPS[stage], kinds=DESCRIPTIONS[stage][0], description=DESCRIPTIONS[stage][1],
                       group_name=GROUP, owners=OWNERS, code_version=version, partitions_def=frames, skippable=True)
             for stage in stages]
    checks = [AssetCheckSpec(name, asset=asset, description=text)
              for name, (asset, _, _, text) in CHECKS.items() if asset in stages]

    @multi_asset(name=ASSET.frame_chain, specs=specs, check_specs=checks, can_subset=True, partitions_def=frames,
                 backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=max(1, pipeline.batch_size)),
                 pool=POOL.render, op_tags={TAG.queue: settings.execution.render_queue},
                 description="The frame chain for a batch of source keys, key by key.")
    def frame_chain(context: AssetExecutionContext, storage: MediaStorage, catalog: CatalogResource,
                    events: EventBus) -> Iterator[Any]:
        store = storage.store()
        selected = frozenset(k.to_user_string() for k in context.selected_asset_keys)
        results: dict[str, KeyResult] = {}
        yield from _render_keys(context, store, settings, selected, results)
        # Keys that S3 kept failing are retried with the step; they get a row only if that never succeeds.
        last_attempt = context.retry_number >= pipeline.step_retries
        waiting = {k: r for k, r in results.items() if r.failed and r.failed.transient and not last_attempt}
        done = {k: r for k, r in results.items() if k not in waiting}
        if RECORD in selected and done:
            yield from _record(context, catalog, events, store.bucket, done, settings, host)
        yield from _checks(context, checks, results)
        _end_step(results, waiting, settings, context)

    return frame_chain
