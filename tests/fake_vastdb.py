"""An in-memory stand-in for a VAST DataBase server behind the real ``vastdb`` SDK surface.

No local VAST server exists, so the VAST backend is tested against this fake. It keeps the SDK's
method signatures (tests/test_vast_fake.py compares them with the installed SDK so the fake cannot
drift), raises the SDK's real error classes, and validates every predicate with the SDK's own
serializer (``vastdb._internal.build_query_data_request``) before evaluating it.
"""
from __future__ import annotations

import copy
import itertools
from typing import Any, Iterable, List, Optional, Sequence, Union

import ibis
import pyarrow as pa
from ibis.expr import operations as ops
from vastdb import errors
from vastdb._internal import build_query_data_request
from vastdb.config import SessionConfig

ROW_ID = "$row_id"


class Server:
    """State shared by all sessions: buckets -> schemas -> tables (committed data)."""

    def __init__(self, buckets: Iterable[str] = ()) -> None:
        self.buckets: dict[str, dict[str, dict[str, dict]]] = {b: {} for b in buckets}
        self.row_ids = itertools.count(1)
        self.connects = 0


def _eval(op: Any, row: dict[str, Any]) -> Any:
    if isinstance(op, ops.And):
        return bool(_eval(op.left, row)) and bool(_eval(op.right, row))
    if isinstance(op, ops.Or):
        return bool(_eval(op.left, row)) or bool(_eval(op.right, row))
    if isinstance(op, ops.Not):
        return not _eval(op.arg, row)
    if isinstance(op, ops.IsNull):
        return _eval(op.arg, row) is None
    if isinstance(op, ops.Field):
        return row.get(op.name)
    if isinstance(op, ops.Literal):
        return op.value
    if isinstance(op, ops.Equals):
        return _eval(op.left, row) == _eval(op.right, row)
    if isinstance(op, ops.NotEquals):
        return _eval(op.left, row) != _eval(op.right, row)
    if isinstance(op, ops.InValues):
        return _eval(op.value, row) in {_eval(o, row) for o in op.options}
    raise NotImplementedError(f"fake cannot evaluate {type(op).__name__}")


class Table:
    def __init__(self, name: str, schema: "Schema", tx: "Transaction") -> None:
        self._name, self._schema, self._tx = name, schema, tx

    @property
    def name(self) -> str:
        return self._name

    def _store(self) -> dict:
        return self._tx._data[self._schema._bucket._name][self._schema._name][self._name]

    @property
    def arrow_schema(self) -> pa.Schema:
        return self._store()["schema"]

    def columns(self) -> pa.Schema:
        return self.arrow_schema

    def add_column(self, new_column: pa.Schema) -> None:
        store = self._store()
        for f in new_column:
            if f.name in store["schema"].names:
                raise errors.BadRequest(code="ColumnExists", message=f.name, method="PUT", url="fake", status=400, headers={})
            store["schema"] = store["schema"].append(f)
            for r in store["rows"]:
                r[f.name] = None

    def insert(self, rows: Union[pa.RecordBatch, pa.Table], by_columns: bool = True) -> pa.ChunkedArray:
        store = self._store()
        extra = set(rows.schema.names) - set(store["schema"].names)
        if extra:
            raise errors.NotSupportedSchema(message=f"unknown columns {sorted(extra)}", schema=rows.schema)
        ids = []
        for rec in rows.to_pylist():
            rid = next(self._tx._server.row_ids)
            store["rows"].append({**{n: None for n in store["schema"].names}, **rec, ROW_ID: rid})
            ids.append(rid)
        return pa.chunked_array([pa.array(ids, pa.uint64())])

    def _need_row_ids(self, rows: Union[pa.RecordBatch, pa.Table]) -> list[int]:
        if ROW_ID not in rows.schema.names:
            raise errors.MissingRowIdColumn()
        return rows.column(ROW_ID).to_pylist()

    def delete(self, rows: Union[pa.RecordBatch, pa.Table]) -> None:
        ids = set(self._need_row_ids(rows))
        store = self._store()
        store["rows"] = [r for r in store["rows"] if r[ROW_ID] not in ids]

    def update(self, rows: Union[pa.RecordBatch, pa.Table], columns: Optional[list[str]] = None) -> None:
        ids = self._need_row_ids(rows)
        names = columns or [n for n in rows.schema.names if n != ROW_ID]
        by_id = {r[ROW_ID]: r for r in self._store()["rows"]}
        for rid, rec in zip(ids, rows.to_pylist(), strict=True):
            if rid in by_id:
                for n in names:
                    by_id[rid][n] = rec[n]

    def select(self, columns: Optional[list[str]] = None, predicate: Any = None, config: Any = None, *,
               internal_row_id: bool = False, limit_rows: Optional[int] = None) -> pa.RecordBatchReader:
        schema = self.arrow_schema
        columns = list(columns or schema.names)
        missing = set(columns) - set(schema.names)
        if missing:
            raise errors.BadRequest(code="UnknownColumn", message=str(sorted(missing)), method="GET", url="fake",
                                    status=400, headers={})
        if isinstance(predicate, ibis.common.deferred.Deferred):
            predicate = predicate.resolve(ibis.table(ibis.Schema.from_pyarrow(schema), name=self._name))
        build_query_data_request(schema, predicate, columns)  # the SDK's own serializer must accept it
        rows = [r for r in self._store()["rows"] if predicate is None or _eval(predicate.op(), r)]
        if limit_rows is not None:
            rows = rows[:limit_rows]
        out_fields = [schema.field(c) for c in columns] + ([pa.field(ROW_ID, pa.uint64())] if internal_row_id else [])
        out_schema = pa.schema(out_fields)
        table = pa.Table.from_pylist([{f.name: r.get(f.name) for f in out_fields} for r in rows], schema=out_schema)
        return pa.RecordBatchReader.from_batches(out_schema, table.to_batches())


class Schema:
    def __init__(self, name: str, bucket: "Bucket") -> None:
        self._name, self._bucket = name, bucket

    @property
    def name(self) -> str:
        return self._name

    def _tables(self) -> dict:
        return self._bucket._tx._data[self._bucket._name][self._name]

    def create_table(self, table_name: str, columns: pa.Schema, fail_if_exists: bool = True,
                     use_external_row_ids_allocation: bool = False, sorting_key: Union[list[int], list[str]] = [],
                     vector_index: Any = None, partition_spec: Any = None) -> Table:
        tables = self._tables()
        if table_name in tables:
            if fail_if_exists:
                raise errors.TableExists(self._bucket._name, self._name, table_name)
            return Table(table_name, self, self._bucket._tx)
        tables[table_name] = {"schema": columns, "rows": []}
        return Table(table_name, self, self._bucket._tx)

    def table(self, name: str, fail_if_missing: bool = True) -> Optional[Table]:
        if name not in self._tables():
            if fail_if_missing:
                raise errors.MissingTable(self._bucket._name, self._name, name)
            return None
        return Table(name, self, self._bucket._tx)

    def tablenames(self, page_size: int = 1000) -> List[str]:
        return sorted(self._tables())

    def tables(self, table_name: str = "", page_size: int = 1000) -> List[Table]:
        return [Table(n, self, self._bucket._tx) for n in self.tablenames() if n.startswith(table_name)]


class Bucket:
    def __init__(self, name: str, tx: "Transaction") -> None:
        self._name, self._tx = name, tx

    @property
    def name(self) -> str:
        return self._name

    def create_schema(self, name: str, fail_if_exists: bool = True) -> Schema:
        schemas = self._tx._data[self._name]
        if name in schemas:
            if fail_if_exists:
                raise errors.SchemaExists(self._name, name)
        else:
            schemas[name] = {}
        return Schema(name, self)

    def schema(self, name: str, fail_if_missing: bool = True) -> Optional[Schema]:
        if name not in self._tx._data[self._name]:
            if fail_if_missing:
                raise errors.MissingSchema(self._name, name)
            return None
        return Schema(name, self)

    def schemas(self, batch_size: Optional[int] = None) -> Iterable[Schema]:
        return [Schema(n, self) for n in sorted(self._tx._data[self._name])]


class Transaction:
    """Snapshot on enter; commit on a clean exit, roll back on an exception (as the SDK's context manager)."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._data: dict = {}

    def __enter__(self) -> "Transaction":
        # pyarrow schemas are immutable and not deep-copied: a copy (pickle) of a fixed-size list drops its item's
        # nullability (FLOAT32[384] "item: float not null"), so a vector column would change type in the fake.
        keep = {id(t["schema"]): t["schema"] for b in self._server.buckets.values() for s in b.values()
                for t in s.values()}
        self._data = copy.deepcopy(self._server.buckets, memo=dict(keep))
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, exc_traceback: Any) -> None:
        if exc_type is None:
            self._server.buckets = self._data

    def bucket(self, name: str) -> Bucket:
        if name not in self._data:
            raise errors.MissingBucket(name)
        return Bucket(name, self)


class Session:
    def __init__(self, server: Server, access: Optional[str] = None, secret: Optional[str] = None,
                 endpoint: Optional[str] = None) -> None:
        if not endpoint or not access or not secret:
            raise errors.ConnectionError(cause=ValueError("endpoint, access and secret are required"), may_retry=False)
        self._server = server
        server.connects += 1

    def transaction(self) -> Transaction:
        return Transaction(self._server)


def connector(server: Server):
    """A ``vastdb.connect`` replacement bound to ``server`` (same keyword arguments)."""

    def connect(access: Optional[str] = None, secret: Optional[str] = None, endpoint: Optional[str] = None, *,
                max_entities_per_page: int = 10000, ssl_verify: bool = True, timeout: Any = None,
                backoff_config: Any = None, adbc_driver_path: Optional[str] = None, end_user: Optional[str] = None,
                config: SessionConfig = SessionConfig(data_endpoints=None)) -> Session:
        return Session(server, access=access, secret=secret, endpoint=endpoint)

    return connect


FAKES = {"Transaction": Transaction, "Bucket": Bucket, "Schema": Schema, "Table": Table}
_ = (Sequence,)  # typing names kept for signature parity
