"""zkchaos's independent client: a CAS-append set through kazoo.

    chaos_client.py HOSTS PATH OUT STOPFILE

Run by zkchaos beside its own workloads, so that a server bug our client
library would hide (or share) still shows: appends unique elements to the
znode PATH by read + conditional setData, until STOPFILE exists. Writes one
line per event to OUT: "attempt E", "ack E" (the append was acknowledged,
or a retry found the element already there). zkchaos then checks that every
acknowledged element is in the final value and that nothing in it was
never attempted.
"""
import logging
import os
import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, KazooException, NoNodeError
from kazoo.retry import KazooRetry

logging.getLogger("kazoo").setLevel(logging.CRITICAL)
HOSTS, PATH, OUT, STOP = sys.argv[1:5]

out = open(OUT, "w", buffering=1)
zk = KazooClient(hosts=HOSTS, timeout=10,
                 connection_retry=KazooRetry(max_tries=-1, delay=0.2, max_delay=1))
zk.start(timeout=60)
try:
    zk.ensure_path(PATH)
except KazooException:
    pass
n = 0
while not os.path.exists(STOP):
    n += 1
    e = "k%d" % n
    out.write("attempt %s\n" % e)
    while not os.path.exists(STOP):
        try:
            data, st = zk.get(PATH)
            elems = [x for x in data.decode().split(",") if x]
            if e in elems:
                out.write("ack %s\n" % e)  # an earlier try had landed
                break
            zk.set(PATH, ",".join(elems + [e]).encode(), version=st.version)
            out.write("ack %s\n" % e)
            break
        except BadVersionError:
            continue
        except NoNodeError:
            out.write("error NoNode\n")
            break
        except KazooException:
            time.sleep(0.2)
    time.sleep(0.01)
try:
    zk.stop()
    zk.close()
except KazooException:
    pass
out.close()
