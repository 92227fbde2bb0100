"""The catalog on PostgreSQL: for deployments where several hosts write rows (SQLite is one machine's file).

psycopg2 comes with ``dagster-postgres`` (the same server usually holds the Dagster instance, in another
database). Each thread has its own connection; writers of one row are serialised with an advisory lock
and outbox claims skip rows another drain has locked, so concurrent hosts never write a row twice or
send one event twice.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from proxygen_core.catalog import inspector
from proxygen_core.catalog.sql import SQLCatalog
from proxygen_core.errors import ProxygenError


class CatalogUnavailableError(ProxygenError):
    """The catalog database cannot be reached or refused the login."""


class PostgresCatalog(SQLCatalog):
    types = {pa.string(): "TEXT", pa.int64(): "BIGINT", pa.float64(): "DOUBLE PRECISION", pa.bool_(): "BOOLEAN",
             **inspector.POSTGRES_EXTRA_TYPES}

    def __init__(self, dsn: str, table: str = "proxy_outputs", outbox: str = "proxy_events",
                 schema: str | None = None) -> None:
        """``schema``: the PostgreSQL schema that holds every catalog table (each connection's ``search_path``),
        created when missing; None leaves the search path as the server and DSN set it (normally ``public``), as
        before the setting existed. A deployment using exr-inspector's names sets ``exr_metadata_2``."""
        super().__init__(table, outbox)
        self.dsn, self.schema = dsn, schema
        self._local = threading.local()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            import psycopg2

            try:
                conn = psycopg2.connect(self.dsn, connect_timeout=10)
            except psycopg2.OperationalError as exc:
                raise CatalogUnavailableError(self.redacted_dsn(), f"PostgreSQL unreachable: {exc}".strip(),
                                              transient=True) from exc
            conn.autocommit = True  # transactions are explicit (BEGIN/COMMIT), as on SQLite
            if self.schema:  # every statement names its tables unqualified: they live in this schema
                with conn.cursor() as cur:
                    cur.execute("SELECT set_config('search_path', %s, false)", [self._quoted_schema()])
            self._local.conn = conn
        return conn

    def _quoted_schema(self) -> str:
        return '"' + (self.schema or "").replace('"', '""') + '"'

    def redacted_dsn(self) -> str:
        """The DSN without its password, for messages."""
        from psycopg2.extensions import parse_dsn

        try:
            parts = parse_dsn(self.dsn)
        except Exception:  # an unparsable DSN: say nothing of it
            return "postgresql catalog"
        return f"postgresql://{parts.get('user', '')}@{parts.get('host', '')}:{parts.get('port', '5432')}/" \
               f"{parts.get('dbname', '')}"

    def _execute(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self._conn().cursor() as cur:
            cur.execute(sql.replace("?", "%s"), list(args))
            if cur.description is None:
                return []
            names = [d.name for d in cur.description]
            return [dict(zip(names, r, strict=False)) for r in cur.fetchall()]

    def _executemany(self, sql: str, rows: list[tuple]) -> None:
        if rows:
            with self._conn().cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        conn = self._conn()
        with conn.cursor() as cur:
            cur.execute("BEGIN")
        try:
            yield
            with conn.cursor() as cur:
                cur.execute("COMMIT")
        except BaseException:
            if not conn.closed:
                with conn.cursor() as cur:
                    cur.execute("ROLLBACK")
            raise

    def _columns(self, table: str) -> set[str]:
        return {r["column_name"] for r in self._execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ?", [table])}

    def _lock_row(self, key: str) -> None:
        self._execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [key])

    def _upsert_sql(self, table: str, names: list[str], pk: str) -> str:
        update = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in names if n != pk)
        return (f'INSERT INTO "{table}" ({self._cols(names)}) VALUES ({", ".join("?" for _ in names)}) '
                f'ON CONFLICT ("{pk}") DO UPDATE SET {update}')

    def _insert_ignore_sql(self, table: str, names: list[str], pk: str) -> str:
        return (f'INSERT INTO "{table}" ({self._cols(names)}) VALUES ({", ".join("?" for _ in names)}) '
                f'ON CONFLICT ("{pk}") DO NOTHING')

    def _claimable_sql(self) -> str:
        return super()._claimable_sql() + " FOR UPDATE SKIP LOCKED"

    def ensure(self) -> None:
        # Two hosts starting at once may both create a table; one transaction-scoped lock orders them.
        with self._transaction():
            self._execute("SELECT pg_advisory_xact_lock(hashtextextended('proxygen-catalog-ddl', 0))")
            if self.schema and not self._execute("SELECT 1 FROM pg_namespace WHERE nspname = ?", [self.schema]):
                self._execute(f"CREATE SCHEMA {self._quoted_schema()}")  # only when missing: needs CREATE on the db
            super().ensure()
