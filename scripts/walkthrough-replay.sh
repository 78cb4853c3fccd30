#!/usr/bin/env bash
# Headless replay of the master-worker-client walkthrough of the README's
# tutorial (the seed's sections 3.2 to 4.5): three zkcli batch sessions run
# the story concurrently, synchronised by `wait` on their watch events, and
# every reply and event is compared with the seed. Prints the three
# transcripts side by side; exit status 1 if anything differs.
#
#   scripts/walkthrough-replay.sh                 on a fresh zkserver
#   scripts/walkthrough-replay.sh --ensemble      on a fresh 3-member ensemble, each
#                                                 terminal on its own member
#   scripts/walkthrough-replay.sh --kind zk       the same on Apache ZooKeeper (the oracle)
#   scripts/walkthrough-replay.sh --server H:P    on a running server (it must be empty)
#   --width N                                     column width (default 60)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
kind=ours ensemble=false server="" width=60
while [ $# -gt 0 ]; do
    case "$1" in
    --ensemble) ensemble=true; shift ;;
    --kind) kind="$2"; shift 2 ;;
    --server) server="$2"; shift 2 ;;
    --width) width="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "walkthrough-replay: unknown option $1" >&2; exit 2 ;;
    esac
done
case "$kind" in ours|zk) ;; *) echo "walkthrough-replay: --kind ours or zk" >&2; exit 2 ;; esac
# shellcheck source=zk-common.sh
. "$REPO/scripts/zk-common.sh"
bins() { echo "$(zk_target_dir)/debug"; }
if [ -z "${ZKCLI_BIN:-}" ] || { [ "$kind" = ours ] && [ -z "${ZKSERVER_BIN:-}" ]; }; then
    cargo build -q --bin zkcli -p zkcli -p zkserver 2>/dev/null || cargo build -q
fi
ZKCLI_BIN="${ZKCLI_BIN:-$(bins)/zkcli}"
export ZKSERVER_BIN="${ZKSERVER_BIN:-$(bins)/zkserver}"
dir="$(mktemp -d /tmp/zk-replay.XXXXXX)"
base=$((15000 + RANDOM % 3000))
cleanup() {
    scripts/ensemble.sh --dir "$dir" stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
if [ -n "$server" ]; then
    first="$server" second="$server" third="$server"
else
    if $ensemble; then n=3; else n=1; fi
    # One member is a standalone server (standaloneEnabled, as ZooKeeper).
    scripts/ensemble.sh --dir "$dir" --base-port "$base" --kinds "$kind,$kind,$kind" start "$n" >&2
    first="127.0.0.1:$((base + 1))"
    if $ensemble; then
        second="127.0.0.1:$((base + 2))" third="127.0.0.1:$((base + 3))"
    else
        second="$first" third="$first"
    fi
fi
python3 tests/walkthrough/replay.py "$ZKCLI_BIN" "$first" "$second" "$third" --width "$width"
