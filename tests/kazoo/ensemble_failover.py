"""kazoo on an ensemble's full connect string while its leader is killed.

    ensemble_failover.py HOST:PORT,HOST:PORT,... ENSEMBLE_DIR

Run by scripts/test.sh against a 3-member ensemble started with
scripts/ensemble.sh --dir ENSEMBLE_DIR. A session with an ephemeral node and
a data watch is open on the connect string; the leader is killed with
SIGKILL (the session's own member if it is on the leader; otherwise its
follower drops its clients when it loses the leader). kazoo must reconnect
to another member with the same session (the ephemeral survives), the watch
must fire exactly once for a change made after the failover, and every
acknowledged write must be readable afterwards. Exit 0 on success.
"""
import os
import socket
import subprocess
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

HOSTS, DIR = sys.argv[1], sys.argv[2]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PORTS = [int(h.rsplit(":", 1)[1]) for h in HOSTS.split(",")]


def four(port, cmd):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        s.sendall(cmd.encode())
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out.decode()
            out += d
    except OSError:
        return ""


def mode(port):
    for line in four(port, "srvr").splitlines():
        if line.startswith("Mode: "):
            return line[6:]
    return "down"


def kill(port):
    member = PORTS.index(port) + 1
    subprocess.run([REPO + "/scripts/ensemble.sh", "--dir", DIR, "kill-member", str(member)],
                   check=True, stdout=subprocess.DEVNULL)


def wait_for(pred, what, secs=60):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return
        time.sleep(0.1)
    sys.exit("timed out waiting for " + what)


zk = KazooClient(hosts=HOSTS, timeout=20)
states = []
zk.add_listener(lambda s: states.append(s))
zk.start(timeout=20)
sid = zk.client_id[0]
zk.create("/failover-eph", b"mine", ephemeral=True)
zk.ensure_path("/failover")
events = []
fired = threading.Event()


def watch(ev):
    events.append(ev)
    fired.set()


zk.get("/failover", watch=watch)
acked = []
for i in range(20):
    acked.append(zk.create("/failover/w-", b"x", sequence=True))
leader = [p for p in PORTS if mode(p) == "leader"]
if not leader:
    sys.exit("no leader among " + HOSTS)
kill(leader[0])
wait_for(lambda: KazooState.SUSPENDED in states, "kazoo to see the connection drop", 30)
wait_for(lambda: zk.state == KazooState.CONNECTED and zk.connected, "kazoo to reconnect")
if zk.client_id[0] != sid:
    sys.exit("the session changed: 0x%x -> 0x%x" % (sid, zk.client_id[0]))
if zk.exists("/failover-eph") is None:
    sys.exit("the ephemeral node did not survive the failover")
for i in range(20):
    acked.append(zk.create("/failover/w-", b"y", sequence=True))
zk.set("/failover", b"changed")
if not fired.wait(20):
    sys.exit("the data watch did not fire after the failover")
time.sleep(1)
if len(events) != 1:
    sys.exit("the watch fired %d times: %r" % (len(events), events))
kids = set(zk.get_children("/failover"))
missing = [p for p in acked if p.rsplit("/", 1)[1] not in kids]
if missing:
    sys.exit("acknowledged writes missing: %r" % missing)
if KazooState.LOST in states:
    sys.exit("the session was lost: %r" % states)
zk.delete("/failover", recursive=True)
zk.stop()
print("kazoo failover: session 0x%x kept, %d writes, 1 watch event" % (sid, len(acked)))
