#!/usr/bin/env bash
# Install everything, then run the main job on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/proxygen local "$@"
