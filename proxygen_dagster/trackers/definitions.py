"""What the trackers domain adds to the code location: nothing unless a tracker is configured
(``PROXYGEN_TRACKER``); then the publish asset, its job and the sensor that drains the due publishes."""
from dagster import AssetSelection, Definitions, define_asset_job

from proxygen_core.settings import Settings
from proxygen_dagster.names import ASSET, JOB
from proxygen_dagster.trackers.assets import build_tracker_publish
from proxygen_dagster.trackers.sensors import build_tracker_sensors


def build_trackers_defs(settings: Settings) -> Definitions:
    if not settings.trackers.enabled:
        return Definitions()
    job = define_asset_job(JOB.publish, selection=AssetSelection.assets(ASSET.tracker_publish),
                           description=f"One clip's revision in {settings.trackers.tracker}.")
    return Definitions(assets=[build_tracker_publish(settings)], jobs=[job],
                       sensors=build_tracker_sensors(settings, job))
