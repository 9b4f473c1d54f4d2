#!/usr/bin/env bash
# `make image`: build deploy/Dockerfile with podman (or docker), then print the
# image's size and the build time.
#
# Environment (all optional):
#   IMAGE             tag to build                 (default kyc-bridge:local)
#   CONTEXT           build context directory      (default: this repository)
#   BASE_IMAGE        the Dockerfile's BASE_IMAGE  (default docker.io/library/python:3.11-slim;
#                     when that can't be pulled, the Debian stand-in of scripts/container-base.sh)
#   CA_BUNDLE         PEM bundle pip trusts during the build (default: this machine's bundle)
#   PIP_CONF          a pip.conf for the build's pip steps (default: none)
#   CONTAINER_ENGINE  podman or docker              (default: podman if installed, else docker)
#   BUILD_OPTS        more build options, e.g. --no-cache
#
# The CA bundle and pip.conf are build secrets: mounted for the pip steps only,
# never stored in the image.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

IMAGE=${IMAGE:-kyc-bridge:local}
CONTEXT=${CONTEXT:-$repo}
DEFAULT_BASE=docker.io/library/python:3.11-slim

engine=${CONTAINER_ENGINE:-}
if [[ -z $engine ]]; then
  if command -v podman > /dev/null 2>&1; then
    engine=podman
  elif command -v docker > /dev/null 2>&1 && docker info > /dev/null 2>&1; then
    engine=docker
  else
    "$repo/scripts/container-deps.sh"
    engine=podman
  fi
fi

cmd=("$engine")
build_flags=()
if [[ $engine == podman ]]; then
  # runc + cgroupfs: crun refuses hybrid cgroup hierarchies; host network: no
  # bridge networking (CNI/netavark, iptables) needed for the pip steps.
  command -v runc > /dev/null 2>&1 && cmd+=(--runtime runc --cgroup-manager=cgroupfs)
  # --format docker keeps HEALTHCHECK (the OCI image format has no such field).
  build_flags+=(--format docker --network host
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
fi

if [[ -z ${BASE_IMAGE:-} ]]; then
  if "${cmd[@]}" image inspect "$DEFAULT_BASE" > /dev/null 2>&1 \
    || "${cmd[@]}" pull "$DEFAULT_BASE" > /dev/null 2>&1; then
    BASE_IMAGE=$DEFAULT_BASE
  else
    echo "build-image: cannot pull $DEFAULT_BASE (no registry reachable?);" \
      "building on the Debian bookworm stand-in instead (set BASE_IMAGE to choose)" >&2
    BASE_IMAGE=$("$repo/scripts/container-base.sh")
  fi
fi

if [[ -z ${CA_BUNDLE:-} ]]; then
  for candidate in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt \
    /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
    if [[ -n $candidate && -s $candidate ]]; then
      CA_BUNDLE=$candidate
      break
    fi
  done
fi
[[ -n ${CA_BUNDLE:-} ]] && build_flags+=(--secret "id=ca-bundle,src=$CA_BUNDLE")
[[ -n ${PIP_CONF:-} ]] && build_flags+=(--secret "id=pip.conf,src=$PIP_CONF")

echo "build-image: $engine build $IMAGE from $CONTEXT on $BASE_IMAGE" >&2
start=$(date +%s)
# shellcheck disable=SC2086 # BUILD_OPTS is a list of options
"${cmd[@]}" build "${build_flags[@]}" ${BUILD_OPTS:-} --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  -f "$CONTEXT/deploy/Dockerfile" -t "$IMAGE" "$CONTEXT"
seconds=$(($(date +%s) - start))
size=$("${cmd[@]}" image inspect --format '{{.Size}}' "$IMAGE")
printf 'build-image: %s: %s MB, built in %d s (base %s)\n' \
  "$IMAGE" "$((size / 1000000))" "$seconds" "$BASE_IMAGE"
