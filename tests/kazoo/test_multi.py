"""multi (opcode 14) through kazoo transactions, and multiRead (22) on the wire."""
import pytest
from kazoo.exceptions import (BadVersionError, NodeExistsError, NoNodeError,
                              NotEmptyError, RolledBackError, RuntimeInconsistency)
from kazoo.protocol.states import ZnodeStat

import zkwire
from zkwire import boolean, i32, ustr


def test_transaction_success(zk, root):
    a = zk.create(root + "/a", b"0")
    doomed = zk.create(root + "/doomed")
    t = zk.transaction()
    t.create(root + "/new", b"n")
    t.set_data(a, b"1")
    t.check(a, 1)
    t.delete(doomed)
    t.create(root + "/seq-", sequence=True)
    res = t.commit()
    assert len(res) == 5
    assert res[0] == root + "/new"
    assert isinstance(res[1], ZnodeStat) and res[1].version == 1
    assert res[2] is True and res[3] is True
    assert res[4] == root + "/seq-0000000003"
    # all ops share one zxid
    new_st = zk.exists(root + "/new")
    assert res[1].mzxid == new_st.czxid == zk.exists(res[4]).czxid == zk.last_zxid
    assert zk.exists(root).pzxid == new_st.czxid
    assert zk.get(a)[0] == b"1"
    assert zk.exists(doomed) is None


def test_transaction_failure_is_all_or_nothing(zk, root):
    a = zk.create(root + "/a", b"0")
    before = zk.exists(root)
    t = zk.transaction()
    t.create(root + "/x")
    t.set_data(a, b"changed")
    t.create(a)                 # NodeExists
    t.delete(a)
    t.check(a, 0)
    res = t.commit()
    assert [type(r) for r in res] == [RolledBackError, RolledBackError, NodeExistsError,
                                      RuntimeInconsistency, RuntimeInconsistency]
    assert zk.exists(root + "/x") is None
    assert zk.get(a)[0] == b"0" and zk.exists(a).version == 0
    after = zk.exists(root)
    assert (after.cversion, after.pzxid, after.numChildren) == (
        before.cversion, before.pzxid, before.numChildren)


@pytest.mark.parametrize("op,exc", [
    ("check", BadVersionError), ("set_bad", BadVersionError),
    ("delete_missing", NoNodeError), ("create_orphan", NoNodeError),
    ("delete_nonempty", NotEmptyError), ("check_missing", NoNodeError),
])
def test_transaction_failure_codes(zk, root, op, exc):
    a = zk.create(root + "/a", b"0")
    zk.create(root + "/p/k", makepath=True)
    t = zk.transaction()
    t.set_data(a, b"1")
    {"check": lambda: t.check(a, 5),
     "set_bad": lambda: t.set_data(a, b"x", version=7),
     "delete_missing": lambda: t.delete(root + "/missing"),
     "create_orphan": lambda: t.create(root + "/missing/child"),
     "delete_nonempty": lambda: t.delete(root + "/p"),
     "check_missing": lambda: t.check(root + "/missing", 0)}[op]()
    t.create(root + "/after")
    res = t.commit()
    assert [type(r) for r in res] == [RolledBackError, exc, RuntimeInconsistency]
    assert zk.get(a)[0] == b"0"


def test_transaction_sees_its_own_earlier_ops(zk, root):
    t = zk.transaction()
    t.create(root + "/n", b"0")
    t.set_data(root + "/n", b"1")
    t.check(root + "/n", 1)
    t.create(root + "/n/child")
    t.delete(root + "/n/child")
    t.set_data(root + "/n", b"2", version=1)
    res = t.commit()
    assert res[0] == root + "/n" and res[3] == root + "/n/child"
    data, st = zk.get(root + "/n")
    assert data == b"2" and st.version == 2
    assert (st.cversion, st.numChildren) == (2, 0)
    assert st.czxid == st.mzxid == st.pzxid


def test_transaction_ephemeral(zk, zk2, root):
    t = zk.transaction()
    t.create(root + "/e", ephemeral=True)
    t.create(root + "/es-", ephemeral=True, sequence=True)
    res = t.commit()
    for p in res:
        assert zk2.exists(p).ephemeralOwner == zk.client_id[0]
    t = zk.transaction()
    t.create(root + "/e/child")
    assert type(t.commit()[0]).__name__ == "NoChildrenForEphemeralsError"


def test_empty_transaction(zk):
    assert zk.transaction().commit() == []


def test_failed_transaction_consumes_one_zxid(zk, root):
    _, s1 = zk.create(root + "/a", include_data=True)
    t = zk.transaction()
    t.create(root + "/b")
    t.create(root + "/c")
    t.create(root + "/a")
    t.commit()
    assert zk.last_zxid == s1.czxid + 1
    _, s2 = zk.create(root + "/d", include_data=True)
    assert s2.czxid == s1.czxid + 2


def _multi_read_body(ops):
    body = b""
    for op, path in ops:
        body += i32(op) + boolean(False) + i32(-1) + ustr(path) + boolean(False)
    return body + i32(-1) + boolean(True) + i32(-1)


def test_multi_read(wire, zk, root):
    a = zk.create(root + "/a", b"va")
    zk.create(root + "/a/k1")
    zk.create(root + "/a/k2")
    w = wire()
    zxid, err, r = w.call(zkwire.MULTI_READ, _multi_read_body([
        (zkwire.GET_DATA, a), (zkwire.GET_CHILDREN, a),
        (zkwire.GET_DATA, root + "/missing"), (zkwire.GET_CHILDREN, root + "/missing"),
        (zkwire.GET_DATA, root)]))
    assert err == 0
    results = []
    while True:
        typ, done, e = r.int(), r.bool(), r.int()
        if done:
            assert (typ, e) == (-1, -1)
            break
        if typ == zkwire.GET_DATA:
            results.append(("data", r.buffer(), r.stat()["version"]))
        elif typ == zkwire.GET_CHILDREN:
            results.append(("children", sorted(r.strings())))
        else:
            assert typ == -1
            results.append(("err", e, r.int()))
    assert results == [("data", b"va", 0), ("children", ["k1", "k2"]),
                       ("err", -101, -101), ("err", -101, -101), ("data", b"", 0)]


def test_multi_raw_failure_encoding(wire, root):
    """Failed multi: reply header err 0; every op becomes an error result (-1 type)."""
    w = wire()
    w.create(root + "/a")
    body = b""
    for path in (root + "/b", root + "/a", root + "/c"):
        body += i32(zkwire.CREATE) + boolean(False) + i32(-1) + zkwire.create_body(path)
    body += i32(-1) + boolean(True) + i32(-1)
    zxid, err, r = w.call(zkwire.MULTI, body)
    assert err == 0
    got = []
    while True:
        typ, done, e = r.int(), r.bool(), r.int()
        if done:
            break
        got.append((typ, e, r.int()))
    assert got == [(-1, 0, 0), (-1, -110, -110), (-1, -2, -2)]


def test_multi_raw_success_result_types(wire, root):
    w = wire()
    w.create(root + "/a")
    body = b""
    ops = [
        (zkwire.CREATE, zkwire.create_body(root + "/c1")),
        (zkwire.CREATE2, zkwire.create_body(root + "/c2")),
        (zkwire.CREATE_CONTAINER, zkwire.create_body(root + "/c3", flags=4)),
        (zkwire.CREATE_TTL, zkwire.create_body(root + "/c4", flags=5, ttl=60000)),
        (zkwire.SET_DATA, ustr(root + "/a") + zkwire.buf(b"x") + i32(-1)),
        (zkwire.CHECK, ustr(root + "/a") + i32(1)),
        (zkwire.DELETE, ustr(root + "/c1") + i32(-1)),
    ]
    for op, b in ops:
        body += i32(op) + boolean(False) + i32(-1) + b
    body += i32(-1) + boolean(True) + i32(-1)
    zxid, err, r = w.call(zkwire.MULTI, body)
    assert err == 0
    got = []
    while True:
        typ, done, e = r.int(), r.bool(), r.int()
        if done:
            break
        if typ == zkwire.CREATE:
            got.append((typ, r.string()))
        elif typ == zkwire.CREATE2:
            path, st = r.string(), r.stat()
            got.append((typ, path, st["czxid"] == zxid, st["ephemeralOwner"]))
        elif typ == zkwire.SET_DATA:
            got.append((typ, r.stat()["version"]))
        else:
            got.append((typ,))
    # ZooKeeper 3.8.0 answers a create2 sub-op with a plain create result (type 1, path
    # only); container and TTL creates answer with create2 results (path + Stat).
    assert got == [
        (1, root + "/c1"), (1, root + "/c2"), (15, root + "/c3", True, 0),
        (15, root + "/c4", True, 0), (5, 1), (13,), (2,)]
