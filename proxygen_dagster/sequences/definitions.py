"""What the sequence domain adds to the code location."""
from dagster import Definitions

from proxygen_core.settings import Settings
from proxygen_dagster.jobs import Jobs
from proxygen_dagster.sequences.assets import build_shot_clip
from proxygen_dagster.sequences.sensors import build_sequence_sensors


def build_sequences_defs(settings: Settings, jobs: Jobs) -> Definitions:
    return Definitions(assets=[build_shot_clip(settings)], sensors=build_sequence_sensors(settings, jobs))
