#!/usr/bin/env bash
# Fault injection on real zkserver ensembles with every client history
# checked (the zkchaos binary; src/chaos/ says what runs and what is checked).
#
#   scripts/chaos.sh [--minutes M] [--seed S] [--release] [zkchaos options...]
#
#   --minutes M    total time (default 2); runs of --run-seconds (default 60) follow
#                  each other, each a fresh 3-member ensemble and its own fault schedule
#   --seed S       seed of the first run (default: today's date); run i uses S+i
#   --release      build and run release binaries (for long runs)
#   --sanity       also run the harness against two broken systems and require that
#                  each is caught: independent standalone servers behind one connect
#                  string, and an ensemble of a test-only build whose leader
#                  acknowledges writes before a quorum has logged them
#   --partitions   members on their own addresses (127.0.0.11-13) inside a network
#                  namespace this script creates (unshare -n, root), with partitions
#                  (leader isolated, a member isolated, a bridge, a one-way cut) among
#                  the faults, each checked to really cut before it counts
#   --no-disk      leave out the disk-full fault (by default, where a mount
#                  namespace can be made (unshare -m, root), each of our members gets
#                  a small tmpfs of its own for its dataDir, and "disk full" is a fault)
# Damaged txn logs and snapshots (kill -9, truncate or flip a byte, restart) and
# "leader killed while the followers are paused" are always among the faults.
# Other options go to zkchaos (--run-seconds, --fault-every, --clients, --keys,
# --members, --dir, --keep; zkchaos --help). Exit status: 0 when no run found an
# anomaly; 1 otherwise (each failing run keeps its logs, histories and fault
# schedule and prints its replay command).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
minutes=2 seed="$(date +%Y%m%d)" profile=debug sanity=false partitions=false disk=true pass=()
while [ $# -gt 0 ]; do
    case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --release) profile=release; shift ;;
    --sanity) sanity=true; shift ;;
    --partitions) partitions=true; shift ;;
    --no-disk) disk=false; shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) pass+=("$1"); shift ;;
    esac
done
flag=(); [ "$profile" = release ] && flag=(--release)
cargo build -q "${flag[@]}" --bin zkchaos -p zkcli
cargo build -q "${flag[@]}" -p zkserver
# shellcheck source=zk-common.sh
. "$REPO/scripts/zk-common.sh"
bin="$(zk_target_dir)/$profile"
status=0
# sanity_check WHAT ZKCHAOS-ARGS...: the broken system must be caught, with
# anomalies and lost acknowledged writes.
sanity_check() {
    local what="$1"; shift
    echo "chaos: sanity: $what must be caught"
    out="$("$bin/zkchaos" --runs 1 --seed "$seed" --dir /tmp/zkchaos-sanity "$@" 2>&1 || true)"
    rm -rf /tmp/zkchaos-sanity
    if grep -q "ANOMALY" <<<"$out" && grep -q "acknowledged writes lost: [1-9]" <<<"$out"; then
        echo "chaos: sanity: caught: $(grep -m1 'acknowledged writes lost' <<<"$out" | sed 's/^ *//'), $(grep -m1 '^  anomalies' <<<"$out" | sed 's/^ *//;s/  */ /g'), e.g. $(grep -m1 ANOMALY <<<"$out" | sed 's/^ *//')"
    else
        echo "$out"
        echo "chaos: sanity: $what was NOT caught" >&2
        status=1
    fi
}
if $sanity; then
    sanity_check "independent standalone servers behind one connect string" \
        --zkserver "$bin/zkserver" --run-seconds 10 --broken standalones
    # The test-only build whose leader acknowledges before a quorum has logged
    # (server/Cargo.toml, feature unsafe-early-ack), under the fault it cannot
    # survive: the followers paused while the leader is killed.
    cargo build -q "${flag[@]}" -p zkserver --features unsafe-early-ack
    cp "$bin/zkserver" "$bin/zkserver-early-ack"
    cargo build -q "${flag[@]}" -p zkserver
    sanity_check "an ensemble whose leader acknowledges writes before a quorum has logged them" \
        --zkserver "$bin/zkserver-early-ack" --run-seconds 25 --fault-every 4 \
        --broken early-ack --faults leader-alone
fi
if $disk && ! unshare -m true 2>/dev/null; then
    echo "chaos: no mount namespace here (unshare -m needs root): the disk-full fault is left out"
    disk=false
fi
echo "chaos: $minutes min from seed $seed ($profile$($partitions && echo ", partitions in a network namespace")$($disk && echo ", disk-full on a tmpfs per member"))"
run=("$bin/zkchaos" --zkserver "$bin/zkserver" --minutes "$minutes" --seed "$seed")
ns=()
$disk && { ns+=(-m); run+=(--disk-faults); }
if $partitions; then
    command -v unshare >/dev/null || { echo "chaos: --partitions needs unshare (util-linux)" >&2; exit 2; }
    ns+=(-n); run+=(--partitions)
fi
if [ ${#ns[@]} -gt 0 ]; then
    # The namespaces live as long as zkchaos: its mounts vanish with it and
    # nothing leaves 127.0.0.0/8.
    unshare "${ns[@]}" -- "${run[@]}" "${pass[@]+"${pass[@]}"}" || status=1
else
    "${run[@]}" "${pass[@]+"${pass[@]}"}" || status=1
fi
exit $status
