"""The catalog on SQLite: the embedded default (WAL, busy timeout: several run processes at once).

One machine's file: a deployment with workers on several hosts is refused (settings) and uses
PostgreSQL or VAST DataBase instead.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from proxygen_core.catalog.sql import SQLCatalog, utc_iso

__all__ = ["SQLiteCatalog", "utc_iso"]


class SQLiteCatalog(SQLCatalog):
    def __init__(self, path: str | Path, table: str = "proxy_outputs", outbox: str = "proxy_events") -> None:
        super().__init__(table, outbox)
        self.path = Path(path)
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

    def _execute(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn().execute(sql, list(args))]

    def _executemany(self, sql: str, rows: list[tuple]) -> None:
        self._conn().executemany(sql, rows)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction (taken at once: concurrent writers wait on the busy timeout, never interleave)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _columns(self, table: str) -> set[str]:
        return {r["name"] for r in self._execute(f'PRAGMA table_info("{table}")')}

    def _upsert_sql(self, table: str, names: list[str], pk: str) -> str:
        return f'INSERT OR REPLACE INTO "{table}" ({self._cols(names)}) VALUES ({", ".join("?" for _ in names)})'

    def _insert_ignore_sql(self, table: str, names: list[str], pk: str) -> str:
        return f'INSERT OR IGNORE INTO "{table}" ({self._cols(names)}) VALUES ({", ".join("?" for _ in names)})'
