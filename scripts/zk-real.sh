#!/usr/bin/env bash
# Start/stop a private standalone Apache ZooKeeper 3.8 (Debian package jars) on
# 127.0.0.1:PORT with dataDir DIR. Never touches /etc/zookeeper or the system instance.
#   scripts/zk-real.sh start PORT DIR   # returns once `ruok` answers `imok`
#   scripts/zk-real.sh stop  PORT DIR
#   scripts/zk-real.sh status PORT DIR
# Env: JAVA (default java), ZK_JVMFLAGS (extra JVM flags), ZK_START_TIMEOUT (s, default 60)
set -euo pipefail
ZK_NAME=zk-real
. "$(dirname "${BASH_SOURCE[0]}")/zk-common.sh"

[ -f /usr/share/java/zookeeper.jar ] || zk_die "/usr/share/java/zookeeper.jar missing: run scripts/install-deps.sh"

zk_launch() {
    local dir="$1" cp=/usr/share/java/zookeeper.jar
    # zookeeper.jar's manifest Class-Path pulls in its dependencies; add an slf4j
    # binding (if present) so the server log in DIR/zk.log is not empty.
    [ -f /usr/share/java/slf4j-simple.jar ] && cp="$cp:/usr/share/java/slf4j-simple.jar"
    # shellcheck disable=SC2086
    exec "${JAVA:-java}" -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dzookeeper.log.dir="$dir" -Dzookeeper.jmx.log4j.disable=true \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
        ${ZK_JVMFLAGS:-} \
        -cp "$cp" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg"
}

zk_main "$@"
