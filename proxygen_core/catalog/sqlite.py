"""The catalog on SQLite: the embedded default (WAL, busy timeout: several run processes at once)."""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from .schema import HISTORY, OUTBOX, PROXY_CLIPS, PROXY_OUTPUTS, OutboxEvent, conform, is_new_version, sql_ddl, sql_type


def utc_iso(offset_seconds: float = 0.0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_seconds)).isoformat(timespec="milliseconds")


class SQLiteCatalog:
    profile = "review"

    def __init__(self, path: str | Path, table: str = "proxy_outputs", outbox: str = "proxy_events") -> None:
        self.path = Path(path)
        self.table, self.outbox, self.history_table = table, outbox, f"{table}_history"
        self.clips_table = "proxy_clips"
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def ensure(self) -> None:
        conn = self._conn()
        for table, schema, pk in ((self.table, PROXY_OUTPUTS, "proxy_id"), (self.outbox, OUTBOX, "event_id"),
                                  (self.history_table, HISTORY, None), (self.clips_table, PROXY_CLIPS, "clip_id")):
            conn.execute(sql_ddl(table, schema, pk))
            existing = {r["name"] for r in conn.execute(f'PRAGMA table_info("{table}")')}
            for f in schema:
                if f.name not in existing:  # additive evolution
                    conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "{f.name}" {sql_type(f)}')
        conn.execute(f'CREATE INDEX IF NOT EXISTS "{self.outbox}_pending" ON "{self.outbox}" (sent_at, created_at)')
        conn.execute(f'CREATE INDEX IF NOT EXISTS "{self.table}_key" ON "{self.table}" (s3_bucket, s3_key)')
        conn.execute(f'CREATE INDEX IF NOT EXISTS "{self.history_table}_id" ON "{self.history_table}" (proxy_id)')

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (taken at once: concurrent writers wait on the busy timeout, never interleave)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _insert(self, table: str, names: list[str], values: dict[str, Any], verb: str = "INSERT") -> None:
        cols = ", ".join(f'"{n}"' for n in names)
        self._conn().execute(f'{verb} INTO "{table}" ({cols}) VALUES ({", ".join("?" for _ in names)})',
                             [values.get(n) for n in names])

    def write(self, rows: list[dict[str, Any]], events: list[OutboxEvent]) -> None:
        with self._transaction() as conn:
            replaced_at = utc_iso()
            for row in rows:
                row = conform(row)
                old = conn.execute(f'SELECT * FROM "{self.table}" WHERE proxy_id = ?', (row["proxy_id"],)).fetchone()
                old = dict(old) if old is not None else None
                if is_new_version(old, row):
                    self._insert(self.history_table, HISTORY.names, {**old, "replaced_at": replaced_at})
                self._insert(self.table, PROXY_OUTPUTS.names, row, "INSERT OR REPLACE")
            self._add_events(events)

    def _add_events(self, events: list[OutboxEvent]) -> None:
        for ev in events:
            # Same event id = same event: keep the first (and its sent state); never a second copy.
            self._insert(self.outbox, OUTBOX.names, {**ev.__dict__, "sent_at": None, "attempts": 0,
                                                     "claimed_by": None, "claimed_until": None}, "INSERT OR IGNORE")

    def write_clips(self, rows: list[dict[str, Any]], events: list[OutboxEvent]) -> None:
        with self._transaction():
            for row in rows:
                self._insert(self.clips_table, PROXY_CLIPS.names, conform(row, PROXY_CLIPS), "INSERT OR REPLACE")
            self._add_events(events)

    def clips(self, limit: int = 50) -> list[dict[str, Any]]:
        cur = self._conn().execute(f'SELECT * FROM "{self.clips_table}" ORDER BY generated_timestamp DESC LIMIT ?',
                                   [limit])
        return [dict(r) for r in cur]

    def rows(self, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        cur = self._conn().execute(f'SELECT * FROM "{self.table}" {where} ORDER BY generated_timestamp DESC LIMIT ?',
                                   [*args, limit])
        return [dict(r) for r in cur]

    def history(self, limit: int = 50) -> list[dict[str, Any]]:
        cur = self._conn().execute(f'SELECT * FROM "{self.history_table}" ORDER BY replaced_at DESC LIMIT ?', [limit])
        return [dict(r) for r in cur]

    def _events(self, sql: str, args: list) -> list[OutboxEvent]:
        return [OutboxEvent(**dict(r)) for r in self._conn().execute(sql, args)]

    def pending_events(self, limit: int = 500) -> list[OutboxEvent]:
        return self._events(f'SELECT * FROM "{self.outbox}" WHERE sent_at IS NULL ORDER BY created_at LIMIT ?', [limit])

    def events(self, limit: int = 50) -> list[OutboxEvent]:
        return self._events(f'SELECT * FROM "{self.outbox}" ORDER BY created_at DESC LIMIT ?', [limit])

    def claim_events(self, owner: str, limit: int, lease_seconds: float) -> list[OutboxEvent]:
        """Take pending events no other drain holds (or whose lease ran out), in one write transaction."""
        with self._transaction() as conn:
            conn.execute(
                f'UPDATE "{self.outbox}" SET claimed_by = ?, claimed_until = ? WHERE event_id IN ('
                f'SELECT event_id FROM "{self.outbox}" WHERE sent_at IS NULL AND '
                f'(claimed_until IS NULL OR claimed_until < ?) ORDER BY created_at LIMIT ?)',
                (owner, utc_iso(lease_seconds), utc_iso(), limit))
            return self._events(f'SELECT * FROM "{self.outbox}" WHERE claimed_by = ? AND sent_at IS NULL '
                                f'ORDER BY created_at', [owner])

    def release(self, event_ids: Iterable[str], owner: str) -> None:
        self._conn().executemany(f'UPDATE "{self.outbox}" SET claimed_by = NULL, claimed_until = NULL '
                                 f'WHERE event_id = ? AND claimed_by = ?', [(i, owner) for i in event_ids])

    def mark_sent(self, event_ids: Iterable[str], sent_at: str) -> None:
        self._conn().executemany(f'UPDATE "{self.outbox}" SET sent_at = ?, claimed_until = NULL '
                                 f'WHERE event_id = ? AND sent_at IS NULL', [(sent_at, i) for i in event_ids])

    def mark_attempted(self, event_ids: Iterable[str]) -> None:
        self._conn().executemany(f'UPDATE "{self.outbox}" SET attempts = attempts + 1 WHERE event_id = ?',
                                 [(i,) for i in event_ids])
