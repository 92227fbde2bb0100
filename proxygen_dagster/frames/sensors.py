"""The sensors: S3 polling and S3 notifications add one partition per new key and request ranged batch
runs; the outbox publisher drains waiting events; sequence_clips requests each settled sequence's clip.

``build_sensors`` makes them for one settings object (intervals, batch sizes and the notification topic
are settings), so a test builds them with its own settings instead of patching a module global."""

import hashlib
import json
import time
from datetime import datetime

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from proxygen_core.events.batching import Held, take_batches
from proxygen_core.events.notifications import commit, consume, relevant
from proxygen_core.media.sequences import members_of, parse_frame, parse_pattern
from proxygen_core.pipeline.chain import RECORD, stages_for
from proxygen_core.pipeline.sequence import load_members
from proxygen_core.pipeline.state import last_processed_etag
from proxygen_core.settings import Settings
from proxygen_core.store.discovery import Cursor, Skipped, scan
from proxygen_dagster.frames.assets import DEPS
from proxygen_dagster.names import JOB, SENSOR, TAG, TRIGGER
from proxygen_dagster.partitions import frames, sequences
from proxygen_dagster.resources import CatalogResource, EventBus, MediaStorage


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
    pipeline, assets = settings.pipeline, frame_assets(settings)
    # Membership of just these keys (one bounded IN query), not a listing of every partition: at 1M
    # partitions the listing alone costs ~2 s per tick (benchmarks/bench_scale.py).
    known = context.instance.get_existing_dynamic_partitions(frames.name, list(etags)) if etags else set()
    batches, held = take_batches(held, {k: e for k, e in etags.items() if k not in known}, time.time(),
                                 pipeline.batch_size, pipeline.batch_settle_seconds, pipeline.batch_max_wait_seconds)
    emitted = {k: e for batch in batches for k, e in batch.items()}
    # Held keys another sensor (or a user) added meanwhile cannot sit inside a range: they run alone too.
    taken = context.instance.get_existing_dynamic_partitions(frames.name, list(emitted)) if emitted else set()
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


def sensor_result(requests: list[RunRequest], to_add: list[str], cursor: str) -> SensorResult:
    return SensorResult(run_requests=requests, cursor=cursor,
                        dynamic_partitions_requests=[frames.build_add_request(to_add)] if to_add else [])


def touched_frames(instance, after: int | None, limit: int = 1000) -> tuple[list[str], int | None]:
    """Frame keys whose record was written (ok: materialization, failed: observation) since ``after``."""
    from dagster import AssetKey, AssetRecordsFilter

    keys: list[str] = []
    newest = after
    truncated: list[int] = []
    flt = AssetRecordsFilter(asset_key=AssetKey(RECORD), after_storage_id=after)
    for fetch in (instance.fetch_materializations, instance.fetch_observations):
        records = fetch(flt, limit=limit, ascending=True).records
        for record in records:
            if record.partition_key:
                keys.append(record.partition_key)
            newest = max(newest or 0, record.storage_id)
        if len(records) >= limit:
            truncated.append(records[-1].storage_id)
    # A full page means more remain: resume from the earliest cut, so neither kind of event is skipped
    # (events read twice only mark their sequence pending again, which is harmless).
    return keys, min(truncated) if truncated else newest


def below(stage: str, stages: tuple[str, ...]) -> set[str]:
    """The frame assets that depend on ``stage``, directly or through others (among ``stages``)."""
    out: set[str] = set()
    for s in stages:
        parents, seen = list(DEPS.get(s, ())), set()
        while parents:
            p = parents.pop()
            if p == stage:
                out.add(s)
                break
            if p not in seen:
                seen.add(p)
                parents += DEPS.get(p, [])
    return out


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


def build_sensors(settings: Settings, frames_job, clips_job) -> list:
    """The code location's sensors for these settings."""
    pipeline = settings.pipeline

    def every_interval(name: str, job, description: str, running: bool = True):
        """A sensor on the pipeline's interval, requesting runs of ``job``."""
        return sensor(name=name, minimum_interval_seconds=pipeline.sensor_interval_seconds, jobs=[job],
                      default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
                      description=description)

    @every_interval(SENSOR.s3_new_frames, frames_job,
                    "Lists the bucket in bounded slices (durable cursor), skips .proxies/ and unsupported "
                    "extensions, adds a partition per new key and requests batch runs: full batches at once, "
                    "a burst's remainder once no new key arrived for the settle time.")
    def s3_new_frames(context: SensorEvaluationContext, storage: MediaStorage) -> SensorResult | SkipReason:
        store = storage.store()
        state = json.loads(context.cursor) if context.cursor else {}
        if "scan" not in state:  # a cursor from before batches were held: it is the scan cursor itself
            state = {"scan": context.cursor, "held": None}
        held = Held.from_json(state["held"])
        skipped = Skipped()
        found, cursor = scan(store, Cursor.loads(state["scan"], pipeline.start_moment()), pipeline.extension_set(),
                             pipeline.prefix, pipeline.max_keys_per_tick, skipped=skipped)
        if skipped.counts:  # shown in the tick's log in the UI, once per sweep over each object
            context.log.info(f"passed over: {skipped}")
        requests, to_add = [], []
        if found or held.keys:
            requests, to_add, held = plan_runs(context, store, {o.key: o.etag for o in found}, held, TRIGGER.s3poll,
                                               settings)
        new_cursor = json.dumps({"scan": cursor.dumps(), "held": held.to_json() if held.keys else None})
        if not requests and not to_add:
            context.update_cursor(new_cursor)
            return SkipReason(f"{len(held.keys)} new keys held until the upload burst settles" if held.keys
                              else "only already-processed objects" if found else "no new objects")
        return sensor_result(requests, to_add, new_cursor)


    @every_interval(SENSOR.s3_notifications, frames_job,
                    "Consumes S3 bucket notifications (AWS/VAST Records JSON) from Kafka and adds partitions and batch "
                    "runs exactly like the polling sensor; offsets advance only after the tick was recorded.",
                    running=bool(settings.events.notifications_topic))
    def s3_notifications(
        context: SensorEvaluationContext, storage: MediaStorage, events: EventBus
    ) -> SensorResult | SkipReason:
        from confluent_kafka import Consumer

        topic = events.notifications_topic
        if not events.bootstrap or not topic:
            return SkipReason("no Kafka bootstrap or notifications topic configured")
        state = json.loads(context.cursor) if context.cursor else {"offsets": {}, "malformed": 0}
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
        notes = relevant(batch.notifications, store.bucket, pipeline.extension_set(),
                         datetime.fromisoformat(state["start"]) if state["start"] else None)
        if not notes and not held.keys:
            context.update_cursor(json.dumps(state))  # malformed messages are counted once, never re-read
            return (
                SkipReason(f"no new objects ({len(batch.malformed)} malformed messages skipped)")
                if batch.malformed
                else SensorResult(cursor=json.dumps(state))
            )
        requests, to_add, held = plan_runs(context, store, {n.key: n.etag.strip('"') for n in notes}, held,
                                           TRIGGER.s3notify, settings)
        state["held"] = held.to_json() if held.keys else None
        return sensor_result(requests, to_add, json.dumps(state))


    @sensor(name=SENSOR.outbox_publisher, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
            description="Drains the catalog's event outbox to Kafka (events that waited while the broker was down).")
    def outbox_publisher(context: SensorEvaluationContext, catalog: CatalogResource, events: EventBus) -> SkipReason:
        if not events.enabled:
            return SkipReason("no Kafka bootstrap configured: events stay in the outbox (proxygen events)")
        report = events.publisher().drain(catalog.open())
        if report.broker_error:
            context.log.warning(f"Kafka refused or unreachable: {report.broker_error}")
        for event_id, error in list(report.errors.items())[:10]:
            context.log.warning(f"event {event_id} not delivered yet: {error}")
        return SkipReason(f"published {report.sent} of {report.attempted} pending events")



    @every_interval(SENSOR.sequence_clips, clips_job,
                    "Finds image sequences among finished frames (incrementally, from the event log), adds a "
                    "partition per sequence and requests its clip once no frame has changed for the settle time "
                    "and every frame has finished; a late or re-rendered frame requests it again.")
    def sequence_clips(context: SensorEvaluationContext, storage: MediaStorage) -> SensorResult | SkipReason:
        state = json.loads(context.cursor) if context.cursor else {"after": None, "pending": {}, "built": {}}
        keys, state["after"] = touched_frames(context.instance, state["after"])
        known = context.instance.get_dynamic_partitions(sequences.name)
        by_identity = {parse_pattern(p)[0]: p for p in known}
        new_patterns: list[str] = []
        frame_keys: list[str] = []  # the frame partitions, listed once per tick and only when needed

        def all_frames() -> list[str]:
            if not frame_keys:
                frame_keys.extend(context.instance.get_dynamic_partitions(frames.name))
            return frame_keys

        now = time.time()
        for key in keys:
            frame = parse_frame(key)
            if frame is None:
                continue
            pattern = by_identity.get(frame.sequence)
            if pattern is None:
                if len(members_of(all_frames(), frame.sequence)) < 2:
                    continue  # a lone file is not a sequence (yet)
                pattern = by_identity[frame.sequence] = frame.sequence.pattern(frame.padding)
                new_patterns.append(pattern)
            state["pending"][pattern] = now
        settings_hash = settings.render.settings_hash()
        requests = []
        store = storage.store()
        for pattern, changed in list(state["pending"].items()):
            if now - changed < pipeline.clip_settle_seconds:
                continue
            members = load_members(store, members_of(all_frames(), parse_pattern(pattern)[0]))
            if members.unfinished(settings_hash):
                continue  # frames still in flight: look again next tick
            del state["pending"][pattern]
            # the frames' versions and the enabled profiles: enabling a profile builds it for every sequence
            profiles = "+".join(p.name for p in pipeline.profiles())
            slates = "+".join(p.name for p in pipeline.slated())
            fingerprint = f"{members.fingerprint(settings_hash)}-{profiles}-slates-{slates}"
            if state["built"].get(pattern) == fingerprint:
                continue
            state["built"][pattern] = fingerprint
            requests.append(RunRequest(run_key=f"clip-{fingerprint}", job_name=JOB.clips, partition_key=pattern,
                                       tags={TAG.trigger: TRIGGER.sequence_settled}))
        return SensorResult(
            run_requests=requests,
            cursor=json.dumps(state),
            dynamic_partitions_requests=[sequences.build_add_request(new_patterns)] if new_patterns else [],
        )

    @every_interval(SENSOR.follow_upstream, frames_job,
                    "Completes a frame chain that was started part way: when a run materialized a frame asset without "
                    "the assets below it (source_frame alone, from the UI), requests those for that key. Reads only "
                    "the materializations since its cursor; the sensors' own batch runs select the whole chain.")
    def follow_upstream(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        state = json.loads(context.cursor) if context.cursor else {}
        wanted, newest = rest_of_chains(context.instance, state, stages_for(settings), pipeline.max_keys_per_tick)
        requests = [RunRequest(run_key=f"follow-{key}-{newest[key]}", job_name=JOB.frames, partition_key=key,
                               asset_selection=[AssetKey(s) for s in stages_for(settings) if s in rest],
                               tags={TAG.trigger: TRIGGER.follow_upstream})
                    for key, rest in wanted.items()]
        return SensorResult(run_requests=requests, cursor=json.dumps(state))

    return [s3_new_frames, s3_notifications, outbox_publisher, sequence_clips, follow_upstream]
