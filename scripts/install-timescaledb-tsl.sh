#!/usr/bin/env bash
# Build TimescaleDB's Timescale License edition from ../shared/upstream/timescaledb-<version>.tar.gz
# into a private PostgreSQL 15 tree outside the repository, idempotently, and print that tree's bindir.
#
# The machine's PostgreSQL keeps Debian's Apache-2 build of TimescaleDB (the default test lane and
# `make up`). The licensed edition goes into a relocated copy of PostgreSQL 15 (PostgreSQL finds its
# share and lib directories relative to its binaries), so both editions live side by side:
#
#   $CACHE/root/usr/lib/postgresql/15/bin/postgres      loads $CACHE/root/usr/lib/postgresql/15/lib/timescaledb*.so
#
# The cache is keyed by the source tarball's digest: a second run does nothing and prints the bindir.
# Usage: scripts/install-timescaledb-tsl.sh [path/to/timescaledb-X.Y.Z.tar.gz]   (progress on stderr)
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
here="$(cd "$(dirname "$0")/.." && pwd)"
src="${1:-${CITYWATCH_TIMESCALEDB_TSL_SOURCE:-$here/../shared/upstream/timescaledb-2.19.3.tar.gz}}"
log() { printf '[install-timescaledb-tsl] %s\n' "$*" >&2; }

if [ ! -r "$src" ]; then
  log "no TimescaleDB source at $src (it comes with ../shared/upstream); the Timescale License lane cannot run"
  exit 3
fi

digest="$(sha256sum "$src" | cut -c1-16)"
cache="${CITYWATCH_TSL_CACHE:-/var/tmp/citywatch-timescaledb-tsl}/$digest"
bindir="$cache/root/usr/lib/postgresql/$PG_MAJOR/bin"
if [ -f "$cache/done" ]; then
  echo "$bindir"
  exit 0
fi

pg_lib="/usr/lib/postgresql/$PG_MAJOR"
pg_share="/usr/share/postgresql/$PG_MAJOR"
[ -x "$pg_lib/bin/pg_config" ] || { log "PostgreSQL $PG_MAJOR server headers are missing: run scripts/install-system.sh"; exit 1; }

rm -rf "$cache"
mkdir -p "$cache/build" "$cache/root/usr/lib/postgresql" "$cache/root/usr/share/postgresql"
log "copying PostgreSQL $PG_MAJOR into $cache/root (without the Apache-2 TimescaleDB)"
cp -a "$pg_lib" "$cache/root/usr/lib/postgresql/"
cp -a "$pg_share" "$cache/root/usr/share/postgresql/"
rm -f "$cache/root$pg_lib"/lib/timescaledb*.so "$cache/root$pg_share"/extension/timescaledb*

log "building TimescaleDB (Timescale License edition) from $(basename "$src"): a few minutes on 2 cores"
tar -xzf "$src" -C "$cache/build" --strip-components=1
cd "$cache/build"
PATH="$pg_lib/bin:$PATH" ./bootstrap -DPG_CONFIG="$pg_lib/bin/pg_config" -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
  -DWARNINGS_AS_ERRORS=OFF -DCMAKE_BUILD_TYPE=Release -DSEND_TELEMETRY_DEFAULT=NO -DUSE_TELEMETRY=OFF >"$cache/bootstrap.log" 2>&1 \
  || { log "configure failed, see $cache/bootstrap.log"; exit 1; }
make -C build -j"$(nproc)" >"$cache/make.log" 2>&1 || { log "build failed, see $cache/make.log"; exit 1; }
make -C build install DESTDIR="$cache/root" >>"$cache/make.log" 2>&1
ls "$cache/root$pg_lib"/lib/timescaledb-tsl-*.so >/dev/null
rm -rf "$cache/build"
touch "$cache/done"
log "TimescaleDB (Timescale License edition) installed in $cache/root"
echo "$bindir"
