"""Typed catalog records: each row type's fields are exactly its table's columns, in order and type."""
from __future__ import annotations

import dataclasses
import typing

import pyarrow as pa
import pytest

from proxygen_core.catalog.schema import HISTORY, PROXY_CLIPS, PROXY_CUTS, PROXY_OUTPUTS
from proxygen_core.rows import ClipRow, CutRow, FrameRow, HistoryRow

PYTHON = {pa.string(): str, pa.int64(): int, pa.float64(): float, pa.bool_(): bool}


@pytest.mark.parametrize("row_type, schema", [(FrameRow, PROXY_OUTPUTS), (HistoryRow, HISTORY),
                                              (ClipRow, PROXY_CLIPS), (CutRow, PROXY_CUTS)])
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


def test_a_frame_row_names_every_output_the_chain_made(tmp_path):
    """The row's output columns come from the registry of outputs: each kind's key, size and resolution."""
    from proxygen_core.pipeline.folder import render_file
    from proxygen_core.pipeline.record import frame_row
    from proxygen_core.settings import RenderSettings, Settings
    from proxygen_core.store.local import LocalStore

    from .formats import chart_exr

    settings = Settings(render=RenderSettings(preview_enabled=True))
    result = render_file(chart_exr(tmp_path / "src" / "a.exr"), tmp_path / "out", settings,
                         LocalStore(tmp_path / "out"))
    row = frame_row(result, "frames", settings.render, "review")
    assert result.ok and result.thumbnail and result.proxy and result.preview
    assert (row.thumbnail_s3_key, row.proxy_s3_key, row.preview_s3_key) == (
        result.thumbnail.path, result.proxy.path, result.preview.path)
    assert (row.thumbnail_size_bytes, row.proxy_size_bytes) == (result.thumbnail.size_bytes, result.proxy.size_bytes)
    assert (row.thumb_resolution, row.proxy_resolution) == ("256x144", "320x180")
