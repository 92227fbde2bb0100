"""The session's Kitsu: a real zou (``.venv-zou``, made by scripts/bootstrap.sh) on the suite's PostgreSQL and
Redis, served on loopback, stopped by PID when the session ends (registered in tests/conftest.py)."""
from __future__ import annotations

import shutil
import tempfile

import pytest

KITSU_EMAIL, KITSU_PASSWORD = "admin@example.com", "proxygen-kitsu-admin"
REDIS_PASSWORD = "proxygen-test-redis"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """Debian's redis-server with a password, on loopback (zou's token blacklist and cache)."""
    from proxygen_core.services.redis import start_redis

    from .conftest import _running

    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed (scripts/bootstrap.sh installs it)")
    yield from _running(start_redis(tmp_path_factory.mktemp("redis"), REDIS_PASSWORD))


@pytest.fixture(scope="session")
def kitsu_server(postgres_server, redis_server):
    """zou on its own database of the session's PostgreSQL; ``.started_seconds`` is its measured start time.

    Its data folder is outside pytest's tmp tree, as PostgreSQL's is: removed when the session ends."""
    from proxygen_core.services.process import ServiceError
    from proxygen_core.services.zou import start_zou, zou_venv

    from .conftest import PG_PASSWORD, _running

    try:
        zou_venv()
    except ServiceError as exc:
        pytest.skip(str(exc))
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg not installed: zou makes its previews with it (scripts/bootstrap.sh installs it)")
    folder = tempfile.mkdtemp(prefix="proxygen-zou-")
    try:
        server = start_zou(folder, ("127.0.0.1", postgres_server.ports["postgres"], PG_PASSWORD),
                           ("127.0.0.1", redis_server.ports["redis"], REDIS_PASSWORD), KITSU_EMAIL, KITSU_PASSWORD,
                           timeout=300)  # bounded; 15 s on an idle 2-core machine, 42 s seen under load
        print(f"\nzou {server.url} started in {server.started_seconds:.1f} s")
        yield from _running(server)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
