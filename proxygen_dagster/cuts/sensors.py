"""The cut sensor: requests a cut's build when the cut is new, its file or its sound file changed (etag), or a
clip of any shot landed since its last build (a new ok version of a shot in the cut: the clip sensor's settle rule
has run), or, with ``PROXYGEN_CUT_VERSION=approved``, a review status of one of its shots' revisions changed in the
tracker (read every ``tracker_review_seconds``: trackers/reviews.py).

The tick is a module-level function of (context, resources, settings); ``build_cut_sensors`` wraps it. Each
tick reads the clip materializations since its cursor from the event log (no listing of the bucket); when
there are some, or a cut partition is new or its etag changed, it plans every such cut (the cut file and the
catalog's clip rows) and requests a build whose plan differs from the one last requested: the run key is the
plan's fingerprint (the cut's etag and each event's clip row), so an unchanged cut is never rebuilt.
"""
import json
import time

from dagster import (
    AssetRecordsFilter,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
)

from proxygen_core.editorial.build import cut_inputs, cut_show, plan_of
from proxygen_core.editorial.uses import forget_cut
from proxygen_core.errors import ConfigurationError, ProxygenError
from proxygen_core.settings import Settings
from proxygen_core.trackers import TrackerError, open_tracker
from proxygen_core.trackers.reviews import refresh_reviews
from proxygen_dagster.common import clip_asset_key, every_interval, tick_instance, tick_resources
from proxygen_dagster.names import JOB, PARTITION, SENSOR, TAG, TRIGGER
from proxygen_dagster.resources import CatalogResource, MediaStorage

CUTS_PER_TICK = 50  # cuts planned per tick (a HEAD and GET each, two targeted catalog reads each)


def clips_landed(instance, after: int | None, limit: int = 1000) -> tuple[bool, int | None]:
    """Whether a review clip was materialized since ``after``, and the newest storage id seen."""
    records = instance.fetch_materializations(AssetRecordsFilter(asset_key=clip_asset_key("review"),
                                                                 after_storage_id=after), limit=limit,
                                              ascending=True).records
    newest = max([after or 0, *(r.storage_id for r in records)]) if records else after
    return bool(records), newest


def cut_conform_tick(context: SensorEvaluationContext, storage: MediaStorage, catalog: CatalogResource,
                     settings: Settings) -> SensorResult | SkipReason:
    state = json.loads(context.cursor) if context.cursor else {"after": None, "etags": {}, "built": {}, "due": []}
    landed, state["after"] = clips_landed(tick_instance(context), state["after"])
    store = storage.store()
    keys = tick_instance(context).get_dynamic_partitions(PARTITION.cuts)
    due = set(state.get("due", [])) | (set(keys) if landed else set())
    for key in keys:
        try:
            etag = cut_inputs(store, key).version  # the cut file's etag and its sound file's
        except ProxygenError as exc:
            if not exc.transient and key in state["etags"]:  # the cut file is gone: nothing to build, and its
                forgotten(context, store, settings, key)        # marks on its shots go (once)
                state["etags"].pop(key, None)
            continue
        if state["etags"].get(key) != etag:
            due.add(key)
            state["etags"][key] = etag
    due |= reviewed(context, catalog, settings, state, set(keys))
    if not due:
        context.update_cursor(json.dumps(state))
        return SkipReason("no new cut, changed cut file, new clip or new approval")
    db = catalog.open()
    requests = []
    for key in sorted(due)[:CUTS_PER_TICK]:
        due.discard(key)
        try:
            plan, inputs = plan_of(store, key, db, settings)
            fingerprint = plan.fingerprint(inputs.version)
            state.setdefault("shots", {})[key] = sorted({p.match.shot for p in plan.events if p.match.shot})
        except Exception as exc:  # an unreadable cut: its build fails naming why (once per version of the file)
            fingerprint = f"unreadable-{state['etags'].get(key, '')}"
            context.log.warning(f"{key}: {exc}")
        if state["built"].get(key) == fingerprint:
            continue
        state["built"][key] = fingerprint
        requests.append(RunRequest(run_key=f"cut-{key}-{fingerprint}", job_name=JOB.cuts, partition_key=key,
                                   tags={TAG.trigger: TRIGGER.cut_changed}))
    state["due"] = sorted(due)
    return SensorResult(run_requests=requests, cursor=json.dumps(state))


def forgotten(context: SensorEvaluationContext, store, settings: Settings, key: str) -> None:
    """A deleted cut's marks on its shots removed, so it keeps no working frames of new versions."""
    show = cut_show(key, store.bucket_key(settings.pipeline.editorial_prefix))
    if show is None:
        return
    try:
        shots = forget_cut(store, key, store.bucket_key(settings.pipeline.editorial_folder(show)))
    except ProxygenError as exc:
        context.log.warning(f"{key} is gone; its shots' marks were not removed: {exc}")
        return
    context.log.info(f"{key} is gone: its marks on {shots} shot(s) removed")


def reviewed(context: SensorEvaluationContext, catalog: CatalogResource, settings: Settings, state: dict,
             keys: set[str]) -> set[str]:
    """The cuts to plan again because a revision of one of their shots changed review status (approved mode
    only, at most every ``tracker_review_seconds``); a tracker that is down or refuses is a warning, tried again
    at the next check."""
    trackers = settings.trackers
    if settings.pipeline.cut_version != "approved" or not trackers.enabled:
        return set()
    now = time.time()
    if now - state.get("reviews_checked", 0.0) < trackers.tracker_review_seconds:
        return set()
    state["reviews_checked"] = now
    state["shots"] = {k: v for k, v in state.get("shots", {}).items() if k in keys}  # a deleted cut's go
    unplanned = keys - set(state["shots"])  # never planned since approved mode was set: plan them now
    by_cut = {k: set(v) for k, v in state["shots"].items()}
    shots = set().union(*by_cut.values()) if by_cut else set()
    if not shots:
        return unplanned
    try:
        db = catalog.open()
        tracker = open_tracker(trackers)
        checked = refresh_reviews(db, tracker, db.shot_clips(shots, None, trackers.tracker_profile),
                                  state.get("reviews_at", 0))
    except (TrackerError, ConfigurationError, ProxygenError) as exc:
        context.log.warning(f"review status not read ({trackers.tracker}): {exc}")
        return set()
    state["reviews_at"] = checked.next_offset
    for error in checked.errors[:20]:
        context.log.warning(f"review status not read ({trackers.tracker}): {error}")
    changed = checked.changes
    for change in changed:
        context.log.info(f"{change.shot} v{change.version or 0:03d}: review {change.before} -> {change.after}")
    moved = {c.shot for c in changed}
    return unplanned | {key for key, cut_shots in by_cut.items() if cut_shots & moved}


def build_cut_sensors(settings: Settings, job) -> list[SensorDefinition]:
    @every_interval(settings, SENSOR.cut_conform, job,
                    "Requests an editorial cut's conform when the cut is new or changed, or a new clip of a shot "
                    "landed; the run key is the plan's fingerprint, so an unchanged cut is not built again.",
                    followup=True)
    def cut_conform(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        with tick_resources(context, ("storage", "catalog")) as r:
            return cut_conform_tick(context, r["storage"], r["catalog"], settings)

    return [cut_conform]
