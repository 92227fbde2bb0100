"""What the frame domain adds to the code location."""
from dagster import Definitions

from proxygen_core.settings import Settings
from proxygen_dagster.frames.assets import build_frame_chain
from proxygen_dagster.frames.sensors import build_frame_sensors
from proxygen_dagster.jobs import Jobs


def build_frames_defs(settings: Settings, jobs: Jobs) -> Definitions:
    return Definitions(assets=[build_frame_chain(settings)], sensors=build_frame_sensors(settings, jobs))
