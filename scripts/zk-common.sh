# Shared helpers for zk-real.sh / zk-ours.sh (sourced, not executed).
# Layout inside DIR: zoo.cfg, zk.pid, zk.log, and the server's data (dataDir=DIR).

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

zk_die() { echo "$ZK_NAME: ERROR: $*" >&2; exit 1; }

zk_usage() {
    echo "usage: $ZK_NAME start|stop|status PORT DIR" >&2
    exit 2
}

# zk_4lw PORT CMD -> prints the server's answer (empty on failure). No nc needed.
zk_4lw() {
    timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; printf %s "$2" >&3; cat <&3' \
        _ "$1" "$2" 2>/dev/null || true
}

zk_write_cfg() { # PORT DIR
    local port="$1" dir="$2"
    cat >"$dir/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
extendedTypesEnabled=true
admin.enableServer=false
autopurge.purgeInterval=0
CFG
}

zk_pid_alive() { [ -f "$1/zk.pid" ] && kill -0 "$(cat "$1/zk.pid")" 2>/dev/null; }

# zk_main ACTION PORT DIR -- needs function zk_launch DIR (must exec the server)
zk_main() {
    [ $# -eq 3 ] || zk_usage
    local action="$1" port="$2" dir="$3"
    case "$port" in ''|*[!0-9]*) zk_die "PORT must be a number: $port";; esac
    case "$action" in
    start)
        mkdir -p "$dir" || zk_die "cannot create $dir"
        dir="$(cd "$dir" && pwd)"
        if zk_pid_alive "$dir"; then zk_die "already running (pid $(cat "$dir/zk.pid")) for $dir"; fi
        if [ "$(zk_4lw "$port" ruok)" = imok ]; then zk_die "something already answers on 127.0.0.1:$port"; fi
        zk_write_cfg "$port" "$dir"
        # setsid: detach from our process group so the server outlives this script
        setsid bash -c "$(declare -f zk_launch); zk_launch \"\$1\"" _ "$dir" \
            </dev/null >"$dir/zk.log" 2>&1 &
        local pid=$!
        echo "$pid" >"$dir/zk.pid"
        local deadline=$((SECONDS + ${ZK_START_TIMEOUT:-60}))
        while [ $SECONDS -lt $deadline ]; do
            if [ "$(zk_4lw "$port" ruok)" = imok ]; then
                echo "$ZK_NAME: started pid $pid on 127.0.0.1:$port (dir $dir)"
                return 0
            fi
            if ! kill -0 "$pid" 2>/dev/null; then
                tail -n 30 "$dir/zk.log" >&2
                rm -f "$dir/zk.pid"
                zk_die "server exited during start-up (log: $dir/zk.log)"
            fi
            sleep 0.2
        done
        tail -n 30 "$dir/zk.log" >&2
        kill "$pid" 2>/dev/null || true
        rm -f "$dir/zk.pid"
        zk_die "no 'imok' from 127.0.0.1:$port within ${ZK_START_TIMEOUT:-60}s (log: $dir/zk.log)"
        ;;
    stop)
        [ -f "$dir/zk.pid" ] || { echo "$ZK_NAME: not running (no $dir/zk.pid)"; return 0; }
        local pid; pid="$(cat "$dir/zk.pid")"
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            local i
            for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; sleep 0.2; fi
        fi
        rm -f "$dir/zk.pid"
        echo "$ZK_NAME: stopped pid $pid"
        ;;
    status)
        if zk_pid_alive "$dir" && [ "$(zk_4lw "$port" ruok)" = imok ]; then
            echo "$ZK_NAME: running pid $(cat "$dir/zk.pid") on 127.0.0.1:$port"
        else
            echo "$ZK_NAME: not running"; return 1
        fi
        ;;
    *) zk_usage ;;
    esac
}

# zk_target_dir -> cargo's target directory (CARGO_TARGET_DIR, else `cargo metadata`),
# absolute; binaries are under $(zk_target_dir)/debug or /release.
zk_target_dir() {
    local target="${CARGO_TARGET_DIR:-}"
    if [ -z "$target" ]; then
        target="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null || true)"
        [ -n "$target" ] || target="$REPO/target"
    fi
    case "$target" in /*) ;; *) target="$REPO/$target" ;; esac
    echo "$target"
}
