#!/usr/bin/env bash
# A rolling migration of a live Apache ZooKeeper 3.8 ensemble to zkserver and
# back, on this machine, under client load; prints every step and what it
# checked (see tests/kazoo/rolling_migration.py for the checks).
#
#   scripts/migrate-demo.sh [--order 1,2,3] [--writers 2] [--rate 20] [--from zk|ours]
#                           [--base-port P] [--keep]
#
#   --order     the members in the order they are replaced (default 1,2,3: the
#               leader, member 3, last; 3,2,1 replaces the leader first)
#   --writers   writer sessions on the full connect string (default 2)
#   --rate      writes per second per writer (default 20)
#   --from      the kind the ensemble starts as (default zk: ZooKeeper -> ours -> ZooKeeper)
#   --keep      leave the ensemble running at the end (stop it with
#               scripts/ensemble.sh --dir DIR stop)
# Needs Apache ZooKeeper and kazoo (scripts/install-deps.sh installs both)
# and a zkserver build (ZKSERVER_BIN, else cargo's debug build is made).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
order=1,2,3 writers=2 rate=20 from=zk base=$((15000 + RANDOM % 3000)) keep=false
while [ $# -gt 0 ]; do
    case "$1" in
    --order) order="$2"; shift 2 ;;
    --writers) writers="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --from) from="$2"; shift 2 ;;
    --base-port) base="$2"; shift 2 ;;
    --keep) keep=true; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "migrate-demo: unknown option $1" >&2; exit 2 ;;
    esac
done
case "$from" in zk|ours) ;; *) echo "migrate-demo: --from zk or ours" >&2; exit 2 ;; esac
VENV="${ZK_VENV:-$REPO/.venv}"
if [ ! -f /usr/share/java/zookeeper.jar ] || ! "$VENV/bin/python" -c 'import kazoo' 2>/dev/null; then
    scripts/install-deps.sh
fi
if [ -z "${ZKSERVER_BIN:-}" ]; then
    cargo build -q -p zkserver
fi
dir="$(mktemp -d /tmp/zk-migrate.XXXXXX)"
cleanup() {
    if ! $keep; then
        scripts/ensemble.sh --dir "$dir" stop >/dev/null 2>&1 || true
        rm -rf "$dir"
    fi
}
trap cleanup EXIT
echo "migrate-demo: a 3-member $from ensemble in $dir, client ports $((base + 1))-$((base + 3))"
scripts/ensemble.sh --dir "$dir" --base-port "$base" --kinds "$from,$from,$from" start 3
"$VENV/bin/python" tests/kazoo/rolling_migration.py "$dir" --order "$order" \
    --writers "$writers" --rate "$rate" --verbose
scripts/ensemble.sh --dir "$dir" status
if $keep; then echo "migrate-demo: the ensemble still runs: scripts/ensemble.sh --dir $dir stop"; fi
