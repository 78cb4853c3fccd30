#!/usr/bin/env bash
# The ensemble benchmark (`scripts/bench.sh --ensemble` runs this): a 3-member
# zkserver ensemble beside a 3-member Apache ZooKeeper 3.8 ensemble on this
# machine, in one run, with the same load tool (target/release/zkbench) and the
# same zoo.cfg (scripts/ensemble.sh: tickTime=2000, forceSync on, each member its
# own dataDir on the same disk). Writes scripts/bench-ensemble-results.md.
#
#   scripts/bench.sh --ensemble      # about 40 minutes on a 2-core machine
#   BENCH_DURATION=3 BENCH_REPEAT=1 BENCH_LOAD_N=100000 BENCH_FAILOVER_ROUNDS=2 \
#       scripts/bench.sh --ensemble  # a quick look
#
# Parts (BENCH_PARTS, default all, in this order):
#   writes     create and set at each session count, clients (a) all on the leader,
#              (b) spread over the members (session i starts on member i mod 3;
#              followers forward); reads (get, exists, children, 90/10 mix) spread;
#              server CPU per operation summed over the three members
#   paced      set and create spread, paced on both at 80% of ZooKeeper's median
#              throughput, latency from each request's intended start
#   failover   kill -9 of the leader under paced writes (zkbench failover): time to
#              the first write acknowledged by the new leader and until every
#              session writes again, BENCH_FAILOVER_ROUNDS rounds per ensemble
#   coldstart  all three members started at once on their dataDirs -> first
#              acknowledged write, BENCH_COLD_ROUNDS rounds
#   catchup    BENCH_LOAD_N znodes loaded; RSS per member; a follower with an empty
#              dataDir rejoins (SNAP) -> it serves the last znode; a follower
#              BENCH_DIFF_N txns behind rejoins (DIFF) -> it serves the newest one
#   snapshot   after catchup (the tree holds BENCH_LOAD_N + BENCH_DIFF_N znodes): set
#              spread, paced at 80% of ZooKeeper's median set throughput (16
#              sessions), BENCH_SNAP_DURATION s per run, long enough for several
#              snapshots of the big tree on every member: p99 with snapshots, and the
#              members' txn log sync times (mntr fsynctime)
#   cores      how the figures move with the cores the members get: set and get
#              16×4 spread with all three members pinned to one core (taskset -a,
#              zkbench on the other) against the same runs unpinned, both
#              ensembles; the 2-core machine cannot give the members more
#   mntr       the election/sync/proposal/fsync/snapshot lines of every member's `mntr`
#
# Env (defaults in brackets): BENCH_DURATION [8], BENCH_WARMUP [2], BENCH_REPEAT [3]
# (runs per workload and server, interleaved zk, ours, ...; the report keeps the
# median), BENCH_SESSIONS ["16 64"], BENCH_INFLIGHT [4], BENCH_VALUE [100],
# BENCH_KEYS [10000], BENCH_FAILOVER_ROUNDS [5], BENCH_FAILOVER_RATE [1000] (writes/s
# over 16 sessions), BENCH_COLD_ROUNDS [3], BENCH_LOAD_N [1000000], BENCH_DIFF_N
# [10000], BENCH_ZK_HEAP [2g] (each Apache member's -Xmx), BENCH_ENS_PORTS
# ["23000 24000"] (base ports: zk, ours), BENCH_DIR, BENCH_KEEP=1, BENCH_SKIP_BUILD=1,
# BENCH_SNAP_DURATION [20], BENCH_RESUME (an earlier run's results.jsonl to report
# beside the parts run now), BENCH_OUT [scripts/bench-ensemble-results.md]. Only 127.0.0.1; every wait is bounded.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
# BENCH_PROFILE=debug tries the script out on debug binaries (no figures).
PROFILE="${BENCH_PROFILE:-release}"
BIN="$TARGET/$PROFILE"
DURATION="${BENCH_DURATION:-8}"
WARMUP="${BENCH_WARMUP:-2}"
REPEAT="${BENCH_REPEAT:-3}"
SESSIONS="${BENCH_SESSIONS:-16 64}"
INFLIGHT="${BENCH_INFLIGHT:-4}"
VALUE="${BENCH_VALUE:-100}"
KEYS="${BENCH_KEYS:-10000}"
FO_ROUNDS="${BENCH_FAILOVER_ROUNDS:-5}"
FO_RATE="${BENCH_FAILOVER_RATE:-1000}"
COLD_ROUNDS="${BENCH_COLD_ROUNDS:-3}"
LOAD_N="${BENCH_LOAD_N:-1000000}"
DIFF_N="${BENCH_DIFF_N:-10000}"
ZK_HEAP="${BENCH_ZK_HEAP:-2g}"
SNAP_DURATION="${BENCH_SNAP_DURATION:-20}"
PARTS="${BENCH_PARTS:-writes paced failover coldstart catchup snapshot cores mntr}"
OUT_MD="${BENCH_OUT:-$REPO/scripts/bench-ensemble-results.md}"
read -r ZK_BASE OURS_BASE <<<"${BENCH_ENS_PORTS:-23000 24000}"
# As bench.sh runs ZooKeeper standalone: G1 and the full JIT, only the heap set
# (these come after ensemble.sh's test-oriented flags, and the last one wins).
export ZK_JVMFLAGS="-Xmx$ZK_HEAP -XX:-UseSerialGC -XX:+UseG1GC -XX:TieredStopAtLevel=4"
export ZK_ENSEMBLE_TIMEOUT=300

log() { printf '[bench-ensemble %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
part() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

for v in "$REPEAT" "$FO_ROUNDS" "$COLD_ROUNDS"; do
    [[ "$v" =~ ^[0-9]+$ ]] || die "BENCH_REPEAT, BENCH_FAILOVER_ROUNDS and BENCH_COLD_ROUNDS must be numbers"
done
[ -f /usr/share/java/zookeeper.jar ] || die "ZooKeeper missing: run scripts/install-deps.sh"
PY="$REPO/.venv/bin/python"
[ -x "$PY" ] || PY=python3

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "building $PROFILE binaries in $TARGET"
    flag=(); [ "$PROFILE" = release ] && flag=(--release)
    cargo build "${flag[@]}" -q -p zkserver --bin zkserver
    cargo build "${flag[@]}" -q --bin zkbench
fi
for b in zkserver zkbench; do [ -x "$BIN/$b" ] || die "$BIN/$b missing"; done
export ZKSERVER_BIN="$BIN/zkserver"
ZKB="$BIN/zkbench"

WORK="${BENCH_DIR:-$(mktemp -d /tmp/zkbench-ens.XXXXXX)}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
RES="$WORK/results.jsonl"
: >"$RES"
# BENCH_RESUME=FILE: a results.jsonl of an earlier run whose later parts did not
# run; its results go into this run's report beside the parts run now.
if [ -n "${BENCH_RESUME:-}" ]; then
    cp "$BENCH_RESUME" "$RES" || die "cannot read BENCH_RESUME=$BENCH_RESUME"
fi
declare -A BASE=([zk]="$ZK_BASE" [ours]="$OURS_BASE")

ens() { # KIND ACTION ARGS...
    local kind="$1"; shift
    scripts/ensemble.sh --dir "$WORK/$kind" --base-port "${BASE[$kind]}" --kinds "$kind,$kind,$kind" "$@"
}
cleanup() {
    ens zk stop >/dev/null 2>&1 || true
    ens ours stop >/dev/null 2>&1 || true
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pids() { cat "$WORK/$1"/{1,2,3}/pid | paste -sd,; }
addr() { echo "127.0.0.1:$((BASE[$1] + $2))"; }
cs() { ens "$1" connect-string; }
leader() { # KIND -> id (waits up to 60 s)
    local i
    for i in $(seq 1 300); do
        ens "$1" leader 2>/dev/null && return 0
        sleep 0.2
    done
    die "$1: no leader after 60 s"
}
follower() { # KIND -> the id of a member that is not the leader
    local l; l="$(leader "$1")"
    if [ "$l" = 1 ]; then echo 2; else echo 1; fi
}
# Keeps the newest 3 snapshots (and the logs they need) of every member of both
# ensembles, with ZooKeeper's own PurgeTxnLog (it reads our dataDirs too): with
# autopurge at its hourly granularity, a 40-minute run of closed-loop writes on
# a big tree otherwise leaves tens of GB of snapshots behind.
purge() {
    local kind m
    for kind in zk ours; do
        for m in 1 2 3; do
            java -cp /usr/share/java/zookeeper.jar org.apache.zookeeper.server.PurgeTxnLog \
                "$WORK/$kind/$m/data" "$WORK/$kind/$m/data" -n 3 >/dev/null 2>&1 ||
                log "warning: PurgeTxnLog failed on $kind member $m"
        done
    done
}
rss() { awk '/^VmRSS:/ { printf "%.0f\n", $2 * 1024 }' "/proc/$1/status"; }
note() { # KIND NAME VALUE UNIT [DETAIL]
    "$ZKB" --label "$1" --json --out "$RES" note --name "$2" --value "$3" --unit "$4" \
        --detail "${5:-}" >/dev/null
}
kn() { if [ $(($1 % 1000000)) -eq 0 ]; then echo "$(($1 / 1000000))M"; elif [ $(($1 % 1000)) -eq 0 ]; then echo "$(($1 / 1000))k"; else echo "$1"; fi; }

for kind in zk ours; do
    log "starting the $kind ensemble (base port ${BASE[$kind]})"
    ens "$kind" start 3 >"$WORK/$kind-start.out" 2>&1 || { cat "$WORK/$kind-start.out" >&2; die "$kind ensemble did not start"; }
done
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

# zkbench WORKLOAD on KIND with PLACEMENT (leader: every session on the leader;
# spread: session i starts on member i mod 3), labelled KIND-PLACEMENT.
run() { # KIND PLACEMENT WORKLOAD SESSIONS [RATE]
    local kind="$1" placement="$2" w="$3" s="$4" rate="${5:-0}" server flags=()
    if [ "$placement" = leader ]; then
        server="$(addr "$kind" "$(leader "$kind")")"
    else
        server="$(cs "$kind")"
        flags=(--spread)
    fi
    "$ZKB" --server "$server" "${flags[@]}" --pid "$(pids "$kind")" --label "$kind-$placement" \
        --json --out "$RES" "$w" --sessions "$s" --inflight "$INFLIGHT" --duration "$DURATION" \
        --warmup "$WARMUP" --value-size "$VALUE" --keyspace "$KEYS" --rate "$rate" >/dev/null
}
zk_median() { # LABEL WORKLOAD SESSIONS -> ZooKeeper's median closed-loop ops/s
    "$PY" - "$RES" "$1" "$2" "$3" "$INFLIGHT" <<'PYEOF'
import json, sys
res, label, w, s, inflight = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ops = sorted(r["ops_per_s"] for r in map(json.loads, open(res))
             if r.get("kind") == "workload" and r.get("server") == label and r.get("workload") == w
             and r.get("sessions") == s and r.get("inflight") == inflight and r.get("rate") is None)
print(int(ops[(len(ops) - 1) // 2]) if ops else 0)
PYEOF
}

if part writes; then
    for s in $SESSIONS; do
        # create last: it grows the tree (and every later snapshot).
        for w in set get exists children mix create; do
            case "$w" in create|set) placements="leader spread" ;; *) placements=spread ;; esac
            for placement in $placements; do
                for i in $(seq 1 "$REPEAT"); do
                    for kind in zk ours; do
                        log "$w $s×$INFLIGHT on $kind, clients $placement (run $i/$REPEAT)"
                        run "$kind" "$placement" "$w" "$s"
                    done
                done
            done
            purge
        done
    done
fi

if part paced; then
    for s in $SESSIONS; do
        for w in set create; do
            rate="$(zk_median zk-spread "$w" "$s")"
            rate=$((rate * 8 / 10))
            [ "$rate" -gt 0 ] || { log "no closed-loop $w $s run of ZooKeeper to pace from: skipped"; continue; }
            for i in $(seq 1 "$REPEAT"); do
                for kind in zk ours; do
                    log "$w $s×$INFLIGHT on $kind, spread, paced at $rate ops/s (run $i/$REPEAT)"
                    run "$kind" spread "$w" "$s" "$rate"
                done
            done
            purge
        done
    done
fi

if part failover; then
    for i in $(seq 1 "$FO_ROUNDS"); do
        for kind in zk ours; do
            l="$(leader "$kind")"
            pid="$(cat "$WORK/$kind/$l/pid")"
            log "failover round $i/$FO_ROUNDS on $kind: kill -9 of leader $l (pid $pid) under $FO_RATE writes/s"
            "$ZKB" --server "$(cs "$kind")" --spread --label "$kind" --json --out "$RES" failover \
                --kill "kill -9 $pid" --sessions 16 --rate "$FO_RATE" --before 4 --after 12 \
                --value-size "$VALUE" --name "failover (tickTime=2000)" >/dev/null
            ens "$kind" start-member "$l" >/dev/null
            ens "$kind" wait 120 || die "$kind: member $l did not rejoin"
        done
    done
fi

if part coldstart; then
    for i in $(seq 1 "$COLD_ROUNDS"); do
        for kind in zk ours; do
            ens "$kind" stop >/dev/null
            log "cold start round $i/$COLD_ROUNDS of $kind: all three at once"
            t0="$(date +%s%N)"
            ens "$kind" --no-wait start 3 >/dev/null
            "$ZKB" --server "$(cs "$kind")" --label "$kind" --json --out "$RES" wait-ready --write \
                --since-ns "$t0" --timeout 300 --name "cold start (3 members at once)" >/dev/null
            ens "$kind" wait 120 || die "$kind: not every member serves after a cold start"
        done
    done
fi

if part cores; then
    pin() { # KIND CPUS -- every thread of every member
        local p
        for p in $(pids "$1" | tr , ' '); do taskset -a -p -c "$2" "$p" >/dev/null; done
    }
    all_cpus="0-$(($(nproc) - 1))"
    for w in set get; do
        for i in $(seq 1 "$REPEAT"); do
            for kind in zk ours; do
                for cores in 1 all; do
                    if [ "$cores" = 1 ]; then pin "$kind" 0; else pin "$kind" "$all_cpus"; fi
                    log "$w 16×$INFLIGHT on $kind, spread, members on $cores core(s) (run $i/$REPEAT)"
                    # zkbench on the other core when the members have one.
                    tset=(); [ "$cores" = 1 ] && [ "$(nproc)" -gt 1 ] && tset=(taskset -c "1-$(($(nproc) - 1))")
                    "${tset[@]}" "$ZKB" --server "$(cs "$kind")" --spread --pid "$(pids "$kind")" \
                        --label "$kind-cores$cores" --json --out "$RES" "$w" --sessions 16 \
                        --inflight "$INFLIGHT" --duration "$DURATION" --warmup "$WARMUP" \
                        --value-size "$VALUE" --keyspace "$KEYS" >/dev/null
                done
                pin "$kind" "$all_cpus"
            done
        done
        purge
    done
fi


if part catchup; then
    last=$((LOAD_N - 1))
    last_path="$(printf '/zkload/b%04d/n%03d' $((last / 1000)) $((last % 1000)))"
    dlast=$((LOAD_N + DIFF_N - 1))
    diff_path="$(printf '/zkload/b%04d/n%03d' $((dlast / 1000)) $((dlast % 1000)))"
    for kind in zk ours; do
        l="$(leader "$kind")"
        log "loading $LOAD_N znodes of $VALUE B into the $kind ensemble (through its leader)"
        "$ZKB" --server "$(addr "$kind" "$l")" --label "$kind" --json --out "$RES" load "$LOAD_N" \
            --value-size "$VALUE" >/dev/null
        sleep 2
        max=0 sum=0
        for m in 1 2 3; do
            r="$(rss "$(cat "$WORK/$kind/$m/pid")")"
            sum=$((sum + r))
            [ "$r" -gt "$max" ] && max="$r"
        done
        note "$kind" "RSS per member at $(kn "$LOAD_N") znodes (largest of 3)" "$((max / 1048576))" "MiB"
        note "$kind" "RSS of the 3 members at $(kn "$LOAD_N") znodes" "$((sum / 1048576))" "MiB"
        f="$(follower "$kind")"
        log "$kind: follower $f wiped (myid kept), rejoining by SNAP"
        ens "$kind" kill-member "$f" >/dev/null
        find "$WORK/$kind/$f/data" -mindepth 1 -maxdepth 1 ! -name myid -exec rm -rf {} +
        t0="$(date +%s%N)"
        ens "$kind" start-member "$f" >/dev/null
        "$ZKB" --server "$(addr "$kind" "$f")" --label "$kind" --json --out "$RES" wait-ready \
            --since-ns "$t0" --timeout 600 --path "$last_path" \
            --name "SNAP catch-up of $(kn "$LOAD_N") znodes (empty dataDir)" >/dev/null
        ens "$kind" wait 300 || die "$kind: follower $f did not rejoin"
        f="$(follower "$kind")"
        log "$kind: follower $f down while $DIFF_N znodes are created, then rejoining by DIFF"
        ens "$kind" kill-member "$f" >/dev/null
        "$ZKB" --server "$(addr "$kind" "$(leader "$kind")")" --label "$kind" --json --out "$RES" \
            load "$DIFF_N" --start "$LOAD_N" --value-size "$VALUE" >/dev/null
        t0="$(date +%s%N)"
        ens "$kind" start-member "$f" >/dev/null
        "$ZKB" --server "$(addr "$kind" "$f")" --label "$kind" --json --out "$RES" wait-ready \
            --since-ns "$t0" --timeout 600 --path "$diff_path" \
            --name "DIFF catch-up, $(kn "$DIFF_N") txns behind" >/dev/null
        ens "$kind" wait 300 || die "$kind: follower $f did not rejoin"
    done
fi

if part snapshot; then
    # Paced at 80% of ZooKeeper's closed-loop set on this big tree.
    log "closed-loop set 16×$INFLIGHT on zk, spread, on the big tree (to pace the snapshot runs)"
    "$ZKB" --server "$(cs zk)" --spread --label zk-bigtree --json --out "$RES" set --sessions 16 \
        --inflight "$INFLIGHT" --duration "$DURATION" --warmup "$WARMUP" --value-size "$VALUE" \
        --keyspace "$KEYS" >/dev/null
    rate="$(zk_median zk-bigtree set 16)"
    [ "$rate" -gt 0 ] || die "no closed-loop set figure from zk on the big tree"
    rate=$((rate * 8 / 10))
    for i in $(seq 1 "$REPEAT"); do
        for kind in zk ours; do
            log "set 16×$INFLIGHT on $kind, spread, paced at $rate ops/s on the big tree, $SNAP_DURATION s (run $i/$REPEAT)"
            "$ZKB" --server "$(cs "$kind")" --spread --pid "$(pids "$kind")" --label "$kind-snap" \
                --json --out "$RES" set --sessions 16 --inflight "$INFLIGHT" --duration "$SNAP_DURATION" \
                --warmup "$WARMUP" --value-size "$VALUE" --keyspace "$KEYS" --rate "$rate" >/dev/null
        done
        purge
    done
fi

MNTR=""
if part mntr; then
    for kind in zk ours; do
        for m in 1 2 3; do
            out="$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$((BASE[$kind] + m)); printf mntr >&3; cat <&3" 2>/dev/null || true)"
            MNTR+="$kind member $m: $(grep -E '^zk_(server_state|(avg|max|cnt)_election_time|learners|synced_followers|(avg|max)_follower_sync_time|p99_quorum_ack_latency|(avg|max)_fsynctime|(cnt|avg|max)_snapshottime)\b' <<<"$out" |
                awk '{ printf "%s=%s ", $1, $2 }')"$'\n'
        done
    done
fi

LEADER_T="$("$ZKB" report "$RES" --ours ours-leader --theirs zk-leader --ensemble | sed '/^| measurement/,$d')"
SPREAD_T="$("$ZKB" report "$RES" --ours ours-spread --theirs zk-spread --ensemble | sed '/^| measurement/,$d')"
CORES1_T="$("$ZKB" report "$RES" --ours ours-cores1 --theirs zk-cores1 --ensemble | sed '/^| measurement/,$d')"
CORESALL_T="$("$ZKB" report "$RES" --ours ours-coresall --theirs zk-coresall --ensemble | sed '/^| measurement/,$d')"
SNAP_T="$("$ZKB" report "$RES" --ours ours-snap --theirs zk-snap --ensemble | sed '/^| measurement/,$d')"
OTHER_T="$("$ZKB" report "$RES" --ours ours --theirs zk --ensemble | sed -n '/^| measurement/,$p')"
MACHINE="$(lscpu 2>/dev/null | awk -F: '/^Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
{
    echo "# zkserver ensemble vs Apache ZooKeeper ensemble: latest benchmark"
    echo
    echo "Produced by \`scripts/bench.sh --ensemble\` on $(date -u +%Y-%m-%dT%H:%MZ) (parts: $PARTS$([ -z "${BENCH_RESUME:-}" ] || echo "; with the results of an earlier run's other parts from $BENCH_RESUME"))."
    echo
    echo "- Machine: $MACHINE; load average at the start: $LOAD_BEFORE, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- Both: 3 voters on 127.0.0.1, the same zoo.cfg from scripts/ensemble.sh (tickTime=2000, initLimit=10, syncLimit=5, forceSync on), each member its own dataDir on the same disk; ZooKeeper $(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null), $(java -version 2>&1 | head -1), each member \`$ZK_JVMFLAGS\`; zkserver $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null), $PROFILE build"
    echo "- The six servers and zkbench share the machine's cores: on a small machine the figures say as much about CPU per operation as about the protocols"
    echo "- Load: zkbench, $INFLIGHT requests in flight per session, $WARMUP s warm-up + $DURATION s measured, median of $REPEAT runs interleaved zk, ours; values of $VALUE B; CPU = utime+stime summed over the 3 members"
    echo
    echo "## Writes, every client on the leader"
    echo
    echo "$LEADER_T"
    echo
    echo "## Spread over the members (session i starts on member i mod 3; followers forward writes)"
    echo
    echo "$SPREAD_T"
    echo
    if part snapshot; then
        echo "## Paced writes while every member snapshots a tree of $(kn "$((LOAD_N + DIFF_N))") znodes"
        echo
        echo "$SNAP_T"
        echo
    fi
    if part cores; then
        echo "## The members on one core (taskset; zkbench on the other)"
        echo
        echo "$CORES1_T"
        echo
        echo "## The same runs, the members on every core"
        echo
        echo "$CORESALL_T"
        echo
    fi
    echo "## Failover, cold start, catch-up, memory"
    echo
    echo "$OTHER_T"
    if [ -n "$MNTR" ]; then
        echo
        echo "## mntr (election, sync and proposal lines) at the end"
        echo
        echo '```'
        printf '%s' "$MNTR"
        echo '```'
    fi
    echo
    echo "Raw results: \$BENCH_DIR/results.jsonl of a run with BENCH_KEEP=1; \`zkbench report FILE --ours ours-spread --theirs zk-spread --ensemble\` rebuilds a table."
} >"$OUT_MD"
cat "$OUT_MD"
log "wrote $OUT_MD"
