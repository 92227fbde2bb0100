"""The asset chain, one dynamic partition per source key, run in batches (ranged runs).

Each step works key by key: a key that failed upstream, or fails here, is carried on as ``Failed``
and skipped by later steps, so one bad frame never stops the others of its batch. The last step,
``proxy_record``, reports every good key as materialized and then fails the step for the bad ones,
which is what the UI shows as failed partitions (retry them alone with a single-partition run).
"""

import base64
import shutil
from typing import Any, Callable, Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetMaterialization,
    AutomationCondition,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

from proxygen_core import __version__, qc
from proxygen_core.errors import ProxygenError
from proxygen_core.events import build_event, publish_pending
from proxygen_core.render import WorkingFrame
from proxygen_core.media import Media
from proxygen_core.steps import (
    Failed,
    SourceFrame,
    build_record,
    decode_source,
    frame_info,
    inspect_source,
    render_proxy,
    render_thumbnail,
    scratch_dir,
)

from .partitions import frames
from .resources import CatalogResource, EventBus, MediaStorage, ProxygenSettings

SETTINGS = ProxygenSettings().load()
# A change of any render setting (or of the generator) changes the code version: outputs go stale.
CODE_VERSION = f"{__version__}-{SETTINGS.render.settings_hash()}"
GROUP = "proxygen"
OWNERS = ["team:pipeline"]
BATCH_POLICY = BackfillPolicy.multi_run(max_partitions_per_run=max(1, SETTINGS.pipeline.batch_size))
COMMON: dict[str, Any] = dict(partitions_def=frames, group_name=GROUP, owners=OWNERS, code_version=CODE_VERSION,
                              backfill_policy=BATCH_POLICY)
# Downstream assets follow their inputs: materialize source_frame or working_frame alone (UI, CLI) and
# the automation sensor requests the rest of the chain for those partitions only. Full-chain batch runs
# update every asset in one run, so eager() has nothing left to request for them (tested).
DOWNSTREAM: dict[str, Any] = dict(COMMON, automation_condition=AutomationCondition.eager())


def each_key(context: AssetExecutionContext, step: str, upstream: dict[str, Any] | None,
             work: Callable[[str, Any], Any]) -> dict[str, Any]:
    """Run ``work`` per key of the batch; failures (here or upstream) become ``Failed`` entries."""
    results: dict[str, Any] = {}
    for key in context.partition_keys:
        item = upstream.get(key) if upstream is not None else None
        if isinstance(item, Failed):
            results[key] = item
            continue
        try:
            results[key] = work(key, item)
        except Exception as exc:  # recorded per key and surfaced by proxy_record's Failure, never dropped
            results[key] = Failed.of(key, step, exc)
            context.log.error(f"{key}: {results[key].message}")
    return results


def batch_metadata(results: dict[str, Any], extra: Callable[[str, Any], dict] | None = None) -> dict[str, Any]:
    ok = [k for k, v in results.items() if not isinstance(v, Failed)]
    failed = {k: v.message for k, v in results.items() if isinstance(v, Failed)}
    meta: dict[str, Any] = {"keys": len(results), "ok": len(ok), "failed": len(failed)}
    if failed:
        meta["failed_keys"] = MetadataValue.json(failed)
    if extra and len(results) == 1 and ok:
        meta.update(extra(ok[0], results[ok[0]]))
    elif extra and ok:
        rows = [extra(k, results[k]) for k in ok[:50]]
        cols = list(rows[0].keys())
        table = "| key | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols) + "\n"
        table += "\n".join(f"| {k} | " + " | ".join(str(r[c]) for c in cols) + " |" for k, r in zip(ok, rows))
        meta["per_key"] = MetadataValue.md(table)
    return meta


@asset(**COMMON, io_manager_key="source_io", kinds={"s3", "openimageio"}, pool="proxygen_io",
       description="The source object in S3: probe record (size, windows, channels, colour metadata), etag, mtime, "
                   "file_id. No copy of the pixels is stored.")
def source_frame(context: AssetExecutionContext, storage: MediaStorage) -> Output:
    store = storage.store()
    results = each_key(context, "source_frame", None,
                       lambda key, _: inspect_source(store, key, SETTINGS.render.max_pixels))
    return Output(results, metadata=batch_metadata(results, lambda k, s: {
        "uri": s.uri, "size_bytes": s.size_bytes, "etag": s.etag, "mtime": s.mtime, "file_id": s.file_id,
        "resolution": f"{s.probe['width']}x{s.probe['height']}", "channels": ",".join(s.probe["channels"]),
        "pixel_type": s.probe["pixel_type"]}))


@asset(**DOWNSTREAM, io_manager_key="working_io", kinds={"openexr", "opencolorio"}, pool="proxygen_render",
       check_specs=[AssetCheckSpec("finite_pixels", asset="working_frame",
                                   description="No NaN/Inf in the working frame.")],
       description="Scene-linear working-space intermediate at proxy resolution (half-float EXR), carrying the "
                   "detected source colour space and the rule that chose it.")
def working_frame(context: AssetExecutionContext, storage: MediaStorage,
                  source_frame: dict) -> Iterator[Any]:
    store = storage.store()

    def work(key: str, source: SourceFrame) -> WorkingFrame:
        frame = decode_source(store, source, SETTINGS.render)
        check = qc.check_finite(frame.pixels)
        if not check.passed:
            raise ValueError("; ".join(check.problems))
        return frame

    results = each_key(context, "working_frame", source_frame, work)
    yield Output(results, metadata=batch_metadata(results, lambda k, f: {
        **{kk: vv for kk, vv in frame_info(f).items()}, **{f"seconds_{n}": round(v, 3) for n, v in f.timings.items()}}))
    bad = {k: v.message for k, v in results.items() if isinstance(v, Failed) and v.step == "working_frame"}
    yield AssetCheckResult(check_name="finite_pixels", passed=not bad, metadata={"failed_keys": MetadataValue.json(bad)})


def _inline_thumbnail(path: str) -> str:
    data = base64.b64encode(open(path, "rb").read()).decode()
    return f"![thumbnail](data:image/jpeg;base64,{data})"


@asset(**DOWNSTREAM, io_manager_key="media_io", kinds={"s3", "jpeg"}, pool="proxygen_render",
       check_specs=[AssetCheckSpec("fits_box_with_aspect", asset="thumbnail"),
                    AssetCheckSpec("exposure", asset="thumbnail",
                                   description="Not an all-black or clipped-white frame; reports the fractions.")],
       description="JPEG thumbnail (fits 256x256, sRGB display) at <dir>/.proxies/<stem>_thumb.jpg.")
def thumbnail(context: AssetExecutionContext, working_frame: dict) -> Iterator[Any]:
    folder = scratch_dir(SETTINGS.storage.cache_dir)
    size_problems: dict[str, str] = {}
    exposure: dict[str, dict] = {}
    exposure_bad: dict[str, str] = {}

    def work(key: str, frame: WorkingFrame) -> tuple[str, Media]:
        path, media, pixels = render_thumbnail(frame, key, SETTINGS.render, folder)
        check = qc.check_thumbnail(media.width, media.height, frame.source_width, frame.source_height,
                                   SETTINGS.render.thumb_size)
        if not check.passed:
            size_problems[key] = "; ".join(check.problems)
            raise ValueError(size_problems[key])
        ex = qc.check_exposure(pixels)
        exposure[key] = ex.metrics
        if not ex.passed:
            exposure_bad[key] = "; ".join(ex.problems)
        return str(path), media

    results = each_key(context, "thumbnail", working_frame, work)
    meta = batch_metadata(results, lambda k, v: {"uri": f"s3://{SETTINGS.storage.s3_bucket}/{v[1].path}",
                                                 "resolution": v[1].resolution, "size_bytes": v[1].size_bytes})
    previews = [k for k, v in results.items() if not isinstance(v, Failed)][:4]
    if previews:
        meta["preview"] = MetadataValue.md("\n\n".join(f"**{k}**\n\n{_inline_thumbnail(results[k][0])}" for k in previews))
    yield Output(results, metadata=meta)
    shutil.rmtree(folder, ignore_errors=True)
    yield AssetCheckResult(check_name="fits_box_with_aspect", passed=not size_problems,
                           metadata={"failed_keys": MetadataValue.json(size_problems)})
    yield AssetCheckResult(check_name="exposure", passed=not exposure_bad, severity=AssetCheckSeverity.WARN,
                           metadata={"fractions": MetadataValue.json(exposure),
                                     "flagged_keys": MetadataValue.json(exposure_bad)})


@asset(**DOWNSTREAM, io_manager_key="media_io", kinds={"s3", "h264"}, pool="proxygen_render",
       check_specs=[AssetCheckSpec("playable_rec709", asset="proxy",
                                   description="h264, yuv420p, BT.709 tags, tv range, faststart, even dims within "
                                               "1920x1080, never upscaled.")],
       description="H.264 MP4 proxy (at most 1920x1080, Rec.709) at <dir>/.proxies/<stem>_proxy.mp4.")
def proxy(context: AssetExecutionContext, working_frame: dict) -> Iterator[Any]:
    folder = scratch_dir(SETTINGS.storage.cache_dir)
    problems: dict[str, str] = {}

    def work(key: str, frame: WorkingFrame) -> tuple[str, Media]:
        path, media = render_proxy(frame, key, SETTINGS.render, folder)
        check = qc.check_proxy(qc.mp4_info(path), frame.source_width, frame.source_height,
                               SETTINGS.render.proxy_max_width, SETTINGS.render.proxy_max_height)
        if not check.passed:
            problems[key] = "; ".join(check.problems)
            raise ValueError(problems[key])
        return str(path), media

    results = each_key(context, "proxy", working_frame, work)
    yield Output(results, metadata=batch_metadata(results, lambda k, v: {
        "uri": f"s3://{SETTINGS.storage.s3_bucket}/{v[1].path}", "resolution": v[1].resolution,
        "size_bytes": v[1].size_bytes, "seconds_encode": v[1].seconds}))
    shutil.rmtree(folder, ignore_errors=True)
    yield AssetCheckResult(check_name="playable_rec709", passed=not problems,
                           metadata={"failed_keys": MetadataValue.json(problems)})


@asset(**DOWNSTREAM, kinds={"sqlite", "kafka"}, pool="proxygen_io",
       check_specs=[AssetCheckSpec("outputs_in_s3", asset="proxy_record",
                                   description="Both outputs exist in S3 with the sizes recorded.")],
       description="One catalog row per source (ok or failed) plus its proxy.generated / proxy.failed event, "
                   "written together (transactional outbox) and published to Kafka.")
def proxy_record(context: AssetExecutionContext, storage: MediaStorage, catalog: CatalogResource, events: EventBus,
                 source_frame: dict, working_frame: dict, thumbnail: dict, proxy: dict) -> Iterator[Any]:
    store = storage.store()
    records: dict[str, dict] = {}
    failed: dict[str, str] = {}
    missing: dict[str, str] = {}
    for key in context.partition_keys:
        src, frame, th, px = source_frame.get(key), working_frame.get(key), thumbnail.get(key), proxy.get(key)
        fail = next((v for v in (src, frame, th, px) if isinstance(v, Failed)), None)
        seconds = 0.0
        if fail is None and isinstance(frame, WorkingFrame):
            seconds = sum(frame.timings.values()) + th.seconds + px.seconds
            for media in (th, px):
                try:
                    size = store.head(media.path).size
                except ProxygenError as exc:
                    missing[key] = f"{media.path} not readable in S3: {exc.cause}"
                    continue
                if size != media.size_bytes:
                    missing[key] = f"{media.path} is {size} bytes in S3, {media.size_bytes} recorded"
        if fail is None and key in missing:
            fail = Failed(key, "proxy_record", {"type": "StorageError", "cause": missing[key]})
        records[key] = build_record(
            src if isinstance(src, SourceFrame) else None, key, store.bucket, SETTINGS.render, catalog.output_profile,
            frame_info(frame) if isinstance(frame, WorkingFrame) else None,
            th if isinstance(th, Media) and fail is None else None, px if isinstance(px, Media) and fail is None else None,
            fail, seconds)
        if fail is not None:
            failed[key] = fail.message
    # Rows and their events in one transaction: an event can never be lost between the two.
    db = catalog.open()
    db.write(list(records.values()), [build_event(r, events.topic) for r in records.values()])
    published = publish_pending(db, events.producer_config(), events.timeout_seconds) if events.enabled else None
    context.log.info(f"{len(records) - len(failed)} records ok, {len(failed)} failed; events "
                     + (f"sent {published.sent}, pending {published.pending}" if published else "kept in the outbox"))
    yield AssetCheckResult(check_name="outputs_in_s3", passed=not missing,
                           metadata={"failed_keys": MetadataValue.json(missing)})
    good = [k for k in context.partition_keys if k not in failed]
    event_meta = {"events_sent": published.sent if published else 0,
                  "events_pending": published.pending if published else len(records)}
    if not failed:
        yield MaterializeResult(metadata={**event_meta, **batch_metadata(records, lambda k, r: {
            "status": r["status"], "proxy_id": r["proxy_id"], "file_id": r["file_id"],
            "thumbnail_uri": f"s3://{r['s3_bucket']}/{r['thumbnail_s3_key']}",
            "proxy_uri": f"s3://{r['s3_bucket']}/{r['proxy_s3_key']}",
            "source_colorspace": r["source_colorspace"], "processing_time_seconds": r["processing_time_seconds"]})})
        return
    for key in good:
        yield AssetMaterialization(asset_key=context.asset_key, partition=key,
                                   metadata={"status": "ok", "proxy_id": records[key]["proxy_id"],
                                             "file_id": records[key]["file_id"]})
    raise Failure(
        description=f"{len(failed)} of {len(records)} frames failed: "
                    + "; ".join(f"{k}: {m}" for k, m in list(failed.items())[:5]),
        metadata={"failed_keys": MetadataValue.json(failed), "ok_keys": len(good), **event_meta},
    )
