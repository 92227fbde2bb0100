"""The catalog on VAST DataBase through the ``vastdb`` SDK (2.x).

VAST has no upsert and no unique constraints: an upsert is delete-by-``$row_id`` then insert, in one
transaction (``with session.transaction()`` commits on a clean exit, rolls back otherwise). Buckets
must exist already (the SDK cannot create them); schema and tables are created on first use and
missing columns are added (additive evolution). Building a session contacts the server at once, so
it is created lazily, on first use.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import pyarrow as pa

from .catalog import OUTBOX, PROXY_OUTPUTS, OutboxEvent, conform
from .errors import ProxygenError

ROW_ID = "$row_id"


class CatalogError(ProxygenError):
    kind = "catalog"


def _default_connect(**kwargs: Any) -> Any:
    import vastdb

    return vastdb.connect(**kwargs)


class VastCatalog:
    def __init__(self, endpoint: str, access: str, secret: str, bucket: str, schema: str = "exr_metadata",
                 table: str = "proxy_outputs", outbox: str = "proxy_events",
                 connect: Callable[..., Any] = _default_connect) -> None:
        self.endpoint, self.access, self.secret = endpoint, access, secret
        self.bucket, self.schema_name, self.table, self.outbox = bucket, schema, table, outbox
        self._connect = connect
        self._session: Any = None

    def _where(self) -> str:
        return f"vastdb://{self.bucket}/{self.schema_name}"

    def session(self) -> Any:
        if self._session is None:
            try:
                self._session = self._connect(endpoint=self.endpoint, access=self.access, secret=self.secret)
            except Exception as exc:
                raise CatalogError(self.endpoint, f"cannot connect to VAST DataBase: {type(exc).__name__}: {exc}") from exc
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
        def work(tx: Any) -> None:
            for name, arrow_schema in ((self.table, PROXY_OUTPUTS), (self.outbox, OUTBOX)):
                table = self._table(tx, name, arrow_schema)
                existing = set(table.arrow_schema.names)
                for f in arrow_schema:
                    if f.name not in existing:
                        table.add_column(pa.schema([f]))

        self._run("ensure tables", work)

    @staticmethod
    def _select(table: Any, columns: list[str], predicate: Any, row_id: bool = False) -> pa.Table:
        return table.select(columns=columns, predicate=predicate, internal_row_id=row_id).read_all()

    def write(self, rows: list[dict[str, Any]], events: list[OutboxEvent]) -> None:
        from ibis import _

        rows = [conform(r) for r in rows]

        def work(tx: Any) -> None:
            table = self._table(tx, self.table, PROXY_OUTPUTS)
            stale: set[int] = set()
            if rows:
                ids = [r["proxy_id"] for r in rows]
                found = self._select(table, ["proxy_id"], _.proxy_id.isin(ids), row_id=True)
                stale.update(found.column(ROW_ID).to_pylist())
                keys = {(r["s3_bucket"], r["s3_key"], r["output_profile"]) for r in rows}
                failed = self._select(table, ["s3_bucket", "s3_key", "output_profile"],
                                      _.s3_key.isin(sorted({k[1] for k in keys})) & (_.status == "failed"), row_id=True)
                for rec in failed.to_pylist():
                    if (rec["s3_bucket"], rec["s3_key"], rec["output_profile"]) in keys:
                        stale.add(rec[ROW_ID])
            if stale:
                table.delete(pa.table({ROW_ID: pa.array(sorted(stale), pa.uint64())}))
            if rows:
                table.insert(pa.Table.from_pylist(rows, schema=PROXY_OUTPUTS))
            if events:
                outbox = self._table(tx, self.outbox, OUTBOX)
                have = set(self._select(outbox, ["event_id"], _.event_id.isin([e.event_id for e in events]))
                           .column("event_id").to_pylist())
                new = [e for e in events if e.event_id not in have]
                if new:
                    outbox.insert(pa.Table.from_pylist(
                        [{**e.__dict__, "sent_at": None, "attempts": 0} for e in new], schema=OUTBOX))

        self._run("write rows", work)

    def rows(self, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
        from ibis import _

        def work(tx: Any) -> list[dict[str, Any]]:
            table = self._table(tx, self.table, PROXY_OUTPUTS)
            data = self._select(table, PROXY_OUTPUTS.names, (_.status == status) if status else None).to_pylist()
            return sorted(data, key=lambda r: r["generated_timestamp"] or "", reverse=True)[:limit]

        return self._run("read rows", work)

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

    def _update(self, event_ids: Iterable[str], change: Callable[[dict[str, Any]], dict[str, Any]], column: str) -> None:
        from ibis import _

        ids = list(event_ids)
        if not ids:
            return

        def work(tx: Any) -> None:
            outbox = self._table(tx, self.outbox, OUTBOX)
            found = self._select(outbox, OUTBOX.names, _.event_id.isin(ids), row_id=True).to_pylist()
            if found:
                changed = [change(r) for r in found]
                outbox.update(pa.Table.from_pylist(
                    [{ROW_ID: r[ROW_ID], column: c[column]} for r, c in zip(found, changed)],
                    schema=pa.schema([(ROW_ID, pa.uint64()), OUTBOX.field(column)])), columns=[column])

        self._run("update events", work)

    def mark_sent(self, event_ids: Iterable[str], sent_at: str) -> None:
        self._update(event_ids, lambda r: {"sent_at": r["sent_at"] or sent_at}, "sent_at")

    def mark_attempted(self, event_ids: Iterable[str]) -> None:
        self._update(event_ids, lambda r: {"attempts": (r["attempts"] or 0) + 1}, "attempts")
