"""The catalog: one current row per source (``proxy_outputs``), its history and the event outbox.

Backends: SQLite (embedded default), PostgreSQL (several hosts) and VAST DataBase; all derive their tables
from ``schema``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from proxygen_core.catalog.schema import (
    HISTORY,
    OUTBOX,
    PROXY_CLIPS,
    PROXY_OUTPUTS,
    Catalog,
    OutboxEvent,
    conform,
    sql_ddl,
)
from proxygen_core.catalog.sqlite import SQLiteCatalog
from proxygen_core.store.keys import proxy_id

if TYPE_CHECKING:
    from proxygen_core.settings import CatalogSettings

__all__ = [
    "HISTORY",
    "OUTBOX",
    "PROXY_CLIPS",
    "PROXY_OUTPUTS",
    "Catalog",
    "OutboxEvent",
    "SQLiteCatalog",
    "conform",
    "open_catalog",
    "proxy_id",
    "sql_ddl",
]


def open_catalog(settings: CatalogSettings) -> Catalog:
    """The configured backend, tables ensured."""
    if settings.catalog_backend == "sqlite":
        catalog: Catalog = SQLiteCatalog(settings.sqlite_path, settings.catalog_table, settings.outbox_table)
    elif settings.catalog_backend == "postgres":
        from proxygen_core.catalog.postgres import PostgresCatalog

        if not settings.postgres_dsn:
            raise ValueError("catalog_backend=postgres needs PROXYGEN_POSTGRES_DSN")
        catalog = PostgresCatalog(settings.postgres_dsn, settings.catalog_table, settings.outbox_table,
                                  settings.postgres_schema)
    elif settings.catalog_backend == "vast":
        from proxygen_core.catalog.vast import VastCatalog

        missing = [n for n in ("vast_db_endpoint", "vast_db_access", "vast_db_secret", "vast_db_bucket")
                   if not getattr(settings, n)]
        if missing:
            raise ValueError(f"catalog_backend=vast needs {', '.join('PROXYGEN_' + m.upper() for m in missing)}")
        endpoint, access, secret = settings.vast_db_endpoint, settings.vast_db_access, settings.vast_db_secret
        bucket = settings.vast_db_bucket
        assert endpoint is not None and access is not None and secret is not None and bucket is not None  # missing
        catalog = VastCatalog(endpoint, access, secret, bucket, settings.vast_db_schema, settings.catalog_table,
                              settings.outbox_table)
    else:
        raise ValueError(f"unknown catalog_backend {settings.catalog_backend!r} (sqlite, postgres or vast)")
    catalog.profile = settings.output_profile
    catalog.inspector_tables = settings.exr_inspector_tables
    catalog.ensure()
    return catalog
