#!/usr/bin/env bash
# Runs the deterministic simulations with many seeds (release build):
#   scripts/sim.sh [SEEDS]        # default 2000 per simulation
# ZAB cores (quorum::zab::sim), the election core (quorum::election::sim) and
# whole members with both (quorum::sim). The suite runs 200/200/50 seeds; this
# is the long version. A failing seed prints the one command that replays it.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
N="${1:-2000}"
export ZK_SIM_SEEDS="$N" ZK_ELECTION_SIM_SEEDS="$N" ZK_ENSEMBLE_SIM_SEEDS="$N"
for sim in quorum::zab::sim::seeds quorum::election::sim::seeds quorum::sim::seeds; do
    echo "== $sim ($N seeds)"
    cargo test --release -q -p zkserver --lib "$sim" -- --exact --nocapture
done
