"""The cut sensor: requests a cut's build when the cut is new, its file or its sound file changed (etag), or a
clip of any shot landed since its last build (a new ok version of a shot in the cut: the clip sensor's settle rule
has run).

The tick is a module-level function of (context, resources, settings); ``build_cut_sensors`` wraps it. Each
tick reads the clip materializations since its cursor from the event log (no listing of the bucket); when
there are some, or a cut partition is new or its etag changed, it plans every such cut (the cut file and the
catalog's clip rows) and requests a build whose plan differs from the one last requested: the run key is the
plan's fingerprint (the cut's etag and each event's clip row), so an unchanged cut is never rebuilt.
"""
import json

from dagster import (
    AssetRecordsFilter,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
)

from proxygen_core.editorial.build import cut_inputs, plan_of
from proxygen_core.errors import ProxygenError
from proxygen_core.settings import Settings
from proxygen_dagster.common import clip_asset_key, every_interval, tick_resources
from proxygen_dagster.names import JOB, PARTITION, SENSOR, TAG, TRIGGER
from proxygen_dagster.resources import CatalogResource, MediaStorage

CLIP_ROWS = 100_000
CUTS_PER_TICK = 50  # cuts planned per tick (one HEAD and GET each, one catalog read per tick)


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
    landed, state["after"] = clips_landed(context.instance, state["after"])
    store = storage.store()
    keys = context.instance.get_dynamic_partitions(PARTITION.cuts)
    due = set(state.get("due", [])) | (set(keys) if landed else set())
    for key in keys:
        try:
            etag = cut_inputs(store, key).version  # the cut file's etag and its sound file's
        except ProxygenError:
            continue  # the cut file is gone: nothing to build
        if state["etags"].get(key) != etag:
            due.add(key)
            state["etags"][key] = etag
    if not due:
        context.update_cursor(json.dumps(state))
        return SkipReason("no new cut, changed cut file or new clip")
    rows = catalog.open().clips(CLIP_ROWS)
    requests = []
    for key in sorted(due)[:CUTS_PER_TICK]:
        due.discard(key)
        try:
            plan, inputs = plan_of(store, key, rows, settings)
            fingerprint = plan.fingerprint(inputs.version)
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


def build_cut_sensors(settings: Settings, job) -> list[SensorDefinition]:
    @every_interval(settings, SENSOR.cut_conform, job,
                    "Requests an editorial cut's conform when the cut is new or changed, or a new clip of a shot "
                    "landed; the run key is the plan's fingerprint, so an unchanged cut is not built again.",
                    followup=True)
    def cut_conform(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        with tick_resources(context, ("storage", "catalog")) as r:
            return cut_conform_tick(context, r["storage"], r["catalog"], settings)

    return [cut_conform]
