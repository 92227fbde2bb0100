"""exr-inspector's ``files`` and ``parts`` tables, written by proxygen beside ``proxy_outputs`` (optional).

The sibling exr-inspector (ssotoa70/exr_inspector 0.9.0) writes ``files``, ``parts``, ``channels`` and
``attributes`` on VAST DataBase only; its ``file_id`` is computed exactly as ours. The seed README joins its
``files`` with our ``proxy_outputs`` on ``file_id``. With ``PROXYGEN_EXR_INSPECTOR_TABLES=true`` every backend
also writes exr-inspector-compatible ``files`` and ``parts`` rows (its column names, order and types exactly:
``FILES``/``PARTS`` are its ``_FILES_TABLE_SCHEMA``/``_PARTS_TABLE_SCHEMA``) from the header the probe already
read, in the same transaction as the frame row, so the JOIN works on SQLite and PostgreSQL too (docs/catalog.md).

Which files: EXRs only (``.exr``, the one extension exr-inspector handles): a DPX or TIFF row would be a row
the inspector itself never writes, so a table shared with it would mean two different things.

Re-ingest as exr-inspector does it: the first inspection of a ``file_id`` inserts its ``files`` and ``parts``
rows; a later one (a re-run, a retried batch, another output profile's record) only adds one to
``inspection_count`` and sets ``last_inspected``. A new upload has a new LastModified, hence a new file_id and
new rows (the inspector's rule: the id names one version of one key).

``metadata_embedding`` (FLOAT32[384] on VAST) stays NULL: exr-inspector's vector hashes its own JSON payload
(channels, attributes), which proxygen does not build, and a vector computed otherwise would mislead a
similarity search that mixes both writers' rows. On SQLite the column is TEXT, on PostgreSQL ``REAL[]``.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from proxygen_core.rows import InspectorFileRow, InspectorPartRow

FILES_TABLE, PARTS_TABLE = "files", "parts"
EMBEDDING_DIM = 384
EMBEDDING = pa.list_(pa.field(name="item", type=pa.float32(), nullable=False), EMBEDDING_DIM)

FILES = pa.schema([
    ("file_id", pa.string()), ("file_path", pa.string()), ("file_path_normalized", pa.string()),
    ("header_hash", pa.string()), ("size_bytes", pa.int64()), ("mtime", pa.string()),
    ("multipart_count", pa.int32()), ("is_deep", pa.bool_()), ("metadata_embedding", EMBEDDING),
    ("frame_number", pa.int32()), ("inspection_timestamp", pa.string()), ("inspection_count", pa.int32()),
    ("last_inspected", pa.string()),
])

PARTS = pa.schema([
    ("file_id", pa.string()), ("file_path", pa.string()), ("part_index", pa.int32()),
    ("width", pa.int32()), ("height", pa.int32()), ("display_width", pa.int32()), ("display_height", pa.int32()),
    ("data_x_offset", pa.int32()), ("data_y_offset", pa.int32()), ("part_name", pa.string()),
    ("view_name", pa.string()), ("multi_view", pa.bool_()), ("data_window", pa.string()),
    ("display_window", pa.string()), ("pixel_aspect_ratio", pa.float32()), ("line_order", pa.string()),
    ("compression", pa.string()), ("color_space", pa.string()), ("render_software", pa.string()),
    ("is_tiled", pa.bool_()), ("tile_width", pa.int32()), ("tile_height", pa.int32()), ("tile_depth", pa.int32()),
    ("is_deep", pa.bool_()),
])

# The SQL column types the two tables add to each dialect's (schema.SQLITE_TYPES, postgres.PostgresCatalog.types);
# the vector has no SQL equivalent: NULL in both.
SQLITE_EXTRA_TYPES = {pa.int32(): "INTEGER", pa.float32(): "REAL", EMBEDDING: "TEXT"}
POSTGRES_EXTRA_TYPES = {pa.int32(): "INTEGER", pa.float32(): "REAL", EMBEDDING: "REAL[]"}

_FRAME_NUMBER = re.compile(r"[._](\d{3,8})\.exr$", re.IGNORECASE)  # exr-inspector's, so both agree


@dataclass(frozen=True)
class InspectedFile:
    """One EXR's ``files`` row and its ``parts`` rows, written together (or not at all: re-ingest)."""

    file: InspectorFileRow
    parts: tuple[InspectorPartRow, ...]


def is_inspected(key: str) -> bool:
    return key.lower().endswith(".exr")


def normalized_path(key: str) -> str:
    """exr-inspector's ``file_path_normalized``: the path resolved, forward slashes, lower case. It resolves the
    S3 key against its container's working folder; here the key is taken from the root (``/<key>``), so the
    value does not depend on where proxygen runs."""
    return posixpath.normpath("/" + key.lstrip("/")).lower()


def frame_number(key: str) -> int | None:
    match = _FRAME_NUMBER.search(key)
    return int(match.group(1)) if match else None


def header_hash(multipart_count: int, is_deep: bool, parts: Sequence[dict[str, Any]]) -> str:
    """exr-inspector's formula: sha256 of the part count, the deep flag and the parts' JSON (sorted keys)."""
    text = f"{multipart_count}{is_deep}{json.dumps(list(parts), sort_keys=True, default=str)}"
    return hashlib.sha256(text.encode()).hexdigest()


def _window(w: dict[str, int]) -> str:
    return json.dumps([w["x"], w["y"], w["x"] + w["width"] - 1, w["y"] + w["height"] - 1])


def _first_part(probe: dict[str, Any]) -> dict[str, Any]:
    """The first part from a probe recorded before the probe kept every part's header (an older state)."""
    data, display = probe["data_window"], probe["display_window"]
    return {"part_index": 0, "width": data["width"], "height": data["height"], "display_width": display["width"],
            "display_height": display["height"], "data_x_offset": data["x"], "data_y_offset": data["y"],
            "data_window": _window(data), "display_window": _window(display),
            "pixel_aspect_ratio": probe.get("pixel_aspect", 1.0), "is_tiled": bool(probe.get("tiled")),
            "is_deep": bool(probe.get("deep"))}


def inspected_file(key: str, size_bytes: int, mtime: str, file_id: str, probe: dict[str, Any] | None,
                   now: datetime | None = None) -> InspectedFile | None:
    """The rows exr-inspector would write for this EXR, from the probe's header record; None for other formats
    (or when no header was read)."""
    if not is_inspected(key) or not probe:
        return None
    headers = list(probe.get("parts") or [_first_part(probe)])
    count = len(headers) if probe.get("parts") else int(probe.get("subimages") or 1)
    deep = any(bool(h.get("is_deep")) for h in headers)
    stamp = (now or datetime.now(UTC)).isoformat()
    file = InspectorFileRow(
        file_id=file_id, file_path=key, file_path_normalized=normalized_path(key),
        header_hash=header_hash(count, deep, headers), size_bytes=size_bytes, mtime=mtime, multipart_count=count,
        is_deep=deep, frame_number=frame_number(key), inspection_timestamp=stamp, inspection_count=1,
        last_inspected=stamp)
    names = set(InspectorPartRow.columns())
    parts = tuple(InspectorPartRow(file_id=file_id, file_path=key, **{k: v for k, v in h.items() if k in names})
                  for h in headers)
    return InspectedFile(file, parts)


def _ddl(table: str, schema: pa.Schema, primary_key: str | None, types: dict[pa.DataType, str]) -> str:
    cols = ", ".join(f'"{f.name}" {types[f.type]}' + (" PRIMARY KEY" if f.name == primary_key else "") for f in schema)
    return f'CREATE TABLE IF NOT EXISTS "{table}" ({cols})'


Execute = Callable[..., list[dict[str, Any]]]


def ensure_sql(execute: Execute, columns: Callable[[str], set[str]], types: dict[pa.DataType, str]) -> None:
    """Create ``files`` (file_id its primary key) and ``parts`` in the catalog's database (schema); add columns
    a later version defines."""
    for table, schema, pk in ((FILES_TABLE, FILES, "file_id"), (PARTS_TABLE, PARTS, None)):
        execute(_ddl(table, schema, pk, types))
        existing = columns(table)
        for f in schema:
            if f.name not in existing:
                execute(f'ALTER TABLE "{table}" ADD COLUMN "{f.name}" {types[f.type]}')
    execute(f'CREATE INDEX IF NOT EXISTS "{PARTS_TABLE}_file" ON "{PARTS_TABLE}" (file_id)')


def _insert(execute: Execute, table: str, record: dict[str, Any]) -> None:
    names = ", ".join(f'"{n}"' for n in record)
    execute(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" for _ in record)})', list(record.values()))


def write_sql(execute: Execute, lock: Callable[[str], None], files: Iterable[InspectedFile]) -> None:
    """Inside the frame rows' transaction: insert a new file_id's rows, else count one more inspection."""
    for item in _unique(files):
        file = item.file
        lock(f"files/{file.file_id}")
        if execute(f'SELECT file_id FROM "{FILES_TABLE}" WHERE file_id = ?', [file.file_id]):
            execute(f'UPDATE "{FILES_TABLE}" SET inspection_count = COALESCE(inspection_count, 0) + 1, '
                    'last_inspected = ? WHERE file_id = ?', [file.last_inspected, file.file_id])
            continue
        _insert(execute, FILES_TABLE, file.record())
        for part in item.parts:
            _insert(execute, PARTS_TABLE, part.record())


def _unique(files: Iterable[InspectedFile]) -> list[InspectedFile]:
    return list({f.file.file_id: f for f in files}.values())


def write_vast(files_table: Any, parts_table: Any, files: Iterable[InspectedFile]) -> None:
    """The same on VAST DataBase (no unique constraint): select the batch's file_ids; update the found rows' count
    and ``last_inspected`` by ``$row_id``; insert the others with their parts. Inside the frame rows' transaction."""
    from ibis import _

    items = _unique(files)
    if not items:
        return
    found = files_table.select(columns=["file_id", "inspection_count"],
                               predicate=_.file_id.isin([i.file.file_id for i in items]),
                               internal_row_id=True).read_all().to_pylist()
    seen = {r["file_id"] for r in found}
    stamps = {i.file.file_id: i.file.last_inspected for i in items}
    if found:
        files_table.update(pa.table({
            "$row_id": pa.array([r["$row_id"] for r in found], pa.uint64()),
            "inspection_count": pa.array([(r["inspection_count"] or 0) + 1 for r in found], pa.int32()),
            "last_inspected": pa.array([stamps[r["file_id"]] for r in found], pa.string()),
        }))
    new = [i for i in items if i.file.file_id not in seen]
    if new:
        files_table.insert(pa.Table.from_pylist([i.file.record() for i in new], schema=FILES))
        parts = [p.record() for i in new for p in i.parts]
        if parts:
            parts_table.insert(pa.Table.from_pylist(parts, schema=PARTS))
