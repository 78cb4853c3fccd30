#!/usr/bin/env bash
# Runs a local ensemble on 127.0.0.1: each member its own directory, zoo.cfg,
# myid, ports and log. Members are zkserver ("ours") or Apache ZooKeeper 3.8
# from Debian's package ("zk"), in any mix.
#
#   scripts/ensemble.sh start [N]            start N members (default 3) and wait for a quorum
#   scripts/ensemble.sh stop                 stop every member (SIGTERM, then SIGKILL)
#   scripts/ensemble.sh status               table: id, kind, client port, mode, zxid, connections
#   scripts/ensemble.sh start-member ID      start one member (after kill-member, or for a staged start)
#   scripts/ensemble.sh kill-member ID [SIG] kill one member (default SIGKILL)
#   scripts/ensemble.sh set-kind ID KIND     make member ID "ours" or "zk" from its next start
#                                            (same zoo.cfg and dataDir: a rolling migration step)
#   scripts/ensemble.sh wait [SECONDS]       wait until every running member serves (default 60)
#   scripts/ensemble.sh leader               print the id of the member in Mode: leader
#   scripts/ensemble.sh connect-string       print host:port,host:port,... of every member
#
# Options (before or after the action), also taken from the environment:
#   --dir DIR          (ZK_ENSEMBLE_DIR, default /tmp/zk-ensemble)
#   --kinds K1,K2,...  (ZK_ENSEMBLE_KINDS) kind per member, "ours" or "zk"; default all ours
#   --observers LIST   (ZK_ENSEMBLE_OBSERVERS) comma-separated ids that are observers
#   --base-port P      (ZK_ENSEMBLE_BASE_PORT, default 21800): member i listens for
#                      clients on P+i, quorum on P+100+i, election on P+200+i
#   --no-wait          start without waiting for the members to serve
# Extra zoo.cfg lines for every member: ZK_ENSEMBLE_EXTRA_CFG (newline-separated).
# The zkserver binary: ZKSERVER_BIN, else cargo's target dir (CARGO_TARGET_DIR or
# `cargo metadata`), debug build.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "ensemble: $*" >&2; exit 1; }

DIR="${ZK_ENSEMBLE_DIR:-/tmp/zk-ensemble}"
KINDS="${ZK_ENSEMBLE_KINDS:-}"
OBSERVERS="${ZK_ENSEMBLE_OBSERVERS:-}"
BASE="${ZK_ENSEMBLE_BASE_PORT:-21800}"
WAIT=true
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    --kinds) KINDS="$2"; shift 2 ;;
    --observers) OBSERVERS="$2"; shift 2 ;;
    --base-port) BASE="$2"; shift 2 ;;
    --no-wait) WAIT=false; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
    esac
done
set -- "${args[@]+"${args[@]}"}"
ACTION="${1:-status}"

four() { # PORT WORD -> the answer, empty on failure
    timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; printf %s "$2" >&3; cat <&3' \
        _ "$1" "$2" 2>/dev/null || true
}

# shellcheck source=zk-common.sh
. "$REPO/scripts/zk-common.sh"
zkserver_bin() {
    if [ -n "${ZKSERVER_BIN:-}" ]; then echo "$ZKSERVER_BIN"; return; fi
    echo "$(zk_target_dir)/debug/zkserver"
}

state="$DIR/ensemble.env"
load_state() {
    [ -f "$state" ] || die "no ensemble in $DIR (start one first)"
    # shellcheck disable=SC1090
    . "$state"
}

kind_of() { # ID -> ours|zk
    local i="$1" k
    IFS=, read -r -a k <<<"$KINDS"
    echo "${k[$((i - 1))]:-ours}"
}

is_observer() { case ",$OBSERVERS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

write_member() { # ID N
    local i="$1" n="$2" d="$DIR/$1" j role
    mkdir -p "$d/data"
    echo "$i" >"$d/data/myid"
    {
        echo "tickTime=2000"
        echo "initLimit=10"
        echo "syncLimit=5"
        echo "dataDir=$d/data"
        echo "clientPort=$((BASE + i))"
        echo "clientPortAddress=127.0.0.1"
        echo "maxClientCnxns=0"
        echo "admin.enableServer=false"
        echo "4lw.commands.whitelist=*"
        echo "extendedTypesEnabled=true"
        echo "autopurge.purgeInterval=0"
        if is_observer "$i"; then echo "peerType=observer"; fi
        for j in $(seq 1 "$n"); do
            role=""
            if is_observer "$j"; then role=":observer"; fi
            echo "server.$j=127.0.0.1:$((BASE + 100 + j)):$((BASE + 200 + j))$role"
        done
        if [ -n "${ZK_ENSEMBLE_EXTRA_CFG:-}" ]; then printf '%s\n' "$ZK_ENSEMBLE_EXTRA_CFG"; fi
    } >"$d/zoo.cfg"
    cat >"$d/log4j.properties" <<L4J
log4j.rootLogger=INFO, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=$d/member.log
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=%d{ISO8601} [myid:$i] %-5p [%t:%C{1}@%L] - %m%n
L4J
}

alive() { [ -f "$DIR/$1/pid" ] && kill -0 "$(cat "$DIR/$1/pid")" 2>/dev/null; }

start_member() { # ID
    local i="$1" d="$DIR/$1" kind
    kind="$(kind_of "$i")"
    [ -f "$d/zoo.cfg" ] || die "member $i has no zoo.cfg in $d"
    if alive "$i"; then die "member $i already runs (pid $(cat "$d/pid"))"; fi
    case "$kind" in
    zk)
        [ -f /usr/share/java/zookeeper.jar ] || die "Apache ZooKeeper missing: run scripts/install-deps.sh"
        # shellcheck disable=SC2086
        setsid java -Xmx256m -Xms32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
            -Dlog4j.configuration="file:$d/log4j.properties" -Dzookeeper.jmx.log4j.disable=true \
            ${ZK_JVMFLAGS:-} \
            -cp "$d:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar" \
            org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" \
            </dev/null >>"$d/stdout.log" 2>&1 &
        ;;
    ours)
        local bin; bin="$(zkserver_bin)"
        [ -x "$bin" ] || die "$bin not found (cargo build, or set ZKSERVER_BIN)"
        ZKSERVER_LOG="${ZKSERVER_LOG:-info}" setsid "$bin" start-foreground "$d/zoo.cfg" \
            </dev/null >>"$d/member.log" 2>&1 &
        ;;
    *) die "member $i: unknown kind '$kind' (ours or zk)" ;;
    esac
    echo $! >"$d/pid"
    echo "ensemble: member $i ($kind) started, pid $(cat "$d/pid"), client port $((BASE + i))"
}

stop_member() { # ID [SIG]
    local i="$1" sig="${2:-TERM}" pid k
    [ -f "$DIR/$i/pid" ] || return 0
    pid="$(cat "$DIR/$i/pid")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -"$sig" "$pid" 2>/dev/null || true
        for k in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/$i/pid"
}

mode_of() { # ID -> leader|follower|observer|standalone|read-only|not serving|down
    local out
    out="$(four $((BASE + $1)) srvr)"
    if [ -z "$out" ]; then echo down; return; fi
    case "$out" in *"not currently serving"*) echo "not serving"; return ;; esac
    sed -n 's/^Mode: //p' <<<"$out" | head -n1
}

wait_serving() { # seconds
    local deadline=$((SECONDS + $1)) i m all
    while [ $SECONDS -lt $deadline ]; do
        all=true
        for i in $(seq 1 "$N"); do
            alive "$i" || continue
            m="$(mode_of "$i")"
            case "$m" in leader|follower|observer|standalone) ;; *) all=false ;; esac
        done
        if $all; then return 0; fi
        sleep 0.3
    done
    return 1
}

case "$ACTION" in
start)
    N="${2:-3}"
    case "$N" in ''|*[!0-9]*) die "N must be a number" ;; esac
    [ "$N" -ge 1 ] || die "N must be at least 1"
    if [ -f "$state" ]; then
        (load_state; for i in $(seq 1 "$N"); do alive "$i" && exit 1; done; exit 0) ||
            die "an ensemble already runs in $DIR (stop it first)"
    fi
    mkdir -p "$DIR"
    DIR="$(cd "$DIR" && pwd)"
    printf 'N=%s\nKINDS=%q\nOBSERVERS=%q\nBASE=%s\n' "$N" "$KINDS" "$OBSERVERS" "$BASE" >"$state"
    for i in $(seq 1 "$N"); do write_member "$i" "$N"; done
    for i in $(seq 1 "$N"); do start_member "$i"; done
    if $WAIT; then
        wait_serving "${ZK_ENSEMBLE_TIMEOUT:-60}" || {
            "$0" --dir "$DIR" status || true
            die "not every member serves after ${ZK_ENSEMBLE_TIMEOUT:-60}s (logs: $DIR/*/member.log)"
        }
        echo "ensemble: $N members serving; leader is member $("$0" --dir "$DIR" leader)"
    fi
    ;;
wait)
    load_state
    wait_serving "${2:-60}" || die "not every running member serves after ${2:-60}s"
    ;;
start-member)
    load_state
    start_member "${2:?member id}"
    ;;
kill-member)
    load_state
    stop_member "${2:?member id}" "${3:-KILL}"
    echo "ensemble: member $2 stopped (SIG${3:-KILL})"
    ;;
set-kind)
    load_state
    id="${2:?member id}"
    kind="${3:?kind (ours or zk)}"
    case "$kind" in ours|zk) ;; *) die "unknown kind '$kind' (ours or zk)" ;; esac
    [ "$id" -ge 1 ] && [ "$id" -le "$N" ] 2>/dev/null || die "no member $id (1..$N)"
    if alive "$id"; then die "member $id runs (pid $(cat "$DIR/$id/pid")): stop it first"; fi
    IFS=, read -r -a k <<<"$KINDS"
    for i in $(seq 1 "$N"); do k[$((i - 1))]="${k[$((i - 1))]:-ours}"; done
    k[$((id - 1))]="$kind"
    KINDS="$(IFS=,; echo "${k[*]}")"
    printf 'N=%s\nKINDS=%q\nOBSERVERS=%q\nBASE=%s\n' "$N" "$KINDS" "$OBSERVERS" "$BASE" >"$state"
    echo "ensemble: member $id is now $kind (kinds $KINDS)"
    ;;
stop)
    load_state
    for i in $(seq 1 "$N"); do stop_member "$i"; done
    echo "ensemble: stopped $N members in $DIR"
    ;;
leader)
    load_state
    for i in $(seq 1 "$N"); do
        if [ "$(mode_of "$i")" = leader ]; then echo "$i"; exit 0; fi
    done
    exit 1
    ;;
connect-string)
    load_state
    s=""
    for i in $(seq 1 "$N"); do s="$s${s:+,}127.0.0.1:$((BASE + i))"; done
    echo "$s"
    ;;
status)
    load_state
    printf '%-3s %-5s %-16s %-12s %-14s %s\n' id kind client mode zxid connections
    for i in $(seq 1 "$N"); do
        out="$(four $((BASE + i)) srvr)"
        m="$(mode_of "$i")"
        z="$(sed -n 's/^Zxid: //p' <<<"$out" | head -n1)"
        c="$(sed -n 's/^Connections: //p' <<<"$out" | head -n1)"
        printf '%-3s %-5s %-16s %-12s %-14s %s\n' "$i" "$(kind_of "$i")" "127.0.0.1:$((BASE + i))" \
            "$m" "${z:--}" "${c:--}"
    done
    ;;
*) die "unknown action '$ACTION' (start, stop, status, wait, start-member, kill-member, set-kind, leader, connect-string)" ;;
esac
