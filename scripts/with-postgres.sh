#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL: starts it, exports KEEL_TEST_PG_URL, runs the
# command, and stops the server afterwards whether the command passed or failed.
#
#   scripts/with-postgres.sh cargo test -p keel
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
trap '"$here/pg.sh" stop' EXIT INT TERM
"$here/pg.sh" start
KEEL_TEST_PG_URL="$("$here/pg.sh" url)"
export KEEL_TEST_PG_URL
"$@"
