"""The ``proxy_outputs`` catalog and its transactional event outbox, on SQLite or VAST DataBase.

The table is defined once, as a pyarrow schema; each backend derives its DDL from it and adds
missing columns on start (additive evolution). ``proxy_id`` is deterministic (file_id + output
profile), so re-processing a file replaces its row instead of adding one, and a failed row for the
same key is replaced when the file later succeeds. A row and its event are written in one
transaction: the publisher (events.py) drains the outbox to Kafka and marks events sent only after
the broker acknowledged them.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    from .settings import CatalogSettings

PROXY_OUTPUTS = pa.schema([
    # the original function's columns
    ("proxy_id", pa.string()), ("file_id", pa.string()), ("s3_key", pa.string()), ("s3_bucket", pa.string()),
    ("asset_id", pa.string()), ("thumbnail_s3_key", pa.string()), ("proxy_s3_key", pa.string()),
    ("thumbnail_size_bytes", pa.int64()), ("proxy_size_bytes", pa.int64()), ("source_size_bytes", pa.int64()),
    ("source_colorspace", pa.string()), ("thumb_colorspace", pa.string()), ("proxy_colorspace", pa.string()),
    ("thumb_resolution", pa.string()), ("proxy_resolution", pa.string()),
    ("processing_time_seconds", pa.float64()), ("generated_timestamp", pa.string()),
    ("generator_version", pa.string()),
    # what users need beyond them
    ("status", pa.string()), ("error", pa.string()), ("etag", pa.string()), ("mtime", pa.string()),
    ("colorspace_rule", pa.string()), ("source_resolution", pa.string()), ("ocio_config", pa.string()),
    ("ocio_view", pa.string()), ("render_settings_hash", pa.string()), ("output_profile", pa.string()),
    ("preview_s3_key", pa.string()),
])

OUTBOX = pa.schema([
    ("event_id", pa.string()), ("proxy_id", pa.string()), ("topic", pa.string()), ("message_key", pa.string()),
    ("payload", pa.string()), ("created_at", pa.string()), ("sent_at", pa.string()), ("attempts", pa.int64()),
])

_SQL_TYPES = {pa.string(): "TEXT", pa.int64(): "INTEGER", pa.float64(): "REAL", pa.bool_(): "INTEGER"}


def proxy_id(file_id: str | None, s3_bucket: str, s3_key: str, profile: str) -> str:
    """Stable row id: one row per file version (file_id) and output profile."""
    basis = file_id or f"{s3_bucket}/{s3_key}"
    return hashlib.sha256(f"{basis}|{profile}".encode()).hexdigest()[:32]


def conform(row: dict[str, Any], schema: pa.Schema = PROXY_OUTPUTS) -> dict[str, Any]:
    """Exactly the schema's columns, missing ones as None; unknown keys are an error (no silent drops)."""
    unknown = set(row) - set(schema.names)
    if unknown:
        raise ValueError(f"unknown catalog columns: {sorted(unknown)}")
    return {name: row.get(name) for name in schema.names}


@dataclass
class OutboxEvent:
    event_id: str
    proxy_id: str
    topic: str
    message_key: str
    payload: str
    created_at: str
    sent_at: str | None = None
    attempts: int = 0

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.payload)


class Catalog(Protocol):
    """What the pipeline needs from a database; SQLite and VAST DataBase implement it."""

    def ensure(self) -> None: ...

    def write(self, rows: list[dict[str, Any]], events: list[OutboxEvent]) -> None: ...

    def rows(self, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]: ...

    def pending_events(self, limit: int = 500) -> list[OutboxEvent]: ...

    def events(self, limit: int = 50) -> list[OutboxEvent]: ...

    def mark_sent(self, event_ids: Iterable[str], sent_at: str) -> None: ...

    def mark_attempted(self, event_ids: Iterable[str]) -> None: ...


def sql_ddl(table: str, schema: pa.Schema, primary_key: str) -> str:
    cols = ", ".join(f'"{f.name}" {_SQL_TYPES[f.type]}' + (" PRIMARY KEY" if f.name == primary_key else "")
                     for f in schema)
    return f'CREATE TABLE IF NOT EXISTS "{table}" ({cols})'


class SQLiteCatalog:
    """Embedded default. WAL mode and a busy timeout make it safe for several run processes at once."""

    def __init__(self, path: str | Path, table: str = "proxy_outputs", outbox: str = "proxy_events") -> None:
        self.path = Path(path)
        self.table, self.outbox = table, outbox
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
        for table, schema, pk in ((self.table, PROXY_OUTPUTS, "proxy_id"), (self.outbox, OUTBOX, "event_id")):
            conn.execute(sql_ddl(table, schema, pk))
            existing = {r["name"] for r in conn.execute(f'PRAGMA table_info("{table}")')}
            for f in schema:
                if f.name not in existing:  # additive evolution
                    conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "{f.name}" {_SQL_TYPES[f.type]}')
        conn.execute(f'CREATE INDEX IF NOT EXISTS "{self.outbox}_pending" ON "{self.outbox}" (sent_at, created_at)')
        conn.execute(f'CREATE INDEX IF NOT EXISTS "{self.table}_key" ON "{self.table}" (s3_bucket, s3_key)')

    def write(self, rows: list[dict[str, Any]], events: list[OutboxEvent]) -> None:
        conn = self._conn()
        names = PROXY_OUTPUTS.names
        placeholders = ", ".join("?" for _ in names)
        cols = ", ".join(f'"{n}"' for n in names)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for row in rows:
                row = conform(row)
                # A failed row of the same key and profile is replaced by the new outcome.
                conn.execute(f'DELETE FROM "{self.table}" WHERE proxy_id = ? OR (s3_bucket = ? AND s3_key = ? '
                             f'AND output_profile = ? AND status = ?)',
                             (row["proxy_id"], row["s3_bucket"], row["s3_key"], row["output_profile"], "failed"))
                conn.execute(f'INSERT INTO "{self.table}" ({cols}) VALUES ({placeholders})', [row[n] for n in names])
            for ev in events:
                # Same event id = same event: keep the first (and its sent state); never a second copy.
                conn.execute(f'INSERT OR IGNORE INTO "{self.outbox}" (event_id, proxy_id, topic, message_key, payload, '
                             f'created_at, sent_at, attempts) VALUES (?, ?, ?, ?, ?, ?, NULL, 0)',
                             (ev.event_id, ev.proxy_id, ev.topic, ev.message_key, ev.payload, ev.created_at))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def rows(self, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        cur = self._conn().execute(f'SELECT * FROM "{self.table}" {where} ORDER BY generated_timestamp DESC LIMIT ?',
                                   [*args, limit])
        return [dict(r) for r in cur]

    def _events(self, sql: str, args: list) -> list[OutboxEvent]:
        return [OutboxEvent(**dict(r)) for r in self._conn().execute(sql, args)]

    def pending_events(self, limit: int = 500) -> list[OutboxEvent]:
        return self._events(f'SELECT * FROM "{self.outbox}" WHERE sent_at IS NULL ORDER BY created_at LIMIT ?', [limit])

    def events(self, limit: int = 50) -> list[OutboxEvent]:
        return self._events(f'SELECT * FROM "{self.outbox}" ORDER BY created_at DESC LIMIT ?', [limit])

    def mark_sent(self, event_ids: Iterable[str], sent_at: str) -> None:
        ids = list(event_ids)
        if ids:
            self._conn().executemany(f'UPDATE "{self.outbox}" SET sent_at = ? WHERE event_id = ? AND sent_at IS NULL',
                                     [(sent_at, i) for i in ids])

    def mark_attempted(self, event_ids: Iterable[str]) -> None:
        ids = list(event_ids)
        if ids:
            self._conn().executemany(f'UPDATE "{self.outbox}" SET attempts = attempts + 1 WHERE event_id = ?',
                                     [(i,) for i in ids])


def open_catalog(settings: "CatalogSettings") -> Catalog:
    """The configured backend, tables ensured."""
    if settings.catalog_backend == "sqlite":
        catalog: Catalog = SQLiteCatalog(settings.sqlite_path, settings.catalog_table, settings.outbox_table)
    elif settings.catalog_backend == "vast":
        from .vast_catalog import VastCatalog

        missing = [n for n in ("vast_db_endpoint", "vast_db_access", "vast_db_secret", "vast_db_bucket")
                   if not getattr(settings, n)]
        if missing:
            raise ValueError(f"catalog_backend=vast needs {', '.join('PROXYGEN_' + m.upper() for m in missing)}")
        catalog = VastCatalog(settings.vast_db_endpoint, settings.vast_db_access, settings.vast_db_secret,
                              settings.vast_db_bucket, settings.vast_db_schema, settings.catalog_table,
                              settings.outbox_table)
    else:
        raise ValueError(f"unknown catalog_backend {settings.catalog_backend!r} (sqlite or vast)")
    catalog.ensure()
    return catalog
