"""The daily review: one partition per UTC day that has review clips (``days``, added by the schedule in
schedules.py, which assembles the day's review at ``dailies_hour``); any other day can be added and run from
the UI (or ``proxygen dailies``). Downstream of the review clips it gathers."""
from datetime import date

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from proxygen_core.pipeline.dailies import build_daily
from proxygen_core.profiles import PRIMARY
from proxygen_core.settings import Settings
from proxygen_dagster.common import OWNERS, clip_asset_key
from proxygen_dagster.names import ASSET, GROUP, POOL, TAG
from proxygen_dagster.partitions import days
from proxygen_dagster.resources import CatalogResource, MediaStorage


def build_daily_review(settings: Settings) -> AssetsDefinition:
    @asset(name=ASSET.daily_review, partitions_def=days, group_name=GROUP, owners=OWNERS,
           kinds={"s3", "h264", "html"}, pool=POOL.io, op_tags={TAG.queue: settings.execution.io_queue},
           deps=[AssetDep(clip_asset_key(PRIMARY), partition_mapping=AllPartitionMapping())],
           description="The day's review clips (UTC), in shot order: one playlist movie (each shot behind a slate "
                       "card), one OpenTimelineIO timeline and one HTML contact sheet under "
                       ".proxies/dailies/<day>/, and, on a day of several shows, the same per show under "
                       ".proxies/dailies/<day>/<show>/.")
    def daily_review(context: AssetExecutionContext, storage: MediaStorage,
                     catalog: CatalogResource) -> MaterializeResult:
        store, db = storage.store(), catalog.open()
        day = date.fromisoformat(context.partition_key)
        overall = build_daily(store, db, day, settings)
        shows = sorted({r.show for r in overall.shots if r.show})
        # A day of one show: its page is the day's page (no second download and encode of the same playlist).
        per_show = {show: build_daily(store, db, day, settings, show) for show in shows} if len(shows) > 1 else {}
        def url(key):
            return (MetadataValue.url(f"s3://{store.bucket}/{key}"))
        return MaterializeResult(metadata={
            "shots": len(overall.shots), "pictures": overall.frames,
            "order": MetadataValue.json([r.shot or r.sequence for r in overall.shots]),
            **({"page": url(overall.keys["page"]), "playlist": url(overall.keys["playlist"]),
                "timeline": url(overall.keys["timeline"])} if overall.keys else {}),
            "shows": MetadataValue.json({s: {"shots": len(d.shots), "page": f"s3://{store.bucket}/{d.keys['page']}"}
                                         for s, d in per_show.items()})})

    return daily_review

