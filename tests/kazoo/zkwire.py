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


class SessionLost(Exception):
    pass


class ResumingSession:
    """A session that behaves like the Java client across disconnections.

    kazoo drops every watch when its connection drops (its recipes re-read and
    re-arm), so it cannot show whether a server re-registers a moved session's
    watches. This client does what ZooKeeper's Java client does: it pings at a
    third of the timeout, on a dropped connection it reconnects to the next
    host with its session id, password and last zxid, and re-registers its
    one-shot data and child watches with SetWatches, so that the server fires
    what the session missed while away. Requests in flight when the
    connection drops raise ConnectionClosed; the caller retries them.
    ``events`` lists (type, path) of every watch event received, in order.
    """

    def __init__(self, hosts, timeout_ms=30000):
        import threading
        self.hosts = [(h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in hosts.split(",")]
        self.timeout_ms = timeout_ms
        self.session_id, self.passwd, self.last_zxid = 0, b"\x00" * 16, 0
        self.data_watches, self.child_watches = set(), set()
        self.events, self.reconnects, self.expired = [], 0, False
        self.cond = threading.Condition()
        self.replies, self.watch_reg, self.xid, self.sock, self.host_i = {}, {}, 0, None, 0
        self.closing = False
        self._connect()
        threading.Thread(target=self._reader, daemon=True).start()
        threading.Thread(target=self._pinger, daemon=True).start()

    @property
    def port(self):
        return self.hosts[self.host_i][1]

    def _connect(self):
        deadline = time.time() + self.timeout_ms / 1000.0
        while True:
            host = self.hosts[self.host_i]
            try:
                s = socket.create_connection(host, timeout=3)
                s.settimeout(self.timeout_ms / 1000.0 * 2 / 3)
                req = (i32(0) + i64(self.last_zxid) + i32(self.timeout_ms)
                       + i64(self.session_id) + buf(self.passwd) + boolean(False))
                s.sendall(i32(len(req)) + req)
                r = Reader(self._frame(s))
                r.int()
                timeout, sid, passwd = r.int(), r.long(), r.buffer()
                if timeout <= 0:
                    self.expired = True
                    raise SessionLost("session 0x%x expired" % self.session_id)
                self.session_id, self.passwd = sid, passwd
                with self.cond:
                    self.sock = s
                if self.data_watches or self.child_watches:
                    body = (i64(self.last_zxid) + self._strings(self.data_watches)
                            + self._strings(()) + self._strings(self.child_watches))
                    self._write(i32(-8) + i32(SET_WATCHES) + body)
                return
            except (OSError, ConnectionClosed, struct.error):
                self.host_i = (self.host_i + 1) % len(self.hosts)
                if time.time() > deadline:
                    raise SessionLost("no host took session 0x%x back" % self.session_id)
                time.sleep(0.2)

    @staticmethod
    def _strings(items):
        items = sorted(items)
        return i32(len(items)) + b"".join(ustr(p) for p in items)

    @staticmethod
    def _frame(s):
        def exact(n):
            out = b""
            while len(out) < n:
                chunk = s.recv(n - len(out))
                if not chunk:
                    raise ConnectionClosed("server closed the connection")
                out += chunk
            return out
        (n,) = struct.unpack("!i", exact(4))
        return exact(n)

    def _write(self, payload):
        with self.cond:
            s = self.sock
        if s is None:
            raise ConnectionClosed("not connected")
        try:
            s.sendall(i32(len(payload)) + payload)
        except OSError as e:
            raise ConnectionClosed(str(e))

    def _reader(self):
        while not self.closing:
            with self.cond:
                s = self.sock
            try:
                r = Reader(self._frame(s))
            except (OSError, ConnectionClosed, struct.error):
                if self.closing:
                    return
                with self.cond:
                    self.sock = None
                    for xid in list(self.replies):
                        if self.replies[xid] is None:
                            self.replies[xid] = ConnectionClosed("connection dropped")
                            self.watch_reg.pop(xid, None)
                    self.cond.notify_all()
                try:
                    s.close()
                except OSError:
                    pass
                self.host_i = (self.host_i + 1) % len(self.hosts)
                try:
                    self._connect()
                except SessionLost:
                    with self.cond:
                        self.cond.notify_all()
                    return
                self.reconnects += 1
                continue
            xid, zxid, err = r.int(), r.long(), r.int()
            if zxid > 0:
                self.last_zxid = max(self.last_zxid, zxid)
            with self.cond:
                if xid == -1:
                    etype, _state, path = r.int(), r.int(), r.string()
                    if etype in (CHANGED, DELETED, CREATED):
                        self.data_watches.discard(path)
                    if etype in (CHILD, DELETED):
                        self.child_watches.discard(path)
                    self.events.append((etype, path))
                elif xid in self.replies:
                    # Registered here, in reply order, before any event that
                    # follows the reply can be read (as the Java client does).
                    reg = self.watch_reg.pop(xid, None)
                    if reg is not None and err == 0:
                        (self.data_watches if reg[0] == "data" else self.child_watches).add(reg[1])
                    self.replies[xid] = (err, r)
                self.cond.notify_all()

    def _pinger(self):
        while not self.closing and not self.expired:
            time.sleep(self.timeout_ms / 3000.0)
            try:
                self._write(i32(-2) + i32(PING))
            except ConnectionClosed:
                pass

    def call(self, op, body, timeout=30, watch=None):
        """(err, Reader); raises ConnectionClosed if the connection drops first.
        watch: ("data" | "child", path) to register when the reply is OK."""
        with self.cond:
            self.xid += 1
            xid = self.xid
            self.replies[xid] = None
            if watch is not None:
                self.watch_reg[xid] = watch
        self._write(i32(xid) + i32(op) + body)
        deadline = time.time() + timeout
        with self.cond:
            while self.replies[xid] is None:
                left = deadline - time.time()
                if left <= 0 or self.expired:
                    del self.replies[xid]
                    self.watch_reg.pop(xid, None)
                    raise ConnectionClosed("no reply to xid %d" % xid)
                self.cond.wait(left)
            got = self.replies.pop(xid)
        if isinstance(got, Exception):
            raise got
        return got

    def get(self, path, watch=False):
        err, r = self.call(GET_DATA, ustr(path) + boolean(watch),
                           watch=("data", path) if watch else None)
        return err, (r.buffer(), r.stat()) if err == 0 else None

    def children(self, path, watch=False):
        err, r = self.call(GET_CHILDREN, ustr(path) + boolean(watch),
                           watch=("child", path) if watch else None)
        return err, r.strings() if err == 0 else None

    def exists(self, path):
        err, r = self.call(EXISTS, ustr(path) + boolean(False))
        return err, r.stat() if err == 0 else None

    def create(self, path, data=b"", flags=0):
        err, _ = self.call(CREATE, create_body(path, data, flags=flags))
        return err

    def close(self):
        self.closing = True
        try:
            self.call(CLOSE_SESSION, b"", timeout=5)
        except (ConnectionClosed, KeyError):
            pass
        with self.cond:
            s = self.sock
        if s is not None:
            s.close()
