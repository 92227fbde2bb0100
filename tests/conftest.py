from __future__ import annotations

import csv
import dataclasses
import os
import subprocess
from pathlib import Path

import pytest

from proxygen_core.settings import RenderSettings, Settings

ROOT = Path(__file__).resolve().parents[1]
# Baked display LUTs go to a folder of this run, not the user's cache.
import tempfile  # noqa: E402

# One folder for every pytest-xdist worker of a run (the LUT files are written atomically), so a LUT is baked once
# per run, not once per worker.
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID")
os.environ.setdefault("PROXYGEN_LUT_CACHE_DIR", str(Path(tempfile.gettempdir()) / f"proxygen-luts-{_RUN}") if _RUN
                      else tempfile.mkdtemp(prefix="proxygen-luts-"))
# Third-party test images (EXR of many kinds, DPX, TIFF, PNG, JPEG, broken files) with a MANIFEST.tsv:
# PROXYGEN_TESTDATA points at such a folder; the project's own checkout looks beside it (../shared/testdata).
TESTDATA = Path(os.environ.get("PROXYGEN_TESTDATA") or ROOT.parent / "shared" / "testdata")
SKIP_REASON = (f"third-party test images not found at {TESTDATA}: set PROXYGEN_TESTDATA to a folder with a "
               "MANIFEST.tsv (see docs/testing.md) to run the colour and bad-input checks on real files")


def manifest() -> list[dict[str, str]]:
    path = TESTDATA / "MANIFEST.tsv"
    if not path.exists():
        return []
    with path.open() as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def is_broken(row: dict[str, str]) -> bool:
    """Files the manifest records as damaged (fail to open, fail to decode, or truncated)."""
    return "NASTY" in row["note"]


def manifest_cases(broken: bool) -> list:
    rows = manifest()
    if not rows:
        return [pytest.param(None, marks=pytest.mark.skip(reason=SKIP_REASON))]
    return [pytest.param(r, id=r["relpath"], marks=[pytest.mark.slow] if _slow(r) else [])
            for r in rows if is_broken(r) == broken]


BIG_PIXELS = 3_000_000  # larger images take 3-6 s per path: the full suite runs them, the quick subset not
# Parts of one multipart file with the layout of the first part (only their data windows move): the full suite
SAME_LAYOUT = ("openexr-images/Beachball/multipart.0002.exr", "openexr-images/Beachball/multipart.0003.exr")


def _slow(row: dict) -> bool:
    return _pixels(row) >= BIG_PIXELS or row["relpath"] in SAME_LAYOUT


def _pixels(row: dict) -> int:
    width, _, height = str(row.get("WxH") or "").partition("x")
    return int(width) * int(height) if width.isdigit() and height.isdigit() else 0


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not (TESTDATA / "MANIFEST.tsv").exists():
        pytest.skip(SKIP_REASON)
    return TESTDATA


# --- settings -----------------------------------------------------------------------------------
# The defaults, for the modules that only read them (frozen: one object serves every test).
RENDER = RenderSettings()
SETTINGS = Settings(render=RENDER)


def no_retry_settings(**pipeline) -> Settings:
    """The defaults with no retry of transient failures (a test's failure shows at once), and these pipeline
    settings."""
    return dataclasses.replace(SETTINGS, pipeline=dataclasses.replace(SETTINGS.pipeline, transient_retry_seconds=0,
                                                                      **pipeline))


# --- the command line, in this process ------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m proxygen_core.cli ARGS`, in this process: the same exit code, stdout and stderr, without paying
    a new interpreter's imports for each call (the tests that need another environment or folder run it as one,
    or set them with monkeypatch)."""
    import contextlib
    import io

    from proxygen_core.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(["proxygen", *args], code, out.getvalue(), err.getvalue())


# --- real services -------------------------------------------------------------------------------

S3_ACCESS, S3_SECRET = "AKIDPROXYGENTEST", "proxygen-test-secret-key"


def _running(service):
    """Yield a started service; stop it by PID afterwards and make sure it is gone."""
    try:
        yield service
    finally:
        service.stop()
        assert service.proc.poll() is not None


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """A real SeaweedFS S3 server on loopback with random ports."""
    from proxygen_core.services.seaweedfs import start_seaweedfs

    yield from _running(start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"), S3_ACCESS, S3_SECRET))


@pytest.fixture(scope="session")
def s3_env(seaweedfs, tmp_path_factory):
    """Environment for the Dagster layer; set before proxygen_dagster is imported."""
    values = {
        "PROXYGEN_S3_ENDPOINT_URL": f"http://127.0.0.1:{seaweedfs.ports['s3.port']}",
        "PROXYGEN_S3_BUCKET": "frames-test",
        "AWS_ACCESS_KEY_ID": S3_ACCESS,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "PROXYGEN_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
        "PROXYGEN_BATCH_SIZE": "4",
        "PROXYGEN_BATCH_SETTLE_SECONDS": "0",  # cut a run every tick; tests/test_dagster_pipeline.py holds bursts
        "PROXYGEN_CLIP_SETTLE_SECONDS": "0",
        "PROXYGEN_SQLITE_PATH": str(tmp_path_factory.mktemp("catalog") / "catalog.db"),
    }
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    yield values
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def bucket_store(s3_env):
    from proxygen_core.store.s3 import ObjectStore, s3_client

    store = ObjectStore(s3_client(s3_env["PROXYGEN_S3_ENDPOINT_URL"], access_key_id=S3_ACCESS,
                                  secret_access_key=S3_SECRET), s3_env["PROXYGEN_S3_BUCKET"])
    return store.wait_ready(30)


PG_PASSWORD = "proxygen-test-pg"
POSTGRES: dict[str, object] = {}  # the session's server, for catalog backends chosen by parameter


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL 15 (Debian's, installed by scripts/bootstrap.sh) on loopback, own data folder.

    The folder is outside pytest's tmp tree: that tree is private to root, and the server runs as 'postgres'.
    """
    import shutil
    import tempfile

    from proxygen_core.services.postgres import postgres_bin, start_postgres
    from proxygen_core.services.process import ServiceError

    try:
        postgres_bin("initdb")
    except ServiceError as exc:
        pytest.skip(f"PostgreSQL server not installed ({exc})")
    folder = tempfile.mkdtemp(prefix="proxygen-pg-")
    try:
        service = start_postgres(folder, PG_PASSWORD)
        POSTGRES.update(port=service.ports["postgres"])
        yield from _running(service)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fresh_postgres_dsn() -> str:
    """A new, empty database on the session's server (one per test: no state shared between tests)."""
    import uuid

    import psycopg2

    from proxygen_core.services.postgres import postgres_dsn

    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(postgres_dsn("127.0.0.1", POSTGRES["port"], PG_PASSWORD, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return postgres_dsn("127.0.0.1", POSTGRES["port"], PG_PASSWORD, name)


@pytest.fixture(scope="session")
def tansu(tmp_path_factory):
    """A real Kafka-protocol broker (Tansu, sha256-verified) on loopback."""
    from proxygen_core.services.tansu import start_tansu

    yield from _running(start_tansu(tmp_path_factory.mktemp("tansu")))


@pytest.fixture(scope="session")
def dagster_defs(s3_env):
    """The code location, built once the S3 environment is set: built here from the settings read now, not the
    module's ``defs`` (built when the module was first imported, which another test may have done before this
    environment was set)."""
    from proxygen_core.settings import deployment, load_settings
    from proxygen_dagster.definitions import build_definitions

    return build_definitions(load_settings(), deployment())


@pytest.fixture()
def instance():
    from dagster import DagsterInstance

    with DagsterInstance.ephemeral() as inst:
        yield inst


from .kitsu_server import kitsu_server, redis_server  # noqa: E402, F401  (zou, and the Redis it needs)

# --- the quick subset ----------------------------------------------------------------------------
# `scripts/test.sh --quick` runs `pytest -m "not services and not slow"`: every test that starts no server,
# less the few marked slow. A test is
# marked `services` when it asks for a fixture that starts one, is a PostgreSQL case, or starts one itself
# (those carry the mark in their module).
SERVICE_FIXTURES = {"seaweedfs", "s3_env", "bucket_store", "tansu", "postgres_server", "dagster_defs", "webserver",
                    "redis_server", "kitsu_server"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        postgres = "postgres" in item.name or getattr(params.get("make"), "__name__", "") == "_postgres"
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())) or postgres:
            item.add_marker(pytest.mark.services)
