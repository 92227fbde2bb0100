#!/usr/bin/env bash
# Several hosts on one machine: installs what it needs (Debian postgresql, redis-server, iproute2; the
# Python extras), then runs proxygen_dagster.launch.cluster: PostgreSQL, Redis, SeaweedFS, Tansu and the Dagster
# daemon on a control host, one Celery worker per network-namespace host, a generated sequence ingested
# through the sensor, per-host progress on stderr, everything it started stopped by PID, and one JSON line
# on stdout. Needs root (ip netns). Options pass through, e.g.:
#   scripts/cluster-demo.sh --frames 48 --hosts 2 --batch 8 [--kill worker-a]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != "0" ]; then
  echo "error: the cluster demo makes network namespaces (ip netns): run it as root" >&2
  exit 2
fi
PROXYGEN_SKIP_CHROMIUM=1 bash scripts/bootstrap.sh >&2
exec .venv/bin/python -m proxygen_dagster.launch.cluster "$@"
