#!/usr/bin/env bash
# Install everything, then run the whole test suite (--quick: only the tests that start no server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ "${1:-}" = "--quick" ]; then
  shift  # the tests that start no server (SeaweedFS, Tansu, PostgreSQL, Redis, Dagster): see tests/conftest.py
  exec .venv/bin/python -m pytest -q -m "not services and not slow" "$@"
fi
exec .venv/bin/python -m pytest -q "$@"
