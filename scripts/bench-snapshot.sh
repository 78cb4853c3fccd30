#!/usr/bin/env bash
# Do snapshots hurt writes? Our standalone zkserver beside a standalone Apache
# ZooKeeper 3.8, each holding BENCH_SNAP_NODES znodes (so that every snapshot
# has a big tree to write), both driven by zkbench with setData paced at 80% of
# ZooKeeper's median closed-loop throughput for BENCH_DURATION seconds, long
# enough for several snapshots (snapCount=100000, the default of both). Latency
# is timed from each request's intended start, so a stall is not hidden.
# Reports p50/p99/p99.9/max per server, how many snapshots each took during
# the paced runs, and the txn log's sync times from each server's `mntr`
# (zk_max_fsynctime, zk_avg_fsynctime: ZooKeeper's own metric, ours the same).
#
#   scripts/bench-snapshot.sh        # ~6 minutes on 2 cores
#
# Env (defaults in brackets): BENCH_SNAP_NODES [500000], BENCH_DURATION [20],
# BENCH_WARMUP [2], BENCH_REPEAT [3], BENCH_SESSIONS [16], BENCH_INFLIGHT [4],
# BENCH_RATE [80% of ZooKeeper's median], BENCH_ZK_HEAP [2g], BENCH_SKIP_BUILD=1,
# BENCH_DIR [mktemp under /tmp], BENCH_KEEP=1, BENCH_OUT
# [scripts/bench-snapshot-results.md]. Only 127.0.0.1 is used.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
BIN="$TARGET/release"
NODES="${BENCH_SNAP_NODES:-500000}"
DURATION="${BENCH_DURATION:-20}"
WARMUP="${BENCH_WARMUP:-2}"
REPEAT="${BENCH_REPEAT:-3}"
SESSIONS="${BENCH_SESSIONS:-16}"
INFLIGHT="${BENCH_INFLIGHT:-4}"
ZK_HEAP="${BENCH_ZK_HEAP:-2g}"
OUT_MD="${BENCH_OUT:-$REPO/scripts/bench-snapshot-results.md}"
ZK_FLAGS="-Xmx$ZK_HEAP -XX:-UseSerialGC -XX:+UseG1GC -XX:TieredStopAtLevel=4"

log() { printf '[bench-snapshot %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer"
[ -f /usr/share/java/zookeeper.jar ] || die "ZooKeeper missing: run scripts/install-deps.sh"
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "building release binaries in $TARGET"
    cargo build --release -q -p zkserver --bin zkserver
    cargo build --release -q --bin zkbench
fi
for b in zkserver zkbench; do [ -x "$BIN/$b" ] || die "$BIN/$b missing"; done
export ZKSERVER_BIN="${BENCH_ZKSERVER:-$BIN/zkserver}"
ZKB="$BIN/zkbench"

WORK="${BENCH_DIR:-$(mktemp -d /tmp/zkbench-snap.XXXXXX)}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
RES="$WORK/results.jsonl"
: >"$RES"
declare -A PORT PID
zk_ctl() { # KIND ACTION PORT DIR
    local kind="$1"; shift
    if [ "$kind" = zk ]; then
        ZK_JVMFLAGS="$ZK_FLAGS" ZK_START_TIMEOUT=300 "$REPO/scripts/zk-real.sh" "$@"
    else
        ZK_START_TIMEOUT=300 "$REPO/scripts/zk-ours.sh" "$@"
    fi
}
cleanup() {
    local kind
    for kind in zk ours; do
        [ -n "${PORT[$kind]:-}" ] && zk_ctl "$kind" stop "${PORT[$kind]}" "$WORK/$kind" >/dev/null 2>&1 || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
port_free() { [ -z "$(ss -Htan "( sport = :$1 or dport = :$1 )" 2>/dev/null)" ]; }
pick_port() {
    local p
    for p in $(seq "$1" $(($1 + 200))); do port_free "$p" && { echo "$p"; return 0; }; done
    die "no free port near $1"
}
PORT[zk]="$(pick_port 27281)"
PORT[ours]="$(pick_port $((PORT[zk] + 1)))"
zkb() { # KIND ARGS...
    local kind="$1"; shift
    "$ZKB" --server "127.0.0.1:${PORT[$kind]}" --pid "${PID[$kind]}" --label "$kind" --json --out "$RES" "$@"
}
mntr() { # KIND KEY
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf mntr >&3; cat <&3' _ "${PORT[$1]}" 2>/dev/null |
        awk -v k="$2" '$1 == k { print $2 }'
}
note() { # KIND NAME VALUE UNIT [DETAIL]
    "$ZKB" --label "$1" --json --out "$RES" note --name "$2" --value "$3" --unit "$4" --detail "${5:-}" >/dev/null
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
for kind in zk ours; do
    zk_ctl "$kind" start "${PORT[$kind]}" "$WORK/$kind" >/dev/null
    PID[$kind]="$(cat "$WORK/$kind/zk.pid")"
    log "loading $NODES znodes of 100 B into $kind"
    zkb "$kind" load "$NODES" --value-size 100 >/dev/null
done
# ZooKeeper's closed-loop throughput sets the offered load of both.
rate="${BENCH_RATE:-}"
if [ -z "$rate" ]; then
    runs=()
    for i in $(seq 1 "$REPEAT"); do
        log "closed-loop set ${SESSIONS}×$INFLIGHT on zk (run $i/$REPEAT)"
        runs+=("$("$ZKB" --server "127.0.0.1:${PORT[zk]}" --label zk-closed --json set --sessions "$SESSIONS" \
            --inflight "$INFLIGHT" --duration 8 --warmup "$WARMUP" |
            sed -n 's/.*"ops_per_s":\([0-9]*\).*/\1/p')")
    done
    med="$(printf '%s\n' "${runs[@]}" | sort -n | sed -n "$(((REPEAT + 1) / 2))p")"
    [ -n "$med" ] && [ "$med" -gt 0 ] || die "no closed-loop throughput from zk (runs: ${runs[*]})"
    rate=$((med * 8 / 10))
fi
log "paced set at $rate ops/s on both, $DURATION s per run"
declare -A SNAPS
for kind in zk ours; do SNAPS[$kind]=0; done
for i in $(seq 1 "$REPEAT"); do
    for kind in zk ours; do
        before="$(mntr "$kind" zk_cnt_snapshottime)"
        log "paced set on $kind (run $i/$REPEAT)"
        zkb "$kind" set --sessions "$SESSIONS" --inflight "$INFLIGHT" --duration "$DURATION" \
            --warmup "$WARMUP" --rate "$rate" >/dev/null
        after="$(mntr "$kind" zk_cnt_snapshottime)"
        SNAPS[$kind]=$((SNAPS[$kind] + ${after:-0} - ${before:-0}))
    done
done
for kind in zk ours; do
    note "$kind" "snapshots of the $NODES-znode tree written during the paced runs" "${SNAPS[$kind]}" "snapshots"
    for m in snapshottime fsynctime; do
        what="snapshot time (mntr snapshottime)"
        [ $m = fsynctime ] && what="txn log sync time over the whole run (mntr fsynctime)"
        note "$kind" "$what, average" "$(mntr "$kind" "zk_avg_$m")" "ms"
        note "$kind" "$what, max" "$(mntr "$kind" "zk_max_$m")" "ms"
    done
done
TABLE="$("$ZKB" report "$RES" --ours ours --theirs zk)"
{
    echo "# Snapshots beside paced writes: zkserver vs Apache ZooKeeper"
    echo
    echo "Produced by \`scripts/bench-snapshot.sh\` on $(date -u +%Y-%m-%dT%H:%MZ)."
    echo
    echo "- Machine: $(nproc) cores, Linux $(uname -r), $(df -T "$WORK" | awk 'NR==2 { print $2 }') on $(df "$WORK" | awk 'NR==2 { print $1 }'); load average at the start: $LOAD_BEFORE, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- ZooKeeper $(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null), JVM flags \`$ZK_FLAGS\`; zkserver $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet -- server 2>/dev/null || echo '+dirty'), release build"
    echo "- Both standalone, the same zoo.cfg (scripts/zk-common.sh: snapCount 100000, forceSync yes), $NODES znodes of 100 B loaded first"
    echo "- Load: zkbench set, ${SESSIONS}×$INFLIGHT, paced at $rate ops/s (80% of ZooKeeper's median closed-loop throughput unless BENCH_RATE), $WARMUP s warm-up + $DURATION s measured, $REPEAT runs per server interleaved, the median run reported; latency from each request's intended start"
    echo
    echo "$TABLE"
} >"$OUT_MD"
cat "$OUT_MD"
log "wrote $OUT_MD"
