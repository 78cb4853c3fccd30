#!/usr/bin/env bash
# Runs the README's commands on a fresh clone, exactly as the README prints them:
#   1. the first command of the first ```sh block (the quick start), with a short
#      script on stdin: it must answer `ls /` with `[zookeeper]`;
#   2. the ```sh block after "To run the server itself": build the server, start it
#      on conf/zoo.cfg, and it must answer `ruok` with `imok` on 127.0.0.1:2181.
# The commands are read from README.md itself, so an edit that breaks them fails here.
# The clone's target/ is a symlink to this checkout's target directory, so the
# dependencies are not compiled again (our own crates are, since the paths differ).
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fail() { echo "readme-check: FAIL: $*" >&2; exit 1; }

target="${CARGO_TARGET_DIR:-}"
if [ -z "$target" ]; then
    target="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')" ||
        fail "cargo metadata failed"
fi
mkdir -p "$target"
tmp="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

git clone -q "$REPO" "$tmp/clone" || fail "git clone failed"
ln -s "$target" "$tmp/clone/target"
cd "$tmp/clone" || fail "no clone"
unset CARGO_TARGET_DIR

# The first ```sh block's first line, without its comment.
quick="$(awk '/^```sh$/{inb=1; next} inb{print; exit}' README.md | sed 's/[[:space:]]*#.*$//')"
[ -n "$quick" ] || fail "no quick-start command found in README.md"
echo "readme-check: quick start: $quick"
out="$(printf 'ls /\nquit\n' | timeout 1200 bash -c "$quick" 2>"$tmp/quick.err")"
rc=$?
echo "$out" | sed 's/^/    /'
if ! grep -qxF '[zookeeper]' <<<"$out"; then
    tail -n 20 "$tmp/quick.err" >&2
    fail "'$quick' did not answer 'ls /' with [zookeeper] (exit $rc)"
fi
echo "readme-check: quick start OK"

# The server block.
mapfile -t steps < <(awk '/^To run the server itself/{f=1} f && /^```sh$/{inb=1; next} inb && /^```$/{exit} inb{print}' README.md |
    sed 's/[[:space:]]*#.*$//' | grep -v '^[[:space:]]*$')
[ "${#steps[@]}" -ge 2 ] || fail "no server steps found in README.md"
for ((i = 0; i < ${#steps[@]} - 1; i++)); do
    echo "readme-check: server step: ${steps[$i]}"
    timeout 1200 bash -c "${steps[$i]}" >"$tmp/step$i.log" 2>&1 || {
        tail -n 20 "$tmp/step$i.log" >&2
        fail "'${steps[$i]}' failed"
    }
done
last="${steps[${#steps[@]} - 1]}"
echo "readme-check: server step: $last"
bash -c "exec $last" >"$tmp/server.log" 2>&1 &
server_pid=$!
port="$(sed -n 's/^clientPort=//p' conf/zoo.cfg)"
for _ in $(seq 1 100); do
    answer="$(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf ruok >&3 && cat <&3' _ "$port" 2>/dev/null)"
    if [ "$answer" = imok ]; then
        echo "readme-check: zkserver from conf/zoo.cfg answers ruok with imok"
        echo "readme-check: OK"
        exit 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
done
tail -n 20 "$tmp/server.log" >&2
fail "'$last' did not answer ruok on 127.0.0.1:$port"
