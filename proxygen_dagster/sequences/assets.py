"""The deliverables of each image sequence: one asset per enabled clip profile, fed by the frame assets.

Their partitions are sequence patterns (``renders/sh010/beauty.####.exr``), added by the
``sequence_clips`` sensor, which also decides when a sequence has settled and its clips are due. One step
builds every selected profile in one pass over the working frames (the multi-asset can be subset, so one
profile can be rebuilt alone); each profile is its own asset with its own partition page, row, event and
``quality`` check. A profile that fails is not materialized, the others are, and the step then fails
naming it.
"""
import base64
from collections.abc import Iterator

from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from proxygen_core.errors import failure_class
from proxygen_core.media.clip_quality import figures_line
from proxygen_core.media.sequences import members_of, parse_pattern
from proxygen_core.pipeline.chain import WORKING
from proxygen_core.pipeline.record import record_clip
from proxygen_core.pipeline.sequence import ClipOutcome, build_clips_of, load_members
from proxygen_core.profiles import PROFILES, ClipProfile
from proxygen_core.settings import Settings
from proxygen_core.store.identity import IDENTITY_FIELDS, noted_problem
from proxygen_dagster.alerts import FAILURE_CLASS
from proxygen_dagster.common import OWNERS, clip_asset_key, code_version
from proxygen_dagster.names import ASSET, GROUP, PARTITION, POOL, TAG
from proxygen_dagster.partitions import sequences
from proxygen_dagster.resources import CatalogResource, EventBus, MediaStorage


def sequence_members(instance, pattern: str) -> list[str]:
    """The frame partitions that belong to a sequence (from the instance: no bucket listing)."""
    return members_of(instance.get_dynamic_partitions(PARTITION.frames), parse_pattern(pattern)[0])


def _describe(profile: ClipProfile) -> str:
    b = profile.bound
    metric = "deltaE ITP" if profile.hdr else "CIEDE2000"
    return (f"{profile.name}: {profile.stream_codec} {profile.pix_fmt} .{profile.container}, {profile.primaries}/"
            f"{profile.transfer}/{profile.matrix}, timecode track, gaps filled and listed, made from the working "
            f"frames. Quality bound: {metric} mean <= {b.de_mean}, p99 <= {b.de_p99}, PSNR >= {b.psnr_min} dB.")


def build_shot_clip(settings: Settings) -> AssetsDefinition:
    profiles = settings.pipeline.profiles()
    specs = [AssetSpec(clip_asset_key(p.name), group_name=GROUP, skippable=True, owners=OWNERS,
                       description=_describe(p),
                       code_version=f"{code_version(settings)}-{p.name}", kinds={"s3", p.stream_codec},
                       # Every frame's working frame feeds its sequence's clips; the mapping is by pattern, which
                       # Dagster's built-in mappings cannot express, so the edge is drawn from all frame partitions.
                       deps=[AssetDep(WORKING, partition_mapping=AllPartitionMapping())])
             for p in profiles]
    checks = [AssetCheckSpec(ASSET.quality, asset=clip_asset_key(p.name),
                             description="Sampled frames decoded and compared with the exact display render of the "
                                         "same working frames (PSNR, colour difference over 8x8 blocks).")
              for p in profiles]

    @multi_asset(name=ASSET.sequence_deliverables, specs=specs, check_specs=checks, can_subset=True,
                 partitions_def=sequences, pool=POOL.io, op_tags={TAG.queue: settings.execution.io_queue})
    def sequence_deliverables(context: AssetExecutionContext, storage: MediaStorage, catalog: CatalogResource,
                              events: EventBus) -> Iterator:
        store = storage.store()
        pattern = context.partition_key
        selected = set(context.selected_asset_keys)
        chosen = tuple(p for p in profiles if clip_asset_key(p.name) in selected)
        members = load_members(store, sequence_members(context.instance, pattern))
        db = catalog.open()
        plan, outcomes = build_clips_of(store, pattern, members, settings, db.profile, chosen,
                                        members_now=lambda: sequence_members(context.instance, pattern))
        publisher = events.publisher()
        failed, kinds = [], []
        for outcome in outcomes:
            if outcome.superseded or not record_clip(db, publisher, outcome.row):
                # The sequence changed during this build (or a newer plan's row is there): nothing of it was
                # published; the sensor requests the newer state's build. Not a failure, and not a partition.
                context.log.info(f"{outcome.profile}: superseded by a newer state of {pattern} (plan "
                                 f"{plan.planned_at}): not recorded")
                continue
            if not outcome.row.ok:
                failed.append(f"{outcome.profile}: {outcome.row.error}")
                kinds.append(outcome.error_kind)
                continue
            yield MaterializeResult(asset_key=clip_asset_key(outcome.profile), metadata=_metadata(store, outcome))
            quality = outcome.quality or {}
            yield AssetCheckResult(asset_key=clip_asset_key(outcome.profile), check_name=ASSET.quality,
                                   passed=bool(quality.get("passed")), metadata=_quality_metadata(quality))
        if failed:
            row = outcomes[0].row
            raise Failure(description=f"clips of {pattern} failed: " + "; ".join(failed),
                          metadata={"failed_frames": MetadataValue.json(row.failed),
                                    FAILURE_CLASS: failure_class(kinds)})

    return sequence_deliverables


def _quality_metadata(quality: dict) -> dict:
    bound = quality.get("bound") or {}
    return {"metric": quality.get("metric", ""), "de_mean": quality.get("de_mean"), "de_p99": quality.get("de_p99"),
            "psnr_db": quality.get("psnr_db"), "passed": bool(quality.get("passed")),
            "picture_fraction": quality.get("picture_fraction"),
            "frames_measured": MetadataValue.json(quality.get("frames", [])),
            "bound": MetadataValue.json(bound), "problems": MetadataValue.json(quality.get("problems", []))}


def _metadata(store, outcome: ClipOutcome) -> dict:
    row = outcome.row
    poster = outcome.poster
    return {
        "profile": outcome.profile, "codec": row.codec, "pix_fmt": row.pix_fmt,
        **{k: getattr(row, k) for k in IDENTITY_FIELDS if getattr(row, k) is not None},
        **({"identity_problem": problem} if (problem := noted_problem(row.error)) else {}),  # a flagged key
        "clip_uri": MetadataValue.url(f"s3://{store.bucket}/{row.clip_s3_key}"),
        "poster_uri": MetadataValue.url(f"s3://{store.bucket}/{row.poster_s3_key}"),
        "poster": MetadataValue.md(f"![poster](data:image/jpeg;base64,{base64.b64encode(poster).decode()})"
                                   if poster else ""),
        "frame_range": f"{row.first_frame}-{row.last_frame}", "frame_count": row.frame_count,
        "missing_frames": MetadataValue.json(row.missing),
        "failed_frames": MetadataValue.json(row.failed),
        "filled": MetadataValue.json({str(k): v for k, v in outcome.filled.items()}),
        "fps": row.fps, "start_timecode": row.start_timecode, "poster_frame": row.poster_frame,
        "resolution": row.clip_resolution, "size_bytes": row.clip_size_bytes,
        "quality": figures_line(row.quality_metric, row.quality_de_mean, row.quality_de_p99, row.quality_psnr_db,
                                None if row.quality_passed is None else bool(row.quality_passed),
                                PROFILES[outcome.profile].bound),
        "quality_passed": bool(row.quality_passed),
        "quality_picture_fraction": (outcome.quality or {}).get("picture_fraction"),
        # the grade (ASC CDL, colour/grades.py) and the OCIO config and processor the pictures went through
        **({"grade": f"slope {row.grade_slope} offset {row.grade_offset} power {row.grade_power} sat {row.grade_sat}",
            "grade_source": row.grade_source} if row.grade_source else {"grade": "none"}),
        "ocio_config": row.ocio_config or "", "ocio_cache_id": row.ocio_cache_id or "",
        "working_frames_redecoded": outcome.redecoded,
        **({"max_cll": outcome.light_levels[0], "max_fall": outcome.light_levels[1]} if outcome.light_levels else {}),
        **{k: v for k, v in outcome.timings.items()}, "frames_fingerprint": row.frames_fingerprint}
