#!/usr/bin/env bash
# The README's tutorial "master, worker, client" in three terminals: starts a
# server (or, with --ensemble, a 3-member ensemble through scripts/ensemble.sh)
# and opens a tmux window with three labelled panes, each running zkcli
# against its own member, so you can follow the tutorial step by step.
#
#   scripts/walkthrough.sh [--ensemble] [--kind ours|zk] [--detach]
#   scripts/walkthrough.sh stop          stop the servers, close the panes, remove the files
#
#   --ensemble   3 members; pane 1 uses member 1, pane 2 member 2, pane 3 member 3
#                (kill one with scripts/ensemble.sh --dir /tmp/zk-walkthrough/servers
#                kill-member ID; `connect h1,h2,h3` in a pane gives a session every member)
#   --kind zk    run Apache ZooKeeper 3.8 instead of zkserver (the same story)
#   --detach     do not attach; print how to (tmux -L zk-walkthrough attach)
# Leaving: `quit` in a pane reopens a session on Enter (the tutorial reopens the
# first one); Ctrl-D there closes the pane. When the last pane closes, or on
# `scripts/walkthrough.sh stop`, every process and directory it made is gone.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
STATE=/tmp/zk-walkthrough
SOCK=zk-walkthrough
TMUX_CMD=(tmux -L "$SOCK")
die() { echo "walkthrough: $*" >&2; exit 1; }

stop_all() {
    "${TMUX_CMD[@]}" kill-server >/dev/null 2>&1 || true
    if [ -d "$STATE/servers" ]; then
        scripts/ensemble.sh --dir "$STATE/servers" stop >/dev/null 2>&1 || true
    fi
    rm -rf "$STATE"
}

ensemble=false kind=ours detach=false
while [ $# -gt 0 ]; do
    case "$1" in
    stop) stop_all; echo "walkthrough: stopped; $STATE removed"; exit 0 ;;
    --ensemble) ensemble=true; shift ;;
    --kind) kind="$2"; shift 2 ;;
    --detach) detach=true; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
case "$kind" in ours|zk) ;; *) die "--kind ours or zk" ;; esac
command -v tmux >/dev/null || die "tmux is not installed (apt-get install tmux); scripts/walkthrough-replay.sh plays the same story without it"
if "${TMUX_CMD[@]}" has-session -t walkthrough 2>/dev/null; then
    die "a walkthrough already runs (tmux -L $SOCK attach, or scripts/walkthrough.sh stop)"
fi
stop_all
mkdir -p "$STATE"

# shellcheck source=zk-common.sh
. "$REPO/scripts/zk-common.sh"
bins() { echo "$(zk_target_dir)/debug"; }
if [ -z "${ZKCLI_BIN:-}" ] || { [ "$kind" = ours ] && [ -z "${ZKSERVER_BIN:-}" ]; }; then
    cargo build -q
fi
ZKCLI_BIN="${ZKCLI_BIN:-$(bins)/zkcli}"
export ZKSERVER_BIN="${ZKSERVER_BIN:-$(bins)/zkserver}"

base=$((15000 + RANDOM % 3000))
if $ensemble; then n=3; else n=1; fi
scripts/ensemble.sh --dir "$STATE/servers" --base-port "$base" --kinds "$kind,$kind,$kind" start "$n" ||
    { stop_all; die "the servers did not start"; }

hosts_for() { # PANE -> its member
    if $ensemble; then echo "127.0.0.1:$((base + $1))"; else echo "127.0.0.1:$((base + 1))"; fi
}
pane_cmd() { # PANE TITLE
    local h; h="$(hosts_for "$1")"
    # shellcheck disable=SC2016
    printf 'printf "\\n== %s ==\\n"; while true; do %q -server %q; printf "zkcli exited: Enter opens a new session, Ctrl-D closes this pane\\n"; read -r _ || break; done' \
        "$2" "$ZKCLI_BIN" "$h"
}
titles=("1: master, then worker (first session)" "2: backup master (second session)" "3: client (third session)")
"${TMUX_CMD[@]}" new-session -d -s walkthrough -x 240 -y 60 -n tutorial "$(pane_cmd 1 "${titles[0]}")"
"${TMUX_CMD[@]}" split-window -h -t walkthrough:0 "$(pane_cmd 2 "${titles[1]}")"
"${TMUX_CMD[@]}" split-window -h -t walkthrough:0 "$(pane_cmd 3 "${titles[2]}")"
"${TMUX_CMD[@]}" select-layout -t walkthrough:0 even-horizontal
"${TMUX_CMD[@]}" set -t walkthrough pane-border-status top >/dev/null
for i in 0 1 2; do "${TMUX_CMD[@]}" select-pane -t "walkthrough:0.$i" -T "${titles[$i]}"; done
"${TMUX_CMD[@]}" select-pane -t walkthrough:0.0
# When the last pane closes the session ends: clean up behind it.
"${TMUX_CMD[@]}" set-hook -g session-closed "run-shell '$REPO/scripts/walkthrough.sh stop >/dev/null 2>&1'"

line="$(grep -n '^## Tutorial: master, worker, client' README.md | cut -d: -f1 || true)"
echo "walkthrough: the tutorial is README.md line ${line:-?} (\"Tutorial: master, worker, client\")"
if $ensemble; then
    echo "walkthrough: members on 127.0.0.1:$((base + 1))-$((base + 3)); scripts/ensemble.sh --dir $STATE/servers status | leader | kill-member ID"
else
    echo "walkthrough: $kind server on 127.0.0.1:$((base + 1))"
fi
if $detach || [ ! -t 1 ]; then
    echo "walkthrough: attach with: tmux -L $SOCK attach -t walkthrough; stop with: scripts/walkthrough.sh stop"
    exit 0
fi
"${TMUX_CMD[@]}" attach -t walkthrough || true
if "${TMUX_CMD[@]}" has-session -t walkthrough 2>/dev/null; then
    echo "walkthrough: detached; tmux -L $SOCK attach -t walkthrough to return, scripts/walkthrough.sh stop to end"
else
    stop_all
fi
