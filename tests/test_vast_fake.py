"""The VAST fake must keep the installed SDK's signatures and error classes, so it cannot drift."""
from __future__ import annotations

import inspect

import pytest
import vastdb
from vastdb import bucket, errors, schema, table, transaction

from . import fake_vastdb

REAL = {"Transaction": transaction.Transaction, "Bucket": bucket.Bucket, "Schema": schema.Schema, "Table": table.Table}
USED = {
    "Transaction": ["bucket", "__enter__", "__exit__"],
    "Bucket": ["schema", "create_schema", "schemas"],
    "Schema": ["table", "create_table", "tables", "tablenames"],
    "Table": ["select", "insert", "delete", "update", "add_column", "columns"],
}


def _params(fn):
    return [(p.name, p.kind, p.default if p.default is inspect.Parameter.empty else repr(p.default))
            for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("cls", sorted(USED))
def test_fake_methods_match_the_sdk(cls):
    for method in USED[cls]:
        real = getattr(REAL[cls], method)
        fake = getattr(fake_vastdb.FAKES[cls], method)
        assert _params(fake) == _params(real), f"{cls}.{method} drifted from vastdb {vastdb.__name__}"


def test_connect_signature_matches():
    assert _params(fake_vastdb.connector(fake_vastdb.Server())) == _params(vastdb.connect)


def test_arrow_schema_property_exists_on_both():
    assert isinstance(inspect.getattr_static(table.Table, "arrow_schema"), property)
    assert isinstance(inspect.getattr_static(fake_vastdb.Table, "arrow_schema"), property)


def test_fake_raises_the_sdk_error_classes():
    server = fake_vastdb.Server(buckets=["b"])
    with pytest.raises(errors.MissingBucket):
        fake_vastdb.Session(server, "a", "s", "http://x").transaction().__enter__().bucket("nope")
    with fake_vastdb.Session(server, "a", "s", "http://x").transaction() as tx:
        b = tx.bucket("b")
        with pytest.raises(errors.MissingSchema):
            b.schema("s")
        s = b.create_schema("s")
        with pytest.raises(errors.SchemaExists):
            b.create_schema("s")
        with pytest.raises(errors.MissingTable):
            s.table("t")
        import pyarrow as pa

        t = s.create_table("t", pa.schema([("a", pa.string())]))
        with pytest.raises(errors.TableExists):
            s.create_table("t", pa.schema([("a", pa.string())]))
        with pytest.raises(errors.MissingRowIdColumn):
            t.delete(pa.table({"a": ["x"]}))
    with pytest.raises(errors.ConnectionError):
        fake_vastdb.Session(server, None, None, None)


def test_predicates_go_through_the_sdk_serializer():
    import pyarrow as pa
    from ibis import _

    server = fake_vastdb.Server(buckets=["b"])
    with fake_vastdb.Session(server, "a", "s", "http://x").transaction() as tx:
        t = tx.bucket("b").create_schema("s").create_table("t", pa.schema([("a", pa.string()), ("n", pa.int64())]))
        t.insert(pa.table({"a": ["x", "y", None], "n": [1, 2, 3]}))
        assert t.select(predicate=_.a.isin(["x", "y"])).read_all().column("n").to_pylist() == [1, 2]
        assert t.select(predicate=_.a.isnull()).read_all().column("n").to_pylist() == [3]
        assert t.select(predicate=(_.a == "y") & (_.n == 2)).read_all().num_rows == 1
        with pytest.raises(NotImplementedError):  # the SDK cannot push an OR across columns
            t.select(predicate=(_.a == "x") | (_.n == 3)).read_all()
