"""What the domains share besides names: the owners of every asset, the code version of the rendered assets,
the clip assets' keys (the clips job and the daily review name them too) and the sensors' interval."""
from __future__ import annotations

from typing import Any

from dagster import AssetKey, DefaultSensorStatus, sensor

from proxygen_core import __version__
from proxygen_core.profiles import PRIMARY
from proxygen_core.settings import Settings
from proxygen_dagster.names import ASSET

OWNERS = ["team:pipeline"]


def code_version(settings: Settings) -> str:
    """A change of any render setting (or of the generator) changes the code version: outputs go stale."""
    return f"{__version__}-{settings.render.settings_hash()}"


def clip_asset_key(profile: str) -> AssetKey:
    """``shot_clip`` for the review clip (its key since the first release), ``shot_clip_<profile>`` otherwise."""
    return AssetKey(ASSET.shot_clip if profile == PRIMARY else f"{ASSET.shot_clip}_{profile}")


def every_interval(settings: Settings, name: str, job: Any, description: str, running: bool = True,
                   followup: bool = False) -> Any:
    """``@sensor`` requesting runs of ``job``, on the discovery interval (``PROXYGEN_SENSOR_INTERVAL_SECONDS``), or
    with ``followup`` on the interval of the sensors that follow finished work
    (``PROXYGEN_FOLLOWUP_SENSOR_INTERVAL_SECONDS``)."""
    pipeline = settings.pipeline
    interval = pipeline.followup_sensor_interval_seconds if followup else pipeline.sensor_interval_seconds
    return sensor(name=name, minimum_interval_seconds=interval, jobs=[job],
                  default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
                  description=description)
