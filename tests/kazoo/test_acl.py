"""ACLs, digest/ip/auth/world schemes, addAuth, whoAmI."""
import pytest
from kazoo.exceptions import (AuthFailedError, BadVersionError, InvalidACLError,
                              NoAuthError, NodeExistsError)
from kazoo.security import (ACL, Id, OPEN_ACL_UNSAFE, Permissions, READ_ACL_UNSAFE,
                            make_acl, make_digest_acl, make_digest_acl_credential)

import zkwire

ALICE = make_digest_acl("alice", "secret", all=True)
ALICE_ID = "alice:" + make_digest_acl_credential("alice", "secret").split(":", 1)[1]


def test_digest_credential_format():
    # base64(sha1("user:password")), standard alphabet with padding
    assert make_digest_acl_credential("alice", "secret") == "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="
    assert ALICE.id == Id("digest", ALICE_ID)


def test_digest_acl_enforced(zk, zk2, root):
    p = zk.create(root + "/secret", b"s", acl=[ALICE])
    # exists needs no permission (3.8)
    assert zk2.exists(p) is not None
    for op in (lambda: zk2.get(p), lambda: zk2.get_children(p), lambda: zk2.set(p, b"x"),
               lambda: zk2.create(p + "/c"), lambda: zk2.get_acls(p),
               lambda: zk2.set_acls(p, OPEN_ACL_UNSAFE)):
        with pytest.raises(NoAuthError):
            op()
    zk2.add_auth("digest", "alice:secret")
    assert zk2.get(p)[0] == b"s"
    zk2.set(p, b"t")
    zk2.create(p + "/c")
    assert zk2.get_acls(p)[0] == [ALICE]
    # a wrong password is accepted by addauth but grants nothing
    zk.add_auth("digest", "alice:wrong")
    with pytest.raises(NoAuthError):
        zk.get(p)


def test_world_read_only(zk, root):
    p = zk.create(root + "/ro", b"r", acl=READ_ACL_UNSAFE)
    assert zk.get(p)[0] == b"r"
    assert zk.get_children(p) == []
    assert zk.get_acls(p)[0] == READ_ACL_UNSAFE
    with pytest.raises(NoAuthError):
        zk.set(p, b"x")
    with pytest.raises(NoAuthError):
        zk.create(p + "/child")
    with pytest.raises(NoAuthError):
        zk.set_acls(p, OPEN_ACL_UNSAFE)
    # deleting needs DELETE on the parent, not on the node itself
    zk.delete(p)
    assert zk.exists(p) is None


def test_delete_needs_parent_delete_perm(zk, root):
    par = zk.create(root + "/par", acl=[make_acl("world", "anyone", read=True, create=True,
                                                 write=True, admin=True)])
    kid = zk.create(par + "/kid")
    with pytest.raises(NoAuthError):
        zk.delete(kid)
    zk.set_acls(par, OPEN_ACL_UNSAFE)
    zk.delete(kid)


def test_create_only_permission(zk, root):
    # (alice:ALL only so that the fixture's clean-up client can remove the node)
    par = zk.create(root + "/par", acl=[make_acl("world", "anyone", create=True), ALICE])
    zk.create(par + "/kid")
    zk.create(par + "/seq", sequence=True)
    with pytest.raises(NoAuthError):
        zk.get_children(par)
    with pytest.raises(NoAuthError):
        zk.get(par)
    with pytest.raises(NoAuthError):
        zk.delete(par + "/kid")
    # a node with no permissions at all: exists still works, getACL does not
    none = zk.create(root + "/none", acl=[ACL(0, Id("world", "anyone"))])
    assert zk.exists(none).aversion == 0
    with pytest.raises(NoAuthError):
        zk.get_acls(none)
    zk.delete(none)


def test_getacl_masks_digest_without_admin(zk, zk2, root):
    p = zk.create(root + "/n", acl=[ALICE, make_acl("world", "anyone", read=True)])
    acls, _ = zk2.get_acls(p)
    assert acls == [ACL(Permissions.ALL, Id("digest", "alice:x")),
                    ACL(Permissions.READ, Id("world", "anyone"))]
    zk2.add_auth("digest", "alice:secret")
    acls, st = zk2.get_acls(p)
    assert acls == [ALICE, make_acl("world", "anyone", read=True)]
    assert st.aversion == 0


def test_getacl_with_admin_only(zk, root):
    p = zk.create(root + "/adm", acl=[make_acl("world", "anyone", admin=True)])
    assert zk.get_acls(p)[0] == [make_acl("world", "anyone", admin=True)]
    with pytest.raises(NoAuthError):
        zk.get(p)
    zk.set_acls(p, OPEN_ACL_UNSAFE)
    assert zk.get(p)[0] == b""


def test_setacl_versions(zk, root):
    p = zk.create(root + "/v")
    with pytest.raises(BadVersionError):
        zk.set_acls(p, READ_ACL_UNSAFE, version=1)
    st = zk.set_acls(p, OPEN_ACL_UNSAFE, version=0)
    assert st.aversion == 1
    st = zk.set_acls(p, OPEN_ACL_UNSAFE, version=-1)
    assert st.aversion == 2
    st = zk.set_acls(p, OPEN_ACL_UNSAFE, version=2)
    assert st.aversion == 3 and st.version == 0
    # setData versions are independent
    assert zk.set(p, b"x", version=0).aversion == 3


def test_auth_scheme_expands_to_caller_identities(zk, root):
    with pytest.raises(InvalidACLError):
        zk.create(root + "/a0", acl=[make_acl("auth", "", all=True)])
    zk.add_auth("digest", "alice:secret")
    p = zk.create(root + "/a1", acl=[make_acl("auth", "", all=True)])
    assert zk.get_acls(p)[0] == [ALICE]
    zk.add_auth("digest", "bob:hunter2")
    p2 = zk.create(root + "/a2", acl=[make_acl("auth", "", read=True, admin=True)])
    bob = make_digest_acl("bob", "hunter2", read=True, admin=True)
    alice_ra = make_digest_acl("alice", "secret", read=True, admin=True)
    # (the order follows the server's set of authenticated ids; not significant)
    assert sorted(zk.get_acls(p2)[0]) == sorted([alice_ra, bob])
    # setACL expands "auth" as well
    zk.set_acls(p2, [make_acl("auth", "", read=True)])
    acls = zk.get_acls(p2)[0]           # no ADMIN any more -> ids masked
    assert sorted(acls) == [ACL(Permissions.READ, Id("digest", "alice:x")),
                            ACL(Permissions.READ, Id("digest", "bob:x"))]


def test_invalid_acls(zk, root, wire):
    bad = [
        [make_acl("digest", "no-colon", all=True)],
        [make_acl("nosuchscheme", "x", all=True)],
        [make_acl("world", "someone", all=True)],
        [make_acl("ip", "1.2.3.400", all=True)],
        [make_acl("ip", "not-an-ip", all=True)],
    ]
    for acl in bad:
        with pytest.raises(InvalidACLError):
            zk.create(root + "/bad", acl=acl)
        with pytest.raises(InvalidACLError):
            zk.set_acls(root, acl)
    w = wire()
    assert w.create(root + "/empty", acl=[])[0] == InvalidACLError.code
    # a valid entry does not rescue an invalid one
    assert w.create(root + "/mixed", acl=[(31, "world", "anyone"), (31, "world", "x")])[0] \
        == InvalidACLError.code
    assert zk.get_children(root) == []


def test_acl_list_normalisation(zk, root):
    dup = zk.create(root + "/dup", acl=OPEN_ACL_UNSAFE + OPEN_ACL_UNSAFE)
    assert zk.get_acls(dup)[0] == OPEN_ACL_UNSAFE
    two = [make_acl("world", "anyone", read=True), make_acl("world", "anyone", write=True)]
    p = zk.create(root + "/two", acl=two)
    assert zk.get_acls(p)[0] == two
    # unknown permission bits are stored as given
    odd = zk.create(root + "/odd", acl=[ACL(99, Id("world", "anyone"))])
    assert zk.get_acls(odd)[0][0].perms == 99


def test_ip_acl(zk, root):
    p = zk.create(root + "/ip", b"i", acl=[make_acl("ip", "127.0.0.1", all=True)])
    assert zk.get(p)[0] == b"i"
    q = zk.create(root + "/net", b"n", acl=[make_acl("ip", "127.0.0.0/8", read=True)])
    assert zk.get(q)[0] == b"n"
    r = zk.create(root + "/other", b"o", acl=[make_acl("ip", "10.1.2.3", all=True), ALICE])
    with pytest.raises(NoAuthError):
        zk.get(r)
    assert zk.get_acls(q)[0] == [make_acl("ip", "127.0.0.0/8", read=True)]


def test_acl_inheritance_is_not_a_thing(zk, zk2, root):
    par = zk.create(root + "/par", acl=[ALICE])
    zk.add_auth("digest", "alice:secret")
    kid = zk.create(par + "/kid", b"k")  # default ACL: open
    assert zk2.get(kid)[0] == b"k"


def test_add_auth_unknown_scheme_fails(make_client):
    c = make_client()
    with pytest.raises(AuthFailedError):
        c.add_auth("nosuchscheme", "whatever")


def test_auth_packet_results(wire):
    a = wire()
    assert a.auth("digest", b"no-colon-is-accepted") == 0
    a.call(zkwire.PING, xid=-2)
    assert a.auth("ip", b"127.0.0.1") == 0
    a.call(zkwire.PING, xid=-2)
    for scheme in ("nosuchscheme", "world"):
        b = wire()
        assert b.auth(scheme, b"x") == AuthFailedError.code      # -115, then closed
        with pytest.raises((zkwire.ConnectionClosed, ConnectionError)):
            b.call(zkwire.PING, xid=-2)


def test_whoami(wire):
    a = wire()
    _, err, r = a.call(zkwire.WHO_AM_I)
    assert err == 0
    n = r.int()
    assert [(r.string(), r.string()) for _ in range(n)] == [("ip", "127.0.0.1")]
    a.auth("digest", b"alice:secret")
    a.auth("digest", b"bob:x")
    a.auth("digest", b"alice:secret")        # duplicates collapse
    _, err, r = a.call(zkwire.WHO_AM_I)
    n = r.int()
    # (order follows the server's set of ids; not significant)
    assert sorted((r.string(), r.string()) for _ in range(n)) == [
        ("digest", "alice"), ("digest", "bob"), ("ip", "127.0.0.1")]


def test_reauth_after_reconnect(make_client, zk2, proxy, root):
    """kazoo resends its auth packets on reconnect; the new connection has them."""
    from zkhelpers import wait_until
    c = make_client(proxy.address)
    c.add_auth("digest", "alice:secret")
    p = zk2.create(root + "/s", b"s", acl=[ALICE])
    assert c.get(p)[0] == b"s"
    proxy.drop_connections()
    wait_until(lambda: not c.connected, 10, msg="disconnect")
    wait_until(lambda: c.connected, 15, msg="reconnect")
    assert c.get(p)[0] == b"s"


def test_ephemeral_with_acl(zk, zk2, root):
    p = zk.create(root + "/e", b"", acl=[ALICE], ephemeral=True)
    with pytest.raises(NoAuthError):
        zk2.get(p)
    with pytest.raises(NodeExistsError):
        zk2.create(p)
