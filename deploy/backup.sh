#!/bin/sh
# Nightly logical backup of volunteer_app's PostgreSQL database: one pg_dump in the custom format
# (compressed, restorable table by table, in parallel), checked readable, with its SHA-256 beside it;
# dumps older than BACKUP_KEEP_DAYS are removed after a good one is written. See README "The database in production".
#
#   DATABASE_URL      the service's database (postgresql://user@host/db or with ?host=/run/postgresql;
#                     a "+psycopg" driver suffix is accepted). Default: read from /etc/volunteer_app/env.
#   BACKUP_DIR        where dumps go (default /var/backups/volunteer)
#   BACKUP_KEEP_DAYS  days of dumps kept (default 14)
#
# Run daily by volunteer-backup.timer; by hand: sudo -u volunteer deploy/backup.sh
# A dump is consistent (one snapshot) and taken while the service runs; it does not block writers.
set -eu

if [ -z "${DATABASE_URL:-}" ] && [ -r /etc/volunteer_app/env ]; then
  DATABASE_URL=$(sed -n 's/^[[:space:]]*DATABASE_URL=//p' /etc/volunteer_app/env | tail -n 1)
fi
: "${DATABASE_URL:?set DATABASE_URL (or have it in /etc/volunteer_app/env)}"
# libpq speaks postgresql:// (and postgres://); SQLAlchemy's driver suffix is ours only.
url=$(printf '%s' "$DATABASE_URL" | sed -E 's#^postgres(ql)?\+[A-Za-z0-9_]+://#postgresql://#')
dir=${BACKUP_DIR:-/var/backups/volunteer}
keep=${BACKUP_KEEP_DAYS:-14}
case $keep in '' | *[!0-9]*) echo "BACKUP_KEEP_DAYS must be a whole number of days, not '$keep'" >&2; exit 2 ;; esac

# pg_dump must be at least the server's major version (an older one refuses, a newer one is fine).
server=$(psql "$url" -X -A -t -v ON_ERROR_STOP=1 -c "SHOW server_version_num")
client=$(pg_dump --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
if [ "$client" -lt "$((server / 10000))" ]; then
  echo "pg_dump $client is older than the server ($((server / 10000))): install postgresql-client-$((server / 10000))" >&2
  exit 1
fi

umask 077
mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
final="$dir/volunteer-$stamp.dump"
partial="$dir/.volunteer-$stamp.dump.partial"
trap 'rm -f "$partial"' EXIT

started=$(date +%s)
pg_dump --format=custom --compress=6 --file="$partial" "$url"
# The archive's table of contents reads back, and it holds the tables' data.
# (grep -c reads to the end: grep -q would stop early and pg_restore report a broken pipe)
pg_restore --list "$partial" | grep -c "TABLE DATA public time_transfers" >/dev/null ||
  { echo "the dump $partial has no time_transfers data: not keeping it" >&2; exit 1; }
mv "$partial" "$final"
(cd "$dir" && sha256sum "$(basename "$final")" >"$(basename "$final").sha256")
echo "backup $final: $(du -h "$final" | cut -f1) in $(($(date +%s) - started)) s"

# Only after a good dump: remove the ones older than the kept days (never the one just written).
find "$dir" -maxdepth 1 -type f \( -name 'volunteer-*.dump' -o -name 'volunteer-*.dump.sha256' \) \
  -mtime +"$keep" ! -name "$(basename "$final")*" -print -delete | sed 's/^/removed old backup /'
