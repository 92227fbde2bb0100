"""The catalog on a SQL database: the statements SQLite and PostgreSQL share, with their dialects apart.

Statements are written once with ``?`` parameters; a dialect says how it upserts, ignores a duplicate,
takes a write transaction and lists a table's columns. The tables come from the pyarrow schemas.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
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
    SQLITE_TYPES,
    OutboxEvent,
    conform,
    is_new_version,
    planned_later,
    sql_ddl,
    tracker_allows,
    tracker_changes,
)
from proxygen_core.profiles import PRIMARY
from proxygen_core.rows import ClipRow, CutRow, FrameRow, HistoryRow

SHOT_CHUNK = 500  # shots per IN list (SQLite allows 32766 parameters; PostgreSQL 65535)


def utc_iso(offset_seconds: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_seconds)).isoformat(timespec="milliseconds")


def iso_utc(moment: datetime) -> str:
    """A moment in the catalog's text form (``utc_iso``'s), so it compares with ``replaced_at`` and ``sent_at``
    as text; a naive moment is taken as UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat(timespec="milliseconds")


class SQLCatalog:
    """Rows, history, clips and the outbox on any SQL database; subclasses supply the connection."""

    profile = "review"
    types: dict[pa.DataType, str] = {**SQLITE_TYPES, **inspector.SQLITE_EXTRA_TYPES}
    inspector_tables = False  # also write exr-inspector's files/parts tables (catalog/inspector.py)

    def __init__(self, table: str = "proxy_outputs", outbox: str = "proxy_events") -> None:
        self.table, self.outbox, self.history_table = table, outbox, f"{table}_history"
        self.clips_table = "proxy_clips"
        self.cuts_table = "proxy_cuts"

    # -- dialect ---------------------------------------------------------------------------------------
    def _execute(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Run one statement; rows (as dicts) when it returns any."""
        raise NotImplementedError

    def _executemany(self, sql: str, rows: list[tuple]) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        raise NotImplementedError
        yield

    def _columns(self, table: str) -> set[str]:
        raise NotImplementedError

    def _lock_row(self, key: str) -> None:
        """Serialise writers of one row inside a transaction (SQLite's write lock already does)."""

    def _upsert_sql(self, table: str, names: list[str], pk: str) -> str:
        raise NotImplementedError

    def _insert_ignore_sql(self, table: str, names: list[str], pk: str) -> str:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------------
    def ensure(self) -> None:
        for table, schema, pk in ((self.table, PROXY_OUTPUTS, "proxy_id"), (self.outbox, OUTBOX, "event_id"),
                                  (self.history_table, HISTORY, None), (self.clips_table, PROXY_CLIPS, "clip_id"),
                                  (self.cuts_table, PROXY_CUTS, "cut_id")):
            self._execute(sql_ddl(table, schema, pk, self.types))
            existing = self._columns(table)
            for f in schema:
                if f.name not in existing:  # additive evolution
                    self._execute(f'ALTER TABLE "{table}" ADD COLUMN "{f.name}" {self.types[f.type]}')
        self._execute(f'CREATE INDEX IF NOT EXISTS "{self.outbox}_pending" ON "{self.outbox}" (sent_at, created_at)')
        self._execute(f'CREATE INDEX IF NOT EXISTS "{self.table}_key" ON "{self.table}" (s3_bucket, s3_key)')
        self._execute(f'CREATE INDEX IF NOT EXISTS "{self.history_table}_id" ON "{self.history_table}" (proxy_id)')
        self._execute(f'CREATE INDEX IF NOT EXISTS "{self.clips_table}_shot" ON "{self.clips_table}" (shot, profile)')
        self._execute(f'CREATE INDEX IF NOT EXISTS "{self.table}_age" ON "{self.table}" (generated_timestamp, s3_key)')
        if self.inspector_tables:
            inspector.ensure_sql(self._execute, self._columns, self.types)

    @staticmethod
    def _cols(names: list[str]) -> str:
        return ", ".join(f'"{n}"' for n in names)

    def _insert(self, table: str, names: list[str], values: dict[str, Any]) -> None:
        self._execute(f'INSERT INTO "{table}" ({self._cols(names)}) VALUES ({", ".join("?" for _ in names)})',
                      [values.get(n) for n in names])

    def write(self, rows: list[FrameRow], events: list[OutboxEvent],
              files: Sequence[inspector.InspectedFile] = ()) -> None:
        upsert = self._upsert_sql(self.table, PROXY_OUTPUTS.names, "proxy_id")
        with self._transaction():
            replaced_at = utc_iso()
            for typed in rows:
                row = conform(typed)
                self._lock_row(row["proxy_id"])
                found = self._execute(f'SELECT {self._cols(PROXY_OUTPUTS.names)} FROM "{self.table}" '
                                      'WHERE proxy_id = ?', [row["proxy_id"]])
                old = found[0] if found else None
                if old is not None and is_new_version(old, row):
                    self._insert(self.history_table, HISTORY.names, {**old, "replaced_at": replaced_at})
                self._execute(upsert, [row[n] for n in PROXY_OUTPUTS.names])
            if self.inspector_tables:
                inspector.write_sql(self._execute, self._lock_row, files)
            self._add_events(events)

    def _add_events(self, events: list[OutboxEvent]) -> None:
        sql = self._insert_ignore_sql(self.outbox, OUTBOX.names, "event_id")
        for ev in events:
            # Same event id = same event: keep the first (and its sent state); never a second copy.
            values = {**ev.__dict__, "sent_at": None, "attempts": 0, "claimed_by": None, "claimed_until": None}
            self._execute(sql, [values[n] for n in OUTBOX.names])

    def write_clips(self, rows: list[ClipRow], events: list[OutboxEvent]) -> int:
        """Upsert clip rows and their events; a row planned before the one stored (``planned_at``) is refused
        with its events: an older build that finishes last never replaces a newer one's row. Returns how many
        rows were written."""
        upsert = self._upsert_sql(self.clips_table, PROXY_CLIPS.names, "clip_id")
        written = 0
        with self._transaction():
            for typed in rows:
                row = conform(typed, PROXY_CLIPS)
                self._lock_row(row["clip_id"])
                stored = self._execute(f'SELECT planned_at FROM "{self.clips_table}" WHERE clip_id = ?',
                                       [row["clip_id"]])
                if stored and planned_later(stored[0]["planned_at"], row["planned_at"]):
                    events = [e for e in events if e.proxy_id != row["clip_id"]]
                    continue
                self._execute(upsert, [row[n] for n in PROXY_CLIPS.names])
                written += 1
            self._add_events(events)
        return written

    def write_cuts(self, rows: list[CutRow], events: list[OutboxEvent]) -> int:
        """Upsert cut rows and their events; as ``write_clips``, a row planned before the stored one is refused
        with its events (an older build of a cut finishing last never replaces a newer one's row)."""
        upsert = self._upsert_sql(self.cuts_table, PROXY_CUTS.names, "cut_id")
        written = 0
        with self._transaction():
            for typed in rows:
                row = conform(typed, PROXY_CUTS)
                self._lock_row(row["cut_id"])
                stored = self._execute(f'SELECT planned_at FROM "{self.cuts_table}" WHERE cut_id = ?', [row["cut_id"]])
                if stored and planned_later(stored[0]["planned_at"], row["planned_at"]):
                    events = [e for e in events if e.proxy_id != row["cut_id"]]
                    continue
                self._execute(upsert, [row[n] for n in PROXY_CUTS.names])
                written += 1
            self._add_events(events)
        return written

    def cuts(self, limit: int = 50) -> list[CutRow]:
        found = self._execute(f'SELECT {self._cols(PROXY_CUTS.names)} FROM "{self.cuts_table}" '
                              'ORDER BY generated_timestamp DESC LIMIT ?', [limit])
        return [CutRow.from_record(r) for r in found]

    def clips(self, limit: int = 50) -> list[ClipRow]:
        found = self._execute(f'SELECT {self._cols(PROXY_CLIPS.names)} FROM "{self.clips_table}" '
                              'ORDER BY generated_timestamp DESC LIMIT ?', [limit])
        return [ClipRow.from_record(r) for r in found]

    def retired_keys(self, keep: int, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str]]:
        edge = self._execute(f'SELECT generated_timestamp FROM "{self.table}" WHERE generated_timestamp IS NOT NULL '
                             'ORDER BY generated_timestamp DESC LIMIT 1 OFFSET ?', [max(keep - 1, 0)])
        if not edge or keep <= 0:
            return []  # fewer than ``keep`` rows: nothing retires (the keep-th newest is the edge)
        where, args = "generated_timestamp < ?", [edge[0]["generated_timestamp"]]
        if after is not None:
            where += " AND (generated_timestamp > ? OR (generated_timestamp = ? AND s3_key > ?))"
            args += [after[0], after[0], after[1]]
        found = self._execute(f'SELECT generated_timestamp, s3_key FROM "{self.table}" WHERE {where} '
                              'ORDER BY generated_timestamp, s3_key LIMIT ?', [*args, limit])
        return [(r["generated_timestamp"], r["s3_key"]) for r in found]

    def _shot_filter(self, show: str | None, profile: str) -> tuple[str, list[Any]]:
        """The profile (a row without one is the review clip's, as it predates profiles) and show conditions."""
        sql, args = "(profile = ? OR profile IS NULL)" if profile == PRIMARY else "profile = ?", [profile]
        if show is not None:
            sql, args = f"{sql} AND (show = ? OR show IS NULL)", [*args, show]
        return sql, args

    def clip_shots(self, show: str | None, profile: str) -> set[str]:
        where, args = self._shot_filter(show, profile)
        found = self._execute(f'SELECT DISTINCT shot FROM "{self.clips_table}" WHERE shot IS NOT NULL AND {where}',
                              args)
        return {r["shot"] for r in found}

    def shot_clips(self, shots: Iterable[str], show: str | None, profile: str) -> list[ClipRow]:
        where, args = self._shot_filter(show, profile)
        names, out = sorted(set(shots)), []
        for start in range(0, len(names), SHOT_CHUNK):  # bounded statements, however many shots a cut has
            chunk = names[start:start + SHOT_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            out += [ClipRow.from_record(r) for r in self._execute(
                f'SELECT {self._cols(PROXY_CLIPS.names)} FROM "{self.clips_table}" WHERE shot IN ({marks}) AND {where}',
                [*chunk, *args])]
        return out

    def clip(self, clip_id: str) -> ClipRow | None:
        found = self._execute(f'SELECT {self._cols(PROXY_CLIPS.names)} FROM "{self.clips_table}" WHERE clip_id = ?',
                              [clip_id])
        return ClipRow.from_record(found[0]) if found else None

    def tracker_due(self, now: str, limit: int = 20) -> list[ClipRow]:
        """Clips waiting for their tracker publish now (schema.tracker_due), oldest first."""
        found = self._execute(f'SELECT {self._cols(PROXY_CLIPS.names)} FROM "{self.clips_table}" '
                              "WHERE tracker_status = ? AND status = 'ok' AND "
                              '(tracker_retry_at IS NULL OR tracker_retry_at <= ?) '
                              'ORDER BY generated_timestamp LIMIT ?', [PENDING, now, limit])
        return [ClipRow.from_record(r) for r in found]

    def update_tracker(self, clip_id: str, planned_at: int | None, changes: dict[str, Any],
                       claim_at: str | None = None, force: bool = False, owner: str | None = None) -> bool:
        """Set a clip's tracker columns if the row is still the build ``planned_at`` made (a rebuild meanwhile
        wins: its row is pending again and published on its own); with ``claim_at``, only if it is claimable then
        (schema.tracker_claimable, ``force`` for a re-publish: of two publishers, one gets it); with ``owner``,
        only if that publisher's claim is still the row's (a stale claimer, taken over, cannot overwrite). The row
        is read and written under its lock, in one transaction. Returns whether the row was changed."""
        changes = tracker_changes(changes)
        with self._transaction():
            self._lock_row(clip_id)
            found = self._execute(f'SELECT {self._cols(PROXY_CLIPS.names)} FROM "{self.clips_table}" '
                                  'WHERE clip_id = ?', [clip_id])
            if not found or not tracker_allows(ClipRow.from_record(found[0]), planned_at, claim_at, force, owner):
                return False
            sets = ", ".join(f'"{name}" = ?' for name in changes)
            self._execute(f'UPDATE "{self.clips_table}" SET {sets} WHERE clip_id = ?', [*changes.values(), clip_id])
        return True

    def rows(self, limit: int = 50, status: str | None = None) -> list[FrameRow]:
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        found = self._execute(f'SELECT {self._cols(PROXY_OUTPUTS.names)} FROM "{self.table}" {where} '
                              'ORDER BY generated_timestamp DESC LIMIT ?', [*args, limit])
        return [FrameRow.from_record(r) for r in found]

    def history(self, limit: int = 50) -> list[HistoryRow]:
        found = self._execute(f'SELECT {self._cols(HISTORY.names)} FROM "{self.history_table}" '
                              'ORDER BY replaced_at DESC LIMIT ?', [limit])
        return [HistoryRow.from_record(r) for r in found]

    def etags(self, proxy_ids: Iterable[str]) -> dict[str, str | None]:
        """proxy_id -> etag of the current row, for the ids that have one: whether a version is already
        recorded, in bounded IN queries (a sweep asks for one slice's ignored objects at a time)."""
        ids, found = list(dict.fromkeys(proxy_ids)), {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            found.update({r["proxy_id"]: r["etag"] for r in self._execute(
                f'SELECT proxy_id, etag FROM "{self.table}" WHERE proxy_id IN ({", ".join("?" for _ in chunk)})',
                chunk)})
        return found

    def count(self, what: str, status: str | None = None) -> int:
        """How many rows (of ``status``), history rows, clips, events or pending events the catalog holds."""
        table, where, args = {
            "rows": (self.table, "WHERE status = ?" if status else "", [status] if status else []),
            "history": (self.history_table, "", []), "clips": (self.clips_table, "", []),
            "events": (self.outbox, "", []), "pending": (self.outbox, "WHERE sent_at IS NULL", [])}[what]
        return int(next(iter(self._execute(f'SELECT COUNT(*) AS n FROM "{table}" {where}', args)[0].values())))

    def _events(self, sql: str, args: list) -> list[OutboxEvent]:
        return [OutboxEvent(**r) for r in self._execute(sql, args)]

    def pending_events(self, limit: int = 500) -> list[OutboxEvent]:
        return self._events(f'SELECT * FROM "{self.outbox}" WHERE sent_at IS NULL ORDER BY created_at LIMIT ?', [limit])

    def events(self, limit: int = 50) -> list[OutboxEvent]:
        return self._events(f'SELECT * FROM "{self.outbox}" ORDER BY created_at DESC LIMIT ?', [limit])

    def _claimable_sql(self) -> str:
        return (f'SELECT event_id FROM "{self.outbox}" WHERE sent_at IS NULL AND '
                f'(claimed_until IS NULL OR claimed_until < ?) ORDER BY created_at LIMIT ?')

    def claim_events(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxEvent]:
        """Take pending events no other drain holds (or whose lease ran out), in one write transaction."""
        with self._transaction():
            self._execute(f'UPDATE "{self.outbox}" SET claimed_by = ?, claimed_until = ? '
                          f'WHERE event_id IN ({self._claimable_sql()})',
                          [owner, utc_iso(lease_seconds), utc_iso(), limit])
            return self._events(f'SELECT * FROM "{self.outbox}" WHERE claimed_by = ? AND sent_at IS NULL '
                                f'ORDER BY created_at', [owner])

    def release(self, event_ids: Iterable[str], owner: str) -> None:
        self._executemany(f'UPDATE "{self.outbox}" SET claimed_by = NULL, claimed_until = NULL '
                          f'WHERE event_id = ? AND claimed_by = ?', [(i, owner) for i in event_ids])

    def mark_sent(self, event_ids: Iterable[str], sent_at: str) -> None:
        self._executemany(f'UPDATE "{self.outbox}" SET sent_at = ?, claimed_until = NULL '
                          f'WHERE event_id = ? AND sent_at IS NULL', [(sent_at, i) for i in event_ids])

    def mark_attempted(self, event_ids: Iterable[str]) -> None:
        self._executemany(f'UPDATE "{self.outbox}" SET attempts = attempts + 1 WHERE event_id = ?',
                          [(i,) for i in event_ids])

    def _prunable_events(self) -> str:
        """Outbox events sent before a moment that no current row or clip names. Re-processing unchanged content
        yields the same event id, and the outbox keeps an id once only while it holds it (docs/events.md): the
        event of a current row stays, so a re-run never sends it a second time."""
        return (f'FROM "{self.outbox}" WHERE sent_at IS NOT NULL AND sent_at < ? '
                f'AND event_id NOT IN (SELECT event_id FROM "{self.table}" WHERE event_id IS NOT NULL) '
                f'AND event_id NOT IN (SELECT event_id FROM "{self.clips_table}" WHERE event_id IS NOT NULL)')

    def prune(self, before: datetime) -> int:
        """Delete the history rows replaced before ``before`` and the outbox events sent before it (but those a
        current row or clip names); returns how many rows went. Current rows live in their own tables and are
        never touched; an event still waiting to be published (``sent_at`` null) is never deleted. Counted and
        deleted in one write transaction: rows written meanwhile carry now, never a moment before the cut."""
        moment = iso_utc(before)
        history = f'FROM "{self.history_table}" WHERE replaced_at < ?'
        gone = 0
        with self._transaction():
            for where in (history, self._prunable_events()):
                gone += int(next(iter(self._execute(f"SELECT COUNT(*) AS n {where}", [moment])[0].values())))
                self._execute(f"DELETE {where}", [moment])
        return gone
