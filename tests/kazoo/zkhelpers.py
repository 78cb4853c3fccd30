"""Helpers shared by the kazoo compatibility tests (imported by tests and conftest)."""
import select
import socket
import threading
import time


def wait_until(pred, timeout=5.0, interval=0.02, msg="condition"):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, msg))
        time.sleep(interval)


class Events:
    """A kazoo watcher callback that records WatchedEvents."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def __call__(self, event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, n=1, timeout=5.0):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.events) >= n, timeout)
        assert ok, "expected %d watch events, got %r" % (n, self.events)
        return list(self.events)

    def simple(self):
        return [(e.type, e.path) for e in self.events]


class TcpProxy:
    """A tiny TCP forwarder on 127.0.0.1 in front of a ZooKeeper server.

    pause(): drop every connection and refuse new ones (clients see connection loss
    and cannot reconnect) while keeping the port reserved; resume() accepts again.
    """

    def __init__(self, target_hosts):
        host, port = target_hosts.split(",")[0].rsplit(":", 1)
        self.target = (host, int(port))
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.lsock.listen(16)
        self.lsock.settimeout(0.1)
        self.address = "127.0.0.1:%d" % self.port
        self.paused = threading.Event()
        self.stopped = threading.Event()
        self.conns = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while not self.stopped.is_set():
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self.paused.is_set():
                c.close()
                continue
            try:
                s = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns.append((c, s))
            threading.Thread(target=self._pump, args=(c, s), daemon=True).start()

    def _pump(self, a, b):
        socks = [a, b]
        try:
            while not self.stopped.is_set():
                r, _, _ = select.select(socks, [], [], 0.1)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            for s in socks:
                try:
                    s.close()
                except OSError:
                    pass

    def drop_connections(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for c, s in conns:
            for x in (c, s):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    x.close()
                except OSError:
                    pass

    def pause(self):
        self.paused.set()
        self.drop_connections()

    def resume(self):
        self.paused.clear()

    def close(self):
        self.stopped.set()
        self.drop_connections()
        try:
            self.lsock.close()
        except OSError:
            pass


def java_random_bytes(seed, n):
    """java.util.Random(seed).nextBytes(byte[n])"""
    mult, add, mask = 0x5DEECE66D, 0xB, (1 << 48) - 1
    state = (seed ^ mult) & mask
    out = bytearray()
    while len(out) < n:
        state = (state * mult + add) & mask
        r = state >> 16
        if r >= 1 << 31:
            r -= 1 << 32
        for _ in range(min(4, n - len(out))):
            out.append(r & 0xFF)
            r >>= 8
    return bytes(out)


def session_password(session_id):
    """Password ZooKeeper gives session_id: Random(sid ^ 0xB3415C00).nextBytes(16)."""
    return java_random_bytes(session_id ^ 0xB3415C00, 16)
