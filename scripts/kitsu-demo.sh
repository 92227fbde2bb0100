#!/usr/bin/env bash
# A shot from the bucket to a real Kitsu: installs what it needs (scripts/bootstrap.sh: the project's venv, zou's
# own venv .venv-zou, Debian PostgreSQL, Redis and ffmpeg), then proxygen_dagster.launch.kitsu_demo starts
# PostgreSQL, Redis and zou on loopback and `proxygen local` with PROXYGEN_TRACKER=kitsu, uploads a 24-frame
# shot, waits for its publish, reads Kitsu back, stops everything it started by PID, and ends with one JSON line:
#   {"kitsu": URL, "shot": "sh010", "revisions": 1, "preview_frames": 24, ...}
# Options pass through: --frames N, --timeout S, --keep.
set -euo pipefail
cd "$(dirname "$0")/.."
PROXYGEN_SKIP_CHROMIUM=1 bash scripts/bootstrap.sh >&2
exec .venv/bin/python -m proxygen_dagster.launch.kitsu_demo "$@"
