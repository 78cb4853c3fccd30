#!/usr/bin/env bash
# Compare zkCli.sh behaviour against two servers (normally real ZooKeeper and ours).
#   scripts/compare-zkcli.sh ADDR_A ADDR_B [SCRIPT]
# Feeds SCRIPT (default tests/zkcli/script.txt) line by line into
#   /usr/share/zookeeper/bin/zkCli.sh -server ADDR
# (stdin piped; Debian's zkCli has no JLine, so no prompt/echo), captures stdout,
# stderr and the exit code separately, masks run-dependent fields and diffs.
# Exit 0 if identical, 1 (printing the diff) otherwise, 2 on usage/setup errors.
#
# Script conventions: lines starting with '#' and blank lines are not sent;
# '@ADDR@' is replaced by the server address. After the client reports
# SyncConnected, one line is sent every ZKCLI_DELAY seconds (default 0.25) so
# that asynchronous WATCHER output lands deterministically.
# Env: ZKCLI (zkCli.sh path), ZKCLI_DELAY, ZKCLI_KEEP=DIR (keep raw+masked output there)
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ZKCLI="${ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}"
DELAY="${ZKCLI_DELAY:-0.25}"

[ $# -ge 2 ] || { echo "usage: $0 ADDR_A ADDR_B [SCRIPT]" >&2; exit 2; }
A="$1"; B="$2"; SCRIPT="${3:-$REPO/tests/zkcli/script.txt}"
[ -x "$ZKCLI" ] || { echo "$ZKCLI not found: run scripts/install-deps.sh" >&2; exit 2; }
[ -f "$SCRIPT" ] || { echo "script $SCRIPT not found" >&2; exit 2; }

if [ -n "${ZKCLI_KEEP:-}" ]; then OUT="$ZKCLI_KEEP"; mkdir -p "$OUT"; else
    OUT="$(mktemp -d)"; trap 'rm -rf "$OUT"' EXIT; fi

# Remove what a previous (possibly aborted) run may have left behind.
precleanup() { # ADDR
    # acl9 (no permissions at all) can only be removed by a plain delete; /cmp/r
    # loses DELETE for a while. Everything else is reachable as user1/user2.
    printf '%s\n' 'addauth digest user1:pw1' 'addauth digest user2:pw2' \
        'delete /cmp/acl9' 'setAcl -R /cmp/r world:anyone:cdrwa' \
        'deleteall /cmp' 'deleteall /zookeeper/quota/cmp' 'quit' |
        timeout 120 "$ZKCLI" -server "$1" >/dev/null 2>&1 || true
}

feed() { # ADDR STDOUT_FILE
    local addr="$1" out="$2" i line
    for i in $(seq 1 300); do   # up to 60 s for JVM start + connect
        grep -q 'WatchedEvent state:SyncConnected type:None' "$out" 2>/dev/null && break
        sleep 0.2
    done
    sleep "$DELAY"
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in ''|'#'*) continue ;; esac
        printf '%s\n' "${line//@ADDR@/$addr}"
        sleep "$DELAY"
    done <"$SCRIPT"
    sleep 1
}

mask() { # ADDR < raw > masked
    local addr_re
    addr_re="$(printf '%s' "$1" | sed 's/[.[\*^$/]/\\&/g')"
    sed -E \
        -e '/^SLF4J: /d' \
        -e "s/$addr_re/<ADDR>/g" \
        -e 's/^Connecting to .*/Connecting to <ADDR>/' \
        -e 's/^(ZooKeeper CLI version: ).*/\1<VERSION>/' \
        -e 's/^(server\.[0-9]+=[^:]+):[0-9]+:[0-9]+/\1:<QPORT>:<EPORT>/' \
        -e 's/Thu Jan 01 00:00:00 UTC 1970/<EPOCH>/g' \
        -e 's/(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [A-Z]{2,5} [0-9]{4}/<DATE>/g' \
        -e 's/0x[0-9a-f]*[1-9a-f][0-9a-f]*/0x<HEX>/g'
}

run_one() { # NAME ADDR
    local name="$1" addr="$2" d="$OUT/$1"
    mkdir -p "$d"
    precleanup "$addr"
    : >"$d/stdout.raw"
    feed "$addr" "$d/stdout.raw" |
        timeout 600 "$ZKCLI" -server "$addr" >"$d/stdout.raw" 2>"$d/stderr.raw"
    echo "exit=$?" >"$d/rc"
    mask "$addr" <"$d/stdout.raw" >"$d/stdout"
    mask "$addr" <"$d/stderr.raw" >"$d/stderr"
    precleanup "$addr"
}

run_one a "$A" &
pa=$!
run_one b "$B" &
pb=$!
wait $pa $pb

if ! grep -q 'WatchedEvent state:SyncConnected type:None' "$OUT/a/stdout.raw"; then
    echo "zkCli never connected to $A" >&2
fi
rc=0
for f in stdout stderr rc; do
    if ! diff -u --label "$A/$f" --label "$B/$f" "$OUT/a/$f" "$OUT/b/$f"; then rc=1; fi
done
if [ $rc -eq 0 ]; then
    echo "zkcli comparison: identical ($(wc -l <"$OUT/a/stdout") stdout lines, $(wc -l <"$OUT/a/stderr") stderr lines, $(cat "$OUT/a/rc"))"
else
    echo "zkcli comparison: DIFFERENT (left=$A right=$B)" >&2
fi
exit $rc
