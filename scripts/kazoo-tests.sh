#!/usr/bin/env bash
# Run the kazoo compatibility suite against a running server.
#   scripts/kazoo-tests.sh 127.0.0.1:22181 [extra pytest args, e.g. -k watch -x]
# Uses the virtualenv ${ZK_VENV:-$REPO/.venv} (created by scripts/install-deps.sh
# if missing). Exit status is pytest's.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ZK_VENV:-$REPO/.venv}"
[ $# -ge 1 ] || { echo "usage: $0 HOST:PORT [pytest args...]" >&2; exit 2; }
ADDR="$1"; shift
if [ ! -x "$VENV/bin/pytest" ] || ! "$VENV/bin/python" -c 'import kazoo' 2>/dev/null; then
    "$REPO/scripts/install-deps.sh"
fi
cd "$REPO"
ZK_HOSTS="$ADDR" exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/kazoo "$@"
