"""The CLI contract, checked from outside: files, JSON, stderr lines and exit codes."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from proxygen_core.media.samples import CHROMATICITIES, write_exr

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


def test_records_and_events_json(tmp_path):
    from proxygen_core.catalog import SQLiteCatalog
    from proxygen_core.events.schema import build_clip_event, build_event
    from proxygen_core.pipeline.chain import KeyResult
    from proxygen_core.pipeline.record import frame_row

    db = tmp_path / "c.db"
    c = SQLiteCatalog(db)
    c.ensure()
    r = frame_row(KeyResult("shot/a.0001.exr"), "frames", RENDER, "review")
    c.write([r], [build_event(r, "t")])
    env = {"PROXYGEN_SQLITE_PATH": str(db)}
    import os

    rec = subprocess.run([sys.executable, "-m", "proxygen_core.cli", "records", "--json"], capture_output=True,
                         text=True, timeout=60, env={**os.environ, **env})
    rows = json.loads(rec.stdout)
    assert isinstance(rows, list) and rows[0]["s3_key"] == "shot/a.0001.exr" and rows[0]["event_id"] == r["event_id"]
    ev = subprocess.run([sys.executable, "-m", "proxygen_core.cli", "events", "--json"], capture_output=True,
                        text=True, timeout=60, env={**os.environ, **env})
    events = json.loads(ev.stdout)
    assert events[0]["event_id"] == r["event_id"] and events[0]["sent_at"] is None
    # A clip event beside it: the text listing names its sequence (it has no source_uri).
    clip = {"clip_id": "c" * 32, "sequence": "shot/a.####.exr", "s3_bucket": "frames", "status": "ok",
            "clip_s3_key": "shot/.proxies/a.exr_clip.mp4", "frames_fingerprint": "f", "missing_frames": "[]",
            "failed_frames": "[]", "output_profile": "review"}
    c.write_clips([clip], [build_clip_event(clip, "t")])
    text = subprocess.run([sys.executable, "-m", "proxygen_core.cli", "events"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})
    assert text.returncode == 0, text.stderr
    assert "clip.generated" in text.stdout and "s3://frames/shot/a.####.exr" in text.stdout
    assert "proxy.generated" in text.stdout and "s3://frames/shot/a.0001.exr" in text.stdout


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
    import av

    with av.open(str(out / "sh_v003.exr_clip.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 4
    assert (out / "sh_v003.exr_poster.jpg").read_bytes() == (out / "sh_v003.1002_thumb.jpg").read_bytes()
    assert not list(out.glob("still*_clip.mp4"))


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


def test_catalog_commands_find_the_local_run_and_create_nothing(tmp_path):
    import os

    import yaml

    from proxygen_core.catalog import SQLiteCatalog

    env = {k: v for k, v in os.environ.items() if k not in ("PROXYGEN_SQLITE_PATH", "PROXYGEN_CONFIG")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def records():
        return subprocess.run([sys.executable, "-m", "proxygen_core.cli", "records"], capture_output=True, text=True,
                              timeout=60, env=env, cwd=elsewhere)

    proc = records()
    assert proc.returncode == 2 and proc.stderr.startswith("error: no catalog at ") and "proxygen local" in proc.stderr
    assert list(elsewhere.iterdir()) == []  # no stray var/catalog.db
    db = tmp_path / "var" / "catalog.db"
    SQLiteCatalog(db).ensure()
    pointer = tmp_path / "config" / "proxygen" / "local.yaml"
    pointer.parent.mkdir(parents=True)
    pointer.write_text(yaml.safe_dump({"catalog": {"sqlite_path": str(db)}}))
    proc = records()
    assert proc.returncode == 0 and proc.stdout.strip().endswith("0 rows")
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


def test_list_commands_say_which_catalog_and_how_much_is_not_shown(tmp_path):
    import os

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
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXYGEN_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # no local-run pointer
    proc = subprocess.run(
        [sys.executable, "-m", "proxygen_core.cli", "--config", str(tmp_path / "show" / "proxygen.yaml"), "records"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=elsewhere,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"catalog: sqlite {db} (from --config)" in proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "20 of 25 rows shown (--limit N for more)"
    events = subprocess.run([sys.executable, "-m", "proxygen_core.cli", "events", "--limit", "30"], capture_output=True,
                            text=True, timeout=60, env={**env, "PROXYGEN_SQLITE_PATH": str(db)}, cwd=elsewhere)
    assert f"catalog: sqlite {db} (from $PROXYGEN_SQLITE_PATH)" in events.stderr
    assert events.stdout.strip().splitlines()[-1] == "25 events; 25 pending in the outbox"
    missing = subprocess.run([sys.executable, "-m", "proxygen_core.cli", "clips"], capture_output=True, text=True,
                             timeout=60, env=env, cwd=elsewhere)
    assert missing.returncode == 2 and "(from the defaults)" in missing.stderr
    assert not (elsewhere / "var").exists()  # nothing created in the folder the command ran in


def test_the_catalog_line_never_shows_a_postgres_password():
    from proxygen_core.report import dsn_place

    assert dsn_place("postgresql://proxygen:s3cret@db.studio:5433/catalog") == "db.studio:5433/catalog"
    assert (
        dsn_place("host=db.studio port=5433 dbname=catalog user=proxygen password=s3cret") == "db.studio:5433/catalog"
    )
    assert dsn_place("password='s 3cret' host=db dbname=c") == "db/c"
