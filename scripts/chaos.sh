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
#   --sanity       also run the harness against a broken system (independent standalone
#                  servers behind one connect string) and require that it is caught
#   --partitions   members on their own addresses (127.0.0.11-13) inside a network
#                  namespace this script creates (unshare -n, root), with partitions
#                  (leader isolated, a member isolated, a bridge, a one-way cut) among
#                  the faults, each checked to really cut before it counts
# Other options go to zkchaos (--run-seconds, --fault-every, --clients, --keys,
# --members, --dir, --keep; zkchaos --help). Exit status: 0 when no run found an
# anomaly; 1 otherwise (each failing run keeps its logs, histories and fault
# schedule and prints its replay command).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
minutes=2 seed="$(date +%Y%m%d)" profile=debug sanity=false partitions=false pass=()
while [ $# -gt 0 ]; do
    case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --release) profile=release; shift ;;
    --sanity) sanity=true; shift ;;
    --partitions) partitions=true; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
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
if $sanity; then
    echo "chaos: sanity: independent standalone servers behind one connect string must be caught"
    out="$("$bin/zkchaos" --zkserver "$bin/zkserver" --runs 1 --run-seconds 10 --seed "$seed" \
        --broken standalones --dir /tmp/zkchaos-sanity 2>&1 || true)"
    rm -rf /tmp/zkchaos-sanity
    if grep -q "ANOMALY" <<<"$out" && grep -q "acknowledged writes lost: [1-9]" <<<"$out"; then
        echo "chaos: sanity: caught ($(grep -c ANOMALY <<<"$out") anomalies shown, e.g. $(grep -m1 ANOMALY <<<"$out" | sed 's/^ *//'))"
    else
        echo "$out"
        echo "chaos: sanity: the broken system was NOT caught" >&2
        status=1
    fi
fi
echo "chaos: $minutes min from seed $seed ($profile$($partitions && echo ", partitions in a network namespace"))"
run=("$bin/zkchaos" --zkserver "$bin/zkserver" --minutes "$minutes" --seed "$seed")
if $partitions; then
    command -v unshare >/dev/null || { echo "chaos: --partitions needs unshare (util-linux)" >&2; exit 2; }
    # The namespace lives as long as zkchaos; nothing leaves 127.0.0.0/8.
    unshare -n -- "${run[@]}" --partitions "${pass[@]+"${pass[@]}"}" || status=1
else
    "${run[@]}" "${pass[@]+"${pass[@]}"}" || status=1
fi
exit $status
