"""One contract for every catalog backend: SQLite, PostgreSQL (a real server), VAST (fake with the SDK's
surface), VAST live (opt-in)."""
from __future__ import annotations

import os
import sqlite3
import threading
import uuid

import pyarrow as pa
import pytest

from proxygen_core.catalog import (
    OUTBOX,
    PROXY_OUTPUTS,
    SQLiteCatalog,
    proxy_id,
    sql_ddl,
)
from proxygen_core.events.schema import FAILED, GENERATED, build_event
from proxygen_core.rows import ClipRow, FrameRow

from . import fake_vastdb

LIVE = all(os.environ.get(v) for v in ("VAST_DB_ENDPOINT", "VAST_DB_ACCESS", "VAST_DB_SECRET", "VAST_DB_BUCKET"))


def _sqlite(tmp_path):
    c = SQLiteCatalog(tmp_path / "catalog.db")
    c.ensure()
    return c


def _postgres(tmp_path):
    from proxygen_core.catalog.postgres import PostgresCatalog

    from .conftest import fresh_postgres_dsn

    c = PostgresCatalog(fresh_postgres_dsn())
    c.ensure()
    return c


def _vast_fake(tmp_path):
    from proxygen_core.catalog.vast import VastCatalog

    server = fake_vastdb.Server(buckets=["proxygen-db"])
    c = VastCatalog("http://vast.example", "access", "secret", "proxygen-db", connect=fake_vastdb.connector(server))
    c.ensure()
    return c


def _vast_live(tmp_path):
    from proxygen_core.catalog.vast import VastCatalog

    c = VastCatalog(os.environ["VAST_DB_ENDPOINT"], os.environ["VAST_DB_ACCESS"], os.environ["VAST_DB_SECRET"],
                    os.environ["VAST_DB_BUCKET"], schema=f"proxygen_test_{uuid.uuid4().hex[:8]}")
    c.ensure()
    return c


BACKENDS = [pytest.param(_sqlite, id="sqlite"),
            pytest.param(_postgres, id="postgres"),
            pytest.param(_vast_fake, id="vast-fake"),
            pytest.param(_vast_live, id="vast-live", marks=pytest.mark.skipif(
                not LIVE, reason="live VAST DataBase test: set VAST_DB_ENDPOINT, VAST_DB_ACCESS, VAST_DB_SECRET, "
                                 "VAST_DB_BUCKET to run it"))]


@pytest.fixture(autouse=True)
def _server_for_backend(request):
    """Start the session's PostgreSQL only for the postgres cases (pytest.param cannot name a fixture)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("make") is _postgres:
        request.getfixturevalue("postgres_server")


def row(
    key: str,
    status: str = "ok",
    file_id: str | None = "f" * 16,
    etag: str = "e1",
    ts: str = "2026-11-21T10:00:00+00:00",
):
    return FrameRow.from_record({
        "proxy_id": proxy_id("frames", key, "review"), "file_id": file_id, "s3_key": key,
        "s3_bucket": "frames", "asset_id": key[:16], "status": status, "output_profile": "review",
        "error": "UnreadableSourceError at source_frame: bad" if status == "failed" else None,
        "thumbnail_s3_key": "x/.proxies/a_thumb.jpg", "proxy_s3_key": "x/.proxies/a_proxy.mp4",
        "thumbnail_size_bytes": 10 if status == "ok" else None, "proxy_size_bytes": 20 if status == "ok" else None,
        "generated_timestamp": ts, "etag": etag, "render_settings_hash": "abc",
    })


@pytest.mark.parametrize("make", BACKENDS)
def test_upsert_never_duplicates(make, tmp_path):
    c = make(tmp_path)
    r = row("shot/a.0001.exr")
    ev = build_event(r, "t")
    c.write([r], [ev])
    c.write([r], [build_event(r, "t")])  # re-processing: same row, same event id
    assert len(c.rows()) == 1
    assert c.history() == []  # the same version recorded again is no new version: nothing goes to history
    assert [e.event_id for e in c.events()] == [ev.event_id]
    c.ensure()  # idempotent
    assert len(c.rows()) == 1


@pytest.mark.parametrize("make", BACKENDS)
def test_failed_row_is_replaced_by_success(make, tmp_path):
    c = make(tmp_path)
    bad = row("shot/b.0001.exr", status="failed", file_id=None)
    c.write([bad], [build_event(bad, "t")])
    assert [r.status for r in c.rows()] == ["failed"]
    assert c.rows(status="failed")[0].error.startswith("UnreadableSourceError")
    good = row("shot/b.0001.exr", ts="2026-11-21T11:00:00+00:00")
    c.write([good], [build_event(good, "t")])
    rows = c.rows()
    assert len(rows) == 1 and rows[0].status == "ok" and rows[0].proxy_id == good.proxy_id
    kinds = sorted(e.body["type"] for e in c.events())
    assert kinds == sorted([FAILED, GENERATED])
    assert [h.status for h in c.history()] == ["failed"]  # the replaced version is kept in the history


@pytest.mark.parametrize("make", BACKENDS)
def test_one_current_row_per_source_whatever_its_versions(make, tmp_path):
    """Re-uploads (new mtime, same bytes) and new content replace the row; only changes go to history."""
    c = make(tmp_path)
    v1 = row("shot/c.0001.exr", file_id="a" * 16, etag="e1")
    c.write([v1], [build_event(v1, "t")])
    same_bytes = row("shot/c.0001.exr", file_id="b" * 16, etag="e1", ts="2026-11-21T12:00:00+00:00")
    c.write([same_bytes], [build_event(same_bytes, "t")])
    assert build_event(same_bytes, "t").event_id == build_event(v1, "t").event_id  # same content, same event
    v2 = row("shot/c.0001.exr", file_id="c" * 16, etag="e2", ts="2026-11-21T13:00:00+00:00")
    c.write([v2], [build_event(v2, "t")])
    rows = c.rows()
    assert len(rows) == 1 and rows[0].etag == "e2" and rows[0].file_id == "c" * 16
    assert len(c.events()) == 2  # e1 once, e2 once
    assert sorted(h.file_id for h in c.history()) == ["a" * 16, "b" * 16]


@pytest.mark.parametrize("make", BACKENDS)
def test_skipped_rows_and_the_recorded_versions(make, tmp_path):
    """What the sweep asks before recording an ignored object: the etag of each id's current row, in one query
    (ids without a row are absent); a skipped row lists by its status and carries a proxy.skipped event."""
    from proxygen_core.events.schema import SKIPPED_EVENT as SKIPPED

    c = make(tmp_path)
    assert c.etags([]) == {}
    skipped = row("art/matte.psd", etag="p1").but(status="skipped", error="unknown input: extension .psd",
                                                  thumbnail_s3_key=None, proxy_s3_key=None)
    ok = row("shot/e.0001.exr", etag="e7")
    c.write([skipped, ok], [build_event(skipped, "t"), build_event(ok, "t")])
    ids = [proxy_id("frames", k, "review") for k in ("art/matte.psd", "shot/e.0001.exr", "shot/none.exr")]
    assert c.etags(ids + ids[:1]) == {ids[0]: "p1", ids[1]: "e7"}
    assert [(r.s3_key, r.error) for r in c.rows(status="skipped")] == [("art/matte.psd",
                                                                             "unknown input: extension .psd")]
    assert c.count("rows", "skipped") == 1
    assert sorted(e.body["type"] for e in c.events()) == sorted([GENERATED, SKIPPED])


def with_events(make, tmp_path, n: int):
    """A catalog of the backend holding ``n`` rows and their pending events."""
    c = make(tmp_path)
    rows = [row(f"d/{i}.exr", file_id=f"{i:016d}") for i in range(n)]
    c.write(rows, [build_event(r, "t") for r in rows])
    return c


@pytest.mark.parametrize("make", BACKENDS)
def test_concurrent_drains_claim_before_sending(make, tmp_path):
    c = with_events(make, tmp_path, 5)
    first = c.claim_events("drain-1", 3, 60)
    second = c.claim_events("drain-2", 10, 60)
    assert len(first) == 3 and len(second) == 2
    assert not {e.event_id for e in first} & {e.event_id for e in second}
    assert c.claim_events("drain-3", 10, 60) == []  # everything is held
    c.release([first[0].event_id], "drain-1")
    assert [e.event_id for e in c.claim_events("drain-3", 10, 60)] == [first[0].event_id]
    c.mark_sent([e.event_id for e in second], "2026-11-21T12:00:00+00:00")
    assert c.claim_events("drain-4", 10, 60) == []  # nothing free: the others' leases still run


@pytest.mark.parametrize("make", BACKENDS)
def test_a_dead_drains_claim_expires_and_another_takes_the_events(make, tmp_path):
    c = with_events(make, tmp_path, 3)
    live = c.claim_events("alive", 1, 60)
    dead = c.claim_events("died", 10, -5)  # its lease ran out 5 s ago: the drain died holding it
    assert len(live) == 1 and len(dead) == 2
    taken = c.claim_events("next", 10, 60)
    assert sorted(e.event_id for e in taken) == sorted(e.event_id for e in dead)  # expired claims only
    assert c.claim_events("another", 10, 60) == []  # the live lease and the new one both hold
    c.release([e.event_id for e in taken], "died")  # the dead drain's late release changes nothing ...
    assert c.claim_events("another", 10, 60) == []  # ... the events stay with the drain that took them


@pytest.mark.parametrize("make", BACKENDS)
def test_outbox_pending_and_sent(make, tmp_path):
    c = make(tmp_path)
    rows = [row(f"s/{i}.exr", file_id=f"{i:016d}") for i in range(3)]
    events = [build_event(r, "topic") for r in rows]
    c.write(rows, events)
    assert {e.event_id for e in c.pending_events()} == {e.event_id for e in events}
    c.mark_attempted([events[0].event_id])
    c.mark_sent([events[0].event_id, events[1].event_id], "2026-11-21T12:00:00+00:00")
    assert [e.event_id for e in c.pending_events()] == [events[2].event_id]
    assert (c.count("rows"), c.count("rows", "ok"), c.count("rows", "failed")) == (3, 3, 0)
    assert (c.count("events"), c.count("pending"), c.count("clips"), c.count("history")) == (3, 1, 0, 0)
    c.mark_sent([events[0].event_id], "2030-01-01T00:00:00+00:00")  # first ack time is kept
    first = next(e for e in c.events() if e.event_id == events[0].event_id)
    assert first.sent_at == "2026-11-21T12:00:00+00:00" and first.attempts == 1


def test_event_schema_is_a_superset_of_the_original():
    body = build_event(row("renders/shot_010/beauty.0001.exr"), "spaceharbor.proxy").body
    for field in ("type", "asset_id", "thumbnail_uri", "proxy_uri", "thumbnail_size_bytes", "proxy_size_bytes",
                  "source_size_bytes", "timestamp", "project_id", "shot_id"):
        assert field in body
    assert body["schema"] == "proxygen.event/1" and body["type"] == GENERATED
    assert body["thumbnail_uri"] == "s3://frames/x/.proxies/a_thumb.jpg"
    assert build_event(row("k", status="failed"), "t").body["type"] == FAILED


def test_sqlite_additive_column_evolution(tmp_path):
    path = tmp_path / "old.db"
    old = pa.schema([f for f in PROXY_OUTPUTS if f.name not in ("render_settings_hash", "preview_s3_key")])
    with sqlite3.connect(path) as conn:
        conn.execute(sql_ddl("proxy_outputs", old, "proxy_id"))
        conn.execute(sql_ddl("proxy_events", OUTBOX, "event_id"))
        conn.execute("INSERT INTO proxy_outputs (proxy_id, s3_key, status) VALUES ('p', 'k', 'ok')")
    c = SQLiteCatalog(path)
    c.ensure()
    rows = c.rows()
    assert rows[0].proxy_id == "p" and rows[0].render_settings_hash is None and rows[0].preview_s3_key is None


def test_vast_additive_column_evolution_and_missing_bucket(tmp_path):
    from proxygen_core.catalog.vast import CatalogError, VastCatalog

    server = fake_vastdb.Server(buckets=["db"])
    with fake_vastdb.Session(server, "a", "s", "http://x").transaction() as tx:
        old = pa.schema([f for f in PROXY_OUTPUTS if f.name != "error"])
        tx.bucket("db").create_schema("exr_metadata").create_table("proxy_outputs", old)
    c = VastCatalog("http://x", "a", "s", "db", connect=fake_vastdb.connector(server))
    c.ensure()
    with fake_vastdb.Session(server, "a", "s", "http://x").transaction() as tx:
        names = tx.bucket("db").schema("exr_metadata").table("proxy_outputs").arrow_schema.names
    assert "error" in names
    nobucket = VastCatalog("http://x", "a", "s", "missing-bucket", connect=fake_vastdb.connector(server))
    with pytest.raises(CatalogError, match="does not exist"):
        nobucket.ensure()


def test_vast_write_is_one_transaction(tmp_path):
    """A failure half-way (event insert refused) leaves neither the row nor the event."""
    from proxygen_core.catalog.vast import CatalogError

    c = _vast_fake(tmp_path)
    r = row("t/x.exr")
    ev = build_event(r, "t")
    original = fake_vastdb.Table.insert

    def failing_insert(self, rows, by_columns=True):
        if self.name == "proxy_events":
            from vastdb import errors

            raise errors.ServiceUnavailable(
                code="SlowDown", message="busy", method="POST", url="fake", status=503, headers={}
            )
        return original(self, rows, by_columns)

    fake_vastdb.Table.insert = failing_insert
    try:
        with pytest.raises(CatalogError, match="ServiceUnavailable"):
            c.write([r], [ev])
    finally:
        fake_vastdb.Table.insert = original
    assert c.rows() == [] and c.events() == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sql_catalogs_are_safe_with_concurrent_writers(backend, tmp_path, request):
    """Four writers (threads with their own connections; hosts in a cluster) on the same rows."""
    if backend == "postgres":
        request.getfixturevalue("postgres_server")
        from proxygen_core.catalog.postgres import PostgresCatalog

        from .conftest import fresh_postgres_dsn

        dsn = fresh_postgres_dsn()
        open_one = lambda: PostgresCatalog(dsn)  # noqa: E731
    else:
        open_one = lambda: SQLiteCatalog(tmp_path / "c.db")  # noqa: E731
    open_one().ensure()
    errors: list[Exception] = []

    def writer(n: int) -> None:
        c = open_one()
        try:
            for i in range(25):
                r = row(f"w{n}/{i}.exr", file_id=f"{n:08d}{i:08d}")
                c.write([r], [build_event(r, "t")])
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    c = open_one()
    assert len(c.rows(limit=1000)) == 100 and len(c.pending_events(1000)) == 100


@pytest.mark.parametrize("make", BACKENDS)
def test_clip_rows_one_per_sequence(make, tmp_path):
    from proxygen_core.catalog import PROXY_CLIPS
    from proxygen_core.events.schema import (
        CLIP_GENERATED,
        build_clip_event,
        clip_event_id,
    )

    c = make(tmp_path)
    base = {n: None for n in PROXY_CLIPS.names}
    row = {
        **base,
        "clip_id": "c1",
        "sequence": "s/beauty.####.exr",
        "s3_bucket": "frames",
        "status": "ok",
        "clip_s3_key": "s/.proxies/beauty.exr_clip.mp4",
        "first_frame": 1001,
        "last_frame": 1024,
        "frame_count": 24,
        "missing_frames": "[1005]",
        "failed_frames": "[1010]",
        "fps": 24.0,
        "start_timecode": "00:00:41:17",
        "frames_fingerprint": "f1",
        "generated_timestamp": "2026-11-21T10:00:00+00:00",
    }
    row = ClipRow.from_record(row)
    row = row.but(event_id=clip_event_id(row))
    c.write_clips([row], [build_clip_event(row, "t")])
    rebuilt = row.but(frames_fingerprint="f2", generated_timestamp="2026-11-21T11:00:00+00:00")
    rebuilt = rebuilt.but(event_id=clip_event_id(rebuilt))
    c.write_clips([rebuilt], [build_clip_event(rebuilt, "t")])
    clips = c.clips()
    assert len(clips) == 1 and clips[0].frames_fingerprint == "f2"
    bodies = [e.body for e in c.events() if e.body["type"] == CLIP_GENERATED]
    assert len(bodies) == 2 and bodies[0]["missing_frames"] == [1005] and bodies[0]["failed_frames"] == [1010]


def test_several_hosts_on_a_sqlite_catalog_are_refused():
    from proxygen_core.settings import load_settings

    with pytest.raises(ValueError, match="PROXYGEN_CATALOG_BACKEND=postgres"):
        load_settings(env={"PROXYGEN_EXECUTOR": "celery"})
    with pytest.raises(ValueError, match="PROXYGEN_POSTGRES_DSN"):
        load_settings(env={"PROXYGEN_EXECUTOR": "celery", "PROXYGEN_CATALOG_BACKEND": "postgres"})
    ok = load_settings(env={"PROXYGEN_EXECUTOR": "celery", "PROXYGEN_CATALOG_BACKEND": "postgres",
                            "PROXYGEN_POSTGRES_DSN": "postgresql://proxygen:pw@db.studio/proxygen"})
    assert ok.execution.executor == "celery"


def test_postgres_catalog_unreachable_is_a_clear_transient_error():
    from proxygen_core.catalog.postgres import CatalogUnavailableError, PostgresCatalog
    from proxygen_core.services.process import free_port

    c = PostgresCatalog(f"postgresql://proxygen:hunter2@127.0.0.1:{free_port()}/proxygen")
    with pytest.raises(CatalogUnavailableError) as info:
        c.ensure()
    assert info.value.transient and "hunter2" not in str(info.value) and "127.0.0.1" in str(info.value)


@pytest.mark.parametrize("make", BACKENDS)
def test_an_older_plans_clip_row_never_replaces_a_newer_ones(make, tmp_path):
    """Two builds of one sequence finishing out of order: the row (and event) of the plan made earlier is refused
    once a later plan's row is stored; a row without a plan stamp (older releases) is never blocked."""
    from proxygen_core.events.schema import build_clip_event, clip_event_id

    c = make(tmp_path)

    def clip(fingerprint: str, planned: int | None) -> ClipRow:
        row = ClipRow(clip_id="c1", sequence="s/b.####.exr", s3_bucket="frames", status="ok", planned_at=planned,
                      frames_fingerprint=fingerprint, generated_timestamp=f"2026-12-01T10:00:0{planned or 0 % 10}")
        return row.but(event_id=clip_event_id(row))

    newer, older = clip("new", 2000), clip("old", 1000)
    assert c.write_clips([newer], [build_clip_event(newer, "t")]) == 1
    assert c.write_clips([older], [build_clip_event(older, "t")]) == 0  # finished last, planned first: refused
    assert [r.frames_fingerprint for r in c.clips()] == ["new"]
    assert [e.event_id for e in c.events()] == [newer.event_id]  # the stale state is never announced
    legacy = clip("legacy", None)
    assert c.write_clips([legacy], [build_clip_event(legacy, "t")]) == 1
    assert [r.frames_fingerprint for r in c.clips()] == ["legacy"]


@pytest.mark.parametrize("make", BACKENDS)
def test_tracker_publish_state_is_claimed_once_and_kept_for_its_build(make, tmp_path):
    """A due publish is claimed by one publisher only; its result is written only to the build it published (a
    rebuild meanwhile stays pending); a backoff keeps a clip out of the due list until its time."""
    c = make(tmp_path)
    clip = ClipRow(clip_id="c1", sequence="s/b.####.exr", s3_bucket="frames", status="ok", planned_at=100,
                   generated_timestamp="2026-12-02T10:00:00+00:00", tracker_status="pending", tracker_attempts=0)
    assert c.write_clips([clip], []) == 1
    now, lease = "2026-12-02T10:01:00.000+00:00", "2026-12-02T10:11:00.000+00:00"
    assert [r.clip_id for r in c.tracker_due(now)] == ["c1"]
    claim = {"tracker_attempts": 1, "tracker_retry_at": lease}
    assert c.update_tracker("c1", 100, claim, claim_at=now) is True
    assert c.update_tracker("c1", 100, claim, claim_at=now) is False  # the second publisher gets nothing
    assert c.tracker_due(now) == []  # leased
    assert [r.clip_id for r in c.tracker_due("2026-12-02T10:12:00.000+00:00")] == ["c1"]  # a dead claim expires
    # a rebuild (a later plan) replaces the row: the first build's result must not mark it published
    assert c.write_clips([clip.but(planned_at=200)], []) == 1
    assert c.update_tracker("c1", 100, {"tracker_status": "published", "tracker_url": "u"}) is False
    assert c.clip("c1").tracker_status == "pending"
    assert c.update_tracker("c1", 200, {"tracker_status": "published", "tracker_url": "http://k/rev/1",
                                        "tracker_revision": "rev-1", "tracker_error": None}) is True
    stored = c.clip("c1")
    assert (stored.tracker_status, stored.tracker_url, stored.tracker_revision) == ("published", "http://k/rev/1",
                                                                                     "rev-1")
    assert c.tracker_due("2026-12-03T00:00:00.000+00:00") == []
    assert c.clip("nope") is None
    with pytest.raises(ValueError, match="not tracker columns"):
        c.update_tracker("c1", 200, {"status": "failed"})


@pytest.mark.parametrize("make", BACKENDS)
def test_a_claim_token_owns_the_outcome_and_a_forced_claim_never_takes_a_live_one(make, tmp_path, monkeypatch):
    """Every publish path claims: a forced claim (a re-publish) takes any rendered row but not one whose claim is
    live; the outcome is written only by the token that holds the row (a claimer taken over cannot overwrite)."""
    from proxygen_core.catalog.vast import VastCatalog

    monkeypatch.setattr(VastCatalog, "CLAIM_SETTLE_SECONDS", 0.0)
    c = make(tmp_path)
    clip = ClipRow(clip_id="c1", sequence="s/b.####.exr", s3_bucket="frames", status="ok", planned_at=100,
                   generated_timestamp="2026-12-02T10:00:00+00:00", tracker_status="published", tracker_attempts=1)
    assert c.write_clips([clip], []) == 1
    now, lease, later = ("2026-12-02T10:01:00+00:00", "2026-12-02T10:16:00+00:00", "2026-12-02T10:17:00+00:00")

    def claim(token):
        return {"tracker_status": "pending", "tracker_retry_at": lease, "tracker_claim": token}

    assert c.update_tracker("c1", 100, claim("sensor"), claim_at=now) is False  # published: not due
    assert c.update_tracker("c1", 100, claim("ui"), claim_at=now, force=True) is True  # a re-publish claims it
    assert c.update_tracker("c1", 100, claim("backfill"), claim_at=now, force=True) is False  # held by "ui"
    assert c.update_tracker("c1", 100, claim("sensor"), claim_at=now) is False
    assert c.update_tracker("c1", 100, claim("late"), claim_at=later, force=True) is True  # "ui"'s lease ran out
    outcome = {"tracker_status": "published", "tracker_claim": None, "tracker_retry_at": None}
    assert c.update_tracker("c1", 100, outcome, owner="ui") is False  # taken over: its outcome is not written
    assert c.clip("c1").tracker_claim == "late"
    assert c.update_tracker("c1", 100, outcome, owner="late") is True
    stored = c.clip("c1")
    assert (stored.tracker_status, stored.tracker_claim, stored.tracker_retry_at) == ("published", None, None)


def test_two_vast_claimers_whose_transactions_overlap_get_one_claim(monkeypatch):
    """VAST has no row lock: two publishers both read the row as due in overlapping transactions and both write
    their token (the fake, like a last-writer-wins store, keeps the later commit). The claim is read back after
    the settle time, so exactly one of them holds it; without the read-back both would publish."""
    from proxygen_core.catalog.vast import VastCatalog

    server = fake_vastdb.Server(buckets=["db"])
    catalogs = [VastCatalog("http://vast.example", "a", "s", "db", connect=fake_vastdb.connector(server))
                for _ in range(2)]
    catalogs[0].ensure()
    clip = ClipRow(clip_id="c1", sequence="s/b.####.exr", s3_bucket="frames", status="ok", planned_at=100,
                   generated_timestamp="2026-12-02T10:00:00+00:00", tracker_status="pending")
    assert catalogs[0].write_clips([clip], []) == 1
    monkeypatch.setattr(VastCatalog, "CLAIM_SETTLE_SECONDS", 0.3)
    both_read = threading.Barrier(2, timeout=10)
    update = fake_vastdb.Table.update

    def update_after_both_read(table, rows, columns=None):
        if table.name == "proxy_clips":
            both_read.wait()  # each claimer has read the row as due, neither has committed
        return update(table, rows, columns)

    monkeypatch.setattr(fake_vastdb.Table, "update", update_after_both_read)
    got: dict[str, bool] = {}

    def claimer(catalog, token):
        got[token] = catalog.update_tracker("c1", 100, {"tracker_status": "pending", "tracker_claim": token,
                                                        "tracker_retry_at": "2026-12-02T10:16:00+00:00"},
                                            claim_at="2026-12-02T10:01:00+00:00")

    threads = [threading.Thread(target=claimer, args=(cat, token))
               for cat, token in zip(catalogs, ("A", "B"), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not any(t.is_alive() for t in threads) and set(got) == {"A", "B"}
    holder = catalogs[0].clip("c1").tracker_claim
    assert holder in ("A", "B") and got == {"A": holder == "A", "B": holder == "B"}
