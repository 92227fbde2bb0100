"""The frame sensors: S3 polling and S3 notifications add one partition per new key and request ranged batch
runs; follow_upstream completes a frame chain that was started part way.

Each tick is a module-level function of (context, resources, settings); ``build_frame_sensors`` only wraps
them with ``@sensor`` for one settings object (intervals, batch sizes and the notification topic are
settings), so a test builds them with its own settings instead of patching a module global."""

import hashlib
import json
import time
from datetime import datetime
from typing import Any

from dagster import (
    AssetKey,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
)

from proxygen_core.editorial.discovery import cut_keys_among
from proxygen_core.events.batching import Held, take_batches
from proxygen_core.events.notifications import Notification, commit, consume, triage
from proxygen_core.pipeline.chain import needed, stages_for
from proxygen_core.pipeline.record import record_skipped, unrecorded
from proxygen_core.pipeline.state import last_processed_etag
from proxygen_core.settings import Settings
from proxygen_core.store.discovery import Cursor, Skipped, scan
from proxygen_core.store.inputs import Input
from proxygen_core.store.s3 import ObjectInfo, ObjectStore
from proxygen_dagster.common import every_interval, tick_instance, tick_resources
from proxygen_dagster.jobs import Jobs
from proxygen_dagster.names import JOB, PARTITION, SENSOR, TAG, TRIGGER
from proxygen_dagster.partitions import frames
from proxygen_dagster.resources import CatalogResource, EventBus, MediaStorage

FRAME_RESOURCES = ("storage", "catalog", "events")


def frame_assets(settings: Settings) -> list[AssetKey]:
    """Every frame asset this deployment runs: the explicit selection of each frames run a sensor requests, so
    what a run targets is on the run itself (the UI's run page, follow_upstream) and not only in its plan."""
    return [AssetKey(stage) for stage in stages_for(settings)]


def ranged_request(batch: dict[str, str], source: str, assets: list[AssetKey]) -> RunRequest:
    """One run over consecutive partitions added together. ``RunRequest`` has no range argument: the range
    goes in the tags. The run key names every key@etag, so a repeated evaluation requests nothing twice."""
    keys = list(batch)
    ident = hashlib.sha256("|".join(f"{k}@{e}" for k, e in batch.items()).encode()).hexdigest()[:20]
    return RunRequest(run_key=f"{source}-{ident}", job_name=JOB.frames, asset_selection=assets,
                      tags={TAG.range_start: keys[0], TAG.range_end: keys[-1], TAG.keys: str(len(keys)),
                            TAG.trigger: source})


def reupload_request(key: str, etag: str, source: str, assets: list[AssetKey]) -> RunRequest:
    return RunRequest(run_key=f"{source}-{key}@{etag}", job_name=JOB.frames, partition_key=key,
                      asset_selection=assets, tags={TAG.trigger: TRIGGER.reupload(source)})


def plan_runs(context: SensorEvaluationContext, store, etags: dict[str, str], held: Held, source: str,
              settings: Settings) -> tuple[list[RunRequest], list[str], Held]:
    """Runs for found keys (key -> etag): new keys join the held burst and leave it in batches; a known key
    runs alone, and only if its etag differs from the one last processed (a re-upload)."""
    pipeline, assets, instance = settings.pipeline, frame_assets(settings), tick_instance(context)
    # Membership of just these keys (one bounded IN query), not a listing of every partition: at 1M
    # partitions the listing alone costs ~2 s per tick (benchmarks/bench_scale.py).
    known = instance.get_existing_dynamic_partitions(PARTITION.frames, list(etags)) if etags else set()
    batches, held = take_batches(held, {k: e for k, e in etags.items() if k not in known}, time.time(),
                                 pipeline.batch_size, pipeline.batch_settle_seconds, pipeline.batch_max_wait_seconds)
    emitted = {k: e for batch in batches for k, e in batch.items()}
    # Held keys another sensor (or a user) added meanwhile cannot sit inside a range: they run alone too.
    taken = instance.get_existing_dynamic_partitions(PARTITION.frames, list(emitted)) if emitted else set()
    alone = {**{k: etags[k] for k in known}, **{k: emitted[k] for k in taken}}
    requests = [reupload_request(k, e, source, assets) for k, e in alone.items()
                if last_processed_etag(store, k) != e]
    to_add: list[str] = []
    for batch in batches:
        batch = {k: e for k, e in batch.items() if k not in taken}
        if batch:
            requests.append(ranged_request(batch, source, assets))
            to_add += list(batch)
    return requests, to_add, held


def add_cuts(context: SensorEvaluationContext, cuts: dict[str, str]) -> None:
    """New cut keys become partitions of ``cuts``; the cut_conform sensor requests their builds (and rebuilds
    on a changed cut file, by its etag)."""
    if not cuts:
        return
    known = tick_instance(context).get_existing_dynamic_partitions(PARTITION.cuts, list(cuts))
    new = [k for k in cuts if k not in known]
    if new:
        tick_instance(context).add_dynamic_partitions(PARTITION.cuts, new)


def sensor_result(requests: list[RunRequest], to_add: list[str], cursor: str) -> SensorResult:
    return SensorResult(run_requests=requests, cursor=cursor,
                        dynamic_partitions_requests=[frames.build_add_request(to_add)] if to_add else [])



def below(stage: str, stages: tuple[str, ...]) -> set[str]:
    """The frame assets that depend on ``stage``, directly or through others (among ``stages``)."""
    return {s for s in stages if s != stage and stage in needed(frozenset({s}))}


def targeted_assets(instance, run_id: str) -> frozenset[str] | None:
    """The assets a run set out to materialize: its asset selection, else its execution plan's (a whole job,
    an ephemeral one), None if the run is gone."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return None
    keys = run.asset_selection
    if not keys and run.execution_plan_snapshot_id:
        plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        keys = plan.asset_selection if plan is not None else None
    return frozenset(k.to_user_string() for k in keys) if keys else None


def rest_of_chains(instance, state: dict, stages: tuple[str, ...], limit: int) -> tuple[dict[str, set[str]], dict]:
    """Per key, the frame assets a run left out below an asset it materialized, from the materializations
    since ``state`` (asset -> storage id, advanced in place). A run without an asset selection ran the whole
    job. On the first tick the cursor starts at the newest event: history is never re-requested.

    Why not Dagster's eager(): it evaluates every partition of the chain on every tick (6-10 CPU-s a tick at
    10,000 partitions, growing with them) and, for a run over a range of partitions, recognizes only the
    last partition as updated by a run that targeted the asset, so a batch's other keys looked updated from
    elsewhere and a tick racing the batch's events requested them again (issue 20, docs/pipeline.md)."""
    from dagster import AssetRecordsFilter

    wanted: dict[str, set[str]] = {}
    newest: dict[str, int] = {}
    selections: dict[str, frozenset[str] | None] = {}
    for stage in stages:
        rest = below(stage, stages)
        if not rest:
            continue
        after = state.get(stage)
        if after is None:
            latest = instance.fetch_materializations(AssetKey(stage), limit=1).records
            state[stage] = latest[0].storage_id if latest else 0
            continue
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(stage), after_storage_id=after), limit=limit, ascending=True).records
        for record in records:
            state[stage] = record.storage_id
            if record.run_id not in selections:
                selections[record.run_id] = targeted_assets(instance, record.run_id)
            chosen = selections[record.run_id]
            missing = set() if chosen is None else rest - chosen
            if missing and record.partition_key:
                wanted.setdefault(record.partition_key, set()).update(missing)
                newest[record.partition_key] = max(newest.get(record.partition_key, 0), record.storage_id)
    return wanted, newest


def record_skips(context: SensorEvaluationContext, catalog: CatalogResource, events: EventBus, bucket: str,
                 ignored: list[tuple[ObjectInfo, Input]], settings: Settings) -> str:
    """Record the ignored objects' new versions (a ``skipped`` row and event each, once per key and etag) and
    say so in the tick's log: ``"N skipped (reasons)"``, or "" when this tick recorded none. Why: an ignored
    object used to show only as a "passed over" line repeated on every tick, forever. The events wait for the
    outbox sensor: a slow broker never holds a tick. The catalog is opened only when there is something to say."""
    cuts = cut_keys_among([info for info, _ in ignored], settings.pipeline)
    add_cuts(context, cuts)  # editorial cuts are partitions of the cut asset, not skipped objects
    ignored = [(info, verdict) for info, verdict in ignored if info.key not in cuts]
    if not ignored:
        return ""
    recorded = record_skipped(catalog.open(), events.publisher(), bucket, ignored, settings.pipeline.key_layout(),
                              drain=False)
    if not recorded.rows:
        return ""
    reasons: dict[str, int] = {}
    for row in recorded.rows.values():
        reasons[row.error or ""] = reasons.get(row.error or "", 0) + 1
    note = f"{len(recorded.rows)} skipped ({'; '.join(f'{n} {why}' for why, n in sorted(reasons.items()))})"
    context.log.info(f"{note}: {', '.join(list(recorded.rows)[:5])}{' ...' if len(recorded.rows) > 5 else ''} "
                     "(proxygen records --status skipped)")
    return note


def heads_of(store: ObjectStore, catalog: CatalogResource,
             ignored: list[tuple[Notification, Input]]) -> list[tuple[ObjectInfo, Input]]:
    """The objects behind ignored notifications whose version has no row yet, as they are now (one HEAD each:
    the row gets the object's own etag, size and LastModified, the same row the polling sweep would write).
    An object gone since its notification gets no row."""
    from proxygen_core.errors import StorageError

    if not ignored:
        return []
    new = unrecorded(catalog.open(), store.bucket, {n.key: n.etag.strip('"') for n, _ in ignored})
    out = []
    for note, verdict in ignored:
        if note.key in new:
            try:
                out.append((store.head(note.key), verdict))
            except StorageError:
                continue
    return out


def s3_new_frames_tick(context: SensorEvaluationContext, storage: MediaStorage, catalog: CatalogResource,
                       events: EventBus, settings: Settings) -> SensorResult | SkipReason:
    """One tick of s3_new_frames: a bounded slice of the bucket listing, its new keys planned into runs."""
    pipeline = settings.pipeline
    store = storage.store()
    state = json.loads(context.cursor) if context.cursor else {}
    if "scan" not in state:  # a cursor from before batches were held: it is the scan cursor itself
        state = {"scan": context.cursor, "held": None}
    held = Held.from_json(state["held"])
    skipped = Skipped()
    found, cursor = scan(store, Cursor.loads(state["scan"], pipeline.start_moment()), pipeline.extension_set(),
                         pipeline.prefix, pipeline.max_keys_per_tick, skipped=skipped)
    said = record_skips(context, catalog, events, store.bucket, skipped.ignored, settings)
    requests: list[RunRequest] = []
    to_add: list[str] = []
    if found or held.keys:
        requests, to_add, held = plan_runs(context, store, {o.key: o.etag for o in found}, held, TRIGGER.s3poll,
                                           settings)
    new_cursor = json.dumps({"scan": cursor.dumps(), "held": held.to_json() if held.keys else None})
    if not requests and not to_add:
        context.update_cursor(new_cursor)
        why = (f"{len(held.keys)} new keys held until the upload burst settles" if held.keys
               else "only already-processed objects" if found else "no new objects")
        return SkipReason(f"{why}; {said}" if said else why)
    return sensor_result(requests, to_add, new_cursor)


def s3_notifications_tick(context: SensorEvaluationContext, storage: MediaStorage, events: EventBus,
                          catalog: CatalogResource, settings: Settings) -> SensorResult | SkipReason:
    """One tick of s3_notifications: the notifications since the committed offsets, planned like a listing."""
    pipeline = settings.pipeline
    from confluent_kafka import Consumer

    topic = events.notifications_topic
    if not events.bootstrap or not topic:
        return SkipReason("no Kafka bootstrap or notifications topic configured")
    state: dict[str, Any] = json.loads(context.cursor) if context.cursor else {"offsets": {}, "malformed": 0}
    if "start" not in state:  # start_from=now means the first tick: kept, so it never moves
        moment = pipeline.start_moment()
        state["start"] = moment.isoformat() if moment else None
    held = Held.from_json(state.get("held"))
    consumer = Consumer(events.consumer_config())
    try:
        commit(consumer, topic, state["offsets"])  # the previous tick's result is recorded: acknowledge it
        batch = consume(consumer, topic, state["offsets"], settings.events.notifications_max_messages, 5.0)
    finally:
        consumer.close()
    for problem in batch.malformed:
        context.log.warning(f"malformed S3 notification skipped: {problem}")
    state = {"offsets": batch.offsets, "malformed": state.get("malformed", 0) + len(batch.malformed),
             "start": state["start"]}
    store = storage.store()
    notes, ignored = triage(batch.notifications, store.bucket, pipeline.extension_set(),
                            datetime.fromisoformat(state["start"]) if state["start"] else None)
    said = record_skips(context, catalog, events, store.bucket, heads_of(store, catalog, ignored), settings)
    if not notes and not held.keys:
        context.update_cursor(json.dumps(state))  # malformed messages are counted once, never re-read
        if not said and not batch.malformed:
            return SensorResult(cursor=json.dumps(state))
        why = "no new objects" + (f" ({len(batch.malformed)} malformed messages skipped)" if batch.malformed else "")
        return SkipReason(f"{why}; {said}" if said else why)
    requests, to_add, held = plan_runs(context, store, {n.key: n.etag.strip('"') for n in notes}, held,
                                       TRIGGER.s3notify, settings)
    state["held"] = held.to_json() if held.keys else None
    return sensor_result(requests, to_add, json.dumps(state))


def follow_upstream_tick(context: SensorEvaluationContext, settings: Settings) -> SensorResult | SkipReason:
    """One tick of follow_upstream: the rest of each chain a run left out, one run per key."""
    pipeline = settings.pipeline
    state = json.loads(context.cursor) if context.cursor else {}
    wanted, newest = rest_of_chains(tick_instance(context), state, stages_for(settings), pipeline.max_keys_per_tick)
    requests = [RunRequest(run_key=f"follow-{key}-{newest[key]}", job_name=JOB.frames, partition_key=key,
                           asset_selection=[AssetKey(s) for s in stages_for(settings) if s in rest],
                           tags={TAG.trigger: TRIGGER.follow_upstream})
                for key, rest in wanted.items()]
    return SensorResult(run_requests=requests, cursor=json.dumps(state))


def build_frame_sensors(settings: Settings, jobs: Jobs) -> list[SensorDefinition]:
    """The frame sensors for these settings."""

    @every_interval(settings, SENSOR.s3_new_frames, jobs.frames,
                    "Lists the bucket in bounded slices (durable cursor), skips .proxies/, records every other "
                    "object that is not a frame source once per version as a skipped row, adds a partition per "
                    "new key and requests batch runs: full batches at once, a burst's remainder once no new key "
                    "arrived for the settle time.")
    def s3_new_frames(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        with tick_resources(context, FRAME_RESOURCES) as r:
            return s3_new_frames_tick(context, r["storage"], r["catalog"], r["events"], settings)

    @every_interval(settings, SENSOR.s3_notifications, jobs.frames,
                    "Consumes S3 bucket notifications (AWS/VAST Records JSON) from Kafka and adds partitions and batch "
                    "runs exactly like the polling sensor; offsets advance only after the tick was recorded.",
                    running=bool(settings.events.notifications_topic))
    def s3_notifications(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        with tick_resources(context, FRAME_RESOURCES) as r:
            return s3_notifications_tick(context, r["storage"], r["events"], r["catalog"], settings)

    @every_interval(settings, SENSOR.follow_upstream, jobs.frames,
                    "Completes a frame chain that was started part way: when a run materialized a frame asset without "
                    "the assets below it (source_frame alone, from the UI), requests those for that key. Reads only "
                    "the materializations since its cursor; the sensors' own batch runs select the whole chain.",
                    followup=True)
    def follow_upstream(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        return follow_upstream_tick(context, settings)

    return [s3_new_frames, s3_notifications, follow_upstream]
