#!/usr/bin/env bash
# Make sure a container engine can build and run the kyc-bridge image:
# podman, runc (the runtime that works where crun refuses hybrid cgroups) and
# debootstrap (builds the Debian stand-in base when no registry is reachable).
#
# Installs whatever is missing from Debian's packages (needs root and apt-get);
# prints nothing and changes nothing when all three are already there.
# Exit status: 0 ready, 1 something is missing and cannot be installed here.
set -euo pipefail

missing=()
for tool in podman runc debootstrap; do
  command -v "$tool" > /dev/null 2>&1 || missing+=("$tool")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get > /dev/null 2>&1; then
  echo "container-deps: missing ${missing[*]}; install them (as root: apt-get install podman runc debootstrap)" >&2
  exit 1
fi

echo "container-deps: installing ${missing[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends podman runc debootstrap > /dev/null
