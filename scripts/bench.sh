#!/usr/bin/env bash
# Whole benchmark: our zkserver beside Apache ZooKeeper 3.8 (Debian package) on
# this machine, same run, same load tool (target/release/zkbench), fsync on for
# both (forceSync=yes, the default of both). Prints the comparison table and
# writes it, with the machine it ran on, to scripts/bench-results.md.
#
#   scripts/bench.sh            # ~21 minutes on a 2-core machine (108 workload runs of ~10 s)
#   scripts/bench.sh --ensemble # 3-member ensembles instead (scripts/bench-ensemble.sh)
#
# Workloads run closed loop (each server as fast as it answers), and set and
# create run again paced on both servers at 80% of ZooKeeper's median
# closed-loop throughput (`zkbench --rate`): p99 at the same offered load.
#   BENCH_DURATION=3 BENCH_REPEAT=1 BENCH_LOAD_N=200000 scripts/bench.sh   # a quick look
#
# Env (defaults in brackets):
#   BENCH_DURATION [8]    measured seconds per workload run
#   BENCH_WARMUP [2]      unmeasured warm-up seconds before each run
#   BENCH_REPEAT [3]      runs per workload and session count on each server,
#                         interleaved zk, ours, zk, ours, ...; the report keeps
#                         each server's median run (by ops/s)
#   BENCH_SESSIONS ["16 64"]  session counts for the workload runs
#   BENCH_INFLIGHT [4]    requests in flight per session
#   BENCH_VALUE [100]     value size (bytes)
#   BENCH_KEYS [10000]    keyspace of set/get/exists/mix
#   BENCH_WORKLOADS ["set get exists children mix create"]
#   BENCH_LOAD_SMALL [100000], BENCH_LOAD_N [1000000]  znodes for memory/recovery
#   BENCH_ZK_HEAP [2g]    ZooKeeper's -Xmx (1M znodes of 100 B need ~0.5 GB live)
#   BENCH_DIR [mktemp -d under /tmp]  data dirs (kept with BENCH_KEEP=1)
#   BENCH_PORTS ["27181 27182"]  first candidates for ZK's and our client port
#   BENCH_SKIP_BUILD=1    reuse the release binaries in $CARGO_TARGET_DIR
#   BENCH_OUT [scripts/bench-results.md]
# Only 127.0.0.1 is used; every wait is bounded.
set -euo pipefail
# `scripts/bench.sh --ensemble`: the 3-member ensembles, side by side
# (scripts/bench-ensemble.sh says what it measures).
if [ "${1:-}" = --ensemble ]; then
    shift
    exec "$(dirname "${BASH_SOURCE[0]}")/bench-ensemble.sh" "$@"
fi

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
BIN="$TARGET/release"
DURATION="${BENCH_DURATION:-8}"
REPEAT="${BENCH_REPEAT:-3}"
WARMUP="${BENCH_WARMUP:-2}"
SESSIONS="${BENCH_SESSIONS:-16 64}"
INFLIGHT="${BENCH_INFLIGHT:-4}"
VALUE="${BENCH_VALUE:-100}"
KEYS="${BENCH_KEYS:-10000}"
# create runs last at each session count: it grows the tree, which makes every
# later snapshot bigger (see the report's notes on snapshot stalls).
WORKLOADS="${BENCH_WORKLOADS:-set get exists children mix create}"
LOAD_SMALL="${BENCH_LOAD_SMALL:-100000}"
LOAD_N="${BENCH_LOAD_N:-1000000}"
ZK_HEAP="${BENCH_ZK_HEAP:-2g}"
OUT_MD="${BENCH_OUT:-$REPO/scripts/bench-results.md}"
# ZooKeeper as Debian's zkServer.sh would run it on this JDK (G1, full JIT),
# overriding the test-oriented -XX:+UseSerialGC -XX:TieredStopAtLevel=1 of
# zk-real.sh; only the heap is set explicitly.
ZK_FLAGS="-Xmx$ZK_HEAP -XX:-UseSerialGC -XX:+UseG1GC -XX:TieredStopAtLevel=4"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer, not '$REPEAT'"

[ -f /usr/share/java/zookeeper.jar ] || die "ZooKeeper missing: run scripts/install-deps.sh"
PY="$REPO/.venv/bin/python"
[ -x "$PY" ] || die "$PY missing: run scripts/install-deps.sh"

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "building release binaries in $TARGET (slow on small machines)"
    cargo build --release -q -p zkserver --bin zkserver
    cargo build --release -q --bin zkcli --bin zkbench
fi
for b in zkserver zkcli zkbench; do [ -x "$BIN/$b" ] || die "$BIN/$b missing"; done
export ZKSERVER_BIN="$BIN/zkserver"
ZKB="$BIN/zkbench"

WORK="${BENCH_DIR:-$(mktemp -d /tmp/zkbench.XXXXXX)}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
RES="$WORK/results.jsonl"
: >"$RES"
STARTED=()   # "kind port dir" of servers we started

zk_ctl() { # KIND ACTION PORT DIR
    local kind="$1"; shift
    if [ "$kind" = zk ]; then
        ZK_JVMFLAGS="$ZK_FLAGS" ZK_START_TIMEOUT=300 "$REPO/scripts/zk-real.sh" "$@"
    else
        ZK_START_TIMEOUT=300 "$REPO/scripts/zk-ours.sh" "$@"
    fi
}

cleanup() {
    local s kind port dir
    for s in "${STARTED[@]}"; do
        read -r kind port dir <<<"$s"
        zk_ctl "$kind" stop "$port" "$dir" >/dev/null 2>&1 || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A loopback port below the ephemeral range with nothing bound or lingering.
port_free() { [ -z "$(ss -Htan "( sport = :$1 or dport = :$1 )" 2>/dev/null)" ]; }
pick_port() { # FIRST_CANDIDATE
    local p="$1" i
    for i in $(seq 0 200); do
        if port_free "$((p + i))"; then echo "$((p + i))"; return 0; fi
    done
    die "no free port near $1"
}
read -r P0 P1 <<<"${BENCH_PORTS:-27181 27182}"
declare -A PORT
PORT[zk]="$(pick_port "$P0")"
PORT[ours]="$(pick_port "$P1")"
[ "${PORT[zk]}" != "${PORT[ours]}" ] || PORT[ours]="$(pick_port $((PORT[zk] + 1)))"

declare -A PID
# 100000 -> 100k, 1000000 -> 1M
kn() { if [ $(($1 % 1000000)) -eq 0 ]; then echo "$(($1 / 1000000))M"; elif [ $(($1 % 1000)) -eq 0 ]; then echo "$(($1 / 1000))k"; else echo "$1"; fi; }
start() { # KIND DIR NAME [PATH] -- start on a dataDir, timing process start -> serving
    # (NAME "" = not a measurement: the start time is not recorded)
    local kind="$1" dir="$2" name="$3" port="${PORT[$1]}" t0 spid rc=0 out=(--out "$RES")
    [ -n "$name" ] || { out=(); name=restart; }
    mkdir -p "$dir"
    t0="$(date +%s%N)"
    zk_ctl "$kind" start "$port" "$dir" >"$dir/start.out" 2>&1 &
    spid=$!
    STARTED+=("$kind $port $dir")
    "$ZKB" --server "127.0.0.1:$port" --label "$kind" --json "${out[@]}" \
        wait-ready --since-ns "$t0" --timeout 600 --name "$name" --path "${4:-/}" >/dev/null || rc=$?
    wait "$spid" || rc=$?
    [ $rc -eq 0 ] || { cat "$dir/start.out" >&2; die "$kind did not start on $dir"; }
    PID["$kind"]="$(cat "$dir/zk.pid")"
    [ -r "/proc/${PID[$kind]}/status" ] || die "no /proc entry for $kind pid ${PID[$kind]}"
}
stop() { # KIND DIR
    zk_ctl "$1" stop "${PORT[$1]}" "$2" >/dev/null
}
rss() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }
note() { # KIND NAME VALUE UNIT [DETAIL]
    "$ZKB" --label "$1" --json --out "$RES" note --name "$2" --value "$3" --unit "$4" --detail "${5:-}" >/dev/null
}
zkb() { # KIND ARGS... -- zkbench against the running KIND server
    local kind="$1"; shift
    "$ZKB" --server "127.0.0.1:${PORT[$kind]}" --pid "${PID[$kind]}" --label "$kind" \
        --json --out "$RES" "$@"
}

log "work dir $WORK; ports zk=${PORT[zk]} ours=${PORT[ours]}; ZooKeeper JVM: $ZK_FLAGS"

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
# --- workloads: each run on ZooKeeper, then on ours, both servers up ------------
# Both servers start on empty dataDirs for each session count: `create` grows
# the tree (and so every later snapshot), and the faster server would
# otherwise carry a bigger tree into the next count's runs.
# Each workload runs $REPEAT times per server, interleaved (zk, ours, zk, ours,
# ...) so that both see the same conditions on a shared machine; the report
# keeps each server's median run.
# ZooKeeper's median closed-loop ops/s of WORKLOAD at SESSIONS (from $RES).
zk_median() {
    "$PY" - "$RES" "$1" "$2" "$INFLIGHT" <<'PYEOF'
import json, sys
res, w, s, inflight = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ops = sorted(r["ops_per_s"] for r in map(json.loads, open(res))
             if r.get("kind") == "workload" and r.get("server") == "zk" and r.get("workload") == w
             and r.get("sessions") == s and r.get("inflight") == inflight and r.get("rate") is None)
print(int(ops[(len(ops) - 1) // 2]) if ops else 0)
PYEOF
}
for s in $SESSIONS; do
    start zk "$WORK/zk-run-$s" "start (empty dataDir, $s sessions)"
    start ours "$WORK/ours-run-$s" "start (empty dataDir, $s sessions)"
    # Closed loop (as fast as each server answers), then the writes again
    # paced at 80% of ZooKeeper's median throughput on both servers: p99 at
    # the same offered load.
    for w in $WORKLOADS paced-set paced-create; do
        rate=0
        case "$w" in
        paced-*)
            w="${w#paced-}"
            case " $WORKLOADS " in *" $w "*) ;; *) continue ;; esac
            rate="$(zk_median "$w" "$s")"
            rate=$((rate * 8 / 10))
            [ "$rate" -gt 0 ] || continue
            ;;
        esac
        for i in $(seq 1 "$REPEAT"); do
            for kind in zk ours; do
                if [ "$w" = create ]; then
                    # Every create run starts from the same empty tree: the
                    # tree a run leaves (bigger on the faster server) makes
                    # every later snapshot bigger.
                    stop "$kind" "$WORK/$kind-run-$s"
                    rm -rf "$WORK/$kind-run-$s"
                    start "$kind" "$WORK/$kind-run-$s" ""
                fi
                log "$w $s×$INFLIGHT on $kind (run $i/$REPEAT)$([ "$rate" = 0 ] || echo ", paced at $rate ops/s")"
                zkb "$kind" "$w" --sessions "$s" --inflight "$INFLIGHT" --duration "$DURATION" \
                    --warmup "$WARMUP" --value-size "$VALUE" --keyspace "$KEYS" --rate "$rate" >/dev/null
            done
        done
    done
    stop zk "$WORK/zk-run-$s"
    stop ours "$WORK/ours-run-$s"
    [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$WORK/zk-run-$s" "$WORK/ours-run-$s"
done
start zk "$WORK/zk-run" "start (empty dataDir, single client)"
start ours "$WORK/ours-run" "start (empty dataDir, single client)"
# The disk's fsync latency, measured right before the single writer it bounds.
log "fsync probe in $WORK"
"$ZKB" --json --out "$RES" fsync-probe --dir "$WORK" --count 2000 --seconds 10 >/dev/null
# One synchronous client: set 1×1 is the target row (vs the disk's fsync);
# get 1×1 is the round-trip floor that a write adds its fsync to.
for w in set get; do
    for i in $(seq 1 "$REPEAT"); do
        for kind in zk ours; do
            log "single synchronous client ($w 1×1) on $kind (run $i/$REPEAT)"
            zkb "$kind" "$w" --sessions 1 --inflight 1 --duration "$DURATION" --warmup "$WARMUP" \
                --value-size "$VALUE" --keyspace "$KEYS" >/dev/null
        done
    done
done

# --- independent client (kazoo) -----------------------------------------------
for kind in zk ours; do
    log "kazoo fixed workload on $kind"
    timeout 300 "$PY" "$REPO/scripts/bench_kazoo.py" --server "127.0.0.1:${PORT[$kind]}" \
        --label "$kind" --pid "${PID[$kind]}" --out "$RES" >&2
done
stop zk "$WORK/zk-run"
stop ours "$WORK/ours-run"

# --- memory and recovery --------------------------------------------------------
for kind in zk ours; do
    d="$WORK/$kind-load"
    start "$kind" "$d" "start (empty dataDir, load run)"
    base="$(rss "${PID[$kind]}")"
    note "$kind" "RSS empty server" "$((base / 1048576))" "MiB"
    log "loading $LOAD_SMALL znodes of $VALUE B into $kind"
    zkb "$kind" load "$LOAD_SMALL" --value-size "$VALUE" >/dev/null
    sleep 1
    r="$(rss "${PID[$kind]}")"
    note "$kind" "RSS per znode at $(kn "$LOAD_SMALL")" "$((r / LOAD_SMALL))" "B" "VmRSS $r"
    log "loading up to $LOAD_N znodes into $kind"
    zkb "$kind" load "$((LOAD_N - LOAD_SMALL))" --start "$LOAD_SMALL" --value-size "$VALUE" >/dev/null
    sleep 1
    r="$(rss "${PID[$kind]}")"
    note "$kind" "RSS per znode at $(kn "$LOAD_N")" "$((r / LOAD_N))" "B" "VmRSS $r"
    note "$kind" "RSS at $(kn "$LOAD_N") znodes" "$((r / 1048576))" "MiB"
    # ZooKeeper's RSS follows its heap sizing; its live data is the heap in use
    # after a full GC. Ours has no GC: its RSS is its live footprint.
    live="$((r / LOAD_N))"
    if [ "$kind" = zk ] && command -v jcmd >/dev/null 2>&1; then
        timeout 120 jcmd "${PID[zk]}" GC.run >/dev/null 2>&1 || true
        used_kb="$(timeout 60 jcmd "${PID[zk]}" GC.heap_info 2>/dev/null |
            sed -n 's/.*total [0-9]*K, used \([0-9]*\)K.*/\1/p' | head -1)"
        live="${used_kb:+$((used_kb * 1024 / LOAD_N))}"
    fi
    [ -z "$live" ] || note "$kind" "live data per znode at $(kn "$LOAD_N") (ours: RSS; ZK: heap used after full GC)" "$live" "B"
    note "$kind" "dataDir size at $(kn "$LOAD_N") znodes" "$(du -sm "$d/version-2" | cut -f1)" "MiB"
    stop "$kind" "$d"
    last=$((LOAD_N - 1))
    log "recovery of $kind from $LOAD_N znodes"
    start "$kind" "$d" "recovery $(kn "$LOAD_N")" "$(printf '/zkload/b%04d/n%03d' $((last / 1000)) $((last % 1000)))"
    r="$(rss "${PID[$kind]}")"
    note "$kind" "RSS after recovery of $(kn "$LOAD_N")" "$((r / 1048576))" "MiB"
    stop "$kind" "$d"
    [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$d"
done

# --- shell: 100 commands through zkcli and zkCli.sh against our server ------------
SCRIPT="$WORK/shell.txt"
shell_script() { # PREFIX
    local i
    echo "create $1 top"
    for i in $(seq 1 24); do
        echo "create $1/n$i value-$i"
        echo "get $1/n$i"
        echo "set $1/n$i new-$i"
        echo "stat $1/n$i"
    done
    echo "ls $1"
    echo "deleteall $1"
    echo "quit"
}
start ours "$WORK/shell" "start (empty dataDir, shell)"
wall_ms() { # CMD...  (stdin: script) -> prints ms
    local t0 t1
    t0="$(date +%s%N)"
    timeout 120 "$@" -server "127.0.0.1:${PORT[ours]}" <"$SCRIPT" >/dev/null 2>&1 || true
    t1="$(date +%s%N)"
    echo $(((t1 - t0) / 1000000))
}
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
for kind in ours zk; do
    runs=()
    for i in 1 2 3; do
        shell_script "/shell-$kind-$i" >"$SCRIPT"
        if [ "$kind" = ours ]; then runs+=("$(wall_ms "$BIN/zkcli")")
        else runs+=("$(wall_ms /usr/share/zookeeper/bin/zkCli.sh)"); fi
    done
    note "$kind" "shell: 100-command script, zkcli vs zkCli.sh (median of 3)" \
        "$(median3 "${runs[@]}")" "ms" "runs ${runs[*]}"
done
[ "$(grep -c . "$SCRIPT")" -eq 100 ] || log "warning: shell script has $(grep -c . "$SCRIPT") lines"
stop ours "$WORK/shell"

# --- report ---------------------------------------------------------------------
TABLE="$("$ZKB" report "$RES" --ours ours --theirs zk)"
MACHINE="$(lscpu 2>/dev/null | awk -F: '/^Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), $(df -T "$WORK" | awk 'NR==2 { print $2 }') on $(df "$WORK" | awk 'NR==2 { print $1 }')"
{
    echo "# zkserver vs Apache ZooKeeper: latest benchmark"
    echo
    echo "Produced by \`scripts/bench.sh\` on $(date -u +%Y-%m-%dT%H:%MZ)."
    echo
    echo "- Machine: $MACHINE; load average (1/5/15 min) at the start: $LOAD_BEFORE, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- ZooKeeper $(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null) (Debian), $(java -version 2>&1 | head -1), JVM flags: \`$ZK_FLAGS\`"
    echo "- zkserver $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet -- server 2>/dev/null || echo '+dirty'), release build"
    echo "- Both: standalone, same zoo.cfg (scripts/zk-common.sh), forceSync=yes (fsync per commit), 127.0.0.1; client and servers share the machine's cores"
    echo "- Load: zkbench (our client library), closed loop, $INFLIGHT requests in flight per session, $WARMUP s warm-up + $DURATION s measured, median of $REPEAT runs, servers interleaved (zk, ours, zk, ours, ...), values of $VALUE B, keyspace $KEYS; CPU = server utime+stime from /proc/PID/stat"
    echo "- ratio = ours / ZK (higher is better for ops/s, lower for latency, CPU and memory); recovery ratio = ZK time / our time"
    echo "- Throughput is CPU-bound on a small machine: zkbench itself needs the CPU shown in its column, and other load on the machine (load average above) moves ratios by ±20% between runs; server CPU per op is the steadier comparison"
    echo "- kazoo rows: an independent client (scripts/bench_kazoo.py, 4 sessions × 32 async requests); its ops/s are bound by the Python client on both servers, so its server-CPU-per-op rows are the check"
    echo
    echo "$TABLE"
    echo
    echo "Raw results: JSON lines in \$BENCH_DIR/results.jsonl of a run with BENCH_KEEP=1; \`zkbench report FILE\` rebuilds this table."
} >"$OUT_MD"
cat "$OUT_MD"
log "wrote $OUT_MD"
