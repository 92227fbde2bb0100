"""What the domains share besides names: the owners of every asset, the code version of the rendered assets,
the clip assets' keys (the clips job and the daily review name them too) and the sensors' interval."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from dagster import AssetKey, DagsterInstance, DefaultSensorStatus, SensorEvaluationContext, build_resources, sensor
from dagster._serdes import serialize_value

from proxygen_core import __version__
from proxygen_core.profiles import PRIMARY
from proxygen_core.settings import Settings
from proxygen_dagster.names import ASSET

OWNERS = ["team:pipeline"]


def code_version(settings: Settings) -> str:
    """A change of any render setting (or of the generator) changes the code version: outputs go stale."""
    return f"{__version__}-{settings.render.settings_hash()}"


def clip_asset_key(profile: str) -> AssetKey:
    """``shot_clip`` for the review clip (its key since the first release), ``shot_clip_<profile>`` otherwise."""
    return AssetKey(ASSET.shot_clip if profile == PRIMARY else f"{ASSET.shot_clip}_{profile}")


def every_interval(settings: Settings, name: str, job: Any, description: str, running: bool = True,
                   followup: bool = False) -> Any:
    """``@sensor`` requesting runs of ``job``, on the discovery interval (``PROXYGEN_SENSOR_INTERVAL_SECONDS``), or
    with ``followup`` on the interval of the sensors that follow finished work
    (``PROXYGEN_FOLLOWUP_SENSOR_INTERVAL_SECONDS``)."""
    pipeline = settings.pipeline
    interval = pipeline.followup_sensor_interval_seconds if followup else pipeline.sensor_interval_seconds
    return sensor(name=name, minimum_interval_seconds=interval, jobs=[job],
                  default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
                  description=description)


_INSTANCES: dict[str, DagsterInstance] = {}
_INSTANCES_LOCK = threading.Lock()


def tick_instance(context: SensorEvaluationContext) -> DagsterInstance:
    """The Dagster instance for a sensor tick, opened once per code-server process.

    Why: ``context.instance`` opens the instance from its reference again at every tick, and on SQLite that
    checks the storage's schema revision each time (alembic loads its revision scripts): a third of the code
    server's CPU during an ingest (docs/benchmarks.md, "Ingest"). One instance per reference serves every tick
    and thread (its storages open a connection per statement or keep a pool). A context without a reference (a
    test's ``build_sensor_context(instance=...)``) gets its own instance."""
    ref = context.instance_ref
    if ref is None:
        return context.instance
    key = serialize_value(ref)
    with _INSTANCES_LOCK:
        instance = _INSTANCES.get(key)
        if instance is None:
            instance = _INSTANCES[key] = DagsterInstance.from_ref(ref)
    return instance


_TICK_RESOURCES = threading.local()
MAX_CACHED_RESOURCE_SETS = 4  # per thread: one per sensor's set of resources (frames, clips, cuts, outbox)


@contextlib.contextmanager
def tick_resources(context: SensorEvaluationContext, keys: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The repository's resources ``keys`` for one sensor tick, initialized once per code-server thread.

    Why: a sensor that names resources (as parameters or ``required_resource_keys``) has them all built again by
    Dagster for each tick, and for these pydantic resources that is most of an idle tick (88 of 97 ms CPU for
    s3_new_frames: the config schemas are inferred afresh each time; the listing itself takes 9). So the sensors
    name none and take them from here: the code server's repository keeps the same resource definitions from
    tick to tick, and the resources built from them are kept per thread (a thread's catalog connection stays its
    own); a tick that raises drops its thread's copy, so the next tick starts from new ones (a dropped database
    connection is not kept). A context without a repository (a test's ``build_sensor_context(resources=...)``)
    gets Dagster's per-tick build of the resources it was given."""
    repository = context.repository_def
    defs = repository.get_top_level_resources() if repository is not None else {}
    if any(k not in defs for k in keys):
        yield {k: getattr(context.resources, k) for k in keys}
        return
    cache: dict[tuple, tuple] = _TICK_RESOURCES.__dict__.setdefault("cache", {})
    ident = tuple((k, id(defs[k])) for k in keys)
    entry = cache.get(ident)
    if entry is None:
        stack = contextlib.ExitStack()
        built = stack.enter_context(build_resources({k: defs[k] for k in keys}, instance=tick_instance(context)))
        # the definitions are held with their resources, so an id is never reused while its entry lives
        entry = cache[ident] = ([defs[k] for k in keys], stack, {k: getattr(built, k) for k in keys})
        while len(cache) > MAX_CACHED_RESOURCE_SETS:
            cache.pop(next(iter(cache)))[1].close()
    try:
        yield entry[2]
    except BaseException:
        if cache.pop(ident, None) is not None:
            entry[1].close()
        raise
