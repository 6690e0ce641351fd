#!/usr/bin/env bash
# Containers for the compose rehearsal on Debian bookworm, idempotently: podman + runc from Debian, the
# engine settings podman needs on these machines (runc, cgroupfs, no default ulimits), and a Debian
# bookworm base image made with debootstrap from the machine's own Debian mirror (no image registry is
# reachable). A second run does nothing. See deploy/rehearsal/README.md.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
log() { printf '[install-containers] %s\n' "$*" >&2; }

# the dnsname CNI plugin: compose services find each other by name (podman recommends it; a machine that
# installed podman without its recommendations has no name resolution between containers)
need=()
for p in podman runc debootstrap golang-github-containernetworking-plugin-dnsname; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

conf=/etc/containers/containers.conf
want='[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"'
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  log "writing $conf (runc, cgroupfs: crun refuses here)"
  $SUDO mkdir -p /etc/containers
  printf '%s\n' "$want" | $SUDO tee "$conf" >/dev/null
fi

base=localhost/debian:bookworm
if ! podman image exists "$base"; then
  mirror="$(grep -rhoE '^URIs:\s*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)"
  [ -n "$mirror" ] || mirror="$(grep -hoE '^deb\s+(\[[^]]*\]\s+)?\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $NF}' | grep -v security | head -n1 || true)"
  [ -n "$mirror" ] || { log "cannot find the Debian mirror in /etc/apt sources"; exit 1; }
  rootfs="$(mktemp -d)"
  trap '$SUDO rm -rf "$rootfs"' EXIT
  log "making the base image $base with debootstrap from $mirror (about two minutes)"
  $SUDO debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
  $SUDO tar -C "$rootfs" -c . | podman import --quiet - "$base" >/dev/null
fi
log "podman $(podman --version | awk '{print $3}') with runc; base image $base ready"
