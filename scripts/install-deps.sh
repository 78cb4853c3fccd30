#!/usr/bin/env bash
# Install what the cross-process compatibility tests need (idempotent):
#   * Debian's Apache ZooKeeper 3.8 (zkServer/zkCli + jars) -- the oracle
#   * a Python virtualenv at ${ZK_VENV:-$REPO/.venv} with kazoo and pytest
# Prints one line per thing installed; silent about things already present.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ZK_VENV:-$REPO/.venv}"
ZKCLI=/usr/share/zookeeper/bin/zkCli.sh

die() { echo "install-deps: ERROR: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and sudo not available"
    SUDO="sudo"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# --- Apache ZooKeeper (Debian packages) ------------------------------------
if [ ! -x "$ZKCLI" ] || [ ! -f /usr/share/java/zookeeper.jar ]; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; die "apt-get update failed"; }
    $SUDO apt-get install -y -qq --no-install-recommends zookeeper zookeeper-bin >"$log" 2>&1 \
        || { cat "$log" >&2; die "apt-get install zookeeper zookeeper-bin failed"; }
    [ -x "$ZKCLI" ] || die "zookeeper installed but $ZKCLI is missing"
    echo "installed: zookeeper $(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null)"
fi
command -v java >/dev/null 2>&1 || die "java not found (the zookeeper package should pull in a JRE)"

# --- tmux, for scripts/walkthrough.sh (its check in scripts/test.sh) -------
if ! command -v tmux >/dev/null 2>&1; then
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tmux \
        >"$log" 2>&1 || { cat "$log" >&2; die "apt-get install tmux failed"; }
    echo "installed: tmux $(tmux -V 2>/dev/null)"
fi

# --- Python virtualenv with kazoo + pytest ---------------------------------
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || die "python3 not found"
if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PY" -m venv "$VENV" >"$log" 2>&1; then
        # Debian's system python needs python3-venv for ensurepip
        rm -rf "$VENV"
        $SUDO apt-get update -qq >/dev/null 2>&1 || true
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >"$log" 2>&1 \
            || { cat "$log" >&2; die "cannot create venv and python3-venv install failed"; }
        "$PY" -m venv "$VENV" >"$log" 2>&1 || { cat "$log" >&2; die "python3 -m venv $VENV failed"; }
    fi
    echo "installed: virtualenv $VENV"
fi
for pkg in kazoo pytest; do
    if ! "$VENV/bin/python" -m pip show -q "$pkg" >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$pkg" >"$log" 2>&1 \
            || { cat "$log" >&2; die "pip install $pkg failed"; }
        echo "installed: $pkg $("$VENV/bin/python" -m pip show "$pkg" 2>/dev/null | sed -n 's/^Version: //p')"
    fi
done
exit 0
