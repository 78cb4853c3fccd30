"""3.5+/3.6+ opcodes kazoo lacks (TTL, containers, getEphemerals, getAllChildrenNumber)
and the four-letter words (4lw.commands.whitelist=* in the test zoo.cfg)."""
import re

import zkwire
from zkwire import CREATE2, CREATE_CONTAINER, CREATE_TTL, four_letter, ustr

BADARGS, UNIMPL, NONODE = -8, -6, -101


def test_container_create(wire, zk, root):
    w = wire()
    err, path, st = w.create(root + "/c", b"d", flags=4, op=CREATE_CONTAINER)
    assert (err, path) == (0, root + "/c")
    assert st["ephemeralOwner"] == 0          # the container marker is not visible
    assert st["czxid"] == st["mzxid"] == st["pzxid"] and st["version"] == 0
    assert zk.get(path)[0] == b"d"
    assert zk.create(path + "/kid") == path + "/kid"   # containers may have children
    assert w.create(root + "/c", flags=4, op=CREATE_CONTAINER)[0] == -110


def test_ttl_create(wire, zk, root):
    w = wire()
    err, path, st = w.create(root + "/t", b"x", flags=5, op=CREATE_TTL, ttl=60000)
    assert (err, path, st["ephemeralOwner"]) == (0, root + "/t", 0)
    err, path, st = w.create(root + "/ts-", flags=6, op=CREATE_TTL, ttl=60000)
    assert (err, path) == (0, root + "/ts-0000000001")
    assert zk.exists(path).ephemeralOwner == 0
    # bad ttl values and flags
    assert w.create(root + "/t0", flags=5, op=CREATE_TTL, ttl=0)[0] == BADARGS
    assert w.create(root + "/tn", flags=5, op=CREATE_TTL, ttl=-5)[0] == BADARGS
    assert w.create(root + "/tb", flags=5, op=CREATE_TTL, ttl=1 << 40)[0] == BADARGS
    assert w.create(root + "/tf", flags=0, op=CREATE_TTL, ttl=100)[0] == BADARGS
    assert w.create(root + "/te", flags=1, op=CREATE_TTL, ttl=100)[0] == BADARGS
    # TTL flags through plain create2
    assert w.create(root + "/t2", flags=5, op=CREATE2)[0] == BADARGS
    assert w.create(root + "/bad", flags=7, op=CREATE2)[0] == BADARGS
    assert sorted(zk.get_children(root)) == ["t", "ts-0000000001"]


def test_get_ephemerals(wire, zk, root):
    a, b = wire(), wire()
    a.create(root + "/e1", flags=1)
    a.create(root + "/sub", flags=0)
    a.create(root + "/sub/e2-", flags=3)
    b.create(root + "/other", flags=1)

    def eph(w, prefix):
        _, err, r = w.call(zkwire.GET_EPHEMERALS, ustr(prefix))
        assert err == 0
        return sorted(r.strings())

    mine = [root + "/e1", root + "/sub/e2-0000000000"]
    assert eph(a, root) == mine
    assert eph(a, "/") == mine
    assert eph(a, "") == mine
    assert eph(a, root + "/e") == [root + "/e1"]      # plain string prefix
    assert eph(a, root + "/sub") == [root + "/sub/e2-0000000000"]
    assert eph(a, "/no/such/prefix") == []
    assert eph(b, root) == [root + "/other"]
    assert eph(wire(), "/") == []


def test_get_all_children_number(wire, zk, root):
    zk.create(root + "/a/b/c", makepath=True)
    zk.create(root + "/a/d")
    zk.create(root + "/e")
    w = wire()

    def count(p):
        _, err, r = w.call(zkwire.GET_ALL_CHILDREN_NUMBER, ustr(p))
        return (err, r.int() if err == 0 else None)

    assert count(root) == (0, 5)
    assert count(root + "/a") == (0, 3)
    assert count(root + "/e") == (0, 0)
    assert count(root + "/missing") == (NONODE, None)
    assert count("/zookeeper") == (0, 2)


# --------------------------------------------------------------------------
# four-letter words


def test_4lw_ruok_isro(hosts):
    assert four_letter(hosts, "ruok") == "imok"
    assert four_letter(hosts, "isro") == "rw"


def test_4lw_srvr(hosts, zk, mode):
    out = four_letter(hosts, "srvr")
    lines = out.splitlines()
    assert out.endswith("\n")
    assert lines[0].startswith("Zookeeper version: ")
    keys = [l.split(":")[0] for l in lines[1:]]
    # A leader adds its proposal sizes (LeaderZooKeeperServer).
    extra = ["Proposal sizes last/min/max"] if mode == "leader" else []
    assert keys == ["Latency min/avg/max", "Received", "Sent", "Connections",
                    "Outstanding", "Zxid", "Mode", "Node count"] + extra
    assert "Mode: " + mode in lines
    assert re.search(r"^Zxid: 0x[0-9a-f]+$", out, re.M)
    assert re.search(r"^Latency min/avg/max: \d+/[\d.]+/\d+$", out, re.M)
    assert re.search(r"^Node count: \d+$", out, re.M)


def test_4lw_stat_lists_clients(hosts, zk, mode):
    out = four_letter(hosts, "stat")
    lines = out.splitlines()
    assert lines[0].startswith("Zookeeper version: ")
    assert lines[1] == "Clients:"
    assert any(re.match(r"^ /127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+", l)
               for l in lines[2:])
    assert "Mode: " + mode in lines


def test_4lw_conf(hosts, mode):
    out = four_letter(hosts, "conf")
    lines = out.splitlines()
    quorum = []
    if mode != "standalone":
        # QuorumZooKeeperServer.dumpConf: the quorum keys, then the membership
        # (`membership: ` and QuorumMaj.toString(), no trailing newline).
        i = lines.index("membership: ")
        members, lines = lines[i + 1:], lines[:i]
        assert members[-1] == "version=0" and not out.endswith("\n")
        assert all(re.match(r"^server\.\d+=[^:]+:\d+:\d+:(participant|observer)(;.*)?$", m)
                   for m in members[:-1])
        quorum = ["initLimit", "syncLimit", "electionAlg", "electionPort", "quorumPort",
                  "peerType"]
    kv = dict(l.split("=", 1) for l in lines)
    port = hosts.split(",")[0].rsplit(":", 1)[1]
    assert list(kv) == ["clientPort", "secureClientPort", "dataDir", "dataDirSize",
                        "dataLogDir", "dataLogSize", "tickTime", "maxClientCnxns",
                        "minSessionTimeout", "maxSessionTimeout", "clientPortListenBacklog",
                        "serverId"] + quorum
    assert kv["clientPort"] == port
    assert (kv["tickTime"], kv["maxClientCnxns"], kv["minSessionTimeout"],
            kv["maxSessionTimeout"]) == ("2000", "0", "4000", "40000")
    assert kv["dataDir"].endswith("/version-2")


def test_4lw_mntr(hosts, mode):
    out = four_letter(hosts, "mntr")
    kv = dict(l.split("\t", 1) for l in out.splitlines())
    assert kv["zk_server_state"] == mode
    for k in ("zk_version", "zk_avg_latency", "zk_max_latency", "zk_min_latency",
              "zk_packets_received", "zk_packets_sent", "zk_num_alive_connections",
              "zk_outstanding_requests", "zk_znode_count", "zk_watch_count",
              "zk_ephemerals_count", "zk_approximate_data_size",
              "zk_open_file_descriptor_count", "zk_max_file_descriptor_count",
              "zk_global_sessions", "zk_local_sessions", "zk_uptime"):
        assert k in kv, k
    assert int(kv["zk_znode_count"]) >= 5


def test_4lw_watch_listing(hosts, wire, root):
    """wchs/wchc/wchp report the data-watch table only (getData/exists watches);
    child watches are not listed by ZooKeeper 3.8."""
    a = wire()
    a.create(root + "/w")
    a.get(root + "/w", watch=True)
    a.children(root, watch=True)
    a.exists(root + "/missing", watch=True)
    a.get(root + "/w", watch=True)                  # same watch again: no double count
    sid = "0x%x" % a.session_id
    assert four_letter(hosts, "wchs") == "1 connections watching 2 paths\nTotal watches:2\n"
    wchc = four_letter(hosts, "wchc").split("\n")
    assert wchc[0] == sid and wchc[-2:] == ["", ""]
    assert sorted(wchc[1:-2]) == sorted(["\t" + root + "/w", "\t" + root + "/missing"])
    wchp = four_letter(hosts, "wchp").split("\n")
    assert wchp[-2:] == ["", ""]
    pairs = sorted(zip(wchp[0:-2:2], wchp[1:-2:2]))
    assert pairs == sorted([(root + "/w", "\t" + sid), (root + "/missing", "\t" + sid)])


def test_4lw_misc(hosts):
    assert four_letter(hosts, "crst") == "Connection stats reset.\n"
    assert four_letter(hosts, "srst") == "Server stats reset.\n"
    assert four_letter(hosts, "envi").startswith("Environment:\nzookeeper.version=")
    assert re.fullmatch(r"datadir_size: \d+\nlogdir_size: \d+\n", four_letter(hosts, "dirs"))
    dump = four_letter(hosts, "dump")
    assert dump.startswith("SessionTracker dump:\n")
    assert "ephemeral nodes dump:\n" in dump
    cons = four_letter(hosts, "cons")
    assert re.match(r"^ /127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+\)", cons)


def test_4lw_does_not_disturb_clients(zk, hosts, root):
    for c in ("ruok", "srvr", "mntr"):
        four_letter(hosts, c)
    assert zk.exists(root) is not None
