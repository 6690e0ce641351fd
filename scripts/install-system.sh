#!/usr/bin/env bash
# Install the system packages citywatch needs on Debian bookworm, idempotently:
# PostgreSQL 15 (+ server headers), Mosquitto, build tools, and TimescaleDB
# (Apache-2 edition) built from Debian's own `trixie` source package; Chromium and
# chromedriver for the browser tests of the operator console.
# Nothing is downloaded from outside Debian's package archive.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

log() { printf '[install-system] %s\n' "$*"; }

need_pkgs=()
for p in "postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}" mosquitto mosquitto-clients \
         cmake build-essential libssl-dev libkrb5-dev dpkg-dev chromium chromium-driver; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
else
  log "Debian packages already installed"
fi

pkglibdir="$("$PG_CONFIG" --pkglibdir)"
sharedir="$("$PG_CONFIG" --sharedir)"
if ls "$sharedir"/extension/timescaledb.control >/dev/null 2>&1 && ls "$pkglibdir"/timescaledb-*.so >/dev/null 2>&1; then
  log "TimescaleDB already installed in PostgreSQL ${PG_MAJOR} ($(grep default_version "$sharedir"/extension/timescaledb.control))"
  exit 0
fi

# Private apt state with one deb-src line for trixie, using the mirror the
# system's own sources already use. The system's apt configuration is untouched.
mirror="$(grep -rhoE '^URIs:\s*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)"
if [ -z "$mirror" ]; then
  mirror="$(grep -hoE '^deb\s+(\[[^]]*\]\s+)?\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $NF}' | grep -v security | head -n1 || true)"
fi
[ -n "$mirror" ] || { log "cannot find the Debian mirror in /etc/apt sources"; exit 1; }

work="${TIMESCALEDB_BUILD_DIR:-/var/tmp/citywatch-timescaledb}"
mkdir -p "$work/lists/partial"
echo "deb-src $mirror trixie main" > "$work/sources.list"
APT_OPTS=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=/dev/null" -o "Dir::State::Lists=$work/lists")
log "fetching TimescaleDB source from Debian trixie ($mirror)"
$SUDO apt-get "${APT_OPTS[@]}" update -qq
cd "$work"
rm -rf src && mkdir src && cd src
apt-get "${APT_OPTS[@]}" source --download-only timescaledb
dpkg-source -x --no-check ./*.dsc tsdb >/dev/null
cd tsdb
log "building TimescaleDB (Apache-2 edition) against PostgreSQL ${PG_MAJOR}"
PATH="/usr/lib/postgresql/${PG_MAJOR}/bin:$PATH" ./bootstrap -DPG_CONFIG="$PG_CONFIG" -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
  -DWARNINGS_AS_ERRORS=OFF -DSEND_TELEMETRY_DEFAULT=NO -DUSE_TELEMETRY=OFF >/dev/null
make -C build -j"$(nproc)" >/dev/null
$SUDO make -C build install >/dev/null
log "TimescaleDB installed: $(grep default_version "$sharedir"/extension/timescaledb.control)"
