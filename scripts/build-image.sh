#!/usr/bin/env bash
# Build an OCI image with podman (runc, cgroupfs) on a Debian base made from Debian's packages by mmdebstrap: no
# registry is needed. As root; installs podman, mmdebstrap and runc if missing. Prints the image's size.
#   scripts/build-image.sh [TAG]             the proxygen image, deploy/Containerfile (default proxygen:dev)
#   scripts/build-image.sh --postgres [TAG]  PostgreSQL 15 from Debian, deploy/postgres.Containerfile
#                                            (default proxygen-postgres:15; the compose file's database)
# PROXYGEN_BUILD_FLAGS adds podman build flags (e.g. --no-cache: tests/test_image.py builds twice from the lock).
set -euo pipefail
cd "$(dirname "$0")/.."
FILE=deploy/Containerfile
TAG=proxygen:dev
# The host's CA bundle, for pip: it reaches its registry through this network's proxy. Not for the PostgreSQL
# image, which installs only Debian packages (and whose ssl-cert package writes into /etc/ssl/certs).
MOUNTS=(--volume /etc/ssl/certs:/etc/ssl/certs:ro)
if [ "${1:-}" = "--postgres" ]; then
  FILE=deploy/postgres.Containerfile
  TAG=proxygen-postgres:15
  MOUNTS=()
  shift
fi
TAG=${1:-$TAG}
BASE=localhost/debian-bookworm:base
missing=()
for tool in podman mmdebstrap runc; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# These machines' cgroups are hybrid and their rlimits fixed: runc with cgroupfs, no default ulimits.
printf '[containers]\ndefault_ulimits = []\n' > "$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
if ! "${PODMAN[@]}" image exists "$BASE"; then
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$work/rootfs.tar"
  "${PODMAN[@]}" import "$work/rootfs.tar" "$BASE" >/dev/null
fi
old=$("${PODMAN[@]}" image inspect "$TAG" --format '{{.Id}}' 2>/dev/null || true)
# shellcheck disable=SC2086  # PROXYGEN_BUILD_FLAGS is a list of flags
"${PODMAN[@]}" build --network=host "${MOUNTS[@]}" --build-arg BASE="$BASE" \
  ${PROXYGEN_BUILD_FLAGS:-} --ignorefile deploy/containerignore -t "$TAG" -f "$FILE" .
# The image this tag named before (now untagged) goes, unless a container or another tag still uses it: repeated
# builds after code changes do not pile up images.
if [ -n "$old" ] && [ "$old" != "$("${PODMAN[@]}" image inspect "$TAG" --format '{{.Id}}')" ]; then
  "${PODMAN[@]}" rmi "$old" >/dev/null 2>&1 || true
fi
size=$("${PODMAN[@]}" image inspect "$TAG" --format '{{.Size}}')
echo "built $TAG: $((size / 1024 / 1024)) MiB"
