"""The ``cut`` asset: one partition per editorial cut key, built by ``build_cut`` (proxygen_core/editorial).

A build reads the cut, matches its events to shots, picks each shot's version from the catalog's clip rows and
renders the cut movie, OTIO and page under the cut's ``.proxies/``; its row goes to ``proxy_cuts`` with a
``cut.generated`` event. The plan is stamped when the build starts (``planned_at``): a build that finishes after
a newer one is refused by the catalog, so it never replaces the newer row. A cut that cannot be read fails its
partition naming the line and the cause; nothing else is touched.
"""
import json

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryRequested,
    asset,
)

from proxygen_core.editorial.build import CutOutcome, build_cut
from proxygen_core.editorial.record import record_cut
from proxygen_core.settings import Settings
from proxygen_dagster.common import OWNERS, code_version
from proxygen_dagster.names import ASSET, GROUP, POOL, TAG
from proxygen_dagster.partitions import cuts
from proxygen_dagster.resources import CatalogResource, EventBus, MediaStorage


def build_cut_asset(settings: Settings) -> AssetsDefinition:
    check = AssetCheckSpec(ASSET.quality, asset=ASSET.cut,
                           description="Every cut movie (review and editorial profiles) decoded at 5 pictures and "
                                       "measured against the exact display render, within its profile's bound.")

    @asset(name=ASSET.cut, group_name=GROUP, partitions_def=cuts, owners=OWNERS, kinds={"s3", "otio"},
           check_specs=[check],
           code_version=f"{code_version(settings)}-cut", pool=POOL.io,
           op_tags={TAG.queue: settings.execution.io_queue},
           description="An editorial cut (EDL, OTIO, FCP XML, AAF) conformed to the latest ok version of each of "
                       "its shots: <cut>_cut.mp4, <cut>_cut.otio and <cut>_cut.html under the cut's .proxies/.")
    def cut(context: AssetExecutionContext, storage: MediaStorage, catalog: CatalogResource,
            events: EventBus) -> MaterializeResult:
        store = storage.store()
        db = catalog.open()
        outcome = build_cut(store, context.partition_key, db, settings, db.profile)
        if outcome.transient is not None:  # the store's hiccup: the last good row and its event stay; retried
            context.log.warning(f"cut {context.partition_key}: {outcome.row.error}; retrying the build")
            raise RetryRequested(max_retries=settings.pipeline.step_retries,
                                 seconds_to_wait=settings.pipeline.step_retry_wait_seconds) from outcome.transient
        publisher = events.publisher()
        written = record_cut(db, outcome.row, publisher.topic)
        publisher.drain(db)
        for warning in (outcome.plan.warnings if outcome.plan else ()):
            context.log.warning(warning)
        if not outcome.row.ok:
            raise Failure(description=f"cut {context.partition_key}: {outcome.row.error}")
        if not written:
            context.log.info(f"{context.partition_key}: a newer build's row is stored; this one is not recorded")
        return MaterializeResult(metadata=metadata(store, outcome), check_results=[quality_check(outcome)])

    return cut


def quality_check(outcome: CutOutcome) -> AssetCheckResult:
    """The cut's files' figures as the check: failed (an error) when one is out of its bound; a cut of cards
    alone has nothing to measure (passed, saying so)."""
    figures = outcome.row.quality_figures
    problems = {name: q["problems"] for name, q in figures.items() if q.get("problems")}
    return AssetCheckResult(check_name=ASSET.quality, passed=not problems, severity=AssetCheckSeverity.ERROR,
                            metadata={"figures": MetadataValue.json(figures), "problems": MetadataValue.json(problems),
                                      "measured": bool(figures)})


def metadata(store, outcome: CutOutcome) -> dict:
    row = outcome.row
    bucket = store.bucket
    return {"movie_uri": MetadataValue.url(f"s3://{bucket}/{row.movie_s3_key}"),
            "otio_uri": MetadataValue.url(f"s3://{bucket}/{row.otio_s3_key}"),
            "page_uri": MetadataValue.url(f"s3://{bucket}/{row.html_s3_key}"),
            "deliverables": MetadataValue.json({p: f"s3://{bucket}/{k}" for p, k in row.deliverable_keys.items()}),
            "audio_uri": f"s3://{bucket}/{row.audio_s3_key}" if row.audio_s3_key else "",
            "events": MetadataValue.json(row.event_list), "versions": MetadataValue.json(row.version_map),
            "matched_events": row.matched_events, "event_count": row.event_count,
            "missing_events": MetadataValue.json(json.loads(row.missing_events or "[]")),
            "frame_count": row.frame_count, "fps": row.fps, "start_timecode": row.start_timecode,
            "working_frames_redecoded": outcome.movie.redecoded if outcome.movie else 0,
            "working_frames_released": outcome.released,
            "fingerprint": row.fingerprint, **outcome.timings}
