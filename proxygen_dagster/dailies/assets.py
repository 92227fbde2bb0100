"""The daily review: one partition per UTC day that has review clips (``days``, added by the schedule in
schedules.py, which assembles the day's review at ``dailies_hour``); any other day can be added and run from
the UI (or ``proxygen dailies``). Downstream of the review clips it gathers."""
from collections.abc import Iterator
from datetime import date

from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from proxygen_core.pipeline.dailies import build_daily
from proxygen_core.profiles import PRIMARY
from proxygen_core.settings import Settings
from proxygen_core.trackers import TrackerError
from proxygen_core.trackers.outbox import publish_playlist
from proxygen_dagster.common import OWNERS, clip_asset_key
from proxygen_dagster.names import ASSET, GROUP, POOL, TAG
from proxygen_dagster.partitions import days
from proxygen_dagster.resources import CatalogResource, MediaStorage


def build_daily_review(settings: Settings) -> AssetsDefinition:
    tracker = settings.trackers.tracker if settings.trackers.enabled else None
    checks = [AssetCheckSpec(ASSET.tracker_playlist, asset=AssetKey(ASSET.daily_review),
                             description=f"The day's published revisions as a {tracker} playlist "
                                         "(\"dailies <day>\", one per project; the same name is updated).")
              ] if tracker else []

    @asset(check_specs=checks, name=ASSET.daily_review, partitions_def=days, group_name=GROUP, owners=OWNERS,
           kinds={"s3", "h264", "html"}, pool=POOL.io, op_tags={TAG.queue: settings.execution.io_queue},
           deps=[AssetDep(clip_asset_key(PRIMARY), partition_mapping=AllPartitionMapping())],
           description="The day's review clips (UTC), in shot order: one playlist movie (each shot behind a slate "
                       "card), one OpenTimelineIO timeline and one HTML contact sheet under "
                       ".proxies/dailies/<day>/, and, on a day of several shows, the same per show under "
                       ".proxies/dailies/<day>/<show>/.")
    def daily_review(context: AssetExecutionContext, storage: MediaStorage,
                     catalog: CatalogResource) -> Iterator:
        store, db = storage.store(), catalog.open()
        day = date.fromisoformat(context.partition_key)
        overall = build_daily(store, db, day, settings)
        shows = sorted({r.show for r in overall.shots if r.show})
        # A day of one show: its page is the day's page (no second download and encode of the same playlist).
        per_show = {show: build_daily(store, db, day, settings, show) for show in shows} if len(shows) > 1 else {}
        def url(key):
            return (MetadataValue.url(f"s3://{store.bucket}/{key}"))
        yield MaterializeResult(metadata={
            "shots": len(overall.shots), "pictures": overall.frames,
            "order": MetadataValue.json([r.shot or r.sequence for r in overall.shots]),
            **({"page": url(overall.keys["page"]), "playlist": url(overall.keys["playlist"]),
                "timeline": url(overall.keys["timeline"])} if overall.keys else {}),
            "shows": MetadataValue.json({s: {"shots": len(d.shots), "page": f"s3://{store.bucket}/{d.keys['page']}"}
                                         for s, d in per_show.items()})})
        if tracker:
            yield _playlist_check(f"dailies {day.isoformat()}", overall.shots)

    def _playlist_check(name: str, rows: list) -> AssetCheckResult:
        """The tracker's playlist of the day, as a check: a tracker that is down or refuses fails the check with
        its cause (the review page and playlist movie in the bucket are made either way)."""
        try:
            made = publish_playlist(settings, name, rows)
        except TrackerError as exc:
            return AssetCheckResult(check_name=ASSET.tracker_playlist, passed=False, metadata={"error": str(exc)})
        published = sum(1 for r in rows if r.tracker_status == "published")
        return AssetCheckResult(check_name=ASSET.tracker_playlist, passed=made is not None or not rows,
                                metadata={"playlist": MetadataValue.url(made.url) if made else "",
                                          "revisions": published, "shots": len(rows)})

    return daily_review

