"""Unattended: run workers SIGKILLed mid-render during a burst lose nothing and stall nothing.

Through a real `proxygen local` (SeaweedFS, Tansu, the daemon with its sensors, queue, forked run launcher and
run monitoring): 40 keys (one corrupt) land, two run workers are SIGKILLed while their batch renders, then 24 more
keys land. With no manual step every key ends with exactly one current row and one event per row version, the
render pool's slots are all free again, nothing of the killed workers is left in the cache, the killed runs are
tagged ``infrastructure`` and alerted (a webhook served by the test), and the batch with the corrupt frame is tagged
``content`` and not alerted.
"""
from __future__ import annotations

import os
import signal
import string
import time
from collections import Counter
from pathlib import Path

import pytest

from proxygen_dagster.names import JOB, POOL, TAG

pytestmark = pytest.mark.services
DEADLINE_SECONDS = 300  # the bound: every key done, with no manual step, within 5 minutes


def _names(count: int, start: int = 0) -> list[str]:
    """Keys without a frame number (plate_aa.exr ...): stills, so no sequence clip builds compete for the CPU."""
    letters = string.ascii_lowercase
    return [f"plate_{letters[i // 26]}{letters[i % 26]}.exr" for i in range(start, start + count)]


def _upload_frames(store, folder: Path, prefix: str, names: list[str]) -> list[str]:
    from proxygen_core.media.samples import write_sequence

    [path] = write_sequence(folder, frames=1, width=1280, height=720)
    keys = [f"{prefix}/{name}" for name in names]
    for key in keys:
        store.upload_file(path, key)
    return keys


def _kill_a_rendering_worker(instance, killed: dict[str, int], deadline: float) -> None:
    """SIGKILL the worker of a started frames run that has materialized at least one key: mid-render."""
    import dagster as dg

    from proxygen_dagster.launch.forked import WORKER_TAG, WorkerId

    while time.monotonic() < deadline:
        for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], job_name=JOB.frames)):
            if run.run_id in killed or WORKER_TAG not in run.tags:
                continue
            done = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION,
                                                limit=1).records
            if done:
                worker = WorkerId.parse(run.tags[WORKER_TAG])
                os.kill(worker.pid, signal.SIGKILL)
                killed[run.run_id] = worker.pid
                return
        time.sleep(0.05)
    raise AssertionError(f"no rendering run to kill within the time (killed so far: {killed})")


def test_killed_run_workers_lose_nothing_and_free_their_slots(tmp_path):
    import dagster as dg

    from proxygen_core.catalog import SQLiteCatalog
    from proxygen_core.errors import CONTENT, INFRASTRUCTURE

    from .kafka_helpers import consume_events
    from .local_stack import start_local
    from .webhook import Webhook

    hook = Webhook().start()
    local = start_local(tmp_path, {"PROXYGEN_BATCH_SIZE": "4", "PROXYGEN_ALERT_WEBHOOK_URL": hook.url})
    var, kafka = local.var, local.ports["kafka"]
    try:
        store = local.store()
        started = time.monotonic()
        keys = _upload_frames(store, tmp_path / "frames", "crash/sh010", _names(39))
        store.put_bytes("crash/sh010/plate_zz.exr", b"definitely not an image")  # one broken frame: content
        keys.append("crash/sh010/plate_zz.exr")
        killed: dict[str, int] = {}
        with dg.DagsterInstance.from_config(str(var / "dagster")) as instance:
            _kill_a_rendering_worker(instance, killed, time.monotonic() + 120)
            _kill_a_rendering_worker(instance, killed, time.monotonic() + 120)
            keys += _upload_frames(store, tmp_path / "frames", "crash/sh020", _names(24, 40))

            catalog_path = var / "catalog.db"
            rows: list = []
            while len(rows) < len(keys):
                assert local.proc.poll() is None, local.log[-3000:]
                assert time.monotonic() - started < DEADLINE_SECONDS, (
                    f"{len(rows)} of {len(keys)} keys done after {DEADLINE_SECONDS} s; missing "
                    f"{sorted(set(keys) - {r.s3_key for r in rows})[:8]}\n" + local.log[-3000:])
                time.sleep(1)
                rows = SQLiteCatalog(catalog_path).rows(limit=1000) if catalog_path.exists() else []
            elapsed = time.monotonic() - started
            catalog = SQLiteCatalog(catalog_path)
            current = catalog.rows(limit=1000)
            assert Counter(r.s3_key for r in current) == Counter(keys)  # exactly one current row per key
            assert {r.s3_key: r.status for r in current} == {
                **{k: "ok" for k in keys if not k.endswith("plate_zz.exr")}, "crash/sh010/plate_zz.exr": "failed"}
            # one event per row version: the current rows' events plus those of the versions they replaced
            versions = [r.event_id for r in current] + [h.event_id for h in catalog.history(1000)]
            outbox = [e.event_id for e in catalog.events(1000)]
            assert Counter(outbox) == Counter(versions)
            # A row is committed with its event before the event is sent: wait (bounded) for the outbox to drain.
            sent_by = time.monotonic() + 90
            while (pending := catalog.count("pending")) and time.monotonic() < sent_by:
                time.sleep(1)
            assert pending == 0, f"{pending} events still waiting in the outbox"
            published = consume_events(f"127.0.0.1:{kafka}", "spaceharbor.proxy", timeout=60)
            assert Counter(e["event_id"] for e in published) == Counter(versions)

            # The render pool's slots are free again (run monitoring frees a dead run's within seconds).
            free_by = time.monotonic() + 60
            while (claimed := instance.event_log_storage.get_concurrency_info(POOL.render).claimed_slots):
                assert time.monotonic() < free_by, f"slots still claimed: {claimed}"
                time.sleep(1)
            # Every failed run gets its class; only the killed ones (infrastructure) reach the webhook.
            runs = {r.run_id: r for r in instance.get_runs(dg.RunsFilter(job_name=JOB.frames))}
            failed = {rid for rid, r in runs.items() if r.status == dg.DagsterRunStatus.FAILURE}
            assert set(killed) <= failed
            tagged_by = time.monotonic() + 120
            while True:
                runs = {rid: instance.get_run_by_id(rid) for rid in failed}
                tags = {rid: r.tags.get(TAG.failure) for rid, r in runs.items()}
                if all(tags.values()) or time.monotonic() > tagged_by:
                    break
                time.sleep(2)
            assert {rid: tags[rid] for rid in killed} == {rid: INFRASTRUCTURE for rid in killed}, tags
            # the batch that held the corrupt frame (and its retry, had that batch's worker been one of the killed)
            content = {rid for rid, t in tags.items() if t == CONTENT}
            assert content and all(runs[rid].tags.get(TAG.partition, "") in ("", "crash/sh010/plate_zz.exr")
                                   for rid in content), tags
            assert set(tags.values()) == {CONTENT, INFRASTRUCTURE}, tags
            alerted = [a["run_id"] for a in hook.received]
            assert sorted(alerted) == sorted(rid for rid, t in tags.items() if t == INFRASTRUCTURE)
            assert all(a["failure"] == INFRASTRUCTURE and a["text"].startswith("proxygen: run ")
                       for a in hook.received)
        # Nothing of the killed workers is left in the cache (their retries swept it).
        cache = var / "cache"
        left = [p.name for p in cache.iterdir() if any(p.name.startswith(f"proc-{pid}-") for pid in killed.values())]
        assert left == [], left
        print(f"64 keys, two workers killed: done in {elapsed:.0f} s")
    finally:
        local.stop()
        hook.stop()
