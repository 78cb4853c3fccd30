"""kazoo recipes: they exercise ephemeral-sequential nodes, watches and multi together."""
import threading
import time

import pytest
from kazoo.exceptions import LockTimeout
from kazoo.recipe.barrier import Barrier, DoubleBarrier
from kazoo.recipe.counter import Counter
from kazoo.recipe.election import Election
from kazoo.recipe.lock import Lock, ReadLock, Semaphore, WriteLock
from kazoo.recipe.party import Party
from kazoo.recipe.queue import LockingQueue, Queue

from zkhelpers import wait_until


def test_lock(zk, zk2, root):
    path = root + "/lock"
    l1 = Lock(zk, path, "one")
    l2 = Lock(zk2, path, "two")
    assert l1.acquire(timeout=5)
    assert l1.contenders() == ["one"]
    with pytest.raises(LockTimeout):
        l2.acquire(timeout=0.5)
    got = threading.Event()

    def waiter():
        if l2.acquire(timeout=10):
            got.set()

    t = threading.Thread(target=waiter)
    t.start()
    wait_until(lambda: l1.contenders() == ["one", "two"], msg="two contenders")
    time.sleep(0.2)
    assert not got.is_set()
    l1.release()
    assert got.wait(5)
    t.join()
    assert l2.contenders() == ["two"]
    l2.release()
    assert l1.contenders() == []
    # lock nodes are ephemeral-sequential children
    assert zk.get_children(path) == []


def test_lock_released_when_holder_session_closes(make_client, zk2, root):
    path = root + "/lock"
    c = make_client()
    assert Lock(c, path, "holder").acquire(timeout=5)
    l2 = Lock(zk2, path, "next")
    c.stop()
    assert l2.acquire(timeout=5)
    l2.release()


def test_read_write_locks(zk, zk2, root):
    path = root + "/rw"
    r1, r2 = ReadLock(zk, path), ReadLock(zk2, path)
    assert r1.acquire(timeout=5) and r2.acquire(timeout=5)
    w = WriteLock(zk2, path)
    with pytest.raises(LockTimeout):
        w.acquire(timeout=0.5)
    r1.release()
    r2.release()
    assert w.acquire(timeout=5)
    w.release()


def test_semaphore(zk, zk2, root):
    path = root + "/sem"
    s1 = Semaphore(zk, path, "a", max_leases=2)
    s2 = Semaphore(zk2, path, "b", max_leases=2)
    s3 = Semaphore(zk2, path, "c", max_leases=2)
    assert s1.acquire(timeout=5) and s2.acquire(timeout=5)
    assert sorted(s1.lease_holders()) == ["a", "b"]
    assert not s3.acquire(blocking=False)
    s1.release()
    assert s3.acquire(timeout=5)
    s2.release()
    s3.release()


def test_election(zk, zk2, root):
    path = root + "/election"
    e1, e2 = Election(zk, path, "first"), Election(zk2, path, "second")
    leader = []
    release1 = threading.Event()

    def lead(name, release):
        leader.append(name)
        release.wait(10)

    t1 = threading.Thread(target=e1.run, args=(lead, "first", release1))
    t1.start()
    wait_until(lambda: leader == ["first"], msg="first leader")
    release2 = threading.Event()
    t2 = threading.Thread(target=e2.run, args=(lead, "second", release2))
    t2.start()
    wait_until(lambda: e1.contenders() == ["first", "second"], msg="contenders")
    assert leader == ["first"]
    release1.set()
    t1.join(5)
    wait_until(lambda: leader == ["first", "second"], msg="second leader")
    release2.set()
    t2.join(5)


def test_queue(zk, zk2, root):
    q1, q2 = Queue(zk, root + "/q"), Queue(zk2, root + "/q")
    for item in (b"one", b"two", b"three"):
        q1.put(item)
    q1.put(b"urgent", priority=10)
    assert len(q2) == 4
    assert [q2.get() for _ in range(4)] == [b"urgent", b"one", b"two", b"three"]
    assert q2.get() is None
    assert len(q1) == 0


def test_locking_queue(zk, zk2, root):
    q1, q2 = LockingQueue(zk, root + "/lq"), LockingQueue(zk2, root + "/lq")
    q1.put(b"a")
    q1.put_all([b"b", b"c"])
    q1.put(b"z", priority=1)
    assert len(q2) == 4
    assert q2.get(timeout=5) == b"z"
    assert q2.holds_lock()
    # another consumer cannot take the same item while it is locked
    assert q1.get(timeout=5) == b"a"
    assert q1.consume() and q2.consume()
    assert q2.get(timeout=5) == b"b"
    assert q2.release()                       # give it back without consuming
    assert q1.get(timeout=5) == b"b"
    assert q1.consume()
    assert q1.get(timeout=5) == b"c" and q1.consume()
    assert len(q2) == 0
    assert q2.get(timeout=0.3) is None


def test_barrier(zk, zk2, root):
    path = root + "/barrier"
    b1, b2 = Barrier(zk, path), Barrier(zk2, path)
    assert b2.wait(timeout=0.1)               # no barrier node -> passes
    b1.create()
    assert not b2.wait(timeout=0.3)
    done = threading.Event()
    t = threading.Thread(target=lambda: b2.wait(timeout=10) and done.set())
    t.start()
    time.sleep(0.2)
    assert not done.is_set()
    b1.remove()
    assert done.wait(5)
    t.join()


def test_double_barrier(make_client, root):
    path = root + "/dbarrier"
    clients = [make_client() for _ in range(3)]
    barriers = [DoubleBarrier(c, path, 3) for c in clients]
    entered, left = [], []

    def run(i):
        barriers[i].enter()
        entered.append(i)
        barriers[i].leave()
        left.append(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.4)
    assert entered == []                      # 2 of 3 participants: blocked
    run(2)
    for t in threads:
        t.join(10)
    assert sorted(entered) == [0, 1, 2] and sorted(left) == [0, 1, 2]


def test_counter(zk, zk2, root):
    path = root + "/counter"
    c1, c2 = Counter(zk, path), Counter(zk2, path)
    assert c1.value == 0
    c1 += 5
    c2 -= 2
    assert c1.value == 3 and c2.value == 3

    def bump(c):
        for _ in range(15):
            c += 1

    ts = [threading.Thread(target=bump, args=(c,)) for c in (Counter(zk, path), Counter(zk2, path))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    assert Counter(zk, path).value == 33
    assert zk.get(path)[0] == b"33"
    f = Counter(zk, root + "/float", default=0.5)
    f += 1.25
    assert f.value == 1.75


def test_party(zk, zk2, root):
    p1, p2 = Party(zk, root + "/party", "alice"), Party(zk2, root + "/party", "bob")
    p1.join()
    p2.join()
    assert sorted(p1) == ["alice", "bob"] and len(p2) == 2
    p2.leave()
    assert list(p1) == ["alice"]
