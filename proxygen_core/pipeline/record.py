"""The record stage, for every caller: build the row, write it with its event in one transaction, publish.

The frame step, the clip step, the outbox sensor and the local run all record through here, so a row and
its event can never part and every caller publishes (or leaves events waiting in the outbox) the same way.
The sensors record here too: an object the registry of inputs ignores gets one ``skipped`` row and event
per version (``record_skipped``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proxygen_core import __version__
from proxygen_core.catalog import Catalog
from proxygen_core.catalog.inspector import InspectedFile, inspected_file
from proxygen_core.events.outbox import Publisher, PublishReport
from proxygen_core.events.schema import build_clip_event, build_event, event_id
from proxygen_core.pipeline.chain import KeyResult
from proxygen_core.pipeline.outputs import OUTPUT_KINDS
from proxygen_core.pipeline.stages import utc_now_iso
from proxygen_core.rows import FAILED, OK, SKIPPED, ClipRow, FrameRow
from proxygen_core.settings import GENERATOR, RenderSettings
from proxygen_core.store.identity import DEFAULT_LAYOUT, KeyLayout, identify, with_note
from proxygen_core.store.inputs import Input
from proxygen_core.store.keys import asset_id, file_id, is_private, proxy_id
from proxygen_core.store.s3 import ObjectInfo


@dataclass
class Recorded:
    rows: dict[str, FrameRow]  # key -> its row, as written
    report: PublishReport | None  # None: no broker configured, the events wait in the outbox


def frame_row(result: KeyResult, bucket: str, settings: RenderSettings, profile: str,
              layout: KeyLayout = DEFAULT_LAYOUT) -> FrameRow:
    """The catalog row for one source (superset of the original function's columns).

    A failed row names no output keys (nothing was published for it) and still carries the file_id
    whenever the object's LastModified is known, so it joins exr-inspector's table."""
    source, info, failed = result.source, result.info, result.failed
    details = result.frame_info or {}
    ok = failed is None
    key = result.key
    shot = identify(key, layout)  # a flagged one says its problem in the row's error, after any failure

    def public(media: Any, field: str) -> Any:
        return getattr(media, field) if ok and media is not None and not is_private(media.path) else None

    outputs: dict[str, Any] = {}  # each output kind's key, size and resolution columns (pipeline/outputs.py)
    for kind in OUTPUT_KINDS:
        media = getattr(result, kind.stage)
        for column, attr in ((kind.key_column, "path"), (kind.size_column, "size_bytes"),
                             (kind.resolution_column, "resolution")):
            if column is not None:
                outputs[column] = public(media, attr)
    row = FrameRow(
        proxy_id=proxy_id(bucket, key, profile),
        output_profile=profile,
        file_id=source.file_id if source else (file_id(key, info.last_modified) if info else None),
        s3_key=key,
        s3_bucket=bucket,
        asset_id=asset_id(key),
        status=OK if ok else FAILED,
        error=with_note(failed.message if failed else None, shot),
        failed_step=failed.step if failed else None,
        source_size_bytes=source.size_bytes if source else (info.size if info else None),
        source_colorspace=details.get("source_colorspace"),
        colorspace_rule=details.get("colorspace_rule"),
        review_layer=details.get("review_layer"),
        pixel_aspect_ratio=details.get("pixel_aspect_ratio"),
        nonfinite_pixels=details.get("nonfinite_pixels"),
        thumb_colorspace=settings.thumb_display,
        proxy_colorspace=settings.proxy_display,
        source_resolution=details.get("source_resolution"),
        processing_time_seconds=round(result.seconds, 4),
        generated_timestamp=utc_now_iso(),
        generator_version=f"{GENERATOR} {__version__}",
        etag=source.etag if source else (info.etag if info else None),
        mtime=source.mtime if source else (info.mtime if info else None),
        ocio_config=settings.ocio_config,
        ocio_view=details.get("view", settings.view),
        render_settings_hash=settings.settings_hash(),
        **outputs,
        **shot.columns(),
    )
    return row.but(event_id=event_id(row))


def inspected(result: KeyResult) -> InspectedFile | None:
    """exr-inspector's ``files``/``parts`` rows of an EXR whose header the source stage read (catalog/inspector.py),
    whether or not its render succeeded: the inspector reads headers only."""
    source = result.source
    if source is None:
        return None
    return inspected_file(source.key, source.size_bytes, source.mtime, source.file_id, source.probe)


def record_frames(catalog: Catalog, publisher: Publisher, bucket: str, results: dict[str, KeyResult],
                  settings: RenderSettings, layout: KeyLayout = DEFAULT_LAYOUT) -> Recorded:
    """One row per key and its event, in one transaction (an event can never be lost between the two), then
    a drain of the outbox. With ``exr_inspector_tables``, each EXR's ``files`` and ``parts`` rows go in the same
    transaction."""
    rows = {k: frame_row(r, bucket, settings, catalog.profile, layout) for k, r in results.items()}
    files = [f for f in map(inspected, results.values()) if f is not None] if catalog.inspector_tables else []
    catalog.write(list(rows.values()), [build_event(row, publisher.topic) for row in rows.values()], files)
    return Recorded(rows, publisher.drain(catalog))


def record_clip(catalog: Catalog, publisher: Publisher, row: ClipRow) -> bool:
    """A sequence's clip row and its event, then a drain. False when the catalog refused the row because a
    later plan's row is there already (its event is not sent: it would announce a stale state)."""
    written = catalog.write_clips([row], [build_clip_event(row, publisher.topic)])
    publisher.drain(catalog)
    return written > 0


def skipped_row(info: ObjectInfo, verdict: Input, bucket: str, profile: str,
                layout: KeyLayout = DEFAULT_LAYOUT) -> FrameRow:
    """The catalog row of an object the registry of inputs ignores (store/inputs.py), built like a failure row:
    the source's identity and version (key, etag, size, file_id, shot identity), status ``skipped`` and the reason
    in ``error``; nothing was rendered, so no output keys and no render settings. Why a row at all: an ignored
    object used to leave no trace but a log line, so a ``.psd`` or an extensionless frame vanished silently."""
    key = info.key
    shot = identify(key, layout)
    row = FrameRow(
        proxy_id=proxy_id(bucket, key, profile), output_profile=profile, file_id=file_id(key, info.last_modified),
        s3_key=key, s3_bucket=bucket, asset_id=asset_id(key), status=SKIPPED, error=with_note(verdict.reason, shot),
        source_size_bytes=info.size, processing_time_seconds=0.0, generated_timestamp=utc_now_iso(),
        generator_version=f"{GENERATOR} {__version__}", etag=info.etag, mtime=info.mtime,
        **shot.columns(),
    )
    return row.but(event_id=event_id(row))


def unrecorded(catalog: Catalog, bucket: str, versions: dict[str, str]) -> set[str]:
    """The keys (of key -> etag) whose version has no row yet, whatever the status of a row it has: a version
    is said once, and an object the pipeline rendered before is never turned into a skipped row."""
    ids = {proxy_id(bucket, key, catalog.profile): key for key in versions}
    known = catalog.etags(list(ids))
    return {key for pid, key in ids.items() if pid not in known or known[pid] != versions[key]}


def record_skipped(catalog: Catalog, publisher: Publisher, bucket: str, ignored: list[tuple[ObjectInfo, Input]],
                   layout: KeyLayout = DEFAULT_LAYOUT, drain: bool = True) -> Recorded:
    """A ``skipped`` row and its ``proxy.skipped`` event (one transaction) for each ignored object version that
    has no row yet; a version already recorded writes nothing, so a sweep meeting it again (a reset cursor, the
    other sensor) says nothing twice. ``drain=False`` (the sensors) leaves the events to the outbox sensor, so a
    slow broker never holds a tick; ``report`` is None then."""
    latest = {info.key: (info, verdict) for info, verdict in ignored}  # one per key: the last one listed
    new = unrecorded(catalog, bucket, {key: info.etag for key, (info, _) in latest.items()}) if latest else set()
    rows = {key: skipped_row(info, verdict, bucket, catalog.profile, layout)
            for key, (info, verdict) in latest.items() if key in new}
    if not rows:
        return Recorded({}, None)
    catalog.write(list(rows.values()), [build_event(row, publisher.topic) for row in rows.values()])
    return Recorded(rows, publisher.drain(catalog) if drain else None)
