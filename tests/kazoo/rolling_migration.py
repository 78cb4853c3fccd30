"""A rolling migration of a live ensemble, Apache ZooKeeper -> zkserver -> back.

    rolling_migration.py ENSEMBLE_DIR [--order 1,2,3] [--writers 2] [--rate 20]

ENSEMBLE_DIR holds a 3-member ensemble started by scripts/ensemble.sh (all
members of one kind, usually `--kinds zk,zk,zk`). While clients work on the
full connect string, each member in turn is stopped the way an operator stops
it (SIGTERM), switched to the other kind (`ensemble.sh set-kind`: the same
zoo.cfg, the same dataDir, myid, acceptedEpoch, currentEpoch and version-2/)
and started again, until every member has changed kind; then every member is
switched back the same way. Run by scripts/test.sh and scripts/migrate-demo.sh.

Checked, at every step:
  * writers (their own sessions, on the full connect string) never lose an
    acknowledged write: every acknowledged create is on every member, and each
    writer's counter node holds its last acknowledged value or a later attempt;
  * the long-lived session survives (same session id, never LOST), its
    ephemeral stays with it, owned by it, on every member;
  * its data watch and child watch, re-armed after every event, see exactly one
    event per real change (changes are made between steps, and while a member
    is down, so some reach the session through SetWatches after it moved),
    none missing, none doubled, nothing else;
  * the trees of all members are identical (paths, data, every Stat field,
    ACLs) once the writers pause, and no 3.8 member reports a digest mismatch.
Exit 0 and a summary on success; a one-line reason on the first failure.
"""
import argparse
import logging
import os
import socket
import subprocess
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import (
    ConnectionLoss,
    KazooException,
    NodeExistsError,
    OperationTimeoutError,
    SessionExpiredError,
)
from kazoo.security import ACL, Id, Permissions, make_digest_acl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zkwire import CHANGED, CHILD, CREATED, DELETED, ConnectionClosed, ResumingSession  # noqa: E402

NAMES = {CHANGED: "CHANGED", CHILD: "CHILD", CREATED: "CREATED", DELETED: "DELETED"}

logging.getLogger("kazoo").setLevel(logging.CRITICAL)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENSEMBLE = os.path.join(REPO, "scripts", "ensemble.sh")

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--order", default="1,2,3", help="members in the order they are replaced")
ap.add_argument("--writers", type=int, default=2)
ap.add_argument("--rate", type=float, default=20.0, help="writes per second per writer")
ap.add_argument("--verbose", action="store_true")
args = ap.parse_args()
DIR = args.dir
ORDER = [int(x) for x in args.order.split(",")]
# Every writer stops by itself after this many writes: the load is bounded
# even if the driver were to hang.
MAX_WRITES = 20000


def fail(msg):
    print("rolling migration: FAILED: " + msg, file=sys.stderr)
    try:
        print(ensemble("status"), file=sys.stderr)
    except Exception:  # noqa: BLE001 - best effort diagnostics
        pass
    os._exit(1)


def say(msg):
    print("rolling migration: " + msg, flush=True)


def ensemble(*a):
    r = subprocess.run([ENSEMBLE, "--dir", DIR, *a], capture_output=True, text=True)
    if r.returncode != 0 and a[0] not in ("leader",):
        fail("ensemble.sh %s: %s" % (" ".join(a), (r.stderr or r.stdout).strip()))
    return r.stdout.strip()


def state():
    """ensemble.env, read by the shell that wrote it (its values are %q-quoted)."""
    out = subprocess.run(
        ["bash", "-c", '. "$1" && printf "N=%s\\nKINDS=%s\\nBASE=%s\\n" "$N" "$KINDS" "$BASE"',
         "_", os.path.join(DIR, "ensemble.env")],
        capture_output=True, text=True, check=True).stdout
    return dict(line.partition("=")[::2] for line in out.splitlines())


ENV = state()
N = int(ENV["N"])
BASE = int(ENV["BASE"])
PORTS = {i: BASE + i for i in range(1, N + 1)}
HOSTS = ",".join("127.0.0.1:%d" % PORTS[i] for i in sorted(PORTS))


def kinds():
    ks = state()["KINDS"].split(",")
    return {i: (ks[i - 1] if i - 1 < len(ks) and ks[i - 1] else "ours") for i in PORTS}


def four(port, cmd):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        s.sendall(cmd.encode())
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out.decode(errors="replace")
            out += d
    except OSError:
        return ""


def mode(i):
    for line in four(PORTS[i], "srvr").splitlines():
        if line.startswith("Mode: "):
            return line[6:]
    return "down"


def leader():
    for i in PORTS:
        if mode(i) == "leader":
            return i
    return None


def wait_for(pred, what, secs=90):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return
        time.sleep(0.2)
    fail("timed out after %ds waiting for %s" % (secs, what))


def all_serving():
    return all(mode(i) in ("leader", "follower") for i in PORTS) and leader() is not None


def retrying(op, what, secs=60):
    """Runs op() until it stops failing with a connection error."""
    end = time.time() + secs
    while True:
        try:
            return op()
        except (ConnectionLoss, OperationTimeoutError, SessionExpiredError) as e:
            if time.time() > end:
                fail("%s: still failing after %ds: %r" % (what, secs, e))
            time.sleep(0.2)


# ---------------------------------------------------------------- writers

class Writer(threading.Thread):
    """Creates /mig/w/<wid>-<n> and sets /mig/c<wid> to n, in a loop."""

    def __init__(self, wid):
        super().__init__(daemon=True)
        self.wid = wid
        self.acked_creates = []
        self.unknown_creates = []
        self.last_acked_set = -1
        self.attempted_sets = set()
        self.errors = 0
        self.go = threading.Event()
        self.go.set()
        self.idle = threading.Event()
        self.done = False
        self.zk = KazooClient(hosts=HOSTS, timeout=10)
        self.zk.start(timeout=30)
        retrying(lambda: self.zk.ensure_path("/mig/c%d" % wid), "writer setup")

    def run(self):
        n = 0
        while not self.done and n < MAX_WRITES:
            if not self.go.is_set():
                self.idle.set()
                self.go.wait()
                self.idle.clear()
                continue
            n += 1
            path = "/mig/w/%d-%06d" % (self.wid, n)
            try:
                self.zk.create(path, b"%d" % n)
                self.acked_creates.append(path)
            except NodeExistsError:
                self.acked_creates.append(path)  # a retried create that had landed
            except KazooException:
                self.unknown_creates.append(path)
                self.errors += 1
                time.sleep(0.1)
                continue
            self.attempted_sets.add(n)
            try:
                self.zk.set("/mig/c%d" % self.wid, b"%d" % n)
                self.last_acked_set = n
            except KazooException:
                self.errors += 1
                time.sleep(0.1)
            time.sleep(1.0 / args.rate)
        self.idle.set()

    def pause(self):
        self.go.clear()
        if not self.idle.wait(90):
            fail("writer %d did not pause" % self.wid)

    def resume(self):
        self.idle.clear()
        self.go.set()


# ---------------------------------------------------- the long-lived session

class Watcher:
    """The long-lived session: an ephemeral, a data watch and a child watch.

    It is a zkwire.ResumingSession, which moves to another member the way the
    Java client does (same session, SetWatches), not kazoo, which drops its
    watches on every disconnection and so could not tell whether the server
    re-registered them."""

    def __init__(self):
        self.zk = ResumingSession(HOSTS, timeout_ms=30000)
        self.sid = self.zk.session_id
        self.call(lambda: self.zk.create("/mig/eph", b"held", flags=1), "ephemeral")
        self.cond = self.zk.cond
        self.arm()

    @property
    def events(self):
        return [(NAMES.get(t, t), p) for t, p in self.zk.events]

    def call(self, op, what, secs=60):
        end = time.time() + secs
        while True:
            if self.zk.expired:
                fail("the long-lived session 0x%x expired" % self.sid)
            try:
                return op()
            except ConnectionClosed as e:
                if time.time() > end:
                    fail("%s: still failing after %ds: %r" % (what, secs, e))
                time.sleep(0.2)

    def arm(self):
        err, got = self.call(lambda: self.zk.get("/mig/watched", watch=True), "arm data watch")
        if err:
            fail("get /mig/watched: error %d" % err)
        err, kids = self.call(lambda: self.zk.children("/mig/kids", watch=True), "arm child watch")
        if err:
            fail("get_children /mig/kids: error %d" % err)
        return got[0], kids

    def wait_events(self, count, secs=60):
        end = time.time() + secs
        with self.cond:
            while len(self.zk.events) < count:
                left = end - time.time()
                if left <= 0:
                    fail("the long-lived session saw %d watch events, expected %d: %r"
                         % (len(self.zk.events), count, self.events[-4:]))
                self.cond.wait(left)

    def member(self):
        return [i for i, p in PORTS.items() if p == self.zk.port][0]

    def check(self):
        if self.zk.session_id != self.sid or self.zk.expired:
            fail("the long-lived session 0x%x was lost" % self.sid)
        err, st = self.call(lambda: self.zk.exists("/mig/eph"), "read the ephemeral")
        if err:
            fail("the long-lived session's ephemeral is gone (error %d)" % err)
        if st["ephemeralOwner"] != self.sid:
            fail("the ephemeral's owner is 0x%x, not 0x%x" % (st["ephemeralOwner"], self.sid))


# --------------------------------------------------------------- the trees

def dump(i):
    """Every znode of member i: path -> (data, stat tuple, acls)."""
    c = KazooClient(hosts="127.0.0.1:%d" % PORTS[i], timeout=15)
    c.start(timeout=30)
    try:
        retrying(lambda: c.sync("/"), "sync on member %d" % i)
        out = {}
        level = ["/"]
        while level:
            gets = [(p, c.get_async(p), c.get_acls_async(p), c.get_children_async(p))
                    for p in level]
            level = []
            for p, g, a, k in gets:
                data, stat = g.get(timeout=30)
                acls, _ = a.get(timeout=30)
                kids = k.get(timeout=30)
                st = tuple(stat)
                if p == "/zookeeper/config":
                    # Each member writes its config node at start-up with its
                    # own clock: 3.8 members differ there among themselves.
                    st = st[:3] + (0,) + st[4:]  # mtime
                out[p] = (data, st, sorted((x.perms, x.id.scheme, x.id.id) for x in acls))
                level += [(p.rstrip("/") + "/" + kid) for kid in kids]
        return out
    finally:
        c.stop()
        c.close()


def digest_mismatches():
    bad = []
    for i in PORTS:
        log = os.path.join(DIR, str(i), "member.log")
        try:
            with open(log, errors="replace") as f:
                if "Digests are not matching" in f.read():
                    bad.append("member %d's log reports a digest mismatch" % i)
        except OSError:
            pass
        for line in four(PORTS[i], "mntr").splitlines():
            if line.startswith("zk_digest_mismatches_count"):
                if line.split()[-1] != "0":
                    bad.append("member %d: %s" % (i, line))
    return bad


# ------------------------------------------------------------------- setup

wait_for(all_serving, "the ensemble to serve")
admin = KazooClient(hosts=HOSTS, timeout=15)
admin.start(timeout=30)
admin.add_auth("digest", "mig:secret")
for p in ("/mig", "/mig/w", "/mig/kids"):
    retrying(lambda: admin.ensure_path(p), "setup")
retrying(lambda: admin.create("/mig/watched", b"r0"), "setup")
retrying(lambda: admin.create(
    "/mig/locked", b"acl",
    acl=[make_digest_acl("mig", "secret", all=True), ACL(Permissions.READ, Id("world", "anyone"))]),
    "setup")

watcher = Watcher()
writers = [Writer(w) for w in range(1, args.writers + 1)]
for w in writers:
    w.start()
rounds = 0


def change_round(why):
    """One real change of each watched node, then both events, then re-arm."""
    global rounds
    rounds += 1
    value = b"r%d" % rounds

    def set_once():
        data, st = admin.get("/mig/watched")
        if data != value:
            admin.set("/mig/watched", value, version=st.version)

    retrying(set_once, "set /mig/watched")
    try:
        retrying(lambda: admin.create("/mig/kids/k%d" % rounds, b""), "create a child")
    except NodeExistsError:
        pass  # a retry of a create that had landed
    watcher.wait_events(2 * rounds)
    data, kids = watcher.arm()
    if data != value:
        fail("after the event the watched node reads %r, not %r" % (data, value))
    if "k%d" % rounds not in kids:
        fail("after the event /mig/kids lacks k%d" % rounds)
    if args.verbose:
        say("round %d (%s): both events seen on member %s" % (rounds, why, watcher.member()))


def compare(step):
    for w in writers:
        w.pause()
    try:
        watcher.check()
        end = time.time() + 30
        while True:
            trees = {i: dump(i) for i in PORTS}
            first = trees[ORDER[0]]
            diff = [i for i in PORTS if trees[i] != first]
            if not diff:
                break
            if time.time() > end:
                i = diff[0]
                only = sorted(set(trees[i]) ^ set(first))[:5]
                changed = [p for p in first if p in trees[i] and trees[i][p] != first[p]][:3]
                fail("%s: member %d's tree differs from member %d's: paths %r, nodes %r"
                     % (step, i, ORDER[0], only, [(p, first[p], trees[i][p]) for p in changed]))
            time.sleep(0.5)  # an in-doubt write may still be committing
        for w in writers:
            lost = [p for p in w.acked_creates if p not in first]
            if lost:
                fail("%s: acknowledged creates lost: %r" % (step, lost[:5]))
            got = int(first["/mig/c%d" % w.wid][0] or b"-1")
            if got < w.last_acked_set or (got != w.last_acked_set and got not in w.attempted_sets):
                fail("%s: /mig/c%d holds %d, last acknowledged %d"
                     % (step, w.wid, got, w.last_acked_set))
        eph = first.get("/mig/eph")
        if eph is None or eph[1][7] != watcher.sid:
            fail("%s: the ephemeral is not on every member with its owner" % step)
        bad = digest_mismatches()
        if bad:
            fail("%s: %s" % (step, "; ".join(bad)))
        return len(first)
    finally:
        for w in writers:
            w.resume()


def replace(i, kind):
    before = kinds()[i]
    led = leader() == i
    ensemble("kill-member", str(i), "TERM")
    change_round("member %d down" % i)
    ensemble("set-kind", str(i), kind)
    ensemble("start-member", str(i))
    wait_for(lambda: mode(i) in ("leader", "follower"), "member %d (%s) to serve" % (i, kind))
    wait_for(all_serving, "every member to serve")
    change_round("member %d back as %s" % (i, kind))
    size = compare("member %d %s -> %s" % (i, before, kind))
    ks = kinds()
    say("member %d%s: %s -> %s; kinds now %s; leader %s; %d znodes identical on all; "
        "session 0x%x on member %s"
        % (i, " (the leader)" if led else "", before, kind,
           ",".join(ks[j] for j in sorted(ks)), leader(), size, watcher.sid, watcher.member()))


start_kind = kinds()[ORDER[0]]
other = "ours" if start_kind == "zk" else "zk"
t0 = time.time()
change_round("all %s" % start_kind)
size = compare("start")
say("start: %s on every member, leader %s, %d znodes" % (start_kind, leader(), size))
for i in ORDER:
    replace(i, other)
for i in ORDER:
    replace(i, start_kind)
change_round("done")
compare("the end")
for w in writers:
    w.done = True
for w in writers:
    w.join(60)
watcher.check()
time.sleep(2)
with watcher.cond:
    events = watcher.events
expected = []
for _ in range(rounds):
    expected += [("CHANGED", "/mig/watched"), ("CHILD", "/mig/kids")]
if sorted(events) != sorted(expected):
    fail("watch events %r, expected %r" % (events, expected))
acked = sum(len(w.acked_creates) for w in writers)
sets = sum(1 for w in writers if w.last_acked_set >= 0)
unknown = sum(len(w.unknown_creates) for w in writers)
say("OK in %.0fs: %d member restarts (%s -> %s -> %s), %d acknowledged creates and %d "
    "writers' sets all present (%d in doubt), session 0x%x kept with its ephemeral, "
    "%d watch events = %d real changes (%d reconnections), trees identical at every step, no digest mismatch"
    % (time.time() - t0, 2 * len(ORDER), start_kind, other, start_kind, acked, sets, unknown,
       watcher.sid, len(events), 2 * rounds, watcher.zk.reconnects))
watcher.zk.close()
admin.stop()
for w in writers:
    w.zk.stop()
