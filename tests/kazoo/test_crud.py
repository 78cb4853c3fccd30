"""CRUD, Stat fields, data encoding, sequential/ephemeral naming, errors, paths."""
import time

import pytest
from kazoo.exceptions import (BadArgumentsError, BadVersionError, NoAuthError,
                              NoChildrenForEphemeralsError, NodeExistsError,
                              NoNodeError, NotEmptyError)
from kazoo.security import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE

import zkwire
from zkwire import CREATE, CREATE2


def now_ms():
    return int(time.time() * 1000)


def test_create_get_set_delete(zk, root):
    p = root + "/node"
    assert zk.create(p, b"hello") == p
    data, st = zk.get(p)
    assert data == b"hello"
    assert st.version == 0 and st.dataLength == 5
    st2 = zk.set(p, b"world!")
    assert st2.version == 1 and st2.dataLength == 6
    assert zk.get(p)[0] == b"world!"
    assert zk.exists(p) == st2
    zk.delete(p)
    assert zk.exists(p) is None
    with pytest.raises(NoNodeError):
        zk.get(p)


def test_stat_fields_on_create(zk, root):
    before = now_ms()
    p, st = zk.create(root + "/n", b"abc", include_data=True)
    after = now_ms()
    assert p == root + "/n"
    # the reply header of a write carries that write's zxid
    assert st.czxid == zk.last_zxid
    assert st.czxid == st.mzxid == st.pzxid
    assert st.ctime == st.mtime
    assert before - 2000 <= st.ctime <= after + 2000
    assert (st.version, st.cversion, st.aversion) == (0, 0, 0)
    assert st.ephemeralOwner == 0
    assert st.dataLength == 3
    assert st.numChildren == 0
    # the same Stat from every read path
    assert zk.exists(p) == st
    assert zk.get(p)[1] == st
    assert zk.get_acls(p)[1] == st
    assert zk.get_children(p, include_data=True) == ([], st)


def test_setdata_changes_only_data_fields(zk, root):
    p, st0 = zk.create(root + "/n", b"a", include_data=True)
    time.sleep(0.01)
    st1 = zk.set(p, b"bb")
    assert st1.mzxid == zk.last_zxid and st1.mzxid > st0.mzxid
    assert st1.czxid == st0.czxid and st1.ctime == st0.ctime
    assert st1.mtime >= st0.mtime
    assert st1.pzxid == st0.pzxid
    assert (st1.version, st1.cversion, st1.aversion) == (1, 0, 0)
    assert st1.dataLength == 2
    # same data again still bumps the version
    st2 = zk.set(p, b"bb")
    assert st2.version == 2 and st2.mzxid > st1.mzxid


def test_setacl_changes_only_aversion(zk, root):
    p, st0 = zk.create(root + "/n", b"a", include_data=True)
    st1 = zk.set_acls(p, READ_ACL_UNSAFE + [OPEN_ACL_UNSAFE[0]])
    assert st1.aversion == 1
    assert (st1.version, st1.mzxid, st1.mtime, st1.pzxid) == (0, st0.mzxid, st0.mtime, st0.pzxid)
    st2 = zk.set_acls(p, OPEN_ACL_UNSAFE, version=1)
    assert st2.aversion == 2


def test_parent_stat_on_child_create_and_delete(zk, root):
    par, pst0 = zk.create(root + "/par", b"x", include_data=True)
    _, c1 = zk.create(par + "/c1", include_data=True)
    st = zk.exists(par)
    assert (st.cversion, st.numChildren, st.pzxid) == (1, 1, c1.czxid)
    assert (st.mzxid, st.version, st.mtime) == (pst0.mzxid, 0, pst0.mtime)
    _, c2 = zk.create(par + "/c2", include_data=True)
    st = zk.exists(par)
    assert (st.cversion, st.numChildren, st.pzxid) == (2, 2, c2.czxid)
    # setData on a child does not touch the parent
    zk.set(par + "/c1", b"changed")
    assert zk.exists(par) == st
    zk.delete(par + "/c1")
    del_zxid = zk.last_zxid
    st = zk.exists(par)
    # visible cversion = 2 * (child creates) - numChildren: deletes raise it too
    assert (st.cversion, st.numChildren, st.pzxid) == (3, 1, del_zxid)
    assert st.mzxid == pst0.mzxid
    zk.delete(par + "/c2")
    st = zk.exists(par)
    assert (st.cversion, st.numChildren, st.pzxid) == (4, 0, zk.last_zxid)
    _, c3 = zk.create(par + "/c3", include_data=True)
    st = zk.exists(par)
    assert (st.cversion, st.numChildren, st.pzxid) == (5, 1, c3.czxid)


def test_visible_cversion_formula(zk, root):
    par = zk.create(root + "/par")
    for i in range(5):
        zk.create("%s/c%d" % (par, i))
    for i in range(3):
        zk.delete("%s/c%d" % (par, i))
    st = zk.exists(par)
    assert st.numChildren == 2
    assert st.cversion == 2 * 5 - 2
    # sequential suffix uses the stored counter (5 creates so far), not the visible value
    assert zk.create(par + "/s-", sequence=True) == par + "/s-0000000005"


def test_special_nodes(zk, mode):
    st = zk.exists("/")
    assert (st.czxid, st.mzxid, st.ctime, st.mtime, st.version, st.aversion,
            st.ephemeralOwner, st.dataLength) == (0, 0, 0, 0, 0, 0, 0, 0)
    assert zk.get("/")[0] == b""
    assert zk.get_acls("/")[0] == OPEN_ACL_UNSAFE
    assert "zookeeper" in zk.get_children("/")
    data, st = zk.get("/zookeeper")
    assert data == b""
    assert (st.czxid, st.mzxid, st.ctime, st.mtime, st.version, st.cversion, st.aversion,
            st.ephemeralOwner, st.dataLength, st.numChildren, st.pzxid) == (
        0, 0, 0, 0, 0, -2, 0, 0, 0, 2, 0)
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    assert zk.get_acls("/zookeeper")[0] == OPEN_ACL_UNSAFE
    data, st = zk.get("/zookeeper/config")
    if mode == "standalone":
        assert data == b""  # standalone: empty, not null
        assert (st.czxid, st.version, st.aversion, st.numChildren) == (0, 0, -1, 0)
    else:
        # An ensemble member: the membership (QuorumMaj.toString()), written
        # with dataVersion -1 by initConfigInZKDatabase.
        assert data.startswith(b"server.") and data.endswith(b"\nversion=0")
        assert (st.czxid, st.version, st.aversion, st.numChildren) == (0, -1, -1, 0)
    assert zk.get_acls("/zookeeper/config")[0] == READ_ACL_UNSAFE
    data, st = zk.get("/zookeeper/quota")
    assert data == b"" and st.czxid == 0
    assert zk.get_acls("/zookeeper/quota")[0] == OPEN_ACL_UNSAFE


def test_special_nodes_are_protected(zk, wire):
    for p in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
        with pytest.raises(BadArgumentsError):
            zk.delete(p)
    with pytest.raises(NoAuthError):
        zk.set("/zookeeper/config", b"x")
    with pytest.raises(NodeExistsError):
        zk.create("/zookeeper")
    with pytest.raises(NodeExistsError):
        zk.create("/")


def test_null_vs_empty_data(zk, root, wire):
    p1 = zk.create(root + "/null", None)
    p2 = zk.create(root + "/empty", b"")
    d1, s1 = zk.get(p1)
    d2, s2 = zk.get(p2)
    assert d1 is None and s1.dataLength == 0
    assert d2 == b"" and s2.dataLength == 0
    zk.set(p1, b"")
    assert zk.get(p1)[0] == b""
    w = wire()
    err, st = w.set(p2, None)  # setData with a null buffer
    assert err == 0 and st.get("dataLength") == 0 and st["version"] == 1
    assert zk.get(p2)[0] is None
    # opcode 1 (create) and 15 (create2) both keep null
    assert w.create(root + "/n1", None, op=CREATE)[:2] == (0, root + "/n1")
    err, path, st = w.create(root + "/n2", None, op=CREATE2)
    assert (err, path, st["dataLength"]) == (0, root + "/n2", 0)
    assert w.get(root + "/n1")[1] is None
    assert w.get(root + "/n2")[1] is None


def test_binary_data_roundtrip(zk, root):
    blob = bytes(range(256)) * 3
    p = zk.create(root + "/bin", blob)
    data, st = zk.get(p)
    assert data == blob and st.dataLength == 768


def test_sequential_naming(zk, root):
    par = zk.create(root + "/seq")
    zk.create(par + "/plain")                   # non-sequential create advances the counter
    assert zk.create(par + "/n-", sequence=True) == par + "/n-0000000001"
    assert zk.create(par + "/n-", sequence=True) == par + "/n-0000000002"
    with pytest.raises(NodeExistsError):       # a failed create does not advance it
        zk.create(par + "/plain")
    assert zk.create(par + "/other", sequence=True) == par + "/other0000000003"
    zk.delete(par + "/n-0000000001")            # deletes do not lower it
    zk.delete(par + "/n-0000000002")
    assert zk.create(par + "/n-", sequence=True) == par + "/n-0000000004"
    # empty suffix: "parent/" + counter
    assert zk.create(par + "/", sequence=True) == par + "/0000000005"
    e = zk.create(par + "/e-", ephemeral=True, sequence=True)
    assert e == par + "/e-0000000006"
    assert zk.exists(e).ephemeralOwner == zk.client_id[0]
    # counters are per parent
    par2 = zk.create(root + "/seq2")
    assert zk.create(par2 + "/x", sequence=True) == par2 + "/x0000000000"
    assert sorted(zk.get_children(par)) == sorted(
        ["plain", "other0000000003", "n-0000000004", "0000000005", "e-0000000006"])


def test_sequential_create_with_makepath(zk, root):
    p = zk.create(root + "/a/b/c-", b"d", sequence=True, makepath=True)
    assert p == root + "/a/b/c-0000000000"
    assert zk.get(p)[0] == b"d"


def test_ephemeral_nodes(zk, zk2, root):
    sid = zk.client_id[0]
    p, st = zk.create(root + "/eph", b"e", ephemeral=True, include_data=True)
    assert st.ephemeralOwner == sid != 0
    assert zk2.exists(p).ephemeralOwner == sid
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(p + "/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        zk2.create(p + "/child", sequence=True)
    # another session can delete it
    zk2.delete(p)
    assert zk.exists(p) is None
    # persistent nodes created by an ephemeral-owning session have owner 0
    assert zk.create(root + "/pers", include_data=True)[1].ephemeralOwner == 0


def test_errors(zk, root):
    p = zk.create(root + "/n", b"v")
    with pytest.raises(NodeExistsError):
        zk.create(p)
    with pytest.raises(NoNodeError):
        zk.create(root + "/missing/child")
    with pytest.raises(NoNodeError):
        zk.delete(root + "/missing")
    with pytest.raises(NoNodeError):
        zk.set(root + "/missing", b"x")
    with pytest.raises(NoNodeError):
        zk.get_children(root + "/missing")
    with pytest.raises(NoNodeError):
        zk.get_acls(root + "/missing")
    with pytest.raises(NoNodeError):
        zk.set_acls(root + "/missing", OPEN_ACL_UNSAFE)
    with pytest.raises(BadVersionError):
        zk.set(p, b"x", version=3)
    with pytest.raises(BadVersionError):
        zk.delete(p, version=3)
    with pytest.raises(BadVersionError):
        zk.set_acls(p, OPEN_ACL_UNSAFE, version=3)
    zk.create(p + "/kid")
    with pytest.raises(NotEmptyError):
        zk.delete(p)
    with pytest.raises(NotEmptyError):
        zk.delete(p, version=0)
    # version check happens before the children check? -> BadVersion wins
    with pytest.raises(BadVersionError):
        zk.delete(p, version=7)
    zk.delete(p + "/kid", version=0)
    assert zk.set(p, b"x", version=0).version == 1
    assert zk.set(p, b"y", version=-1).version == 2
    zk.delete(p, version=2)
    assert zk.exists(p) is None


def test_error_precedence_missing_parent_vs_exists(zk, root, wire):
    w = wire()
    # NoNode for a missing parent even if the name is also invalid
    assert w.create(root + "/missing/x")[0] == NoNodeError.code
    # ephemeral parent check vs. NodeExists
    e = zk.create(root + "/e", ephemeral=True)
    assert w.create(e + "/c")[0] == NoChildrenForEphemeralsError.code


def test_get_children(zk, root):
    par = zk.create(root + "/p")
    names = ["b", "a", "c", "a1", "Z"]
    for n in names:
        zk.create(par + "/" + n)
    assert sorted(zk.get_children(par)) == sorted(names)
    kids, st = zk.get_children(par, include_data=True)
    assert sorted(kids) == sorted(names)
    assert st == zk.exists(par) and st.numChildren == 5
    assert zk.get_children(par + "/a") == []


def test_unicode_names_and_data(zk, root):
    p = zk.create(root + "/h\u00e9llo w\u00f6rld \u2603", "\u00fcnicode".encode())
    assert p == root + "/h\u00e9llo w\u00f6rld \u2603"
    assert zk.get_children(root) == ["h\u00e9llo w\u00f6rld \u2603"]
    assert zk.get(p)[0].decode() == "\u00fcnicode"


def test_server_side_path_validation(zk, root, wire):
    w = wire()
    BAD, NONODE = BadArgumentsError.code, NoNodeError.code
    # parent exists -> the name itself is validated
    for bad in ("/", "/.", "/..", "/a\x01", "/a\x00b", "/\ufff0", "/\u0085", "/\u007f"):
        assert w.create(root + bad)[0] == BAD, repr(bad)
    # the parent is looked up first: a bad path whose parent is missing is NoNode
    assert w.create(root + "//b")[0] == NONODE
    assert w.create(root + "/x/")[0] == NONODE
    assert w.create("relative")[0] == BAD
    # reads do not validate; they just miss
    assert w.get(root + "/")[0] == NONODE
    assert w.exists(root + "/")[0] == NONODE
    assert w.children(root + "//x")[0] == NONODE
    # valid odd names
    for ok in ("/a b", "/\u00e9", "/...", "/.a", "/a.", "/zookeeper"):
        assert w.create(root + ok)[0] == 0, repr(ok)


def test_zxid_accounting(zk, root):
    """Each write takes one zxid, failed writes too; reads and sync take none."""
    _, s1 = zk.create(root + "/a", include_data=True)
    with pytest.raises(NodeExistsError):
        zk.create(root + "/a")
    assert zk.last_zxid == s1.czxid + 1
    _, s2 = zk.create(root + "/b", include_data=True)
    assert s2.czxid == s1.czxid + 2
    zk.get(root + "/a")
    zk.exists(root + "/zz")
    zk.get_children(root)
    zk.sync(root)
    _, s3 = zk.create(root + "/c", include_data=True)
    assert s3.czxid == s2.czxid + 1
    with pytest.raises(BadVersionError):
        zk.set(root + "/c", b"", version=9)
    with pytest.raises(NoNodeError):
        zk.delete(root + "/nope")
    _, s4 = zk.create(root + "/d", include_data=True)
    assert s4.czxid == s3.czxid + 3
    t = zk.transaction()
    t.create(root + "/e")
    t.create(root + "/a")
    t.commit()
    _, s5 = zk.create(root + "/f", include_data=True)
    assert s5.czxid == s4.czxid + 2


def test_reply_zxid_of_reads_is_last_processed(zk, zk2, root):
    _, st = zk2.create(root + "/a", include_data=True)
    zk.get(root)
    assert zk.last_zxid == st.czxid


def test_sync(zk, zk2, root):
    p = zk.create(root + "/s", b"1")
    zk2.set(p, b"2")
    assert zk.sync(p) == p
    assert zk.get(p)[0] == b"2"
    # sync on a missing path succeeds and echoes the path
    assert zk.sync(root + "/missing") == root + "/missing"


def test_ensure_path_and_recursive_delete(zk, root):
    zk.ensure_path(root + "/x/y/z")
    zk.ensure_path(root + "/x/y/z")
    assert zk.exists(root + "/x/y/z")
    zk.create(root + "/x/y/z/w", b"1")
    zk.delete(root + "/x", recursive=True)
    assert zk.exists(root + "/x") is None


def _create_frame_overhead(path):
    # kazoo's create(): opcode 1 request =
    #   xid(4) type(4) path(4+len) data(4+n) acl-vector(4 + perms 4 + "world" 4+5 + "anyone" 4+6) flags(4)
    return 8 + 4 + len(path.encode()) + 4 + 4 + 4 + 9 + 10 + 4


def test_large_data_at_jute_maxbuffer_limit(zk, root):
    """A request frame may be at most jute.maxbuffer (1048575) bytes, excluding the
    4-byte length prefix; one byte more and the server drops the connection."""
    p = root + "/big"
    n = 1048575 - _create_frame_overhead(p)
    assert n > 1040000
    blob = bytes([i % 251 for i in range(n)])
    zk.create(p, blob)
    data, st = zk.get(p)
    assert data == blob and st.dataLength == n
    zk.delete(p)


def test_large_data_over_limit_drops_connection(zk, root):
    from kazoo.exceptions import ConnectionLoss
    from zkhelpers import wait_until
    sid = zk.client_id[0]
    p = root + "/big"
    n = 1048575 - _create_frame_overhead(p) + 1
    with pytest.raises(ConnectionLoss):
        zk.create(p, b"x" * n)
    # the session survives: kazoo reconnects with the same session
    wait_until(lambda: zk.connected, 15, msg="reconnect")
    assert zk.client_id[0] == sid
    assert zk.exists(p) is None
    assert zk.exists(root) is not None
