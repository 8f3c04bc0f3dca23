#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL: starts it, exports KEEL_TEST_PG_URL, runs the
# command, and stops the server afterwards whether the command passed or failed.
#
#   scripts/with-postgres.sh cargo test -p keelcore
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# A state folder of its own, so a server you started with `scripts/pg.sh start` is left alone.
KEEL_PG_STATE="$(mktemp -d)"
export KEEL_PG_STATE
trap '"$here/pg.sh" stop; rm -rf "$KEEL_PG_STATE"' EXIT INT TERM
"$here/pg.sh" start
KEEL_TEST_PG_URL="$("$here/pg.sh" url)"
export KEEL_TEST_PG_URL
"$@"
