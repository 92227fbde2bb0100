#!/usr/bin/env bash
# Build the production OCI image from deploy/Containerfile with podman (runc, cgroupfs), on a Debian base
# made from Debian's packages by mmdebstrap: no registry is needed. Usage: scripts/build-image.sh [TAG]
# (default proxygen:dev). Prints the image's size. As root; installs podman, mmdebstrap and runc if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-proxygen:dev}
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
# The host's CA bundle: pip reaches its registry through this network's proxy.
"${PODMAN[@]}" build --network=host --volume /etc/ssl/certs:/etc/ssl/certs:ro --build-arg BASE="$BASE" \
  --ignorefile deploy/containerignore -t "$TAG" -f deploy/Containerfile .
size=$("${PODMAN[@]}" image inspect "$TAG" --format '{{.Size}}')
echo "built $TAG: $((size / 1024 / 1024)) MiB"
