from dagster import AssetSelection, define_asset_job, in_process_executor

from proxygen_core.pipeline.chain import STAGES

# The whole frame chain in one run, in one process: orchestration cost is paid per batch, not per file.
frames_job = define_asset_job(
    "proxygen_frames",
    selection=AssetSelection.assets(*STAGES),
    executor_def=in_process_executor,
    description="Source -> working frame -> thumbnail + proxy -> record, for one key or a range of keys.",
)

# One sequence's review clip (partitions: sequence patterns).
clips_job = define_asset_job(
    "proxygen_clips",
    selection=AssetSelection.assets("shot_clip"),
    executor_def=in_process_executor,
    description="The review clip and poster of one image sequence, from its frames' proxies.",
)
