"""Headless replay of the seed's master-worker-client walkthrough.

    replay.py ZKCLI FIRST_HOSTS SECOND_HOSTS THIRD_HOSTS [--width N]

The roles are zkcli processes in batch mode (stdin a pipe, `printwatches
off`), one per session of the seed (the first session, its reopening as the
worker, the second session, the session that creates the parents, the
third session). Where the seed shows a WATCHER block the role runs `wait`,
which returns the watch event that arrived after its previous command was
issued: the replay never sleeps. A role's next command is sent once every
earlier step of the story has produced its expected output, so the story
runs in the seed's order across the three terminals.

Every reply and every event is compared with the seed's (the stat block's
zxids, times and session id masked); the three transcripts are printed side
by side, the way the three terminals would read. Exit 0 when everything
matched, 1 with the first difference otherwise.
"""
import argparse
import queue
import re
import subprocess
import sys
import threading

ap = argparse.ArgumentParser()
ap.add_argument("zkcli")
ap.add_argument("first")
ap.add_argument("second")
ap.add_argument("third")
ap.add_argument("--width", type=int, default=60)
args = ap.parse_args()

TIMEOUT = 60  # seconds for any one reply or event


class Role:
    """One zkcli batch process; its output lines, masked of session noise."""

    def __init__(self, column, name, hosts):
        self.column, self.name, self.hosts, self.n = column, name, hosts, 0
        self.p = subprocess.Popen(
            [args.zkcli, "-server", hosts],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.send("printwatches off", count=False)

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, cmd, count=True):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        if count:
            self.n += 1

    def next_line(self):
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                return "<no output within %ds>" % TIMEOUT
            if line is None:
                return "<zkcli exited>"
            # Connection-state events (stderr in batch mode) are not part of
            # the story's replies.
            if line in ("", "WATCHER::") or " type:None path:null" in line:
                continue
            return line

    def close(self):
        self.p.stdin.close()
        return self.p.wait(timeout=TIMEOUT)


STAT_KEYS = ["cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion",
             "aclVersion", "ephemeralOwner", "dataLength", "numChildren"]
STAT_FIXED = {"cversion": "0", "dataVersion": "0", "aclVersion": "0",
              "dataLength": "24", "numChildren": "0"}


def matches(want, got):
    """`want` is the seed's line; stat values other than STAT_FIXED are masked."""
    if want.startswith("@stat "):
        key = want.split()[1]
        m = re.match(r"^(\w+) = (.+)$", got)
        if not m or m.group(1) != key:
            return False
        if key in STAT_FIXED:
            return m.group(2) == STAT_FIXED[key]
        if key in ("cZxid", "mZxid", "pZxid", "ephemeralOwner"):
            return re.match(r"^0x[0-9a-f]+$", m.group(2)) is not None and m.group(2) != "0x0"
        return True
    return want == got


STAT = ["@stat " + k for k in STAT_KEYS]
EVENT = "WatchedEvent state:SyncConnected type:%s path:%s"

rows = []  # (column, text) in story order
failures = []


def step(role, cmd, want):
    """Runs cmd in role and checks its output lines against want."""
    if failures:
        return
    shown = "wait" if cmd.startswith("wait") else cmd
    prompt = "[zk: %s(CONNECTED) %d] " % (role.hosts, role.n)
    if cmd.startswith("wait"):
        role.send(cmd, count=False)
        rows.append((role.column, prompt + "WATCHER::"))
    else:
        role.send(cmd)
        rows.append((role.column, prompt + shown))
    for w in want:
        got = role.next_line()
        rows.append((role.column, got))
        if not matches(w, got):
            failures.append("%s, `%s`: expected %r, got %r" % (role.name, cmd, w, got))
            return


def event(role, ty, path):
    step(role, "wait %d" % (TIMEOUT * 1000), [EVENT % (ty, path)])


def finish(role, want_code=0):
    """want_code: batch mode exits with the first failing command's status
    (the second session's `create -e /master` fails as the seed says)."""
    code = role.close()
    rest = []
    while True:
        line = role.next_line()
        if line.startswith("<"):
            break
        rest.append(line)
    if rest and not failures:
        failures.append("%s: unexpected output after its last command: %r" % (role.name, rest))
    if code != want_code and not failures:
        failures.append("%s: zkcli exited with status %d, not %d" % (role.name, code, want_code))


# 3.2 The first ZooKeeper session.
s = Role(0, "first session", args.first)
step(s, "ls /", ["[zookeeper]"])
step(s, 'create /workers ""', ["Created /workers"])
step(s, "ls /", ["[workers, zookeeper]"])
step(s, "ls /workers", ["[]"])
step(s, "delete /workers", [])
step(s, "ls /", ["[zookeeper]"])
step(s, "quit", [])
finish(s)
rows.append((None, "-"))

# 4.1 The master role.
m = Role(0, "first session (master)", args.first)
step(m, 'create -e /master "master1.example.com:2223"', ["Created /master"])
step(m, "ls /", ["[master, zookeeper]"])
step(m, "get /master", ["master1.example.com:2223"])
b = Role(1, "second session", args.second)
step(b, 'create -e /master "master2.example.com:2223"', ["Node already exists: /master"])
step(b, "stat -w /master", STAT)
step(m, "quit", [])
finish(m)
event(b, "NodeDeleted", "/master")
step(b, 'create -e /master "master2.example.com:2223"', ["Created /master"])
rows.append((None, "-"))

# 4.2 The parents, by a session that closes after.
p = Role(2, "parents session", args.third)
step(p, 'create /workers ""', ["Created /workers"])
step(p, 'create /tasks ""', ["Created /tasks"])
step(p, 'create /assign ""', ["Created /assign"])
step(p, "quit", [])
finish(p)
step(b, "ls -w /workers", ["[]"])
step(b, "ls -w /tasks", ["[]"])
rows.append((None, "-"))

# 4.3 The worker: the first session reopened.
w = Role(0, "first session (worker)", args.first)
step(w, 'create -e /workers/worker1.example.com "worker1.example.com:2223"',
     ["Created /workers/worker1.example.com"])
event(b, "NodeChildrenChanged", "/workers")
step(w, 'create /assign/worker1.example.com ""', ["Created /assign/worker1.example.com"])
step(w, "ls -w /assign/worker1.example.com", ["[]"])
rows.append((None, "-"))

# 4.4 The client.
c = Role(2, "third session (client)", args.third)
step(c, 'create -s /tasks/task- "cmd"', ["Created /tasks/task-0000000000"])
step(c, "ls -w /tasks/task-0000000000", ["[]"])
event(b, "NodeChildrenChanged", "/tasks")
step(b, "ls /tasks", ["[task-0000000000]"])
step(b, "ls /workers", ["[worker1.example.com]"])
step(b, 'create /assign/worker1.example.com/task-0000000000 ""',
     ["Created /assign/worker1.example.com/task-0000000000"])
event(w, "NodeChildrenChanged", "/assign/worker1.example.com")
step(w, "ls /assign/worker1.example.com", ["[task-0000000000]"])
step(w, 'create /tasks/task-0000000000/status "done"', ["Created /tasks/task-0000000000/status"])
event(c, "NodeChildrenChanged", "/tasks/task-0000000000")
step(c, "get /tasks/task-0000000000", ["cmd"])
step(c, "get /tasks/task-0000000000/status", ["done"])
for r, code in ((w, 0), (c, 0), (b, 1)):
    step(r, "quit", [])
    finish(r, code)

# The three terminals side by side.
W = args.width
print("%-*s | %-*s | %s" % (W, "first session (master, worker)", W, "second session (master)",
                            "third session (parents, client)"))
print("-" * (3 * W + 6))
for col, text in rows:
    if col is None:
        print("%s-+-%s-+-%s" % ("-" * W, "-" * W, "-" * W))
        continue
    # Long lines wrap within their column.
    for i in range(0, max(len(text), 1), W):
        cells = ["", "", ""]
        cells[col] = text[i:i + W]
        print(("%-*s | %-*s | %s" % (W, cells[0], W, cells[1], cells[2])).rstrip())
if failures:
    print("\nwalkthrough replay: FAILED: " + failures[0], file=sys.stderr)
    sys.exit(1)
print("\nwalkthrough replay: every reply and every WATCHER event as in the seed "
      "(%d transcript lines)" % sum(1 for c, _ in rows if c is not None))
