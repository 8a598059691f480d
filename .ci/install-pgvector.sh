#!/usr/bin/env bash
# Ensure the local PostgreSQL server is running and the pgvector extension is available.
# Debian 12 has no pgvector package for its PostgreSQL 15, so it is built from Debian's
# own (trixie) source package. Idempotent: does nothing if `vector` is already available.
# Must run as root (apt-get, make install, pg_ctlcluster).
set -euo pipefail

PGHOST_ADDR=127.0.0.1
PGUSER_NAME=postgres

log() { printf '[pgvector] %s\n' "$*"; }
die() { printf '[pgvector] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
command -v pg_ctlcluster >/dev/null 2>&1 || die "pg_ctlcluster not found: is postgresql-common installed?"

PG_VERSION="${PG_VERSION:-$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)}"
[ -n "$PG_VERSION" ] || die "no PostgreSQL cluster under /etc/postgresql"

# --- 1. server up --------------------------------------------------------------------
if ! pg_isready -q -h "$PGHOST_ADDR"; then
  log "starting PostgreSQL $PG_VERSION"
  pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start \
    || die "could not start PostgreSQL $PG_VERSION (see /var/log/postgresql/postgresql-$PG_VERSION-main.log)"
fi
for _ in $(seq 1 60); do
  pg_isready -q -h "$PGHOST_ADDR" && break
  sleep 1
done
pg_isready -q -h "$PGHOST_ADDR" || die "PostgreSQL on $PGHOST_ADDR is not ready after 60s"
log "PostgreSQL $PG_VERSION is ready on $PGHOST_ADDR"

has_vector() {
  [ "$(psql -h "$PGHOST_ADDR" -U "$PGUSER_NAME" -d postgres -tAc \
        "select 1 from pg_available_extensions where name='vector'")" = "1" ]
}

if has_vector; then
  log "extension 'vector' already available"
  exit 0
fi

# --- 2. build pgvector from Debian's source package ---------------------------------
start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive

# Add deb-src for trixie (only), reusing the mirror of the existing bookworm entry.
SRC_LIST=/etc/apt/sources.list.d/palmid-trixie-src.sources
if [ ! -f "$SRC_LIST" ]; then
  mirror=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
             | grep -v -- '-security' | head -n1 | tr -d ' ' || true)
  mirror="${mirror%/}"
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  log "adding deb-src trixie from $mirror ($SRC_LIST)"
  cat > "$SRC_LIST" <<SRC
Types: deb-src
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

log "apt-get update"
apt-get update -qq >/tmp/pgvector-apt-update.log 2>&1 \
  || { cat /tmp/pgvector-apt-update.log >&2; die "apt-get update failed"; }

log "installing build dependencies (postgresql-server-dev-$PG_VERSION, build-essential, dpkg-dev)"
apt-get install -y -qq --no-install-recommends \
    "postgresql-server-dev-$PG_VERSION" build-essential dpkg-dev >/tmp/pgvector-apt-install.log 2>&1 \
  || { tail -n 40 /tmp/pgvector-apt-install.log >&2; die "apt-get install of build dependencies failed"; }

workdir=$(mktemp -d /tmp/pgvector-build.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
cd "$workdir"
log "fetching pgvector source (apt-get source, trixie)"
# _apt cannot write into a root-owned mktemp dir; download unsandboxed.
apt-get source -qq --download-only pgvector -o APT::Sandbox::User=root >"$workdir/source.log" 2>&1 \
  || { cat "$workdir/source.log" >&2; die "apt-get source pgvector failed"; }
dpkg-source --no-check -x ./pgvector_*.dsc src >"$workdir/unpack.log" 2>&1 \
  || { cat "$workdir/unpack.log" >&2; die "unpacking pgvector source failed"; }
cd src
log "building pgvector $(dpkg-parsechangelog -S Version 2>/dev/null || echo '?') for PostgreSQL $PG_VERSION"
PG_CONFIG="/usr/lib/postgresql/$PG_VERSION/bin/pg_config"
[ -x "$PG_CONFIG" ] || die "$PG_CONFIG not found"
# OPTFLAGS="" avoids -march=native so the built library is portable.
make -j"$(nproc)" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >"$workdir/make.log" 2>&1 \
  || { tail -n 40 "$workdir/make.log" >&2; die "pgvector build failed"; }
make install PG_CONFIG="$PG_CONFIG" >"$workdir/install.log" 2>&1 \
  || { tail -n 40 "$workdir/install.log" >&2; die "pgvector make install failed"; }

has_vector || die "pgvector installed but 'vector' is still not in pg_available_extensions"
log "pgvector installed in $(( $(date +%s) - start ))s"
