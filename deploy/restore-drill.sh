#!/bin/sh
# Monthly restore drill: restore a backup into a scratch database next to the live one, check it with
# the service's own verifiers, print what it holds, drop it. Exit 0 only if every step passed.
# See README "The database in production" ("Restore drill").
#
#   restore-drill.sh [DUMP]      default: the newest volunteer-*.dump in BACKUP_DIR
#
#   DATABASE_URL    the live database: the drill database is made on the same server with the same
#                   credentials (the role needs CREATEDB, or run as postgres with DATABASE_URL naming it).
#                   Default: read from /etc/volunteer_app/env.
#   BACKUP_DIR      default /var/backups/volunteer
#   DRILL_DB        the scratch database's name (default volunteer_drill); it is dropped first if it exists
#   KEEP_DRILL_DB   1: leave the restored database in place afterwards (to look at it, or to serve it)
#   FLASK           the app's flask command (default /opt/volunteer/bin/flask, else flask on PATH)
#   CHECKPOINTS     the published ledger checkpoints (default: the instance's ledger_checkpoints.jsonl if
#                   readable); only those the backup can know (up to its newest transfer) are compared
#
# Run as root with the service's settings, e.g.:
#   set -a; . /etc/volunteer_app/env; set +a; deploy/restore-drill.sh
set -eu

if [ -z "${DATABASE_URL:-}" ] && [ -r /etc/volunteer_app/env ]; then
  set -a; . /etc/volunteer_app/env; set +a
fi
: "${DATABASE_URL:?set DATABASE_URL (or have it in /etc/volunteer_app/env)}"
dir=${BACKUP_DIR:-/var/backups/volunteer}
drill=${DRILL_DB:-volunteer_drill}
case $drill in *[!a-z0-9_]* | '') echo "DRILL_DB must be lower-case letters, digits and _" >&2; exit 2 ;; esac
if [ -z "${FLASK:-}" ]; then
  if [ -x /opt/volunteer/bin/flask ]; then FLASK=/opt/volunteer/bin/flask; else FLASK=flask; fi
fi

dump=${1:-$(ls -1t "$dir"/volunteer-*.dump 2>/dev/null | head -n 1)}
[ -n "$dump" ] && [ -f "$dump" ] || { echo "no dump given and none in $dir" >&2; exit 2; }
echo "== drill: $dump ($(du -h "$dump" | cut -f1), $(date -r "$dump" -u '+%Y-%m-%d %H:%M UTC'))"
if [ -f "$dump.sha256" ]; then
  (cd "$(dirname "$dump")" && sha256sum --check --quiet "$(basename "$dump").sha256")
  echo "checksum ok"
fi

# The live URL for libpq, the scratch database's URL, and the server's maintenance database.
live=$(printf '%s' "$DATABASE_URL" | sed -E 's#^postgres(ql)?\+[A-Za-z0-9_]+://#postgresql://#')
with_db() { # URL with its database replaced: postgresql://u@h:p/OLD?x -> postgresql://u@h:p/NEW?x
  printf '%s' "$live" | sed -E "s#^(postgresql://[^/]*)/[^?]*#\\1/$1#"
}
scratch=$(with_db "$drill")
admin=$(with_db postgres)
[ "$scratch" != "$live" ] || { echo "DRILL_DB is the live database's name" >&2; exit 2; }

psql "$admin" -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$drill\" WITH (FORCE)" \
  -c "CREATE DATABASE \"$drill\""
cleanup() {
  if [ "${KEEP_DRILL_DB:-0}" = 1 ]; then
    echo "kept $drill (drop it with: psql ... -c 'DROP DATABASE $drill')"
  else
    psql "$admin" -X -q -c "DROP DATABASE IF EXISTS \"$drill\" WITH (FORCE)" || true
  fi
}
trap cleanup EXIT

started=$(date +%s)
# --no-owner/--no-acl: the drill's objects belong to whoever restores; --exit-on-error: a single error
# fails the drill (a real restore into an empty database must not have any either).
pg_restore --exit-on-error --no-owner --no-acl --jobs=2 --dbname="$scratch" "$dump"
echo "restored in $(($(date +%s) - started)) s"

# The service's own checks, on the restored database, with the service's settings.
export DATABASE_URL="$scratch" FLASK_APP="${FLASK_APP:-volunteer_app}"
echo "== schema"
"$FLASK" db current 2>/dev/null | tail -n 1
echo "== time book"
head=$(psql "$scratch" -X -A -t -c "SELECT coalesce(max(id), 0) FROM time_transfers")
checkpoints=${CHECKPOINTS:-}
if [ -z "$checkpoints" ]; then
  for candidate in "${VOLUNTEER_INSTANCE_DIR:-/srv/volunteer/instance}/ledger_checkpoints.jsonl"; do
    [ -r "$candidate" ] && checkpoints=$candidate
  done
fi
if [ -n "$checkpoints" ]; then
  # Checkpoints published after this backup name transfers it cannot have: compare the others.
  known=$(mktemp)
  trap 'rm -f "$known"; cleanup' EXIT
  python3 -c '
import json, sys
head = int(sys.argv[1])
for line in open(sys.argv[2], encoding="utf-8"):
    try:
        if int(json.loads(line)["transfer_id"]) <= head:
            sys.stdout.write(line)
    except (ValueError, KeyError, TypeError):
        sys.stdout.write(line)  # a broken line stays: verify reports it
' "$head" "$checkpoints" >"$known"
  "$FLASK" timebank verify --checkpoints "$known"
else
  "$FLASK" timebank verify
fi
echo "== statistics"
"$FLASK" reports verify
echo "== rows"
psql "$scratch" -X -A -t -F ' ' -v ON_ERROR_STOP=1 -c "
  SELECT table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I', table_name),
         false, true, '')))[1]::text
  FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
  ORDER BY table_name"
echo "== drill passed: $dump restores, the ledger and the statistics verify"
