#!/usr/bin/env bash
# Write deploy/requirements.lock: every Python package the production image installs (pyproject.toml's
# dependencies + the services and cluster extras, and setuptools, the project's build backend), pinned with
# sha256 hashes for the image's Python (Debian bookworm: CPython 3.11, glibc 2.36, x86_64). The Containerfile
# installs only from it (pip --require-hashes), so two builds hold the same versions whatever PyPI publishes
# meanwhile. Run it after changing a pin in pyproject.toml and commit the result. Needs uv (bootstrap installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
printf 'setuptools>=77\n' | .venv/bin/python -m uv pip compile pyproject.toml - --quiet \
  --extra services --extra cluster --generate-hashes \
  --python-version 3.11 --python-platform x86_64-manylinux_2_36 \
  --custom-compile-command "bash scripts/lock-image.sh" -o deploy/requirements.lock
echo "deploy/requirements.lock: $(grep -c '^[a-z0-9].*==' deploy/requirements.lock) packages"
