"""The catalog on VAST DataBase through the ``vastdb`` SDK (2.x).

VAST has no upsert and no unique constraints: an upsert is delete-by-``$row_id`` then insert, in one
transaction (``with session.transaction()`` commits on a clean exit, rolls back otherwise). Buckets
must exist already (the SDK cannot create them); schema and tables are created on first use and
missing columns are added (additive evolution). Building a session contacts the server at once, so
it is created lazily, on first use.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from proxygen_core.catalog import inspector
from proxygen_core.catalog.schema import (
    HISTORY,
    OUTBOX,
    PENDING,
    PROXY_CLIPS,
    PROXY_CUTS,
    PROXY_OUTPUTS,
    OutboxEvent,
    conform,
    is_new_version,
    planned_later,
    tracker_allows,
    tracker_changes,
    tracker_due,
)
from proxygen_core.catalog.sql import iso_utc, utc_iso
from proxygen_core.errors import ProxygenError
from proxygen_core.profiles import PRIMARY
from proxygen_core.rows import ClipRow, CutRow, FrameRow, HistoryRow

ROW_ID = "$row_id"
PRUNE_CHUNK = 1000  # event ids per isin predicate when pruning


class CatalogError(ProxygenError):
    kind = "catalog"


def _default_connect(**kwargs: Any) -> Any:
    import vastdb

    return vastdb.connect(**kwargs)


class VastCatalog:
    profile = "review"
    CLAIM_SETTLE_SECONDS = 1.0  # a tracker claim is read back after this (update_tracker)
    inspector_tables = False  # also write exr-inspector's files/parts tables, in this schema (catalog/inspector.py)

    def __init__(self, endpoint: str, access: str, secret: str, bucket: str, schema: str = "exr_metadata",
                 table: str = "proxy_outputs", outbox: str = "proxy_events",
                 connect: Callable[..., Any] = _default_connect) -> None:
        self.endpoint, self.access, self.secret = endpoint, access, secret
        self.bucket, self.schema_name, self.table, self.outbox = bucket, schema, table, outbox
        self.history_table = f"{table}_history"
        self.clips_table = "proxy_clips"
        self.cuts_table = "proxy_cuts"
        self._connect = connect
        self._session: Any = None

    def _where(self) -> str:
        return f"vastdb://{self.bucket}/{self.schema_name}"

    def session(self) -> Any:
        if self._session is None:
            try:
                self._session = self._connect(endpoint=self.endpoint, access=self.access, secret=self.secret)
            except Exception as exc:
                raise CatalogError(
                    self.endpoint, f"cannot connect to VAST DataBase: {type(exc).__name__}: {exc}"
                ) from exc
        return self._session

    def _run(self, action: str, fn: Callable[[Any], Any]) -> Any:
        from vastdb import errors

        try:
            with self.session().transaction() as tx:
                return fn(tx)
        except errors.MissingBucket as exc:
            raise CatalogError(self._where(), f"bucket {self.bucket!r} does not exist (VAST buckets must be created "
                                              f"beforehand): {exc}") from exc
        except (errors.Missing, errors.Exists, errors.ConnectionError, errors.HttpError) as exc:
            raise CatalogError(self._where(), f"{action} failed: {type(exc).__name__}: {exc}") from exc

    def _schema(self, tx: Any) -> Any:
        bucket = tx.bucket(self.bucket)
        return bucket.schema(self.schema_name, fail_if_missing=False) or bucket.create_schema(self.schema_name,
                                                                                              fail_if_exists=False)

    def _table(self, tx: Any, name: str, arrow_schema: pa.Schema) -> Any:
        schema = self._schema(tx)
        table = schema.table(name, fail_if_missing=False)
        if table is None:
            table = schema.create_table(name, arrow_schema, fail_if_exists=False)
        return table

    def ensure(self) -> None:
        tables = [(self.table, PROXY_OUTPUTS), (self.outbox, OUTBOX), (self.history_table, HISTORY),
                  (self.clips_table, PROXY_CLIPS), (self.cuts_table, PROXY_CUTS)]
        if self.inspector_tables:  # exr-inspector's own tables when it created them already: the same schemas
            tables += [(inspector.FILES_TABLE, inspector.FILES), (inspector.PARTS_TABLE, inspector.PARTS)]

        def work(tx: Any) -> None:
            for name, arrow_schema in tables:
                table = self._table(tx, name, arrow_schema)
                existing = set(table.arrow_schema.names)
                for f in arrow_schema:
                    if f.name not in existing:
                        table.add_column(pa.schema([f]))

        self._run("ensure tables", work)

    @staticmethod
    def _select(table: Any, columns: list[str], predicate: Any, row_id: bool = False) -> pa.Table:
        return table.select(columns=columns, predicate=predicate, internal_row_id=row_id).read_all()

    def write(self, typed: list[FrameRow], events: list[OutboxEvent],
              files: Sequence[inspector.InspectedFile] = ()) -> None:
        from ibis import _

        rows = [conform(r) for r in typed]

        def work(tx: Any) -> None:
            table = self._table(tx, self.table, PROXY_OUTPUTS)
            if rows:
                ids = [r["proxy_id"] for r in rows]
                found = self._select(table, PROXY_OUTPUTS.names, _.proxy_id.isin(ids), row_id=True).to_pylist()
                current = {r["proxy_id"]: r for r in found}
                replaced_at = utc_iso()
                old_versions = [{**{n: current[r["proxy_id"]][n] for n in PROXY_OUTPUTS.names},
                                 "replaced_at": replaced_at}
                                for r in rows if is_new_version(current.get(r["proxy_id"]), r)]
                if old_versions:
                    self._table(tx, self.history_table, HISTORY).insert(
                        pa.Table.from_pylist(old_versions, schema=HISTORY)
                    )
                if found:
                    table.delete(pa.table({ROW_ID: pa.array(sorted(r[ROW_ID] for r in found), pa.uint64())}))
                table.insert(pa.Table.from_pylist(rows, schema=PROXY_OUTPUTS))
            if self.inspector_tables and files:
                inspector.write_vast(self._table(tx, inspector.FILES_TABLE, inspector.FILES),
                                     self._table(tx, inspector.PARTS_TABLE, inspector.PARTS), files)
            self._add_events(tx, events)

        self._run("write rows", work)

    def _add_events(self, tx: Any, events: list[OutboxEvent]) -> None:
        from ibis import _

        if not events:
            return
        outbox = self._table(tx, self.outbox, OUTBOX)
        have = set(self._select(outbox, ["event_id"], _.event_id.isin([e.event_id for e in events]))
                   .column("event_id").to_pylist())
        new = [e for e in events if e.event_id not in have]
        if new:
            outbox.insert(pa.Table.from_pylist(
                [{**e.__dict__, "sent_at": None, "attempts": 0, "claimed_by": None, "claimed_until": None}
                 for e in new], schema=OUTBOX))

    def write_clips(self, typed: list[ClipRow], events: list[OutboxEvent]) -> int:
        """As the SQL catalog's: a row planned before the stored one is refused with its events."""
        from ibis import _

        rows = [conform(r, PROXY_CLIPS) for r in typed]

        def work(tx: Any) -> int:
            table = self._table(tx, self.clips_table, PROXY_CLIPS)
            kept, sending = rows, events
            if rows:
                found = self._select(table, ["clip_id", "planned_at"], _.clip_id.isin([r["clip_id"] for r in rows]),
                                     row_id=True).to_pylist()
                stored = {r["clip_id"]: r["planned_at"] for r in found}
                kept = [r for r in rows if not planned_later(stored.get(r["clip_id"]), r["planned_at"])]
                ids = {r["clip_id"] for r in kept}
                refused = {r["clip_id"] for r in rows} - ids
                sending = [e for e in events if e.proxy_id not in refused]  # as the SQL catalogs: only theirs go
                stale = [r[ROW_ID] for r in found if r["clip_id"] in ids]
                if stale:
                    table.delete(pa.table({ROW_ID: pa.array(sorted(stale), pa.uint64())}))
                if kept:
                    table.insert(pa.Table.from_pylist(kept, schema=PROXY_CLIPS))
            self._add_events(tx, sending)
            return len(kept)

        return self._run("write clips", work)

    def write_cuts(self, typed: list[CutRow], events: list[OutboxEvent]) -> int:
        """As the SQL catalog's: a cut row planned before the stored one is refused with its events."""
        from ibis import _

        rows = [conform(r, PROXY_CUTS) for r in typed]

        def work(tx: Any) -> int:
            table = self._table(tx, self.cuts_table, PROXY_CUTS)
            kept, sending = rows, events
            if rows:
                found = self._select(table, ["cut_id", "planned_at"], _.cut_id.isin([r["cut_id"] for r in rows]),
                                     row_id=True).to_pylist()
                stored = {r["cut_id"]: r["planned_at"] for r in found}
                kept = [r for r in rows if not planned_later(stored.get(r["cut_id"]), r["planned_at"])]
                ids = {r["cut_id"] for r in kept}
                refused = {r["cut_id"] for r in rows} - ids
                sending = [e for e in events if e.proxy_id not in refused]
                stale = [r[ROW_ID] for r in found if r["cut_id"] in ids]
                if stale:
                    table.delete(pa.table({ROW_ID: pa.array(sorted(stale), pa.uint64())}))
                if kept:
                    table.insert(pa.Table.from_pylist(kept, schema=PROXY_CUTS))
            self._add_events(tx, sending)
            return len(kept)

        return self._run("write cuts", work)

    def cuts(self, limit: int = 50) -> list[CutRow]:
        def work(tx: Any) -> list[CutRow]:
            data = self._select(self._table(tx, self.cuts_table, PROXY_CUTS), PROXY_CUTS.names, None).to_pylist()
            data = sorted(data, key=lambda r: r["generated_timestamp"] or "", reverse=True)[:limit]
            return [CutRow.from_record(r) for r in data]

        return self._run("read cuts", work)

    def clips(self, limit: int = 50) -> list[ClipRow]:
        def work(tx: Any) -> list[ClipRow]:
            data = self._select(self._table(tx, self.clips_table, PROXY_CLIPS), PROXY_CLIPS.names, None).to_pylist()
            data = sorted(data, key=lambda r: r["generated_timestamp"] or "", reverse=True)[:limit]
            return [ClipRow.from_record(r) for r in data]

        return self._run("read clips", work)

    def retired_keys(self, keep: int, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str]]:
        """As the SQL catalog's; VAST has no ORDER BY / OFFSET in a select, so the two columns are read and
        sorted here (two string columns: ~100 MB at 1M rows, once a retention pass)."""
        def work(tx: Any) -> list[dict[str, Any]]:
            return self._select(self._table(tx, self.table, PROXY_OUTPUTS), ["generated_timestamp", "s3_key"],
                                None).to_pylist()

        rows = sorted((r["generated_timestamp"], r["s3_key"]) for r in self._run("read row ages", work)
                      if r["generated_timestamp"])
        if len(rows) <= keep or keep <= 0:
            return []
        edge = rows[len(rows) - keep][0]  # the keep-th newest: what is older retires
        return [r for r in rows if r[0] < edge and (after is None or r > after)][:limit]

    @staticmethod
    def _shot_filter(show: str | None, profile: str) -> Any:
        """As the SQL catalog's: the profile (none: the review clip's) and show (or none) predicate."""
        from ibis import _

        predicate = ((_.profile == profile) | _.profile.isnull()) if profile == PRIMARY else (_.profile == profile)
        return predicate & ((_.show == show) | _.show.isnull()) if show is not None else predicate

    def clip_shots(self, show: str | None, profile: str) -> set[str]:
        def work(tx: Any) -> list[Any]:
            return self._select(self._table(tx, self.clips_table, PROXY_CLIPS), ["shot"],
                                self._shot_filter(show, profile)).column("shot").to_pylist()

        return {s for s in self._run("read clip shots", work) if s}

    def shot_clips(self, shots: Iterable[str], show: str | None, profile: str) -> list[ClipRow]:
        from ibis import _

        names = sorted(set(shots))

        def work(tx: Any) -> list[dict[str, Any]]:
            table, out = self._table(tx, self.clips_table, PROXY_CLIPS), []
            for start in range(0, len(names), PRUNE_CHUNK):  # bounded predicates, however many shots
                out += self._select(table, PROXY_CLIPS.names, _.shot.isin(names[start:start + PRUNE_CHUNK])
                                    & self._shot_filter(show, profile)).to_pylist()
            return out

        return [ClipRow.from_record(r) for r in self._run("read shot clips", work)] if names else []

    def clip(self, clip_id: str) -> ClipRow | None:
        from ibis import _

        def work(tx: Any) -> list[dict[str, Any]]:
            return self._select(self._table(tx, self.clips_table, PROXY_CLIPS), PROXY_CLIPS.names,
                                _.clip_id == clip_id).to_pylist()

        found = self._run("read clip", work)
        return ClipRow.from_record(found[0]) if found else None

    def tracker_due(self, now: str, limit: int = 20) -> list[ClipRow]:
        """As the SQL catalog's: clips waiting for their tracker publish now, oldest first."""
        from ibis import _

        def work(tx: Any) -> list[dict[str, Any]]:
            return self._select(self._table(tx, self.clips_table, PROXY_CLIPS), PROXY_CLIPS.names,
                                _.tracker_status == PENDING).to_pylist()

        due = [r for r in (ClipRow.from_record(x) for x in self._run("read pending publishes", work))
               if tracker_due(r, now)]
        return sorted(due, key=lambda r: r.generated_timestamp or "")[:limit]

    def update_tracker(self, clip_id: str, planned_at: int | None, changes: dict[str, Any],
                       claim_at: str | None = None, force: bool = False, owner: str | None = None) -> bool:
        """As the SQL catalog's (schema.tracker_allows), read and written in one transaction.

        VAST has no row lock and no conditional update (``Table.update`` writes by ``$row_id``), so two claimers
        whose transactions overlap can both read the row as claimable and both write their token: the later
        commit wins the row. A claim (``claim_at``, its token in ``changes["tracker_claim"]``) is therefore not
        held until it is read back: after ``CLAIM_SETTLE_SECONDS`` (longer than a claim's transaction takes, so
        an overlapping claimer has committed by then) the row is read again in a fresh transaction, and only the
        claimer whose token it holds has the claim; the other gets False and leaves it. A claimer whose
        transaction outlasts the settle time could still overwrite a verified claim: the residual window
        ``vastdb`` leaves (docs/trackers.md). Results are written with ``owner``: a stale claimer is refused."""
        from ibis import _

        changes = tracker_changes(changes)
        columns = list(changes)

        def work(tx: Any) -> bool:
            table = self._table(tx, self.clips_table, PROXY_CLIPS)
            found = [r for r in self._select(table, PROXY_CLIPS.names, _.clip_id == clip_id, row_id=True).to_pylist()
                     if tracker_allows(ClipRow.from_record({k: v for k, v in r.items() if k != ROW_ID}),
                                       planned_at, claim_at, force, owner)]
            if not found:
                return False
            table.update(pa.Table.from_pylist(
                [{ROW_ID: found[0][ROW_ID], **changes}],
                schema=pa.schema([(ROW_ID, pa.uint64())] + [PROXY_CLIPS.field(k) for k in columns])), columns=columns)
            return True

        if not self._run("update tracker state", work):
            return False
        token = changes.get("tracker_claim")
        if claim_at is None or token is None:
            return True
        time.sleep(self.CLAIM_SETTLE_SECONDS)
        now = self.clip(clip_id)  # a fresh transaction: every overlapping claim has committed
        return now is not None and now.planned_at == planned_at and now.tracker_claim == token

    def rows(self, limit: int = 50, status: str | None = None) -> list[FrameRow]:
        from ibis import _

        def work(tx: Any) -> list[FrameRow]:
            table = self._table(tx, self.table, PROXY_OUTPUTS)
            data = self._select(table, PROXY_OUTPUTS.names, (_.status == status) if status else None).to_pylist()
            data = sorted(data, key=lambda r: r["generated_timestamp"] or "", reverse=True)[:limit]
            return [FrameRow.from_record(r) for r in data]

        return self._run("read rows", work)

    def etags(self, proxy_ids: Iterable[str]) -> dict[str, str | None]:
        """proxy_id -> etag of the current row, for the ids that have one (whether a version is recorded)."""
        from ibis import _

        ids = list(dict.fromkeys(proxy_ids))
        if not ids:
            return {}

        def work(tx: Any) -> dict[str, str | None]:
            table = self._table(tx, self.table, PROXY_OUTPUTS)
            rows = self._select(table, ["proxy_id", "etag"], _.proxy_id.isin(ids)).to_pylist()
            return {r["proxy_id"]: r["etag"] for r in rows}

        return self._run("read etags", work)

    def history(self, limit: int = 50) -> list[HistoryRow]:
        def work(tx: Any) -> list[HistoryRow]:
            data = self._select(self._table(tx, self.history_table, HISTORY), HISTORY.names, None).to_pylist()
            data = sorted(data, key=lambda r: r["replaced_at"] or "", reverse=True)[:limit]
            return [HistoryRow.from_record(r) for r in data]

        return self._run("read history", work)

    def count(self, what: str, status: str | None = None) -> int:
        """How many rows (of ``status``), history rows, clips, events or pending events the catalog holds."""
        from ibis import _

        name, schema, column, predicate = {
            "rows": (self.table, PROXY_OUTPUTS, "proxy_id", (_.status == status) if status else None),
            "history": (self.history_table, HISTORY, "proxy_id", None),
            "clips": (self.clips_table, PROXY_CLIPS, "clip_id", None),
            "events": (self.outbox, OUTBOX, "event_id", None),
            "pending": (self.outbox, OUTBOX, "event_id", _.sent_at.isnull())}[what]
        return self._run(f"count {what}", lambda tx: self._select(self._table(tx, name, schema), [column],
                                                                  predicate).num_rows)

    def _outbox_rows(self, predicate: Any) -> list[OutboxEvent]:
        def work(tx: Any) -> list[OutboxEvent]:
            outbox = self._table(tx, self.outbox, OUTBOX)
            return [OutboxEvent(**r) for r in self._select(outbox, OUTBOX.names, predicate).to_pylist()]

        return self._run("read events", work)

    def pending_events(self, limit: int = 500) -> list[OutboxEvent]:
        from ibis import _

        return sorted(self._outbox_rows(_.sent_at.isnull()), key=lambda e: e.created_at)[:limit]

    def events(self, limit: int = 50) -> list[OutboxEvent]:
        return sorted(self._outbox_rows(None), key=lambda e: e.created_at, reverse=True)[:limit]

    def _update(self, event_ids: Iterable[str], change: Callable[[dict[str, Any]], dict[str, Any] | None],
                columns: list[str]) -> None:
        from ibis import _

        ids = list(event_ids)
        if not ids:
            return

        def work(tx: Any) -> None:
            outbox = self._table(tx, self.outbox, OUTBOX)
            found = self._select(outbox, OUTBOX.names, _.event_id.isin(ids), row_id=True).to_pylist()
            proposed = [(r, change(r)) for r in found]
            changed = [(r, c) for r, c in proposed if c is not None]
            if changed:
                outbox.update(pa.Table.from_pylist(
                    [{ROW_ID: r[ROW_ID], **{k: c[k] for k in columns}} for r, c in changed],
                    schema=pa.schema([(ROW_ID, pa.uint64())] + [OUTBOX.field(k) for k in columns])), columns=columns)

        self._run("update events", work)

    def claim_events(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxEvent]:
        """Claim pending events in one transaction, then read back the ones this owner holds."""
        from ibis import _

        now, until = utc_iso(), utc_iso(lease_seconds)

        def work(tx: Any) -> None:
            outbox = self._table(tx, self.outbox, OUTBOX)
            free = [r for r in self._select(outbox, OUTBOX.names, _.sent_at.isnull(), row_id=True).to_pylist()
                    if not r["claimed_until"] or r["claimed_until"] < now]
            free = sorted(free, key=lambda r: r["created_at"])[:limit]
            if free:
                outbox.update(pa.Table.from_pylist(
                    [{ROW_ID: r[ROW_ID], "claimed_by": owner, "claimed_until": until} for r in free],
                    schema=pa.schema([(ROW_ID, pa.uint64()), OUTBOX.field("claimed_by"),
                                      OUTBOX.field("claimed_until")])), columns=["claimed_by", "claimed_until"])

        self._run("claim events", work)
        mine = self._outbox_rows((_.claimed_by == owner) & _.sent_at.isnull())
        return sorted(mine, key=lambda e: e.created_at)

    def release(self, event_ids: Iterable[str], owner: str) -> None:
        self._update(event_ids, lambda r: {"claimed_by": None, "claimed_until": None}
                     if r["claimed_by"] == owner else None, ["claimed_by", "claimed_until"])

    def mark_sent(self, event_ids: Iterable[str], sent_at: str) -> None:
        self._update(event_ids, lambda r: {"sent_at": r["sent_at"] or sent_at, "claimed_until": None},
                     ["sent_at", "claimed_until"])

    def mark_attempted(self, event_ids: Iterable[str]) -> None:
        self._update(event_ids, lambda r: {"attempts": (r["attempts"] or 0) + 1}, ["attempts"])

    def _named_events(self, tx: Any, event_ids: list[str]) -> set[str]:
        """Which of these events a current row or clip names (those stay: see ``SQLCatalog._prunable_events``)."""
        from ibis import _

        named: set[str] = set()
        for name, schema in ((self.table, PROXY_OUTPUTS), (self.clips_table, PROXY_CLIPS)):
            table = self._table(tx, name, schema)
            for start in range(0, len(event_ids), PRUNE_CHUNK):  # bounded predicates, however many events
                chunk = event_ids[start:start + PRUNE_CHUNK]
                named.update(self._select(table, ["event_id"], _.event_id.isin(chunk)).column("event_id").to_pylist())
        return named

    def prune(self, before: datetime) -> int:
        """Delete history rows replaced before ``before`` and outbox events sent before it that no current row or
        clip names, in one transaction; returns how many rows went. Never a current row, never an unpublished
        event. The moments are compared here, not in the predicate: the SDK's predicates are kept to the
        operations the rest of the backend uses (and the fake evaluates)."""
        from ibis import _

        moment = iso_utc(before)

        def work(tx: Any) -> int:
            history = self._table(tx, self.history_table, HISTORY)
            old = [r[ROW_ID] for r in self._select(history, ["replaced_at"], None, row_id=True).to_pylist()
                   if r["replaced_at"] and r["replaced_at"] < moment]
            outbox = self._table(tx, self.outbox, OUTBOX)
            sent = [r for r in self._select(outbox, ["event_id", "sent_at"], ~_.sent_at.isnull(), row_id=True)
                    .to_pylist() if r["sent_at"] < moment]
            named = self._named_events(tx, [r["event_id"] for r in sent]) if sent else set()
            events = [r[ROW_ID] for r in sent if r["event_id"] not in named]
            for table, ids in ((history, old), (outbox, events)):
                if ids:
                    table.delete(pa.table({ROW_ID: pa.array(sorted(ids), pa.uint64())}))
            return len(old) + len(events)

        return self._run("prune history", work)
