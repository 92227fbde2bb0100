#!/usr/bin/env bash
# Install everything, then run the whole test suite (--quick: only the tests that start no server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ "${1:-}" = "--quick" ]; then
  shift  # the tests that start no server (SeaweedFS, Tansu, PostgreSQL, Redis, Dagster): see tests/conftest.py
  # Two workers: these tests start no server, so nothing is shared but the CPU (81 s -> 55 s on 2 cores).
  # worksteal: an idle worker takes tests from the busy one (the real-image colour tests come in long runs): 62 -> 57 s.
  exec .venv/bin/python -m pytest -q -n 2 --dist worksteal -m "not services and not slow" "$@"
fi
bash scripts/lint.sh  # ruff, the import contracts and mypy: CI fails on any finding
exec .venv/bin/python -m pytest -q "$@"
