#!/usr/bin/env bash
# The whole test suite: the README's second command, and what CI runs.
#
#   1. installs what the cross-process tests need (Debian's Apache ZooKeeper 3.8,
#      kazoo in a virtualenv) when it is missing;
#   2. builds everything once (cargo build --workspace --all-targets);
#   3. cargo test --workspace: unit tests, and integration tests that spawn the
#      real binaries (zkserver, zkcli) and real ZooKeeper on 127.0.0.1;
#   4. the kazoo suite against real ZooKeeper and against zkserver;
#   5. the same zkCli.sh script against real ZooKeeper and against zkserver,
#      outputs compared after masking times, zxids and session ids;
#   6. the README's commands on a fresh clone (scripts/readme-check.sh).
#
# Every test binary runs even after one fails (--no-fail-fast), and each one
# counts in the last line, as does each script suite. Binaries are found in
# cargo's target directory (CARGO_TARGET_DIR is honoured), not at a fixed path.
#
# Outside CI, a missing ZooKeeper/kazoo makes the suites that need them skip
# with a loud message; with CI=true they must run.
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

CI="${CI:-false}"
passed=0
failed=0
failures=()
note() { printf '\n==== %s\n' "$*"; }
ok() { passed=$((passed + 1)); echo "==== PASS: $1"; }
bad() { failed=$((failed + 1)); failures+=("$1"); echo "==== FAIL: $1"; }

have_deps=true
note "dependencies"
if ! scripts/install-deps.sh; then
    if [ "$CI" = true ]; then
        echo "install-deps failed under CI=true" >&2
        exit 1
    fi
    have_deps=false
    echo "!!!! SKIPPING the suites that need Apache ZooKeeper and kazoo: install-deps failed !!!!" >&2
fi

note "build"
cargo build --workspace --all-targets || { echo "build failed" >&2; exit 1; }
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')" ||
    { echo "cargo metadata failed" >&2; exit 1; }
export ZKSERVER_BIN="${ZKSERVER_BIN:-$TARGET_DIR/debug/zkserver}"
[ -x "$ZKSERVER_BIN" ] || { echo "no zkserver binary at $ZKSERVER_BIN" >&2; exit 1; }

note "cargo test --workspace (every test binary, even after a failure)"
test_log="$(mktemp)"
ZK_TEST_SERVER="${ZK_TEST_SERVER:-both}" cargo test --workspace --no-fail-fast \
    -- --test-threads="${TEST_THREADS:-2}" 2>&1 | tee "$test_log"
# One suite per test binary: "Running <binary>" (or "Doc-tests <crate>") then its
# "test result:" line. A binary that crashed before its result line is a failure.
current=""
while IFS= read -r line; do
    case "$line" in
    *"Running "*|*"Doc-tests "*)
        [ -n "$current" ] && bad "$current (no result line)"
        # "Running tests/x.rs (target/debug/deps/x-0123abcd)" -> "x (tests/x.rs)"
        current="$(sed -E 's/^ *(Running|Doc-tests) +//' <<<"$line" |
            sed -E 's#^(.*) \((.*/)?([^/]*)-[0-9a-f]+\)$#\3 (\1)#; s#^([A-Za-z0-9_-]+)$#doc-tests \1#')" ;;
    "test result: ok."*) [ -n "$current" ] && ok "$current"; current="" ;;
    "test result: FAILED."*) [ -n "$current" ] && bad "$current"; current="" ;;
    esac
done <"$test_log"
[ -n "$current" ] && bad "$current (no result line)"
grep -q "test result:" "$test_log" || bad "cargo test ran no test binary"
rm -f "$test_log"

if $have_deps; then
    tmp="$(mktemp -d)"
    real_port=$((20000 + RANDOM % 10000))
    ours_port=$((real_port + 1))
    cleanup() {
        scripts/zk-real.sh stop "$real_port" "$tmp/real" >/dev/null 2>&1 || true
        scripts/zk-ours.sh stop "$ours_port" "$tmp/ours" >/dev/null 2>&1 || true
        rm -rf "$tmp"
    }
    trap cleanup EXIT
    if scripts/zk-real.sh start "$real_port" "$tmp/real" && scripts/zk-ours.sh start "$ours_port" "$tmp/ours"; then
        note "kazoo suite against Apache ZooKeeper (127.0.0.1:$real_port)"
        if scripts/kazoo-tests.sh "127.0.0.1:$real_port"; then ok "kazoo vs ZooKeeper"; else bad "kazoo vs ZooKeeper"; fi
        note "kazoo suite against zkserver (127.0.0.1:$ours_port)"
        if scripts/kazoo-tests.sh "127.0.0.1:$ours_port"; then ok "kazoo vs zkserver"; else bad "kazoo vs zkserver"; fi
        note "zkCli.sh script: ZooKeeper vs zkserver"
        if scripts/compare-zkcli.sh "127.0.0.1:$real_port" "127.0.0.1:$ours_port"; then
            ok "zkCli.sh comparison"
        else
            bad "zkCli.sh comparison"
        fi
    else
        bad "starting servers for the compatibility suites"
    fi
fi

if $have_deps; then
    # The same compatibility suites with the client on a follower of a
    # 3-member ensemble: ours, and Apache ZooKeeper's as the oracle.
    etmp="$(mktemp -d)"
    ebase_ours=$((10000 + RANDOM % 4000))
    ebase_zk=$((ebase_ours + 500))
    ecleanup() {
        scripts/ensemble.sh --dir "$etmp/ours" stop >/dev/null 2>&1 || true
        scripts/ensemble.sh --dir "$etmp/zk" stop >/dev/null 2>&1 || true
        rm -rf "$etmp"
    }
    if scripts/ensemble.sh --dir "$etmp/ours" --base-port "$ebase_ours" start 3 &&
        scripts/ensemble.sh --dir "$etmp/zk" --base-port "$ebase_zk" --kinds zk,zk,zk start 3; then
        # Member 1 has the lowest id: with all three up it is a follower.
        ours_f="127.0.0.1:$((ebase_ours + 1))"
        zk_f="127.0.0.1:$((ebase_zk + 1))"
        note "kazoo suite against a follower of our ensemble ($ours_f)"
        if ZK_EXPECT_MODE=follower scripts/kazoo-tests.sh "$ours_f"; then
            ok "kazoo vs zkserver follower"
        else
            bad "kazoo vs zkserver follower"
        fi
        note "zkCli.sh script: Apache ZooKeeper follower vs zkserver follower"
        if scripts/compare-zkcli.sh "$zk_f" "$ours_f"; then
            ok "zkCli.sh comparison on followers"
        else
            bad "zkCli.sh comparison on followers"
        fi
        # kazoo on the full connect string while the leader is killed
        # (last: it leaves each ensemble one member short).
        for kind in zk ours; do
            if [ "$kind" = ours ]; then b=$ebase_ours; else b=$ebase_zk; fi
            cs="127.0.0.1:$((b + 1)),127.0.0.1:$((b + 2)),127.0.0.1:$((b + 3))"
            note "kazoo on the full connect string of the $kind ensemble, leader killed"
            if "${ZK_VENV:-$REPO/.venv}/bin/python" tests/kazoo/ensemble_failover.py "$cs" "$etmp/$kind" 2>"$etmp/failover-$kind.log"; then
                ok "kazoo failover ($kind)"
            else
                tail -20 "$etmp/failover-$kind.log"
                bad "kazoo failover ($kind)"
            fi
        done
    else
        bad "starting the ensembles for the follower suites"
    fi
    ecleanup
fi

if $have_deps; then
    # Mixed ensembles with Apache ZooKeeper 3.8: the kazoo suite with the
    # client on our member while a ZooKeeper member leads, and on a ZooKeeper
    # member while ours leads; then the rolling migration of a live Apache
    # ZooKeeper ensemble to zkserver and back, in two orders (the leader
    # last, then the leader first).
    mtmp="$(mktemp -d)"
    mbase=$((ebase_ours + 1000))
    mstop() { scripts/ensemble.sh --dir "$1" stop >/dev/null 2>&1 || true; }
    for mix in "ours,zk,zk zk" "zk,ours,ours ours"; do
        kinds="${mix% *}"; want_leader="${mix#* }"
        d="$mtmp/${kinds//,/-}"
        client_kind="${kinds%%,*}"
        note "kazoo suite, mixed ensemble $kinds: client on member 1 ($client_kind), leader $want_leader"
        if scripts/ensemble.sh --dir "$d" --base-port "$mbase" --kinds "$kinds" start 3; then
            l="$(scripts/ensemble.sh --dir "$d" leader || true)"
            lk="$(IFS=, read -r -a k <<<"$kinds"; echo "${k[$((${l:-1} - 1))]}")"
            if [ -z "$l" ] || [ "$lk" != "$want_leader" ]; then
                bad "mixed ensemble $kinds: leader is member ${l:-none} ($lk), not a $want_leader member"
            elif ZK_EXPECT_MODE=follower scripts/kazoo-tests.sh "127.0.0.1:$((mbase + 1))"; then
                ok "kazoo on a $client_kind follower of $kinds (leader $l, $lk)"
            else
                bad "kazoo on a $client_kind follower of $kinds (leader $l, $lk)"
            fi
        else
            bad "starting the mixed ensemble $kinds"
        fi
        mstop "$d"
        mbase=$((mbase + 300))
    done
    for order in 1,2,3 3,2,1; do
        d="$mtmp/migrate-$order"
        note "rolling migration of a live Apache ZooKeeper ensemble to zkserver and back (order $order)"
        if scripts/ensemble.sh --dir "$d" --base-port "$mbase" --kinds zk,zk,zk start 3 &&
            "${ZK_VENV:-$REPO/.venv}/bin/python" tests/kazoo/rolling_migration.py "$d" --order "$order" \
                2>"$mtmp/migrate.err"; then
            ok "rolling migration (order $order)"
        else
            cat "$mtmp/migrate.err"
            for i in 1 2 3; do echo "--- member $i"; tail -15 "$d/$i/member.log" 2>/dev/null; done
            bad "rolling migration (order $order)"
        fi
        mstop "$d"
        mbase=$((mbase + 300))
    done
    rm -rf "$mtmp"
fi

if $have_deps; then
    # The README tutorial: the headless replay on one server and on an
    # ensemble (ours), and on Apache ZooKeeper as the oracle of the replay
    # itself; then scripts/walkthrough.sh's three tmux panes, and its cleanup.
    rout="$(mktemp)"
    for args in "" "--ensemble" "--kind zk"; do
        note "walkthrough replay ${args:-(one zkserver)}"
        # shellcheck disable=SC2086
        if scripts/walkthrough-replay.sh $args --width 44 >"$rout" 2>&1; then
            tail -n 1 "$rout"
            ok "walkthrough replay ${args:-(one zkserver)}"
        else
            tail -n 40 "$rout"
            bad "walkthrough replay ${args:-(one zkserver)}"
        fi
    done
    rm -f "$rout"
    note "walkthrough.sh: three tmux panes, then stop"
    wt_ok=true
    if scripts/walkthrough.sh --ensemble --detach; then
        for i in 0 1 2; do
            seen=false
            for _ in $(seq 1 100); do
                if tmux -L zk-walkthrough capture-pane -p -t "walkthrough:0.$i" 2>/dev/null |
                    grep -q '(CONNECTED) 0\]'; then seen=true; break; fi
                sleep 0.2
            done
            $seen || { echo "pane $i shows no CONNECTED prompt"; wt_ok=false; }
        done
        scripts/walkthrough.sh stop
        if tmux -L zk-walkthrough has-session 2>/dev/null || [ -e /tmp/zk-walkthrough ] ||
            pgrep -f /tmp/zk-walkthrough/servers >/dev/null; then
            echo "walkthrough.sh stop left something behind"; wt_ok=false
        fi
    else
        wt_ok=false
    fi
    if $wt_ok; then ok "walkthrough.sh panes and cleanup"; else bad "walkthrough.sh panes and cleanup"; fi
fi

# Fault injection, bounded: about two minutes of kill -9 / SIGSTOP of members
# and leaders, damaged files, full disks (and partitions, when this user can
# make a network namespace) under checked load, after the harness proves it
# catches two broken systems.
# Longer runs: scripts/chaos.sh --minutes 120 --release --partitions.
note "chaos: 2 minutes of faults with every history checked (scripts/chaos.sh)"
chaos_net=()
# Partitions need a network namespace with policy routing: probe for both.
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null &&
    unshare -n -- sh -c 'ip link set lo up && ip rule add pref 100 lookup local && ip rule del pref 0' \
        2>/dev/null; then
    chaos_net=(--partitions)
else
    echo "chaos: no network namespace with policy routing here: kills and pauses only"
fi
if scripts/chaos.sh --minutes 2 --run-seconds 45 --sanity "${chaos_net[@]+"${chaos_net[@]}"}"; then
    ok "chaos (bounded)"
else
    bad "chaos (bounded)"
fi
# The storage faults on their own, so that each bounded run meets them: a
# damaged newest txn log or snapshot, a full disk (where a mount namespace
# can be made), and the leader killed while its followers are paused.
storage_faults=damage-log,damage-snapshot,leader-alone
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    storage_faults+=,disk-full
else
    echo "chaos: no mount namespace here: no disk-full fault"
fi
if scripts/chaos.sh --minutes 1 --run-seconds 45 --fault-every 4 --seed 77 \
    --faults "$storage_faults"; then
    ok "chaos storage faults (bounded)"
else
    bad "chaos storage faults (bounded)"
fi
# A mixed ensemble, Apache ZooKeeper members 1 and 3 beside ours, under every
# fault including partitions (each Apache member runs as a uid of its own
# that policy routing gives its own source address).
if scripts/chaos.sh --minutes 1 --run-seconds 50 --seed 99 --apache 1,3 \
    "${chaos_net[@]+"${chaos_net[@]}"}"; then
    ok "chaos on a mixed ensemble (bounded)"
else
    bad "chaos on a mixed ensemble (bounded)"
fi

note "README commands on a fresh clone"
if scripts/readme-check.sh; then ok "README commands"; else bad "README commands"; fi

echo
for f in "${failures[@]+"${failures[@]}"}"; do echo "failed: $f"; done
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
