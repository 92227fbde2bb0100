"""The CLI contract: files, JSON, listings, stderr lines and exit codes, run in this process."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from proxygen_core.media.samples import CHROMATICITIES, write_exr
from proxygen_core.rows import ClipRow

from .conftest import RENDER, run_cli
from .formats import chart_exr, flat_tif, write_pixels


def test_render_good_and_bad_sources(tmp_path):
    good = chart_exr(tmp_path / "in" / "beauty.0001.exr")
    bad = tmp_path / "in" / "broken.exr"
    bad.write_bytes(b"this is not an exr at all")
    out = tmp_path / "out"
    proc = run_cli("render", str(bad), str(good), "--out", str(out))
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"error: {bad}: ")
    assert (out / "beauty.0001_thumb.jpg").stat().st_size > 0
    assert (out / "beauty.0001_proxy.mp4").stat().st_size > 0
    ok = json.loads((out / "beauty.0001.json").read_text())
    assert ok["status"] == "ok" and ok["source_colorspace"] == "ACEScg"
    assert ok["colorspace_rule"] == "metadata:chromaticities"
    assert ok["thumbnail"]["resolution"] == "256x144" and ok["proxy"]["resolution"] == "320x180"
    assert ok["thumbnail"]["size_bytes"] == (out / "beauty.0001_thumb.jpg").stat().st_size
    assert ok["timings"]["total"] > 0 and "decode" in ok["timings"]
    failed = json.loads((out / "broken.json").read_text())
    assert failed["status"] == "failed" and failed["error"]["type"] == "UnreadableSourceError"
    assert failed["error"]["cause"] in errors[0]
    assert "[2/2]" in proc.stdout  # progress for batches


def test_render_options(tmp_path):
    src = tmp_path / "plate.exr"
    write_exr(src, np.full((90, 160, 3), 0.18, np.float32))
    out = tmp_path / "out"
    proc = run_cli("render", str(src), "--out", str(out), "--source-colorspace", "Linear Rec.709 (sRGB)",
                "--display", "sRGB - Display", "--view", "Un-tone-mapped",
                "--ocio-config", "ocio://studio-config-v4.0.0_aces-v2.0_ocio-v2.5")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "plate.json").read_text())
    assert report["colorspace_rule"] == "override" and report["view"] == "Un-tone-mapped"
    assert report["proxy"]["colorspace"] == "sRGB - Display"
    # 0.18 linear, un-tone-mapped to sRGB, is code value ~118
    from .media import read_jpeg

    assert abs(read_jpeg(out / "plate_thumb.jpg")[45, 80, 1] * 255 - 118) <= 2


def test_bad_option_values_fail_clearly(tmp_path):
    src = tmp_path / "plate.exr"
    write_exr(src, np.full((8, 8, 3), 0.18, np.float32))
    proc = run_cli("render", str(src), "--out", str(tmp_path / "o"), "--view", "No Such View")
    assert proc.returncode == 1 and "No Such View" in proc.stderr


def test_probe_prints_a_record(tmp_path):
    src = tmp_path / "shot.1001.exr"
    write_exr(src, np.zeros((10, 20, 3), np.float32), CHROMATICITIES["ACEScg"])
    proc = run_cli("probe", str(src))
    record = json.loads(proc.stdout)
    assert record["width"] == 20 and record["height"] == 10 and record["frame_number"] == 1001
    assert record["channels"] == ["R", "G", "B"] and record["colour_metadata"]["chromaticities"]
    assert record["colour"] == {"source_colorspace": "ACEScg", "rule": "metadata:chromaticities"}
    untagged = tmp_path / "untagged.exr"
    write_exr(untagged, np.zeros((10, 20, 3), np.float32))
    assert json.loads(run_cli("probe", str(untagged)).stdout)["colour"] == {"source_colorspace": "ACES2065-1",
                                                                         "rule": "file-rules:EXR"}


def test_same_stem_sources_never_overwrite_each_other(tmp_path):
    exr = chart_exr(tmp_path / "in" / "frame.0001.exr")
    tif = flat_tif(tmp_path / "in" / "frame.0001.tif", (0.5, 0.2, 0.1))
    out = tmp_path / "out"
    proc = run_cli("render", str(exr), str(tif), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    first = json.loads((out / "frame.0001.json").read_text())
    second = json.loads((out / "frame.0001.tif.json").read_text())
    assert first["source"] == str(exr) and first["proxy"]["resolution"] == "320x180"
    assert second["source"] == str(tif) and second["proxy"]["resolution"] == "64x32"
    assert (out / "frame.0001.tif_proxy.mp4").stat().st_size > 0
    # Rendering the .exr again keeps its own plain names.
    assert run_cli("render", str(exr), "--out", str(out)).returncode == 0
    assert json.loads((out / "frame.0001.json").read_text())["source"] == str(exr)


@pytest.fixture()
def catalog(tmp_path, monkeypatch):
    """A SQLite catalog with one frame row and its event; the listing commands find it by $PROXYGEN_SQLITE_PATH
    (and no other PROXYGEN_ variable of this process)."""
    from proxygen_core.catalog import SQLiteCatalog
    from proxygen_core.events.schema import build_event
    from proxygen_core.pipeline.chain import KeyResult
    from proxygen_core.pipeline.record import frame_row

    for name in [n for n in os.environ if n.startswith("PROXYGEN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PROXYGEN_SQLITE_PATH", str(tmp_path / "c.db"))
    c = SQLiteCatalog(tmp_path / "c.db")
    c.ensure()
    row = frame_row(KeyResult("shot/a.0001.exr"), "frames", RENDER, "review")
    c.write([row], [build_event(row, "t")])
    return c, row


def _clip(profile: str, status: str = "ok") -> ClipRow:
    return ClipRow.from_record({
        "clip_id": f"{profile[:4]:c<32}", "sequence": "shot/a.####.exr", "s3_bucket": "frames", "status": status,
        "profile": profile, "clip_s3_key": f"shot/.proxies/a.exr_{profile}.mp4", "frames_fingerprint": "f",
        "missing_frames": "[1003]", "failed_frames": "[]", "output_profile": "review", "first_frame": 1001,
        "error": None if status == "ok" else "encode failed"})


def _listing(proc: subprocess.CompletedProcess) -> tuple[list[str], list[dict[str, str]], str]:
    """A text listing: its header's column names, each row as {column: cell}, and its closing count line."""
    lines = proc.stdout.strip().splitlines()
    header = lines[0].split()
    return header, [dict(zip(header, line.split(None, len(header) - 1), strict=True)) for line in lines[1:-1]], \
        lines[-1]


def test_records_and_events_json(catalog):
    from proxygen_core.events.schema import build_clip_event

    c, r = catalog
    rows = json.loads(run_cli("records", "--json").stdout)
    assert isinstance(rows, list) and rows[0]["s3_key"] == "shot/a.0001.exr" and rows[0]["event_id"] == r.event_id
    events = json.loads(run_cli("events", "--json").stdout)
    assert events[0]["event_id"] == r.event_id and events[0]["sent_at"] is None
    # A clip event beside it: the text listing names its sequence (it has no source_uri).
    clip = _clip("review")
    c.write_clips([clip], [build_clip_event(clip, "t")])
    text = run_cli("events")
    assert text.returncode == 0, text.stderr
    assert "clip.generated" in text.stdout and "s3://frames/shot/a.####.exr" in text.stdout
    assert "proxy.generated" in text.stdout and "s3://frames/shot/a.0001.exr" in text.stdout


def test_listings_have_a_header_and_events_name_the_clip_profile(catalog):
    from proxygen_core.events.schema import build_clip_event

    c, r = catalog
    clips = [_clip("review"), _clip("prores_4444"), _clip("dnxhr_hqx", "failed")]
    c.write_clips(clips, [build_clip_event(x, "t") for x in clips])
    header, rows, last = _listing(run_cli("events"))
    assert header == ["created_at", "delivery", "type", "profile", "event_id", "subject"]
    assert last == "4 events; 4 pending in the outbox"
    by_id = {row["event_id"]: row for row in rows}
    assert by_id[r.event_id] == {**by_id[r.event_id], "type": "proxy.generated", "profile": "-",
                                    "delivery": "PENDING", "subject": "s3://frames/shot/a.0001.exr"}
    clip_rows = [row for row in rows if row["type"].startswith("clip.")]
    assert sorted((row["type"], row["profile"]) for row in clip_rows) == [
        ("clip.failed", "dnxhr_hqx"), ("clip.generated", "prores_4444"), ("clip.generated", "review")]
    assert {row["subject"] for row in clip_rows} == {"s3://frames/shot/a.####.exr"}
    # every line of a listing has its columns where the header has them
    text = run_cli("events").stdout.splitlines()
    assert {line.index("PENDING") for line in text[1:-1]} == {text[0].index("delivery")}

    header, rows, last = _listing(run_cli("clips"))
    assert header[:4] == ["generated_timestamp", "status", "profile", "sequence"] and last == "3 clips"
    assert {row["profile"]: row["status"] for row in rows} == {"review": "ok", "prores_4444": "ok",
                                                               "dnxhr_hqx": "failed"}
    assert {row["missing_frames"] for row in rows} == {"[1003]"} and {row["first_frame"] for row in rows} == {"1001"}

    header, rows, last = _listing(run_cli("records"))
    assert header == ["generated_timestamp", "status", "s3_key", "proxy_resolution", "source_colorspace", "error"]
    assert [(row["status"], row["s3_key"]) for row in rows] == [("ok", "shot/a.0001.exr")] and last == "1 rows"


def test_render_of_a_sequence_also_writes_its_clip(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for n in (1001, 1002, 1004):  # 1003 missing
        write_exr(src / f"sh_v003.{n}.exr", np.full((90, 160, 3), 0.1 * (n - 1000), np.float32))
    write_exr(src / "still.exr", np.zeros((90, 160, 3), np.float32))
    out = tmp_path / "out"
    proc = run_cli("render", *sorted(str(p) for p in src.iterdir()), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "clip " in proc.stdout and "missing [1003]" in proc.stdout and "00:00:41:17" in proc.stdout
    # the quality figures over the picture, with their bounds and the verdict (review: mean 0.8, p99 2.5)
    assert "over the picture mean " in proc.stdout and "(<= 2.5)" in proc.stdout, proc.stdout
    assert "quality passed" in proc.stdout, proc.stdout
    import av

    with av.open(str(out / "sh_v003.exr_clip.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 4
    assert (out / "sh_v003.exr_poster.jpg").read_bytes() == (out / "sh_v003.1002_thumb.jpg").read_bytes()
    assert not list(out.glob("still*_clip.mp4"))


def test_render_exits_non_zero_when_a_clip_fails_its_quality_check(tmp_path, monkeypatch):
    """A clip that is made but misses its bound is an error line naming what failed and exit 1, not a pass."""
    import dataclasses

    from proxygen_core import profiles

    review = profiles.PROFILES["review"]
    strict = dataclasses.replace(review.bound, de_mean=0.0, de_p99=0.0)  # no encode can meet zero error
    monkeypatch.setitem(profiles.PROFILES, "review", dataclasses.replace(review, bound=strict))
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(3)
    for n in (1001, 1002):
        write_exr(src / f"sh_v001.{n}.exr", rng.uniform(0.0, 1.0, (90, 160, 3)).astype(np.float32))
    proc = run_cli("render", *sorted(str(p) for p in src.iterdir()), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: clip ")]
    assert len(errors) == 1 and "quality FAILED" in errors[0] and "p99 " in errors[0] and "> 0.0" in errors[0], errors
    assert (tmp_path / "out" / "sh_v001.exr_clip.mp4").stat().st_size > 0  # the clip is still written


def test_exr_frame_rate_and_timecode_drive_the_clip(tmp_path):
    import av
    import OpenImageIO as oiio

    src = tmp_path / "in"
    src.mkdir()
    for n in (1, 2):
        write_pixels(src / f"plate_{n:04d}.exr", np.full((32, 64, 3), 0.3, np.float32), attributes=[
            ("FramesPerSecond", oiio.TypeDesc("rational"), (25, 1)),
            ("smpte:TimeCode", oiio.TypeDesc("timecode"), (0x10203010 + n - 1, 0))])  # 10:20:30:10 (+1)
    proc = run_cli("render", *sorted(str(p) for p in src.iterdir()), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    with av.open(str(tmp_path / "out" / "plate_exr_clip.mp4")) as c:
        assert float(c.streams.video[0].average_rate) == 25.0
        assert [dict(s.metadata).get("timecode") for s in c.streams if s.type == "data"] == ["10:20:30:10"]


def test_catalog_commands_find_the_local_run_and_create_nothing(tmp_path, monkeypatch):
    import yaml

    from proxygen_core.catalog import SQLiteCatalog

    monkeypatch.delenv("PROXYGEN_SQLITE_PATH", raising=False)
    monkeypatch.delenv("PROXYGEN_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    proc = run_cli("records")
    assert proc.returncode == 2 and proc.stderr.startswith("error: no catalog at ") and "proxygen local" in proc.stderr
    assert list(elsewhere.iterdir()) == []  # no stray var/catalog.db
    db = tmp_path / "var" / "catalog.db"
    SQLiteCatalog(db).ensure()
    pointer = tmp_path / "config" / "proxygen" / "local.yaml"
    pointer.parent.mkdir(parents=True)
    pointer.write_text(yaml.safe_dump({"catalog": {"sqlite_path": str(db)}}))
    proc = run_cli("records")
    assert proc.returncode == 0 and proc.stdout.strip() == "0 rows"  # no rows: no header either
    assert list(elsewhere.iterdir()) == []


def test_bad_command_lines_get_one_clear_error(tmp_path):
    src = tmp_path / "plate.exr"
    write_exr(src, np.full((8, 8, 3), 0.18, np.float32))
    afile = tmp_path / "afile"
    afile.write_text("x")
    proc = run_cli("render", str(src), "--out", str(afile))
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: --out {afile}: is a file; give a folder " \
                                                          "(it is created if missing)"
    folder = tmp_path / "frames"
    folder.mkdir()
    proc = run_cli("render", str(folder), str(src), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1 and f"error: {folder}: is a folder" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o" / "frames.json").exists() and (tmp_path / "o" / "plate.json").exists()
    proc = run_cli("render", str(src), "--out", str(tmp_path / "o"), "--no-such-flag")
    assert proc.returncode == 2 and "usage: proxygen render" in proc.stderr and "--no-such-flag" in proc.stderr
    proc = run_cli("render", str(src), "--out", str(tmp_path / "o"), "--view", "No Such View")
    assert "views: " in proc.stderr and "ACES 2.0 - SDR 100 nits (Rec.709)" in proc.stderr


def test_list_commands_say_which_catalog_and_how_much_is_not_shown(tmp_path, monkeypatch):
    from proxygen_core.catalog import SQLiteCatalog
    from proxygen_core.events.schema import build_event
    from proxygen_core.pipeline.chain import KeyResult
    from proxygen_core.pipeline.record import frame_row

    (tmp_path / "show").mkdir()
    db = tmp_path / "show" / "catalog.db"
    c = SQLiteCatalog(db)
    c.ensure()
    rows = [frame_row(KeyResult(f"shot/a.{i:04d}.exr"), "frames", RENDER, "review") for i in range(25)]
    c.write(rows, [build_event(r, "t") for r in rows])
    # A relative path in a settings file is the settings file's folder, wherever the command starts.
    (tmp_path / "show" / "proxygen.yaml").write_text("catalog:\n  sqlite_path: catalog.db\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for name in [n for n in os.environ if n.startswith("PROXYGEN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no local-run pointer
    proc = run_cli("--config", str(tmp_path / "show" / "proxygen.yaml"), "records")
    assert proc.returncode == 0, proc.stderr
    assert f"catalog: sqlite {db} (from --config)" in proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["generated_timestamp", "status", "s3_key"] and len(lines) == 1 + 20 + 1
    assert lines[-1] == "20 of 25 rows shown (--limit N for more)"
    monkeypatch.setenv("PROXYGEN_SQLITE_PATH", str(db))
    events = run_cli("events", "--limit", "30")
    assert f"catalog: sqlite {db} (from $PROXYGEN_SQLITE_PATH)" in events.stderr
    assert events.stdout.strip().splitlines()[-1] == "25 events; 25 pending in the outbox"
    monkeypatch.delenv("PROXYGEN_SQLITE_PATH")
    missing = run_cli("clips")
    assert missing.returncode == 2 and "(from the defaults)" in missing.stderr
    assert not (elsewhere / "var").exists()  # nothing created in the folder the command ran in


def test_the_catalog_line_never_shows_a_postgres_password():
    from proxygen_core.report import dsn_place

    assert dsn_place("postgresql://proxygen:s3cret@db.studio:5433/catalog") == "db.studio:5433/catalog"
    assert (
        dsn_place("host=db.studio port=5433 dbname=catalog user=proxygen password=s3cret") == "db.studio:5433/catalog"
    )
    assert dsn_place("password='s 3cret' host=db dbname=c") == "db/c"


def test_a_settings_file_that_is_not_there_is_one_clear_line(tmp_path, capsys):
    from proxygen_core.cli import main

    missing = tmp_path / "nope.yaml"
    assert main(["--config", str(missing), "clips"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: no settings file at {missing} (--config or PROXYGEN_CONFIG)"
