#!/usr/bin/env bash
# Run kazoo's OWN upstream test suite (kazoo/tests, shipped in the installed
# package) against (a) real Apache ZooKeeper 3.8 from the Debian jars and
# (b) our zkserver, each as a single standalone server.  Optional, non-CI check.
#
#   scripts/kazoo-upstream.sh [real|ours|both] [extra pytest args, e.g. -k test_lock]
#
# kazoo's harness (kazoo/testing/common.py) launches the server itself by running
#   java -cp CP -D... org.apache.zookeeper.server.quorum.QuorumPeerMain DIR/zoo.cfg
# and stops it with SIGTERM.  For (b) a `java` shim, created in a temp dir at
# run time and put first in PATH, execs `zkserver start-foreground CFG` instead
# (same pid, so terminate() reaches zkserver), after appending the -Dzookeeper.*
# system properties (e.g. the superDigest) to a copy of the cfg and pointing the
# server log at DIR/zookeeper.log where the harness reads it.
#
# Env: ZKSERVER_BIN (default $CARGO_TARGET_DIR or target, debug/zkserver),
#      ZK_VENV (default $REPO/.venv), KUP_PORT_OFFSET (default 31000),
#      KUP_TIMEOUT (overall seconds per server, default 900),
#      KUP_TEST_TIMEOUT (per test, default 60).
# Prints "<server>: N passed, M failed" per server; exit 1 if anything failed.
#
# Expected (kazoo 2.11, single server): both fail the 5 tests that need a 3-node
# ensemble (TestReconfig x3, test_update_host_list, TestReadOnlyMode); zkserver
# also fails TestSSLClient::test_create (no secureClientPort/TLS) and the two
# test_sasl *_connect_sasl_auth tests (no SASL DIGEST-MD5/JAAS).
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ZK_VENV:-$REPO/.venv}"
WHICH="${1:-both}"; [ $# -gt 0 ] && shift
case "$WHICH" in real|ours|both) ;; *) echo "usage: $0 [real|ours|both] [pytest args]" >&2; exit 2;; esac
ZKSERVER_BIN="${ZKSERVER_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/zkserver}"

die() { echo "kazoo-upstream: ERROR: $*" >&2; exit 2; }

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import kazoo' 2>/dev/null; then
    "$REPO/scripts/install-deps.sh" || die "install-deps failed"
fi
# The harness needs pyOpenSSL (< 24.3: it uses X509.add_extensions) and pyjks to
# write its keystores; objgraph for test_cache; pure-sasl so test_sasl's
# DIGEST-MD5 tests run instead of skipping; pytest-timeout to bound tests.
if ! "$VENV/bin/python" -c 'import OpenSSL, jks, objgraph, puresasl, pytest_timeout; OpenSSL.crypto.X509().add_extensions' 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        'pyopenssl<24.3' pyjks objgraph pure-sasl pytest-timeout || die "pip install failed"
fi
[ -f /usr/share/java/zookeeper.jar ] || die "/usr/share/java/zookeeper.jar missing: run scripts/install-deps.sh"
command -v java >/dev/null || die "java not found"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# The java shim used for run (b).
mkdir -p "$TMP/shim"
cat >"$TMP/shim/java" <<'SHIM'
#!/usr/bin/env bash
# java shim: QuorumPeerMain/ZooKeeperServerMain CFG -> zkserver start-foreground CFG
props=() main="" cfg=""
for a in "$@"; do
    if [ -n "$main" ] && [ -z "$cfg" ]; then cfg="$a"; continue; fi
    case "$a" in
        -Dzookeeper.log.dir=*|-Dzookeeper.root.logger=*) ;;
        -Dzookeeper.*=*) props+=("${a#-D}") ;;
        *QuorumPeerMain|*ZooKeeperServerMain) main="$a" ;;
    esac
done
if [ -z "$main" ] || [ -z "$cfg" ]; then
    exec "$KUP_REAL_JAVA" "$@"   # anything else: the real java
fi
out="$(dirname "$cfg")/zoo.zkserver.cfg"
{ cat "$cfg"; echo; printf '%s\n' "${props[@]}"; echo "logFile=$(dirname "$cfg")/zookeeper.log"; } >"$out"
exec "$ZKSERVER_BIN" start-foreground "$out"
SHIM
chmod +x "$TMP/shim/java"

run_suite() { # NAME [pytest args] -> prints summary, returns pytest rc
    local name="$1" out="$TMP/$1.out"; shift
    (
        cd "$TMP" || exit 2
        # zookeeper.jar's manifest Class-Path lacks the netty codec/resolver jars
        # that the harness's serverCnxnFactory=NettyServerCnxnFactory needs.  The
        # servlet API is left out on purpose: the Jetty admin server then stays off.
        local j=/usr/share/java
        export ZOOKEEPER_CLASSPATH="$j/zookeeper.jar:$j/netty-codec.jar:$j/netty-resolver.jar:$j/netty-transport-native-unix-common.jar"
        export ZOOKEEPER_VERSION=3.8.0
        export ZOOKEEPER_CLUSTER_SIZE=1 ZOOKEEPER_PORT_OFFSET="${KUP_PORT_OFFSET:-31000}"
        if [ "$name" = ours ]; then
            [ -x "$ZKSERVER_BIN" ] || { echo "ours: $ZKSERVER_BIN not built" >&2; exit 2; }
            export KUP_REAL_JAVA
            KUP_REAL_JAVA="$(command -v java)"
            export ZKSERVER_BIN PATH="$TMP/shim:$PATH"
        fi
        # gevent/eventlet modules and the Kerberos SASL tests skip themselves
        # (libs/KDC missing).  timeout signals its whole process group, so the
        # servers the harness started go down with pytest.
        timeout "${KUP_TIMEOUT:-900}" "$VENV/bin/python" -m pytest -p no:cacheprovider -q \
            --timeout "${KUP_TEST_TIMEOUT:-60}" --pyargs kazoo.tests "$@" -rfE
    ) >"$out" 2>&1
    local rc=$?
    grep -E '^(FAILED|ERROR) ' "$out" | sed "s/^/$name: /"
    local last passed failed errors
    # pytest's closing line, e.g. "=== 5 failed, 307 passed, 181 skipped in 186.18s ==="
    last="$(grep -E '^=* ?[0-9]+ (passed|failed|skipped|deselected|errors?)\b.* in [0-9.]+s' "$out" | tail -n 1)"
    passed="$(grep -oE '[0-9]+ passed' <<<"$last" | grep -oE '[0-9]+' || echo 0)"
    failed="$(grep -oE '[0-9]+ failed' <<<"$last" | grep -oE '[0-9]+' || echo 0)"
    errors="$(grep -oE '[0-9]+ errors?' <<<"$last" | grep -oE '[0-9]+' || echo 0)"
    [ "$rc" = 124 ] && echo "$name: overall timeout hit (${KUP_TIMEOUT:-900}s)"
    [ -n "${KUP_KEEP_OUTPUT:-}" ] && cp "$out" "$KUP_KEEP_OUTPUT.$name.out"
    echo "$name: ${passed:-0} passed, $(( ${failed:-0} + ${errors:-0} )) failed"
    return "$rc"
}

status=0
if [ "$WHICH" = real ] || [ "$WHICH" = both ]; then run_suite real "$@" || status=1; fi
if [ "$WHICH" = ours ] || [ "$WHICH" = both ]; then run_suite ours "$@" || status=1; fi
exit "$status"
