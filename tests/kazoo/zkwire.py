"""A tiny synchronous ZooKeeper wire-protocol client for the tests.

kazoo 2.11 has no API for several 3.5+/3.6+/3.7+ opcodes (addWatch, removeWatches,
checkWatches, getEphemerals, getAllChildrenNumber, whoAmI, multiRead, createTTL,
createContainer, create2), so those tests speak jute directly with this helper.
Notifications (xid -1) that arrive while waiting for a reply are appended to
``self.events`` in arrival order, as (type, state, path) tuples.
"""
import socket
import struct
import time

# opcodes
CREATE, DELETE, EXISTS, GET_DATA, SET_DATA, GET_ACL, SET_ACL, GET_CHILDREN = 1, 2, 3, 4, 5, 6, 7, 8
SYNC, PING, GET_CHILDREN2, CHECK, MULTI, CREATE2 = 9, 11, 12, 13, 14, 15
CHECK_WATCHES, REMOVE_WATCHES, CREATE_CONTAINER, CREATE_TTL, MULTI_READ = 17, 18, 19, 21, 22
AUTH, SET_WATCHES, GET_EPHEMERALS, GET_ALL_CHILDREN_NUMBER = 100, 101, 103, 104
ADD_WATCH, WHO_AM_I, CLOSE_SESSION = 106, 107, -11

# event types
CREATED, DELETED, CHANGED, CHILD = 1, 2, 3, 4

OPEN_ACL = [(31, "world", "anyone")]

STAT = struct.Struct("!qqqqiiiqiiq")
STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "dataLength", "numChildren", "pzxid")


class ConnectionClosed(Exception):
    pass


def i32(v):
    return struct.pack("!i", v)


def i64(v):
    return struct.pack("!q", v)


def boolean(v):
    return b"\x01" if v else b"\x00"


def ustr(s):
    if s is None:
        return i32(-1)
    b = s.encode("utf-8")
    return i32(len(b)) + b


def buf(b):
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def acl_vec(acls):
    out = i32(len(acls))
    for perms, scheme, ident in acls:
        out += i32(perms) + ustr(scheme) + ustr(ident)
    return out


def create_body(path, data=b"", acl=OPEN_ACL, flags=0, ttl=None):
    body = ustr(path) + buf(data) + acl_vec(acl) + i32(flags)
    if ttl is not None:
        body += i64(ttl)
    return body


class Reader:
    def __init__(self, data, off=0):
        self.data, self.off = data, off

    def int(self):
        v = struct.unpack_from("!i", self.data, self.off)[0]
        self.off += 4
        return v

    def long(self):
        v = struct.unpack_from("!q", self.data, self.off)[0]
        self.off += 8
        return v

    def bool(self):
        v = self.data[self.off] != 0
        self.off += 1
        return v

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        v = self.data[self.off:self.off + n]
        self.off += n
        return v

    def string(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8")

    def strings(self):
        n = self.int()
        return None if n < 0 else [self.string() for _ in range(n)]

    def stat(self):
        v = STAT.unpack_from(self.data, self.off)
        self.off += STAT.size
        return dict(zip(STAT_FIELDS, v))

    def acls(self):
        n = self.int()
        return [(self.int(), self.string(), self.string()) for _ in range(n)]

    def remaining(self):
        return len(self.data) - self.off


class WireClient:
    def __init__(self, hosts, timeout_ms=10000, session_id=0, passwd=b"\x00" * 16,
                 read_only=False, send_read_only=True, last_zxid=0):
        host, port = hosts.split(",")[0].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.events = []
        self.xid = 0
        self.last_zxid = last_zxid
        req = i32(0) + i64(last_zxid) + i32(timeout_ms) + i64(session_id) + buf(passwd)
        if send_read_only:
            req += boolean(read_only)
        self._send(req)
        r = Reader(self._recv_frame())
        self.connect_raw_len = len(r.data)
        self.protocol_version = r.int()
        self.timeout = r.int()
        self.session_id = r.long()
        self.passwd = r.buffer()
        self.read_only = r.bool() if r.remaining() else None

    # -- framing ---------------------------------------------------------
    def _send(self, payload):
        self.sock.sendall(i32(len(payload)) + payload)

    def _recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionClosed("server closed the connection")
            out += chunk
        return out

    def _recv_frame(self):
        (n,) = struct.unpack("!i", self._recv_exact(4))
        return self._recv_exact(n)

    # -- requests --------------------------------------------------------
    def send_only(self, op, body=b"", xid=None):
        if xid is None:
            self.xid += 1
            xid = self.xid
        self._send(i32(xid) + i32(op) + body)
        return xid

    def read_reply(self, xid):
        """Returns (zxid, err, Reader positioned at the body)."""
        while True:
            r = Reader(self._recv_frame())
            rxid, zxid, err = r.int(), r.long(), r.int()
            if rxid == -1:
                self.events.append((r.int(), r.int(), r.string()))
                continue
            if rxid == -2 and xid != -2:
                continue
            assert rxid == xid, "reply xid %d, expected %d" % (rxid, xid)
            if zxid > 0:
                self.last_zxid = max(self.last_zxid, zxid)
            return zxid, err, r

    def call(self, op, body=b"", xid=None):
        xid = self.send_only(op, body, xid)
        return self.read_reply(xid)

    def wait_events(self, n, timeout=5.0):
        """Wait until at least n events have been received (sends pings)."""
        deadline = time.time() + timeout
        while len(self.events) < n and time.time() < deadline:
            self._ping_and_wait(0.1)
        return self.events

    def _ping_and_wait(self, wait):
        self._send(i32(-2) + i32(PING))
        while True:
            r = Reader(self._recv_frame())
            rxid, _zxid, _err = r.int(), r.long(), r.int()
            if rxid == -1:
                self.events.append((r.int(), r.int(), r.string()))
                continue
            if rxid == -2:
                break
        time.sleep(wait)

    # -- convenience -----------------------------------------------------
    def create(self, path, data=b"", acl=OPEN_ACL, flags=0, op=CREATE2, ttl=None):
        zxid, err, r = self.call(op, create_body(path, data, acl, flags, ttl))
        if err:
            return err, None, None
        p = r.string()
        st = r.stat() if op != CREATE else None
        return 0, p, st

    def get(self, path, watch=False):
        zxid, err, r = self.call(GET_DATA, ustr(path) + boolean(watch))
        if err:
            return err, None, None
        return 0, r.buffer(), r.stat()

    def exists(self, path, watch=False):
        zxid, err, r = self.call(EXISTS, ustr(path) + boolean(watch))
        return (err, None) if err else (0, r.stat())

    def set(self, path, data, version=-1):
        zxid, err, r = self.call(SET_DATA, ustr(path) + buf(data) + i32(version))
        return (err, None) if err else (0, r.stat())

    def delete(self, path, version=-1):
        return self.call(DELETE, ustr(path) + i32(version))[1]

    def children(self, path, watch=False):
        zxid, err, r = self.call(GET_CHILDREN, ustr(path) + boolean(watch))
        return (err, None) if err else (0, r.strings())

    def add_watch(self, path, mode):
        zxid, err, r = self.call(ADD_WATCH, ustr(path) + i32(mode))
        return err, r

    def remove_watches(self, path, wtype):
        return self.call(REMOVE_WATCHES, ustr(path) + i32(wtype))[1]

    def check_watches(self, path, wtype):
        return self.call(CHECK_WATCHES, ustr(path) + i32(wtype))[1]

    def auth(self, scheme, cred):
        self._send(i32(-4) + i32(AUTH) + i32(0) + ustr(scheme) + buf(cred))
        return self.read_reply(-4)[1]

    def close_session(self):
        try:
            self.call(CLOSE_SESSION)
        finally:
            self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def four_letter(hosts, cmd, timeout=5.0):
    host, port = hosts.split(",")[0].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        s.sendall(cmd.encode())
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out.decode("utf-8", "replace")
    finally:
        s.close()
