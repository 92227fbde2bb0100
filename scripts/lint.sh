#!/usr/bin/env bash
# The checks CI runs before the tests (CONTRIBUTING.md): ruff (style, imports, bugbear, pyupgrade, complexity),
# mypy over both packages, and the import contracts (pyproject.toml, [tool.importlinter]).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "lint: ruff"; .venv/bin/ruff check --no-cache -q .
echo "lint: import contracts"; .venv/bin/lint-imports --no-cache
echo "lint: mypy"; .venv/bin/mypy --no-incremental --cache-dir=/dev/null
