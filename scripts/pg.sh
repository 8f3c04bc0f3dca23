#!/usr/bin/env bash
# A throwaway PostgreSQL for tests, from the Debian binaries on the machine.
#
#   scripts/pg.sh start   initdb + start on 127.0.0.1 on a free port; writes .pg/env
#   scripts/pg.sh stop    stop the server and delete its data directory
#   scripts/pg.sh url     print the superuser URL of the running server
#   scripts/pg.sh pause   stop the server but keep its data (outage tests)
#   scripts/pg.sh resume  start a paused server again on the same port
#
# KEEL_PG_STATE names the state folder (default .pg), so a test can run a private server.
#
# PostgreSQL refuses to run as root, so as root the server runs as user `postgres`. Its data
# lives under /tmp (a clone in a private temp folder is not readable by `postgres`); the
# location is recorded in .pg/env inside the project.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
state="${KEEL_PG_STATE:-$root/.pg}"
password="keel-test-pw"

pg_bin() {
    if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$dir" ] || { echo "pg.sh: no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql-15)" >&2; exit 1; }
    echo "$dir"
}

as_pg() {
    # From /: the project folder may not be readable by `postgres`.
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

free_port() {
    local port
    for port in $(seq 55432 55532); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
    done
    echo "pg.sh: no free port in 55432-55532" >&2; exit 1
}

start() {
    if [ -f "$state/env" ]; then stop; fi
    local bin data port
    bin="$(pg_bin)"
    data="$(mktemp -d /tmp/keel-pg.XXXXXX)"
    [ "$(id -u)" = 0 ] && chown postgres: "$data"
    chmod 700 "$data"
    port="$(free_port)"
    echo "$password" > "$data.pw"; [ "$(id -u)" = 0 ] && chown postgres: "$data.pw"
    as_pg "$bin/initdb" -D "$data/db" -U postgres -A scram-sha-256 --pwfile="$data.pw" -E UTF8 --no-sync >"$data.initdb.log" 2>&1 \
        || { cat "$data.initdb.log" >&2; exit 1; }
    rm -f "$data.pw"
    mkdir -p "$state"
    cat > "$state/env" <<ENV
KEEL_PG_DATA=$data
KEEL_PG_BIN=$bin
KEEL_PG_PORT=$port
KEEL_TEST_PG_URL=postgres://postgres:$password@127.0.0.1:$port/postgres
ENV
    resume
    echo "postgres started on 127.0.0.1:$port (data $data)" >&2
}

stop() {
    [ -f "$state/env" ] || return 0
    # shellcheck disable=SC1091
    . "$state/env"
    as_pg "$KEEL_PG_BIN/pg_ctl" -D "$KEEL_PG_DATA/db" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$KEEL_PG_DATA" "$KEEL_PG_DATA.initdb.log"
    rm -f "$state/env"
    echo "postgres stopped" >&2
}

resume() {
    # shellcheck disable=SC1091
    . "$state/env"
    # pg_cron, when installed (`make test` installs it), runs its jobs in one database:
    # keel_cron, where core/tests/partitions.rs checks the schedule migration 0019 makes.
    local cron=""
    if [ -f "$KEEL_PG_BIN/../lib/pg_cron.so" ]; then
        cron="-c shared_preload_libraries=pg_cron -c cron.database_name=keel_cron"
    fi
    as_pg "$KEEL_PG_BIN/pg_ctl" -D "$KEEL_PG_DATA/db" -l "$KEEL_PG_DATA/db/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $KEEL_PG_PORT -k $KEEL_PG_DATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 $cron" \
        start >/dev/null
    if [ -n "$cron" ]; then
        as_pg env PGPASSWORD="$password" "$KEEL_PG_BIN/psql" -h "$KEEL_PG_DATA" -p "$KEEL_PG_PORT" -U postgres -d postgres -qAt \
            -c "SELECT 1 FROM pg_database WHERE datname = 'keel_cron'" | grep -q 1 \
            || as_pg env PGPASSWORD="$password" "$KEEL_PG_BIN/psql" -h "$KEEL_PG_DATA" -p "$KEEL_PG_PORT" -U postgres -d postgres -qc "CREATE DATABASE keel_cron"
    fi
}

pause() {
    # shellcheck disable=SC1091
    . "$state/env"
    # `fast`, not `immediate`: with synchronous_commit=off an immediate stop is a crash that
    # forgets commits the server already acknowledged.
    as_pg "$KEEL_PG_BIN/pg_ctl" -D "$KEEL_PG_DATA/db" -m fast -w stop >/dev/null
}

url() {
    # shellcheck disable=SC1091
    . "$state/env"
    echo "$KEEL_TEST_PG_URL"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    pause) pause ;;
    resume) resume ;;
    *) echo "usage: $0 start|stop|url|pause|resume" >&2; exit 2 ;;
esac
