"""The sequence sensor: finds image sequences among finished frames and requests each settled sequence's
deliverables.

The tick is a module-level function of (context, resources, settings); ``build_sequence_sensors`` only wraps
it with ``@sensor`` for one settings object."""

import json
import time
from collections.abc import Callable

from dagster import RunRequest, SensorDefinition, SensorEvaluationContext, SensorResult, SkipReason

from proxygen_core.media.sequences import members_of, parse_frame, parse_pattern
from proxygen_core.pipeline.chain import RECORD
from proxygen_core.pipeline.sequence import build_fingerprint, due, load_members, profiles_signature
from proxygen_core.pipeline.sequence.plan import grade_digest, lacking_profiles, sequence_digest
from proxygen_core.settings import Settings, parse_grade_sources
from proxygen_dagster.common import clip_asset_key, every_interval, tick_instance, tick_resources
from proxygen_dagster.jobs import Jobs
from proxygen_dagster.names import JOB, PARTITION, SENSOR, TAG, TRIGGER
from proxygen_dagster.partitions import sequences
from proxygen_dagster.resources import MediaStorage


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


SEQUENCES_PER_TICK = 50  # members' states read per tick (one GET per frame): a tick stays well inside its timeout
GRADE_CHECKS_PER_TICK = 20  # built sequences whose grade is looked at again per check (a few GETs each), in turn
GRADE_CHECK_SECONDS = 30.0  # at most one such check this often (it lists the frame partitions)


def first_member(keys: list[str]) -> str | None:
    """The member with the lowest frame number (whose metadata may carry the grade)."""
    numbered = [(f.frame, k) for k in keys if (f := parse_frame(k)) is not None]
    return min(numbered)[1] if numbered else None


def regraded(state: dict, store, settings: Settings, members: Callable[[str], list[str]], now: float) -> None:
    """Built sequences whose grade changed since their build (a .cc uploaded or edited alone changes no frame,
    so nothing else would ask) are marked pending, due at once. A few per tick, in turn over every built
    sequence, so a grade change is seen within (built sequences / GRADE_CHECKS_PER_TICK) checks, one per
    GRADE_CHECK_SECONDS."""
    if not parse_grade_sources(settings.pipeline.grade_sources) or not state["built"]:
        return
    if now - state.get("grade_checked", 0.0) < GRADE_CHECK_SECONDS:
        return
    state["grade_checked"] = now
    built = sorted(state["built"])
    start = state.get("grade_at", 0) % len(built)
    chosen = (built[start:] + built[:start])[:GRADE_CHECKS_PER_TICK]
    state["grade_at"] = start + len(chosen)
    grades = state.setdefault("grades", {})
    for pattern in chosen:
        if pattern in state["pending"]:
            continue
        if grade_digest(store, pattern, first_member(members(pattern)), settings) != grades.get(pattern, ""):
            state["pending"][pattern] = now - settings.pipeline.clip_settle_seconds


def changed_profiles(state: dict, settings: Settings, now: float) -> None:
    """When the enabled (or slated) profiles differ from those a sequence was last built with (the signature
    part of its fingerprint), it lacks a deliverable: mark it pending again. Why here: no frame changes when a
    profile is enabled, so nothing else would ever ask for it. Read from each sequence's own fingerprint, so a
    change shipped with an upgrade (a cursor without ``profiles``) is seen too."""
    signature = profiles_signature(settings)
    if state.get("profiles") == signature:
        return
    state["profiles"] = signature
    for pattern, built in state["built"].items():
        if built.partition("-")[2] != signature:
            state["pending"].setdefault(pattern, now - settings.pipeline.clip_settle_seconds)


def clips_request(state: dict, pattern: str, fingerprint: str, settings: Settings) -> RunRequest | None:
    """The run of a sequence's clips: every profile; or, when only the profiles changed since its last build
    (the members' part of the fingerprint the same), only those that change left lacking, and None when it left
    none (a profile disabled). The run key counts the sequence's requests: a fingerprint that comes back
    (a slate switched off, then on again) is a new run, never one Dagster drops as already requested."""
    frames_now, _, _ = fingerprint.partition("-")
    frames_before, _, signature_before = state["built"].get(pattern, "").partition("-")
    selection = None
    if frames_before == frames_now and signature_before:
        lacking = lacking_profiles(signature_before, settings)
        if not lacking:
            return None
        selection = [clip_asset_key(name) for name in lacking]
    count = state.setdefault("requests", {})[pattern] = state.get("requests", {}).get(pattern, 0) + 1
    return RunRequest(run_key=f"clip-{fingerprint}-{count}", job_name=JOB.clips, partition_key=pattern,
                      asset_selection=selection,
                      tags={TAG.trigger: TRIGGER.sequence_settled, TAG.sequence: sequence_digest(pattern)})


def sequence_clips_tick(context: SensorEvaluationContext, storage: MediaStorage,
                        settings: Settings) -> SensorResult | SkipReason:
    """One tick of sequence_clips: sequences touched since the cursor, and the clips of those that settled."""
    pipeline = settings.pipeline
    state = json.loads(context.cursor) if context.cursor else {"after": None, "pending": {}, "built": {}}
    keys, state["after"] = touched_frames(tick_instance(context), state["after"])
    known = tick_instance(context).get_dynamic_partitions(PARTITION.sequences)
    by_identity = {parse_pattern(p)[0]: p for p in known}
    new_patterns: list[str] = []
    frame_keys: list[str] = []  # the frame partitions, listed once per tick and only when needed

    def all_frames() -> list[str]:
        if not frame_keys:
            frame_keys.extend(tick_instance(context).get_dynamic_partitions(PARTITION.frames))
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
    changed_profiles(state, settings, now)
    requests = []
    store = storage.store()
    regraded(state, store, settings, lambda p: members_of(all_frames(), parse_pattern(p)[0]), now)
    loads = 0
    for pattern, changed in list(state["pending"].items()):
        if now - changed < pipeline.clip_settle_seconds:
            continue
        if loads >= SEQUENCES_PER_TICK:
            break  # the rest stay pending for the next tick: a profile change marks every sequence at once
        loads += 1
        keys = members_of(all_frames(), parse_pattern(pattern)[0])
        members = load_members(store, keys)
        if not due(members, settings):
            continue  # frames still in flight: look again next tick
        del state["pending"][pattern]
        # the plan's fingerprint: the frames' versions, the grade and the enabled profiles (enabling one builds it
        # for all)
        grade = grade_digest(store, pattern, first_member(keys), settings)
        state.setdefault("grades", {})[pattern] = grade
        fingerprint = build_fingerprint(members, settings, grade)
        if state["built"].get(pattern) == fingerprint:
            continue
        request = clips_request(state, pattern, fingerprint, settings)
        state["built"][pattern] = fingerprint
        if request is not None:
            requests.append(request)
    return SensorResult(
        run_requests=requests,
        cursor=json.dumps(state),
        dynamic_partitions_requests=[sequences.build_add_request(new_patterns)] if new_patterns else [],
    )


def build_sequence_sensors(settings: Settings, jobs: Jobs) -> list[SensorDefinition]:
    """The sequence sensor for these settings."""

    @every_interval(settings, SENSOR.sequence_clips, jobs.clips,
                    "Finds image sequences among finished frames (incrementally, from the event log), adds a "
                    "partition per sequence and requests its clip once no frame has changed for the settle time "
                    "and every frame has finished; a late or re-rendered frame requests it again.", followup=True)
    def sequence_clips(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        with tick_resources(context, ("storage",)) as r:
            return sequence_clips_tick(context, r["storage"], settings)

    return [sequence_clips]
