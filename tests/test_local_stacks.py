"""Two `proxygen local` stacks under one account: each checkout's listings read that checkout's own catalog, and
a listing says which stack it read (report.LocalStack)."""
from __future__ import annotations

from proxygen_core.catalog import SQLiteCatalog
from proxygen_core.events.schema import build_event
from proxygen_core.pipeline.chain import KeyResult
from proxygen_core.pipeline.record import frame_row
from proxygen_core.settings import RenderSettings


def _stack(checkout, rows: int, ports: dict[str, int]):
    """A checkout whose `proxygen local` wrote its pointer (the real writer), with ``rows`` catalog rows."""
    from proxygen_dagster.launch.local import local_env, write_pointer

    var = checkout / "var"
    var.mkdir(parents=True)
    env = local_env(var, ports["s3"], "frames", ports["kafka"])
    catalog = SQLiteCatalog(env["PROXYGEN_SQLITE_PATH"])
    catalog.ensure()
    made = [frame_row(KeyResult(f"{checkout.name}/shot/a.{i:04d}.exr"), "frames", RenderSettings(), "review")
            for i in range(rows)]
    catalog.write(made, [build_event(r, "t") for r in made])
    write_pointer(env, var, ports)
    return var


def _no_proxygen_env(monkeypatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("PROXYGEN_")]:
        monkeypatch.delenv(name)


def _records(monkeypatch, capsys, cwd) -> tuple[str, str]:
    from proxygen_core.cli import main

    monkeypatch.chdir(cwd)
    assert main(["records", "--limit", "50"]) == 0
    out = capsys.readouterr()
    return out.out, out.err


def test_each_checkout_reads_its_own_stack(tmp_path, monkeypatch, capsys):
    _no_proxygen_env(monkeypatch)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    first = _stack(tmp_path / "checkout-a", 3, {"ui": 3000, "s3": 8333, "kafka": 9092})
    second = _stack(tmp_path / "checkout-b", 5, {"ui": 3100, "s3": 8433, "kafka": 9192})  # started last
    (tmp_path / "checkout-a" / "docs").mkdir()

    out, err = _records(monkeypatch, capsys, tmp_path / "checkout-a" / "docs")  # any folder of the checkout
    assert out.strip().splitlines()[-1] == "3 rows" and "checkout-a/shot/" in out and "checkout-b" not in out
    assert f"the local stack in {first} (ui :3000, s3 :8333, kafka :9092), which this folder is in" in err
    out, err = _records(monkeypatch, capsys, tmp_path / "checkout-b")
    assert out.strip().splitlines()[-1] == "5 rows" and "checkout-a" not in out
    assert f"the local stack in {second} (ui :3100" in err
    # Outside every checkout: the last stack started, and it says so.
    (tmp_path / "elsewhere").mkdir()
    out, err = _records(monkeypatch, capsys, tmp_path / "elsewhere")
    assert out.strip().splitlines()[-1] == "5 rows"
    assert f"the local stack in {second} (ui :3100, s3 :8433, kafka :9192), the last one started" in err


def test_a_pointer_from_before_stack_files_still_reads(tmp_path, monkeypatch, capsys):
    import yaml

    _no_proxygen_env(monkeypatch)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    db = tmp_path / "var" / "catalog.db"
    db.parent.mkdir()
    SQLiteCatalog(db).ensure()
    pointer = tmp_path / "config" / "proxygen" / "local.yaml"
    pointer.parent.mkdir(parents=True)
    pointer.write_text(yaml.safe_dump({"catalog": {"sqlite_path": str(db)}}))
    (tmp_path / "elsewhere").mkdir()
    out, err = _records(monkeypatch, capsys, tmp_path / "elsewhere")
    assert out.strip().splitlines()[-1] == "0 rows" and f"catalog: sqlite {db}" in err


def test_a_stack_file_another_user_could_write_is_not_followed(tmp_path, monkeypatch, capsys):
    _no_proxygen_env(monkeypatch)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    var = _stack(tmp_path / "checkout", 2, {"ui": 3000, "s3": 8333, "kafka": 9092})
    (var / "proxygen-stack.yaml").chmod(0o666)  # anyone may rewrite it: it could name anyone's catalog
    (tmp_path / "checkout" / "docs").mkdir()
    out, err = _records(monkeypatch, capsys, tmp_path / "checkout" / "docs")
    assert "which this folder is in" not in err and "the last one started" in err
