"""What the cut domain adds to the code location: the cut asset, its job and the cut_conform sensor."""
from dagster import AssetSelection, Definitions, define_asset_job

from proxygen_core.settings import Settings
from proxygen_dagster.cuts.assets import build_cut_asset
from proxygen_dagster.cuts.sensors import build_cut_sensors
from proxygen_dagster.names import ASSET, JOB


def build_cuts_defs(settings: Settings) -> Definitions:
    job = define_asset_job(JOB.cuts, selection=AssetSelection.assets(ASSET.cut),
                           description="One editorial cut conformed to its shots' versions.")
    return Definitions(assets=[build_cut_asset(settings)], jobs=[job], sensors=build_cut_sensors(settings, job))
