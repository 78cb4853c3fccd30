#!/usr/bin/env bash
# Start/stop our Rust zkserver on 127.0.0.1:PORT with dataDir DIR, using the same
# zoo.cfg as scripts/zk-real.sh:
#   ${ZKSERVER_BIN:-target/debug/zkserver} start-foreground DIR/zoo.cfg
#   scripts/zk-ours.sh start PORT DIR   # returns once `ruok` answers `imok`
#   scripts/zk-ours.sh stop  PORT DIR
#   scripts/zk-ours.sh status PORT DIR
set -euo pipefail
ZK_NAME=zk-ours
. "$(dirname "${BASH_SOURCE[0]}")/zk-common.sh"

ZKSERVER_BIN="${ZKSERVER_BIN:-target/debug/zkserver}"
case "$ZKSERVER_BIN" in /*) ;; *) [ -x "$ZKSERVER_BIN" ] || ZKSERVER_BIN="$REPO/$ZKSERVER_BIN" ;; esac
if d="$(cd "$(dirname "$ZKSERVER_BIN")" 2>/dev/null && pwd)"; then
    ZKSERVER_BIN="${d%/}/$(basename "$ZKSERVER_BIN")"
fi
if [ "${1:-}" = start ] && [ ! -x "$ZKSERVER_BIN" ]; then
    zk_die "$ZKSERVER_BIN not found or not executable (cargo build, or set ZKSERVER_BIN)"
fi
export ZKSERVER_BIN

zk_launch() {
    exec "$ZKSERVER_BIN" start-foreground "$1/zoo.cfg"
}

zk_main "$@"
