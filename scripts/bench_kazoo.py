#!/usr/bin/env python3
"""Independent-client check for scripts/bench.sh: a fixed workload through kazoo.

    .venv/bin/python scripts/bench_kazoo.py --server 127.0.0.1:2181 --label ours [--out FILE]

SESSIONS kazoo clients each keep INFLIGHT async requests outstanding (issued
in batches, then awaited) for each workload -- create, set, get -- until COUNT
operations were done or SECONDS passed. Prints ops/s per workload (and, with
--pid, the server's CPU seconds per 1,000 ops from /proc); with --out,
appends one JSON line per workload in zkbench's "note" format so that
`zkbench report` shows them beside the other server's numbers. The point is
the direction of the ours/ZooKeeper ratio with a client that is not ours
(kazoo is client-bound, so absolute numbers are lower than zkbench's).
"""
import argparse
import json
import os
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError


def proc_cpu(pid):
    """utime+stime of PID in seconds (None without a pid)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run_session(zk, workload, prefix, sid, count, inflight, deadline, value, keys, result):
    done = 0
    errors = 0
    seq = 0
    tag = f"{os.getpid()}-{int(time.time() * 1000)}-s{sid}"
    while done < count and time.monotonic() < deadline:
        batch = []
        for _ in range(min(inflight, count - done)):
            if workload == "create":
                seq += 1
                batch.append(zk.create_async(f"{prefix}/c/{tag}-{seq}", value))
            elif workload == "set":
                batch.append(zk.set_async(f"{prefix}/k/{(sid * 7919 + seq) % keys:06d}", value))
                seq += 1
            else:
                batch.append(zk.get_async(f"{prefix}/k/{(sid * 7919 + seq) % keys:06d}"))
                seq += 1
        for r in batch:
            try:
                r.get(timeout=30)
                done += 1
            except Exception:  # noqa: BLE001 - counted, reported
                errors += 1
                done += 1
    result[sid] = (done, errors)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="127.0.0.1:2181")
    ap.add_argument("--label", default="server")
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--inflight", type=int, default=32)
    ap.add_argument("--count", type=int, default=20000, help="operations per workload (all sessions)")
    ap.add_argument("--seconds", type=float, default=15.0, help="time limit per workload")
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--prefix", default="/kzbench")
    ap.add_argument("--out", help="append JSON lines here")
    ap.add_argument("--pid", type=int, help="server pid, for server CPU per 1,000 ops")
    a = ap.parse_args()

    value = b"k" * a.value_size
    clients = []
    for _ in range(a.sessions):
        zk = KazooClient(hosts=a.server, timeout=30)
        zk.start(timeout=15)
        clients.append(zk)
    try:
        zk = clients[0]
        for p in (a.prefix, f"{a.prefix}/c", f"{a.prefix}/k"):
            zk.ensure_path(p)
        pending = []
        for i in range(a.keys):
            pending.append(zk.create_async(f"{a.prefix}/k/{i:06d}", value))
        for r in pending:
            try:
                r.get(timeout=30)
            except NodeExistsError:
                pass
        lines = []
        for workload in ("create", "set", "get"):
            per = max(1, a.count // a.sessions)
            result = {}
            deadline = time.monotonic() + a.seconds
            threads = [
                threading.Thread(
                    target=run_session,
                    args=(c, workload, a.prefix, sid, per, a.inflight, deadline, value, a.keys, result),
                )
                for sid, c in enumerate(clients)
            ]
            t0 = time.monotonic()
            cpu0 = proc_cpu(a.pid)
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=a.seconds + 60)
            secs = time.monotonic() - t0
            cpu1 = proc_cpu(a.pid)
            done = sum(d for d, _ in result.values())
            errors = sum(e for _, e in result.values())
            rate = done / secs if secs > 0 else 0.0
            cpu_1k = None
            if cpu0 is not None and cpu1 is not None and done > 0:
                cpu_1k = (cpu1 - cpu0) * 1000.0 / done
            print(f"kazoo {a.label} {workload}: {done} ops in {secs:.2f} s = {rate:.0f} ops/s, "
                  f"{errors} errors, server CPU s/1k ops {cpu_1k if cpu_1k is None else round(cpu_1k, 4)}")
            lines.append({
                "kind": "note", "server": a.label, "name": f"kazoo {workload} {a.sessions}x{a.inflight}",
                "value": rate, "unit": "ops/s", "detail": f"{done} ops, {errors} errors",
            })
            if cpu_1k is not None:
                lines.append({
                    "kind": "note", "server": a.label,
                    "name": f"kazoo {workload} {a.sessions}x{a.inflight} server CPU",
                    "value": cpu_1k, "unit": "s/1k ops", "detail": "",
                })
        if a.out:
            with open(a.out, "a") as f:
                for line in lines:
                    f.write(json.dumps(line) + "\n")
    finally:
        for c in clients:
            try:
                c.stop()
                c.close()
            except Exception:  # noqa: BLE001
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
