"""Sessions: handshake, timeouts, close, expiry, takeover, passwords."""
import time

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import EventType, KazooState

import zkwire
from zkhelpers import Events, session_password, wait_until


def test_close_session_deletes_ephemerals(make_client, zk, root):
    c = make_client()
    e1 = c.create(root + "/e1", ephemeral=True)
    e2 = c.create(root + "/e2-", ephemeral=True, sequence=True)
    pers = c.create(root + "/p")
    ev = Events()
    zk.exists(e1, watch=ev)
    c.stop()
    # closeSession is synchronous: gone as soon as the close has been answered
    assert zk.exists(e1) is None and zk.exists(e2) is None
    assert zk.exists(pers) is not None
    assert ev.wait(1)[0].type == EventType.DELETED


def test_connect_response(wire):
    w = wire(timeout_ms=10000)
    assert w.protocol_version == 0
    assert w.timeout == 10000
    assert w.session_id != 0
    assert len(w.passwd) == 16
    assert w.read_only is False
    assert w.connect_raw_len == 4 + 4 + 8 + 4 + 16 + 1
    # a client that does not send the readOnly byte gets a response without it
    old = wire(send_read_only=False)
    assert old.connect_raw_len == 36 and old.read_only is None
    assert old.exists("/")[0] == 0


def test_session_timeout_negotiation(wire):
    # tickTime=2000 -> min 4000, max 40000
    assert wire(timeout_ms=1).timeout == 4000
    assert wire(timeout_ms=3999).timeout == 4000
    assert wire(timeout_ms=4001).timeout == 4001
    assert wire(timeout_ms=40000).timeout == 40000
    assert wire(timeout_ms=10 ** 6).timeout == 40000


def test_session_ids_and_passwords(wire):
    a = wire()
    b = wire()
    # standalone server id 1 lives in the top byte; ids are allocated sequentially
    assert a.session_id >> 56 == 1
    assert b.session_id == a.session_id + 1
    # password = java.util.Random(sessionId ^ 0xB3415C00).nextBytes(16)
    assert a.passwd == session_password(a.session_id)
    assert b.passwd == session_password(b.session_id)


def test_reconnect_with_wrong_password(wire):
    a = wire()
    b = wire(session_id=a.session_id, passwd=b"\x01" * 16)
    # expired-style answer: timeout 0, session 0, zero password, then the socket closes
    assert (b.timeout, b.session_id, b.passwd) == (0, 0, b"\x00" * 16)
    with pytest.raises((zkwire.ConnectionClosed, ConnectionError)):
        b.call(zkwire.PING, xid=-2)
    # quirk of 3.8: the owner's connection is dropped too (before the password check)
    with pytest.raises((zkwire.ConnectionClosed, ConnectionError)):
        a.call(zkwire.PING, xid=-2)
    # ... but the session lives on
    c = wire(session_id=a.session_id, passwd=a.passwd)
    assert c.session_id == a.session_id and c.timeout == a.timeout


def test_reconnect_unknown_session(wire):
    b = wire(session_id=0x01ABCDEF00000001, passwd=session_password(0x01ABCDEF00000001))
    assert (b.timeout, b.session_id) == (0, 0)


def test_reconnect_with_last_zxid_ahead_is_refused(wire):
    a = wire()
    a.get("/")
    with pytest.raises((zkwire.ConnectionClosed, ConnectionError)):
        wire(last_zxid=a.last_zxid + 1000)
    assert wire(last_zxid=a.last_zxid).session_id != 0


def test_session_takeover_by_new_client(make_client, wire, zk, root):
    """A second client presenting session id + password takes the session over; the
    first connection is closed; ephemerals stay owned by the session."""
    a = wire(timeout_ms=10000)
    e = root + "/eph"
    assert a.create(e, b"", flags=1)[0] == 0
    b = make_client(client_id=(a.session_id, a.passwd))
    assert b.client_id == (a.session_id, a.passwd)
    with pytest.raises((zkwire.ConnectionClosed, ConnectionError)):
        a.call(zkwire.PING, xid=-2)
    assert zk.exists(e).ephemeralOwner == a.session_id
    e2 = b.create(root + "/eph2", ephemeral=True)
    assert zk.exists(e2).ephemeralOwner == a.session_id
    b.stop()                               # closes the shared session
    assert zk.exists(e) is None and zk.exists(e2) is None


def test_closed_session_cannot_be_resumed(make_client, wire):
    a = wire()
    a.close_session()
    b = wire(session_id=a.session_id, passwd=a.passwd)
    assert (b.timeout, b.session_id) == (0, 0)
    # kazoo treats that as an expired session and starts a fresh one
    c = make_client(client_id=(a.session_id, a.passwd))
    assert c.connected and c.client_id[0] not in (0, a.session_id)


def test_session_expiry(make_client, hosts, zk, proxy, root):
    """No traffic for the session timeout -> the session expires and its ephemerals go;
    expiry happens between timeout and timeout + tickTime after the last contact."""
    c = make_client(proxy.address, timeout=4.0)
    keeper = make_client(timeout=4.0)            # same timeout, kept alive by pings
    sid, passwd = c.client_id
    e = c.create(root + "/eph", ephemeral=True)
    k = keeper.create(root + "/keeper", ephemeral=True)
    states = []
    c.add_listener(states.append)
    ev = Events()
    zk.exists(e, watch=ev)
    proxy.pause()
    t0 = time.time()
    wait_until(lambda: zk.exists(e) is None, 12, 0.1, "ephemeral removal")
    elapsed = time.time() - t0
    assert 2.5 <= elapsed <= 8.5, elapsed
    assert ev.wait(1)[0].type == EventType.DELETED
    # the old session cannot be resumed any more
    w = zkwire.WireClient(hosts, session_id=sid, passwd=passwd)
    assert (w.timeout, w.session_id) == (0, 0)
    w.close()
    # kazoo sees LOST once it can reach the server again, then gets a new session
    proxy.resume()
    wait_until(lambda: KazooState.LOST in states and c.connected, 15, msg="LOST + reconnect")
    assert c.client_id[0] != sid
    # meanwhile (> timeout + tickTime) the idle but pinging client kept its session
    time.sleep(max(0.0, 6.5 - (time.time() - t0)))
    assert zk.exists(k).ephemeralOwner == keeper.client_id[0]


def test_requests_pipelined_in_order(wire, root):
    w = wire()
    xids = [w.send_only(zkwire.CREATE, zkwire.create_body("%s/n%d" % (root, i)))
            for i in range(20)]
    xids.append(w.send_only(zkwire.GET_CHILDREN, zkwire.ustr(root) + zkwire.boolean(False)))
    got = [w.read_reply(x) for x in xids]
    assert all(err == 0 for _, err, _ in got[:-1])
    zx = [z for z, _, _ in got[:-1]]
    assert zx == sorted(zx) and len(set(zx)) == 20
    assert sorted(got[-1][2].strings()) == sorted("n%d" % i for i in range(20))


def test_unknown_opcode_closes_connection(wire):
    w = wire()
    zxid, err, _ = w.call(999)
    assert err == -6     # UNIMPLEMENTED, then the connection is closed
    with pytest.raises((zkwire.ConnectionClosed, ConnectionError)):
        w.call(zkwire.PING, xid=-2)
