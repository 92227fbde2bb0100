"""Typed catalog records: each row type's fields are exactly its table's columns, in order and type."""
from __future__ import annotations

import dataclasses
import typing

import pyarrow as pa
import pytest

from proxygen_core.catalog.schema import HISTORY, PROXY_CLIPS, PROXY_OUTPUTS
from proxygen_core.rows import ClipRow, FrameRow, HistoryRow

PYTHON = {pa.string(): str, pa.int64(): int, pa.float64(): float, pa.bool_(): bool}


@pytest.mark.parametrize("row_type, schema", [(FrameRow, PROXY_OUTPUTS), (HistoryRow, HISTORY),
                                              (ClipRow, PROXY_CLIPS)])
def test_row_fields_are_exactly_the_table_columns(row_type, schema):
    hints = typing.get_type_hints(row_type)
    assert row_type.columns() == tuple(schema.names)
    for f in schema:
        declared = {a for a in typing.get_args(hints[f.name]) if a is not type(None)} or {hints[f.name]}
        assert declared == {PYTHON[f.type]}, (f.name, hints[f.name], f.type)


def test_from_record_refuses_unknown_columns_and_reads_old_rows():
    row = FrameRow.from_record({"proxy_id": "p", "s3_key": "k", "s3_bucket": "b", "status": "ok"})
    assert row.nonfinite_pixels is None and row.failed_step is None  # an older table's row: new columns None
    assert row.record()["proxy_id"] == "p" and list(row.record()) == list(PROXY_OUTPUTS.names)
    with pytest.raises(ValueError, match="unknown catalog columns.*'failed_stage'"):
        FrameRow.from_record({**row.record(), "failed_stage": "source_frame"})


def test_rows_are_values():
    row = ClipRow(clip_id="c", sequence="s.####.exr", s3_bucket="b", status="ok", missing_frames="[3, 4]")
    assert row.missing == [3, 4] and row.failed == [] and row.ok
    changed = row.but(status="failed")
    assert row.status == "ok" and not changed.ok  # a copy; the original is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.status = "failed"  # type: ignore[misc]
