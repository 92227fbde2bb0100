"""exr-inspector's ``files``/``parts`` tables on every backend, so the seed README's JOIN runs verbatim.

Real EXRs (two deep ones, a multipart one, a plain one) and a TIFF go through the real frame chain over a local
folder and are recorded as the pipeline records them (``record_frames``); then the README's query, unchanged,
reads SQLite (the catalog file ATTACHed as ``exr_metadata_2``) and PostgreSQL (``postgres_schema=exr_metadata_2``);
the VAST fake holds the rows in the configured schema.
"""
from __future__ import annotations

import dataclasses
import sqlite3
import typing

import pyarrow as pa
import pytest

from proxygen_core.catalog import open_catalog
from proxygen_core.catalog.inspector import EMBEDDING, FILES, PARTS, inspected_file
from proxygen_core.events.outbox import Publisher
from proxygen_core.pipeline.chain import run_chain
from proxygen_core.pipeline.record import record_frames
from proxygen_core.probe import probe
from proxygen_core.rows import InspectorFileRow, InspectorPartRow
from proxygen_core.settings import CatalogSettings
from proxygen_core.store.keys import format_mtime
from proxygen_core.store.local import LocalStore

from . import fake_vastdb
from .conftest import no_retry_settings
from .formats import chart_exr, chart_tif, deep_exr, deep_one_sample_exr, multipart_exr

# The seed README's query, character for character.
SEED_JOIN = ("SELECT e.file_path, e.multipart_count, p.thumbnail_s3_key, p.proxy_s3_key FROM exr_metadata_2.files e "
             "JOIN exr_metadata_2.proxy_outputs p ON e.file_id = p.file_id WHERE e.is_deep = true "
             "ORDER BY e.size_bytes DESC;")
# With several output profiles recording into one table: one row per EXR for the profile named (docs/catalog.md).
SEED_JOIN_ONE_PROFILE = SEED_JOIN.replace(" ORDER BY", " AND p.output_profile = 'review' ORDER BY")

# exr-inspector 0.9.0's own table definitions (functions/exr_inspector/vast_db_persistence.py, _FILES_TABLE_SCHEMA
# and _PARTS_TABLE_SCHEMA), copied: ours must stay exactly these, or a table shared with it breaks.
INSPECTOR_FILES = pa.schema([
    ("file_id", pa.string()), ("file_path", pa.string()), ("file_path_normalized", pa.string()),
    ("header_hash", pa.string()), ("size_bytes", pa.int64()), ("mtime", pa.string()), ("multipart_count", pa.int32()),
    ("is_deep", pa.bool_()),
    ("metadata_embedding", pa.list_(pa.field(name="item", type=pa.float32(), nullable=False), 384)),
    ("frame_number", pa.int32()), ("inspection_timestamp", pa.string()), ("inspection_count", pa.int32()),
    ("last_inspected", pa.string()),
])
INSPECTOR_PARTS = pa.schema([
    ("file_id", pa.string()), ("file_path", pa.string()), ("part_index", pa.int32()), ("width", pa.int32()),
    ("height", pa.int32()), ("display_width", pa.int32()), ("display_height", pa.int32()),
    ("data_x_offset", pa.int32()), ("data_y_offset", pa.int32()), ("part_name", pa.string()),
    ("view_name", pa.string()), ("multi_view", pa.bool_()), ("data_window", pa.string()),
    ("display_window", pa.string()), ("pixel_aspect_ratio", pa.float32()), ("line_order", pa.string()),
    ("compression", pa.string()), ("color_space", pa.string()), ("render_software", pa.string()),
    ("is_tiled", pa.bool_()), ("tile_width", pa.int32()), ("tile_height", pa.int32()), ("tile_depth", pa.int32()),
    ("is_deep", pa.bool_()),
])
PYTHON = {pa.string(): str, pa.int64(): int, pa.int32(): int, pa.float32(): float, pa.bool_(): bool,
          EMBEDDING: list[float]}


def test_the_tables_are_exactly_exr_inspectors():
    assert FILES.equals(INSPECTOR_FILES) and PARTS.equals(INSPECTOR_PARTS)


@pytest.mark.parametrize("row_type, schema", [(InspectorFileRow, FILES), (InspectorPartRow, PARTS)])
def test_row_fields_are_exactly_the_table_columns(row_type, schema):
    hints = typing.get_type_hints(row_type)
    assert row_type.columns() == tuple(schema.names)
    for f in schema:
        declared = {a for a in typing.get_args(hints[f.name]) if a is not type(None)} or {hints[f.name]}
        if typing.get_origin(hints[f.name]) is list:
            declared = {hints[f.name]}
        assert declared == {PYTHON[f.type]}, (f.name, hints[f.name], f.type)


def test_rows_from_the_probe(tmp_path):
    """A multipart EXR: one files row (multipart_count 2) and a parts row per part, named; a TIFF: none."""
    exr = multipart_exr(tmp_path / "shot_v001.1001.exr")
    made = inspected_file("show/shot_v001.1001.exr", 1234, "2026-01-02T03:04:05+00:00", "f" * 16,
                          probe(exr).to_dict())
    assert made is not None
    f = made.file
    assert (f.file_path, f.file_path_normalized, f.size_bytes, f.mtime, f.frame_number) == (
        "show/shot_v001.1001.exr", "/show/shot_v001.1001.exr", 1234, "2026-01-02T03:04:05+00:00", 1001)
    assert (f.multipart_count, f.is_deep, f.inspection_count, f.metadata_embedding) == (2, False, 1, None)
    assert [(p.part_index, p.part_name, p.width, p.height, p.data_window, p.compression, p.line_order)
            for p in made.parts] == [(0, "beauty", 96, 64, "[0, 0, 95, 63]", "zip", "increasingY"),
                                     (1, "depth", 96, 64, "[0, 0, 95, 63]", "zip", "increasingY")]
    tif = chart_tif(tmp_path / "plate.tif")
    assert inspected_file("plate.tif", 1, "2026-01-02T03:04:05+00:00", "f" * 16, probe(tif).to_dict()) is None
    # a state written before the probe kept the parts' headers still gives the first part
    old = {k: v for k, v in probe(exr).to_dict().items() if k != "parts"}
    again = inspected_file("a.exr", 1, "m", "f" * 16, old)
    assert again is not None and again.file.multipart_count == 2 and len(again.parts) == 1


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Two deep EXRs of different sizes, a multipart and a plain EXR, and a TIFF, through the real chain."""
    src = tmp_path_factory.mktemp("src")
    files = [deep_exr(src / "fx_deep.1001.exr"), deep_one_sample_exr(src / "smoke_deep.1001.exr", 200, 120),
             multipart_exr(src / "beauty_multi.1001.exr"), chart_exr(src / "plate.1001.exr"),
             chart_tif(src / "ref.tif")]
    store = LocalStore(tmp_path_factory.mktemp("out"))
    settings = no_retry_settings()
    results = {str(f): run_chain(store, str(f), settings) for f in files}
    assert all(r.ok for r in results.values()), {k: r.failed for k, r in results.items() if not r.ok}
    return store, settings, results


def _record(catalog, rendered):
    store, settings, results = rendered
    return record_frames(catalog, Publisher(None), store.bucket, results, settings.render)


def _expected_deep(rendered):
    """The JOIN's rows: the deep EXRs, largest first (file_path, multipart_count, thumbnail key, proxy key)."""
    _, _, results = rendered
    deep = [r for k, r in results.items() if "_deep." in k]
    assert len(deep) == 2 and deep[0].source.size_bytes != deep[1].source.size_bytes
    deep.sort(key=lambda r: r.source.size_bytes, reverse=True)
    return [(r.key, 1, r.thumbnail.path, r.proxy.path) for r in deep]


def _sqlite_query(path, sql):
    """The query as a user runs it: another connection, the catalog file attached under exr-inspector's name."""
    conn = sqlite3.connect(":memory:")
    conn.execute("ATTACH DATABASE ? AS exr_metadata_2", [str(path)])
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def test_seed_join_verbatim_on_sqlite(tmp_path, rendered):
    path = tmp_path / "catalog.db"
    catalog = open_catalog(CatalogSettings(sqlite_path=str(path), exr_inspector_tables=True))
    _record(catalog, rendered)
    assert _sqlite_query(path, SEED_JOIN) == _expected_deep(rendered)
    files = _sqlite_query(path, "SELECT file_path, multipart_count, is_deep, inspection_count, mtime, file_id "
                                "FROM exr_metadata_2.files ORDER BY file_path")
    _, _, results = rendered
    exrs = sorted(k for k in results if k.endswith(".exr"))
    assert [f[0] for f in files] == exrs  # EXRs only: the TIFF has a proxy row and no files row
    by_key = {f[0]: f for f in files}
    for key in exrs:
        source = results[key].source
        assert by_key[key][3:] == (1, source.mtime, source.file_id)  # the frame row's file_id: the JOIN's key
        assert source.mtime == format_mtime(results[key].info.last_modified)
    assert by_key[next(k for k in exrs if "multi" in k)][1:3] == (2, 0)
    assert _sqlite_query(path, "SELECT COUNT(*) FROM exr_metadata_2.parts") == [(len(exrs) + 1,)]  # multipart: 2


def test_reingest_counts_inspections_and_adds_no_row(tmp_path, rendered):
    path = tmp_path / "catalog.db"
    catalog = open_catalog(CatalogSettings(sqlite_path=str(path), exr_inspector_tables=True))
    _record(catalog, rendered)
    first = _sqlite_query(path, "SELECT file_id, inspection_timestamp, last_inspected, header_hash "
                                "FROM exr_metadata_2.files ORDER BY file_id")
    _record(catalog, rendered)
    again = _sqlite_query(path, "SELECT file_id, inspection_timestamp, last_inspected, header_hash, "
                                "inspection_count FROM exr_metadata_2.files ORDER BY file_id")
    assert [r[:2] + r[3:4] for r in again] == [r[:2] + r[3:4] for r in first]  # same ids, first inspection kept
    assert all(a[4] == 2 and a[2] >= f[2] for a, f in zip(again, first, strict=True))
    assert _sqlite_query(path, "SELECT COUNT(*) FROM exr_metadata_2.parts") == [(5,)]
    assert _sqlite_query(path, SEED_JOIN) == _expected_deep(rendered)


def test_several_output_profiles_need_the_profile_filter(tmp_path, rendered):
    path = tmp_path / "catalog.db"
    for profile in ("review", "client"):
        _record(open_catalog(CatalogSettings(sqlite_path=str(path), exr_inspector_tables=True,
                                             output_profile=profile)), rendered)
    expected = _expected_deep(rendered)
    assert len(_sqlite_query(path, SEED_JOIN)) == 2 * len(expected)  # one row per (file, profile)
    assert _sqlite_query(path, SEED_JOIN_ONE_PROFILE) == expected


def test_off_by_default(tmp_path, rendered):
    path = tmp_path / "catalog.db"
    _record(open_catalog(CatalogSettings(sqlite_path=str(path))), rendered)
    tables = {r[0] for r in _sqlite_query(path, "SELECT name FROM exr_metadata_2.sqlite_master WHERE type='table'")}
    assert "proxy_outputs" in tables and not {"files", "parts"} & tables


def test_seed_join_verbatim_on_postgres(postgres_server, rendered):
    import psycopg2

    from .conftest import fresh_postgres_dsn

    dsn = fresh_postgres_dsn()
    settings = CatalogSettings(catalog_backend="postgres", postgres_dsn=dsn, postgres_schema="exr_metadata_2",
                               exr_inspector_tables=True)
    catalog = open_catalog(settings)
    _record(catalog, rendered)
    _record(catalog, rendered)  # re-ingest: no second row
    conn = psycopg2.connect(dsn)  # a plain session: public search path, the README's qualified names
    try:
        with conn.cursor() as cur:
            cur.execute(SEED_JOIN)
            assert cur.fetchall() == _expected_deep(rendered)
            cur.execute("SELECT table_schema, table_name FROM information_schema.tables "
                        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 2")
            placed = cur.fetchall()
            assert {s for s, _ in placed} == {"exr_metadata_2"}
            assert {"files", "parts", "proxy_outputs", "proxy_events"} <= {t for _, t in placed}
            cur.execute("SELECT COUNT(*), MIN(inspection_count), MAX(inspection_count) FROM exr_metadata_2.files")
            assert cur.fetchone() == (4, 2, 2)
            cur.execute("SELECT data_type FROM information_schema.columns WHERE table_schema = 'exr_metadata_2' "
                        "AND table_name = 'files' AND column_name IN ('is_deep', 'metadata_embedding') "
                        "ORDER BY column_name")
            assert [r[0] for r in cur.fetchall()] == ["boolean", "ARRAY"]
    finally:
        conn.close()
    assert [r.s3_key for r in catalog.rows(limit=10)]  # the catalog reads its own schema


def test_vast_rows_land_in_the_configured_schema(rendered):
    from proxygen_core.catalog.vast import VastCatalog

    server = fake_vastdb.Server(buckets=["db"])
    catalog = VastCatalog("http://vast.example", "a", "s", "db", schema="exr_metadata_2",
                          connect=fake_vastdb.connector(server))
    catalog.inspector_tables = True
    catalog.ensure()
    _record(catalog, rendered)
    _record(catalog, rendered)
    tables = server.buckets["db"]["exr_metadata_2"]
    assert tables["files"]["schema"].equals(INSPECTOR_FILES) and tables["parts"]["schema"].equals(INSPECTOR_PARTS)
    files = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "$row_id"} for r in tables["files"]["rows"]],
                                 schema=FILES)
    outputs = pa.Table.from_pylist([{k: r[k] for k in ("file_id", "thumbnail_s3_key", "proxy_s3_key")}
                                    for r in tables["proxy_outputs"]["rows"]])
    assert files.num_rows == 4 and set(files.column("inspection_count").to_pylist()) == {2}
    assert len(tables["parts"]["rows"]) == 5
    joined = (files.drop_columns(["metadata_embedding"]).filter(pa.compute.field("is_deep"))
              .join(outputs, "file_id").sort_by([("size_bytes", "descending")]))
    columns = ("file_path", "multipart_count", "thumbnail_s3_key", "proxy_s3_key")
    assert list(zip(*(joined.column(c).to_pylist() for c in columns), strict=True)) == _expected_deep(rendered)


def test_vast_shares_a_files_table_exr_inspector_made(rendered):
    """exr-inspector created ``files`` and inspected one of the EXRs first: proxygen counts one more inspection of
    that file_id instead of a second row."""
    from proxygen_core.catalog.vast import VastCatalog

    _, _, results = rendered
    server = fake_vastdb.Server(buckets=["db"])
    session = fake_vastdb.connector(server)(endpoint="x", access="a", secret="s")
    first = next(r for k, r in results.items() if k.endswith(".exr"))
    theirs = inspected_file(first.key, first.source.size_bytes, first.source.mtime, first.source.file_id,
                            first.source.probe)
    with session.transaction() as tx:
        schema = tx.bucket("db").create_schema("exr_metadata_2")
        schema.create_table("files", INSPECTOR_FILES).insert(
            pa.Table.from_pylist([dataclasses.replace(theirs.file, inspection_count=3).record()], schema=FILES))
        schema.create_table("parts", INSPECTOR_PARTS)
    catalog = VastCatalog("http://x", "a", "s", "db", schema="exr_metadata_2", connect=fake_vastdb.connector(server))
    catalog.inspector_tables = True
    catalog.ensure()
    _record(catalog, rendered)
    rows = server.buckets["db"]["exr_metadata_2"]["files"]["rows"]
    counts = {r["file_id"]: r["inspection_count"] for r in rows}
    assert len(rows) == 4 and counts[first.source.file_id] == 4


def test_postgres_without_a_schema_setting_stays_in_public(postgres_server, rendered):
    """Unset, the search path is the server's: the tables go to ``public`` as before the setting existed, and the
    JOIN runs with the qualifiers dropped."""
    import psycopg2

    from .conftest import fresh_postgres_dsn

    dsn = fresh_postgres_dsn()
    _record(open_catalog(CatalogSettings(catalog_backend="postgres", postgres_dsn=dsn, exr_inspector_tables=True)),
            rendered)
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(SEED_JOIN.replace("exr_metadata_2.", ""))
            assert cur.fetchall() == _expected_deep(rendered)
            cur.execute("SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_name IN "
                        "('files', 'parts', 'proxy_outputs')")
            assert cur.fetchall() == [("public",)]
    finally:
        conn.close()


def test_the_settings_and_their_environment():
    from proxygen_core.settings import load_settings

    assert (load_settings(env={}).catalog.exr_inspector_tables, load_settings(env={}).catalog.postgres_schema) == (
        False, None)
    chosen = load_settings(env={"PROXYGEN_EXR_INSPECTOR_TABLES": "true", "PROXYGEN_POSTGRES_SCHEMA": "exr_metadata_2"})
    assert (chosen.catalog.exr_inspector_tables, chosen.catalog.postgres_schema) == (True, "exr_metadata_2")
