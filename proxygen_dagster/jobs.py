from dagster import AssetSelection, define_asset_job, in_process_executor


# The whole chain in one run, in one process: orchestration cost is paid per batch, not per file.
frames_job = define_asset_job(
    "proxygen_frames",
    selection=AssetSelection.groups("proxygen"),
    executor_def=in_process_executor,
    description="Source -> working frame -> thumbnail + proxy -> record, for one key or a range of keys.",
)
