"""Fixtures for the kazoo compatibility suite.

Run against any ZooKeeper-compatible server:  ZK_HOSTS=127.0.0.1:22181 pytest -q tests/kazoo
On an ensemble member, ZK_EXPECT_MODE=follower (or leader, observer) says which
`Mode:` the four-letter words must report (default standalone).
The suite is the oracle's transcript: every assertion was checked against Apache
ZooKeeper 3.8 (Debian 3.8.0) started by scripts/zk-real.sh.
"""
import logging
import os
import sys
import uuid

import pytest
from kazoo.client import KazooClient

sys.path.insert(0, os.path.dirname(__file__))

from zkhelpers import TcpProxy  # noqa: E402
from zkwire import WireClient  # noqa: E402

# Digest credentials used by the ACL tests; the clean-up client authenticates with them.
CREDENTIALS = ["alice:secret", "bob:hunter2"]

logging.getLogger("kazoo").setLevel(logging.CRITICAL)


def pytest_configure(config):
    if not os.environ.get("ZK_HOSTS"):
        raise pytest.UsageError("set ZK_HOSTS=host:port of the server under test")


@pytest.fixture(scope="session")
def hosts():
    return os.environ["ZK_HOSTS"]


@pytest.fixture(scope="session")
def mode():
    """The role the server under test reports (srvr/stat `Mode:`, mntr state)."""
    return os.environ.get("ZK_EXPECT_MODE", "standalone")


@pytest.fixture
def make_client(hosts):
    """Factory: make_client(hosts=None, start=True, **KazooClient kwargs)."""
    clients = []

    def make(target=None, start=True, **kw):
        kw.setdefault("timeout", 10.0)
        c = KazooClient(hosts=target or hosts, **kw)
        clients.append(c)
        if start:
            c.start(timeout=15)
        return c

    yield make
    for c in clients:
        try:
            c.stop()
        except Exception:
            pass
        try:
            c.close()
        except Exception:
            pass


@pytest.fixture
def zk(make_client):
    return make_client()


@pytest.fixture
def zk2(make_client):
    return make_client()


@pytest.fixture
def wire(hosts):
    """Factory for raw protocol clients (zkwire.WireClient); all closed at teardown."""
    made = []

    def make(**kw):
        w = WireClient(hosts, **kw)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def proxy(hosts):
    p = TcpProxy(hosts)
    yield p
    p.close()


def _cleanup(hosts, path):
    c = KazooClient(hosts=hosts, timeout=10.0)
    c.start(timeout=15)
    try:
        for cred in CREDENTIALS:
            c.add_auth("digest", cred)
        if c.exists(path):
            c.delete(path, recursive=True)
    finally:
        c.stop()
        c.close()


@pytest.fixture
def root(request, hosts, zk):
    """A fresh, unique persistent node for the test; removed recursively afterwards."""
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "_")
    path = "/kz-%s-%s" % (name[:60], uuid.uuid4().hex[:8])
    zk.create(path)
    yield path
    _cleanup(hosts, path)
