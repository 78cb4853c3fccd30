"""One-shot watches (kazoo), persistent watches and watch removal (raw protocol)."""
import time

from kazoo.protocol.states import EventType, KazooState
from kazoo.recipe.watchers import ChildrenWatch, DataWatch
from kazoo.security import make_digest_acl

import zkwire
from zkhelpers import Events, wait_until
from zkwire import CHANGED, CHILD, CREATED, DELETED

NOWATCHER = -121
SYNC_CONNECTED = 3


def settle(zk):
    """Round trip so that any notification already sent has been received."""
    zk.sync("/")
    time.sleep(0.15)


def test_data_watch_fires_once(zk, zk2, root):
    p = zk.create(root + "/d", b"0")
    ev = Events()
    assert zk.get(p, watch=ev)[0] == b"0"
    zk2.set(p, b"1")
    zk2.set(p, b"2")
    ev.wait(1)
    settle(zk)
    assert len(ev.events) == 1
    e = ev.events[0]
    assert (e.type, e.state, e.path) == (EventType.CHANGED, KazooState.CONNECTED, p)


def test_own_write_triggers_own_watch(zk, root):
    p = zk.create(root + "/d", b"0")
    ev = Events()
    zk.get(p, watch=ev)
    zk.set(p, b"1")
    assert ev.wait(1)[0].type == EventType.CHANGED


def test_exists_watch_on_missing_node_fires_created(zk, zk2, root):
    p = root + "/later"
    ev = Events()
    assert zk.exists(p, watch=ev) is None
    zk2.create(p)
    zk2.delete(p)
    ev.wait(1)
    settle(zk)
    assert ev.simple() == [(EventType.CREATED, p)]


def test_exists_watch_on_existing_node(zk, zk2, root):
    p = zk.create(root + "/x")
    ev = Events()
    assert zk.exists(p, watch=ev) is not None
    zk2.set(p, b"v")
    ev.wait(1)
    ev2 = Events()
    zk.exists(p, watch=ev2)
    zk2.delete(p)
    ev2.wait(1)
    assert ev.simple() == [(EventType.CHANGED, p)]
    assert ev2.simple() == [(EventType.DELETED, p)]


def test_child_watch(zk, zk2, root):
    par = zk.create(root + "/par")
    ev = Events()
    assert zk.get_children(par, watch=ev) == []
    zk2.create(par + "/a")
    zk2.create(par + "/b")
    ev.wait(1)
    settle(zk)
    assert ev.simple() == [(EventType.CHILD, par)]
    # setData on a child or the parent does not fire a child watch
    ev2 = Events()
    zk.get_children(par, watch=ev2)
    zk2.set(par + "/a", b"x")
    zk2.set(par, b"x")
    zk2.create(par + "/a/grandchild")
    settle(zk)
    assert ev2.events == []
    zk2.delete(par + "/b")
    assert ev2.wait(1)[0].type == EventType.CHILD


def test_delete_fires_data_and_child_watches(zk, zk2, root):
    p = zk.create(root + "/n")
    dw, cw, pw = Events(), Events(), Events()
    zk.get(p, watch=dw)
    zk.get_children(p, watch=cw)
    zk.get_children(root, watch=pw)
    zk2.delete(p)
    dw.wait(1)
    cw.wait(1)
    pw.wait(1)
    assert dw.simple() == [(EventType.DELETED, p)]
    assert cw.simple() == [(EventType.DELETED, p)]
    assert pw.simple() == [(EventType.CHILD, root)]


def test_create_fires_parent_child_watch_and_exists(zk, zk2, root):
    p = root + "/c"
    ew, pw = Events(), Events()
    zk.exists(p, watch=ew)
    zk.get_children(root, watch=pw)
    zk2.create(p)
    assert ew.wait(1)[0].type == EventType.CREATED
    assert pw.wait(1)[0].path == root


def test_setacl_and_failed_writes_fire_nothing(zk, zk2, root):
    from kazoo.exceptions import BadVersionError
    p = zk.create(root + "/n")
    dw, cw = Events(), Events()
    zk.get(p, watch=dw)
    zk.get_children(p, watch=cw)
    zk2.set_acls(p, [make_digest_acl("alice", "secret", all=True)] +
                 [a for a in zk2.get_acls(p)[0]])
    try:
        zk2.set(p, b"x", version=42)
    except BadVersionError:
        pass
    settle(zk)
    assert dw.events == [] and cw.events == []


def test_ephemeral_deletion_on_close_fires_watches(make_client, zk, root):
    other = make_client()
    p = other.create(root + "/eph", ephemeral=True)
    dw, pw = Events(), Events()
    zk.exists(p, watch=dw)
    zk.get_children(root, watch=pw)
    other.stop()
    assert dw.wait(1)[0].type == EventType.DELETED
    assert pw.wait(1)[0].type == EventType.CHILD
    assert zk.exists(p) is None


def test_multi_fires_watches(zk, zk2, root):
    a = zk.create(root + "/a")
    dw, ew, cw = Events(), Events(), Events()
    zk.get(a, watch=dw)
    zk.exists(root + "/b", watch=ew)
    zk.get_children(root, watch=cw)
    t = zk2.transaction()
    t.set_data(a, b"1")
    t.create(root + "/b")
    t.commit()
    assert dw.wait(1)[0].type == EventType.CHANGED
    assert ew.wait(1)[0].type == EventType.CREATED
    assert cw.wait(1)[0].type == EventType.CHILD


def test_failed_multi_fires_nothing(zk, zk2, root):
    a = zk.create(root + "/a")
    dw, cw = Events(), Events()
    zk.get(a, watch=dw)
    zk.get_children(root, watch=cw)
    t = zk2.transaction()
    t.set_data(a, b"1")
    t.create(root + "/new")
    t.check(a, 99)
    t.commit()
    settle(zk)
    assert dw.events == [] and cw.events == []
    assert zk.get(a)[0] == b""


def test_datawatch_and_childrenwatch_recipes(zk, zk2, root):
    p = zk.create(root + "/w", b"0")
    seen, kids = [], []
    DataWatch(zk, p, func=lambda data, stat: seen.append(data))
    ChildrenWatch(zk, p, func=lambda c: kids.append(sorted(c)))
    wait_until(lambda: seen == [b"0"] and kids == [[]], msg="initial calls")
    zk2.set(p, b"1")
    wait_until(lambda: seen[-1] == b"1", msg="data change")
    zk2.create(p + "/k")
    wait_until(lambda: kids[-1] == ["k"], msg="child change")
    zk2.delete(p + "/k")
    zk2.delete(p)
    wait_until(lambda: seen[-1] is None, msg="deletion")


# --------------------------------------------------------------------------
# raw protocol: ordering, registration on errors


def test_notification_precedes_reply_of_triggering_write(wire, root):
    a = wire()
    a.create(root + "/n", b"")
    a.get(root + "/n", watch=True)
    a.children(root, watch=True)
    err, st = a.set(root + "/n", b"v")
    assert err == 0
    # read_reply() queues notifications that arrive before the reply
    assert a.events == [(CHANGED, SYNC_CONNECTED, root + "/n")]
    assert a.delete(root + "/n") == 0
    assert a.events[1:] == [(CHILD, SYNC_CONNECTED, root)]


def test_one_notification_per_event_for_duplicate_watches(wire, root):
    a, b = wire(), wire()
    p = root + "/n"
    a.create(p)
    a.get(p, watch=True)
    a.exists(p, watch=True)
    a.get(p, watch=True)
    a.children(p, watch=True)
    b.delete(p)
    a.wait_events(1, 2)
    time.sleep(0.2)
    a.wait_events(2, 0.3)
    assert a.events == [(DELETED, SYNC_CONNECTED, p)]


def test_getdata_on_missing_node_sets_no_watch(wire, root):
    a, b = wire(), wire()
    p = root + "/n"
    assert a.get(p, watch=True)[0] == -101
    assert a.children(p, watch=True)[0] == -101
    assert a.exists(p + "x", watch=True)[0] == -101   # this one does register
    b.create(p)
    b.create(p + "x")
    a.wait_events(1, 2)
    a.wait_events(2, 0.5)
    assert a.events == [(CREATED, SYNC_CONNECTED, p + "x")]


def test_kazoo_drops_watches_on_connection_loss(make_client, zk2, proxy, root):
    """kazoo 2.11 does not re-register one-shot watches after a reconnect: it calls
    them with a NONE event on SUSPENDED (the session itself survives)."""
    zk = make_client(proxy.address)
    sid = zk.client_id[0]
    p = zk2.create(root + "/n", b"0")
    ev = Events()
    zk.get(p, watch=ev)
    proxy.pause()
    wait_until(lambda: not zk.connected, 10, msg="disconnect")
    proxy.resume()
    wait_until(lambda: zk.connected, 15, msg="reconnect")
    assert zk.client_id[0] == sid
    assert ev.wait(1)[0].type == EventType.NONE


def test_set_watches_on_reconnect(wire, root):
    """SetWatches (opcode 101, xid -8) re-arms watches on a new connection of the same
    session; changes newer than relativeZxid fire at once."""
    a, b = wire(), wire()
    changed = root + "/changed"
    deleted = root + "/deleted"
    created = root + "/created"
    par = root + "/par"
    quiet = root + "/quiet"
    gone_child = root + "/gonepar"
    for p in (changed, deleted, par, quiet, gone_child):
        b.create(p, b"0")
    a.get(root)                       # a.last_zxid = everything so far
    rel = a.last_zxid
    a.close()                         # drop the connection, keep the session
    b.set(changed, b"1")
    b.delete(deleted)
    b.create(created)
    b.create(par + "/kid")
    b.delete(gone_child)
    a2 = wire(session_id=a.session_id, passwd=a.passwd, last_zxid=rel)
    assert a2.session_id == a.session_id
    vec = lambda ps: zkwire.i32(len(ps)) + b"".join(zkwire.ustr(p) for p in ps)
    body = (zkwire.i64(rel) + vec([changed, deleted, quiet, root + "/nodata"]) +
            vec([created, root + "/stillmissing"]) + vec([par, quiet, gone_child]))
    zxid, err, _ = a2.call(zkwire.SET_WATCHES, body, xid=-8)
    assert err == 0
    a2.wait_events(5, 3)
    a2.wait_events(6, 0.3)
    S = SYNC_CONNECTED
    assert sorted(a2.events) == sorted([
        (CHANGED, S, changed), (DELETED, S, deleted), (DELETED, S, root + "/nodata"),
        (CREATED, S, created), (CHILD, S, par), (DELETED, S, gone_child)])
    # the quiet watches (data + child) and the still-missing exists watch are armed
    a2.events.clear()
    b.set(quiet, b"x")
    b.create(quiet + "/k")
    b.create(root + "/stillmissing")
    a2.wait_events(3, 3)
    assert sorted(a2.events) == sorted([
        (CHANGED, S, quiet), (CHILD, S, quiet), (CREATED, S, root + "/stillmissing")])


# --------------------------------------------------------------------------
# persistent watches (addWatch, opcode 106) -- kazoo 2.11 has no API for them

PERSISTENT, PERSISTENT_RECURSIVE = 0, 1


def test_add_watch_reply_body(wire, root):
    a = wire()
    err, body = a.add_watch(root, PERSISTENT)
    assert err == 0
    assert body.remaining() == 4 and body.int() == 0   # ErrorResponse{err=0}


def test_persistent_watch(wire, root):
    a, b = wire(), wire()
    p = root + "/pw"
    assert a.add_watch(p, PERSISTENT)[0] == 0          # node need not exist
    b.create(p)
    b.set(p, b"1")
    b.set(p, b"2")                                    # fires again: not one-shot
    b.create(p + "/kid")
    b.set(p + "/kid", b"x")                           # child data: not watched
    b.create(p + "/kid/gc")                           # grandchild: not watched
    b.delete(p + "/kid/gc")
    b.delete(p + "/kid")
    b.delete(p)
    b.create(p)
    a.wait_events(7, 3)
    a.wait_events(8, 0.3)
    S = SYNC_CONNECTED
    assert a.events == [
        (CREATED, S, p), (CHANGED, S, p), (CHANGED, S, p), (CHILD, S, p),
        (CHILD, S, p), (DELETED, S, p), (CREATED, S, p),
    ]


def test_persistent_recursive_watch(wire, root):
    a, b = wire(), wire()
    p = root + "/rw"
    b.create(p)
    assert a.add_watch(p, PERSISTENT_RECURSIVE)[0] == 0
    b.create(p + "/c")
    b.set(p + "/c", b"x")
    b.create(p + "/c/d")
    b.set(p, b"y")
    b.delete(p + "/c/d")
    b.delete(p + "/c")
    b.create(root + "/rwx")                          # sibling with a common prefix
    b.set(root, b"z")                                # ancestor
    b.delete(p)
    a.wait_events(7, 3)
    a.wait_events(8, 0.3)
    S = SYNC_CONNECTED
    # never NodeChildrenChanged for recursive watches
    assert a.events == [
        (CREATED, S, p + "/c"), (CHANGED, S, p + "/c"), (CREATED, S, p + "/c/d"),
        (CHANGED, S, p), (DELETED, S, p + "/c/d"), (DELETED, S, p + "/c"), (DELETED, S, p),
    ]


def test_add_watch_mode_replaces_previous_mode(wire, root):
    a, b = wire(), wire()
    p = root + "/m"
    b.create(p)
    a.add_watch(p, PERSISTENT)
    # ZooKeeper 3.8.0 keeps one mode per (connection, path): the second addWatch
    # replaces the first (ZOOKEEPER-4466 changed this in 3.9)
    a.add_watch(p, PERSISTENT_RECURSIVE)
    b.create(p + "/k")
    a.wait_events(1, 2)
    a.wait_events(2, 0.3)
    assert a.events == [(CREATED, SYNC_CONNECTED, p + "/k")]


def test_persistent_and_standard_watch_one_event(wire, root):
    a, b = wire(), wire()
    p = root + "/both"
    b.create(p)
    a.add_watch(p, PERSISTENT)
    a.get(p, watch=True)
    b.set(p, b"1")
    a.wait_events(1, 2)
    a.wait_events(2, 0.3)
    assert a.events == [(CHANGED, SYNC_CONNECTED, p)]
    # ZooKeeper 3.8.0 keeps one mode per (connection, path): the later standard
    # registration replaced the persistent one, so nothing fires any more
    # (ZOOKEEPER-4466 changed this in 3.9).
    b.set(p, b"2")
    a.wait_events(2, 0.5)
    assert len(a.events) == 1


# --------------------------------------------------------------------------
# checkWatches (17) / removeWatches (18); WatcherType Children=1 Data=2 Any=3

CHILDREN, DATA, ANY = 1, 2, 3


def test_check_and_remove_data_watch(wire, root):
    a, b = wire(), wire()
    p = root + "/n"
    b.create(p)
    a.get(p, watch=True)
    assert a.check_watches(p, DATA) == 0
    assert a.check_watches(p, ANY) == 0
    assert a.check_watches(p, CHILDREN) == NOWATCHER
    assert a.remove_watches(p, CHILDREN) == NOWATCHER
    assert a.remove_watches(p, DATA) == 0
    assert a.check_watches(p, ANY) == NOWATCHER
    assert a.remove_watches(p, DATA) == NOWATCHER
    b.set(p, b"x")
    a.wait_events(1, 0.5)
    assert a.events == []                             # the server sends no *Removed events


def test_remove_child_and_any_watches(wire, root):
    a, b = wire(), wire()
    p = root + "/n"
    b.create(p)
    a.children(p, watch=True)
    assert a.check_watches(p, CHILDREN) == 0
    assert a.check_watches(p, DATA) == NOWATCHER
    assert a.remove_watches(p, CHILDREN) == 0
    a.children(p, watch=True)
    a.exists(p, watch=True)
    assert a.remove_watches(p, ANY) == 0
    assert a.check_watches(p, CHILDREN) == NOWATCHER
    assert a.check_watches(p, DATA) == NOWATCHER
    assert a.remove_watches(p, ANY) == NOWATCHER
    b.create(p + "/k")
    b.delete(p + "/k")
    b.delete(p)
    a.wait_events(1, 0.5)
    assert a.events == []


def test_remove_exists_watch_on_missing_node(wire, root):
    a, b = wire(), wire()
    p = root + "/missing"
    a.exists(p, watch=True)
    assert a.check_watches(p, DATA) == 0
    assert a.remove_watches(p, DATA) == 0
    assert a.remove_watches(root + "/never", ANY) == NOWATCHER
    b.create(p)
    a.wait_events(1, 0.5)
    assert a.events == []


def test_remove_watches_is_per_session(wire, root):
    a, b = wire(), wire()
    p = root + "/n"
    b.create(p)
    a.get(p, watch=True)
    b.get(p, watch=True)
    assert b.remove_watches(p, DATA) == 0
    b.set(p, b"x")
    a.wait_events(1, 2)
    assert a.events == [(CHANGED, SYNC_CONNECTED, p)]
    assert b.events == []


def test_remove_persistent_watches(wire, root):
    a, b = wire(), wire()
    p = root + "/n"
    b.create(p)
    a.add_watch(p, PERSISTENT)
    assert a.check_watches(p, DATA) == 0
    assert a.check_watches(p, CHILDREN) == 0
    assert a.remove_watches(p, ANY) == 0
    assert a.check_watches(p, ANY) == NOWATCHER
    a.add_watch(p, PERSISTENT_RECURSIVE)
    assert a.remove_watches(p, ANY) == 0
    b.set(p, b"x")
    b.create(p + "/k")
    a.wait_events(1, 0.5)
    assert a.events == []
