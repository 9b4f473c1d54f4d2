#!/usr/bin/env bash
# Build (once) a local stand-in for python:3.11-slim from Debian's own packages,
# for machines that reach Debian's mirror but no container registry:
#
#   scripts/container-base.sh            # prints the image name, e.g. localhost/kyc-bridge-base:bookworm
#   podman build --build-arg BASE_IMAGE="$(scripts/container-base.sh)" ...
#
# Debian bookworm's python3 is 3.11, like the production base. The root
# filesystem is debootstrapped (minbase + python3, venv, pip, CA certificates)
# and imported with `podman import`; its tarball is kept in .cache/container/ so
# a lost image is re-imported without downloading again. Needs root, podman and
# debootstrap (scripts/container-deps.sh). Progress goes to stderr, the image
# name alone to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=${BASE_SUITE:-bookworm}
IMAGE=${BASE_STANDIN_IMAGE:-localhost/kyc-bridge-base:$SUITE}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3,python3-venv,python3-pip,python-is-python3,ca-certificates
CACHE=.cache/container
TARBALL=$CACHE/base-$SUITE.tar
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)

if "${PODMAN[@]}" image exists "$IMAGE"; then
  echo "$IMAGE"
  exit 0
fi

mkdir -p "$CACHE"
if [[ ! -s $TARBALL ]]; then
  rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs" "$TARBALL.partial"' EXIT
  echo "container-base: debootstrap $SUITE ($PACKAGES), 2-3 minutes" >&2
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$MIRROR" \
    > "$CACHE/debootstrap.log" 2>&1 || {
    tail -n 30 "$CACHE/debootstrap.log" >&2
    exit 1
  }
  # No package lists or downloaded .debs in the base (python:3.11-slim has none either).
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb
  tar --numeric-owner -C "$rootfs" -cf "$TARBALL.partial" .
  mv "$TARBALL.partial" "$TARBALL"
fi
echo "container-base: importing $TARBALL as $IMAGE" >&2
"${PODMAN[@]}" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$TARBALL" "$IMAGE" > /dev/null
echo "$IMAGE"
