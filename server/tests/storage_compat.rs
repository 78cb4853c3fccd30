//! Byte compatibility of the on-disk formats (txnlog, snapshot, digest,
//! datadir) with Apache ZooKeeper 3.8, proven against the real thing:
//!
//! * files we write are read by ZooKeeper's own tools (`TxnLogToolkit`, the
//!   3.8 replacement of `LogFormatter`, and `SnapshotFormatter`) and by a
//!   real ZooKeeper server, which recomputes every digest we wrote;
//! * a dataDir written by a real ZooKeeper server (snapCount=20, so several
//!   logs and snapshots) is read by our readers, cross-checked against the
//!   tools' counts, and its txn digests are recomputed with our digest code;
//! * torn tails at random offsets, and purge compared with `PurgeTxnLog`.
//!
//! Tests that need Java/ZooKeeper (Debian package `zookeeper`) print a
//! SKIPPING line when it is missing, unless CI=true, where they fail.

mod durable;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use zkproto::consts::op;
use zkproto::records::{Acl, StatPersisted};
use zkproto::txn::{
    CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTtlTxn,
    CreateTxn, DeleteTxn, ErrorTxn, SetAclTxn, SetDataTxn, Txn, TxnDigest, TxnEntry, TxnHeader,
};
use zkserver::storage::datadir;
use zkserver::storage::digest::{node_digest, TreeDigest, DIGEST_VERSION};
use zkserver::storage::snapshot::{
    self, FileSnapshotReader, SnapshotTrailer, SnapshotWriter, ZxidDigest,
};
use zkserver::storage::txnlog::{self, TxnLogOptions, TxnLogWriter};

// ---------------------------------------------------------------------------
// Java / ZooKeeper harness
// ---------------------------------------------------------------------------

const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";
/// Small, quick-starting JVMs: tests run several at once.
const JVM_OPTS: &[&str] = &["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"];

struct Zk {
    classpath: String,
}

/// The ZooKeeper installation, or `None` (after a loud SKIPPING line) when
/// it is missing outside CI (zkCli.sh comes in the same Debian package).
fn zookeeper(test: &str) -> Option<Zk> {
    let classpath = durable::zookeeper_or_skip(test)?;
    Some(Zk { classpath })
}

struct ToolRun {
    ok: bool,
    stdout: String,
    all: String,
}

impl Zk {
    fn run(&self, class: &str, args: &[&str]) -> ToolRun {
        let out: Output = Command::new("java")
            .args(JVM_OPTS)
            .arg("-cp")
            .arg(&self.classpath)
            .arg(class)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run java");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let all = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        ToolRun {
            ok: out.status.success(),
            stdout,
            all,
        }
    }

    fn txn_log_toolkit(&self, log: &Path) -> ToolRun {
        self.run(
            "org.apache.zookeeper.server.persistence.TxnLogToolkit",
            &[log.to_str().expect("utf-8 path")],
        )
    }

    fn snapshot_formatter(&self, snap: &Path, flag: Option<&str>) -> ToolRun {
        let p = snap.to_str().expect("utf-8 path");
        let args: Vec<&str> = flag.into_iter().chain([p]).collect();
        self.run("org.apache.zookeeper.server.SnapshotFormatter", &args)
    }

    /// Starts a standalone server on 127.0.0.1 with `data_dir`.
    fn start_server(&self, data_dir: &Path, work: &Path, snap_count: u32) -> ZkServer {
        let port = free_port();
        fs::create_dir_all(work).expect("work dir");
        let cfg = work.join("zoo.cfg");
        fs::write(
            &cfg,
            format!(
                "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 snapCount={snap_count}\nextendedTypesEnabled=true\nadmin.enableServer=false\n\
                 4lw.commands.whitelist=*\n",
                data_dir.display()
            ),
        )
        .expect("zoo.cfg");
        let log_path = work.join(format!("zk-{port}.log"));
        let log = fs::File::create(&log_path).expect("zk log");
        let child = Command::new("java")
            .args(JVM_OPTS)
            .arg("-cp")
            .arg(&self.classpath)
            .arg("-Dzookeeper.admin.enableServer=false")
            .arg("-Dzookeeper.extendedTypesEnabled=true")
            .arg("-Dzookeeper.preAllocSize=256")
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone"))
            .stderr(log)
            .spawn()
            .expect("start ZooKeeper");
        let mut s = ZkServer {
            child: Some(child),
            port,
            log_path,
        };
        s.wait_serving();
        s
    }
}

/// A running ZooKeeper; killed on drop so failing tests leak nothing.
struct ZkServer {
    child: Option<Child>,
    port: u16,
    log_path: PathBuf,
}

impl ZkServer {
    fn four_letter(&self, cmd: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(cmd.as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    fn wait_serving(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(o) = self.four_letter("srvr") {
                if o.contains("Zxid") {
                    return;
                }
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("ZooKeeper exited with {st}:\n{}", self.log());
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("ZooKeeper did not start serving:\n{}", self.log());
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Pipes `cmds` into zkCli.sh and returns its output.
    fn cli(&self, cmds: &[&str]) -> String {
        let mut child = Command::new(ZKCLI)
            .arg("-server")
            .arg(format!("127.0.0.1:{}", self.port))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("zkCli.sh");
        let mut input = cmds.join("\n");
        input.push_str("\nquit\n");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write zkCli stdin");
        let out = child.wait_with_output().expect("zkCli output");
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Kills the server (no clean shutdown needed: every commit is fsynced)
    /// and returns its log.
    fn stop(mut self) -> String {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.log()
    }
}

impl Drop for ZkServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("addr").port()
}

fn assert_no_exception(what: &str, r: &ToolRun) {
    assert!(r.ok, "{what} failed:\n{}", r.all);
    for bad in ["Exception", "CRC ERROR", "partial", "Error:"] {
        assert!(!r.all.contains(bad), "{what} printed {bad:?}:\n{}", r.all);
    }
}

/// "EOF reached after N txns." from TxnLogToolkit.
fn toolkit_count(out: &str) -> usize {
    let line = out
        .lines()
        .find(|l| l.starts_with("EOF reached after"))
        .unwrap_or_else(|| panic!("no EOF line in:\n{out}"));
    line.trim_start_matches("EOF reached after ")
        .trim_end_matches(" txns.")
        .parse()
        .expect("count")
}

/// Paths, node count and sessions as SnapshotFormatter prints them.
struct FormatterView {
    count: usize,
    paths: BTreeSet<String>,
    sessions: BTreeMap<i64, (i32, usize)>,
}

fn parse_formatter(out: &str) -> FormatterView {
    let mut count = None;
    let mut paths = BTreeSet::new();
    let mut sessions = BTreeMap::new();
    let mut lines = out.lines().peekable();
    let mut in_sessions = false;
    while let Some(l) = lines.next() {
        if let Some(rest) = l.strip_prefix("ZNode Details (count=") {
            count = rest.trim_end_matches("):").parse().ok();
        } else if l == "----" {
            if let Some(n) = lines.peek() {
                if n.starts_with('/') {
                    paths.insert(n.to_string());
                }
            }
        } else if l.starts_with("Session Details") {
            in_sessions = true;
        } else if in_sessions && l.starts_with("0x") {
            let f: Vec<&str> = l.split(", ").collect();
            let id = u64::from_str_radix(f[0].trim_start_matches("0x"), 16).expect("sid") as i64;
            sessions.insert(id, (f[1].parse().expect("to"), f[2].parse().expect("n")));
        } else if l == "----" || l.starts_with("Last zxid") {
            in_sessions = false;
        }
    }
    FormatterView {
        count: count.unwrap_or_else(|| panic!("no count in:\n{out}")),
        paths,
        sessions,
    }
}

// ---------------------------------------------------------------------------
// A small model of ZooKeeper's DataTree (enough to compute digests)
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct MNode {
    data: Option<Vec<u8>>,
    acl_id: i64,
    stat: StatPersisted,
    children: BTreeSet<String>,
}

/// Mirrors `DataTree.processTxn` for the txn types used here, keeping the
/// digest the way `NodeHashMapImpl` does (subtract before, add after).
#[derive(Clone, Debug)]
struct Model {
    nodes: BTreeMap<String, MNode>,
    acls: Vec<(i64, Vec<Acl>)>,
    sessions: BTreeMap<i64, i32>,
    digest: TreeDigest,
}

fn parent_of(path: &str) -> (&str, &str) {
    let i = path.rfind('/').expect("absolute path");
    let parent = if i == 0 { "/" } else { &path[..i] };
    (parent, &path[i + 1..])
}

impl Model {
    /// ZooKeeper's fresh tree: `/`, `/zookeeper`, `/zookeeper/quota` (ACL
    /// id -1) and `/zookeeper/config` (READ_ACL_UNSAFE = id 1, aversion -1).
    fn new() -> Model {
        let mut m = Model {
            nodes: BTreeMap::new(),
            acls: Vec::new(),
            sessions: BTreeMap::new(),
            digest: TreeDigest::new(),
        };
        let empty = |acl_id, aversion| MNode {
            data: Some(Vec::new()),
            acl_id,
            stat: StatPersisted {
                aversion,
                ..Default::default()
            },
            children: BTreeSet::new(),
        };
        m.insert("/", empty(-1, 0));
        m.insert("/zookeeper", empty(-1, 0));
        m.insert("/zookeeper/quota", empty(-1, 0));
        let id = m.intern(&Acl::read_unsafe());
        m.insert("/zookeeper/config", empty(id, -1));
        m
    }

    fn from_snapshot(path: &Path) -> (Model, i64) {
        let mut m = Model {
            nodes: BTreeMap::new(),
            acls: Vec::new(),
            sessions: BTreeMap::new(),
            digest: TreeDigest::new(),
        };
        let mut r = FileSnapshotReader::open(path).expect("open snapshot");
        m.sessions = r.sessions().expect("sessions").into_iter().collect();
        m.acls = r.acls().expect("acls");
        while let Some(n) = r.next_node().expect("node") {
            let path = if n.path.is_empty() {
                "/".to_string()
            } else {
                n.path
            };
            m.insert(
                &path,
                MNode {
                    data: n.data,
                    acl_id: n.acl_id,
                    stat: n.stat,
                    children: BTreeSet::new(),
                },
            );
        }
        r.finish().expect("snapshot verifies");
        let zxid =
            datadir::parse_snapshot_name(path.file_name().and_then(|n| n.to_str()).expect("name"))
                .expect("snapshot name")
                .0;
        (m, zxid)
    }

    fn nd(&self, path: &str) -> i64 {
        let n = &self.nodes[path];
        node_digest(path, n.data.as_deref(), &n.stat)
    }

    fn insert(&mut self, path: &str, node: MNode) {
        if path != "/" {
            let (parent, child) = parent_of(path);
            self.nodes
                .get_mut(parent)
                .expect("parent precedes child")
                .children
                .insert(child.to_string());
        }
        self.nodes.insert(path.to_string(), node);
        self.digest.add(self.nd(path));
    }

    fn intern(&mut self, acl: &[Acl]) -> i64 {
        if let Some((id, _)) = self.acls.iter().find(|(_, a)| a == acl) {
            return *id;
        }
        let id = self.acls.iter().map(|(i, _)| *i).max().unwrap_or(0) + 1;
        self.acls.push((id, acl.to_vec()));
        id
    }

    /// Applies `f` to a node between removing and re-adding its digest.
    fn change(&mut self, path: &str, f: impl FnOnce(&mut MNode)) {
        let before = self.nd(path);
        self.digest.remove(before);
        f(self.nodes.get_mut(path).expect("node"));
        let after = self.nd(path);
        self.digest.add(after);
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        path: &str,
        data: &Option<Vec<u8>>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
    ) {
        let (parent, child) = parent_of(path);
        let Some(p) = self.nodes.get(parent) else {
            return;
        };
        if p.children.contains(child) {
            return;
        }
        let acl_id = self.intern(acl);
        self.change(parent, |p| {
            let pcv = if parent_cversion == -1 {
                p.stat.cversion + 1
            } else {
                parent_cversion
            };
            if pcv > p.stat.cversion {
                p.stat.cversion = pcv;
                p.stat.pzxid = zxid;
            }
        });
        self.insert(
            path,
            MNode {
                data: data.clone(),
                acl_id,
                stat: StatPersisted {
                    czxid: zxid,
                    mzxid: zxid,
                    pzxid: zxid,
                    ctime: time,
                    mtime: time,
                    version: 0,
                    cversion: 0,
                    aversion: 0,
                    ephemeral_owner: owner,
                },
                children: BTreeSet::new(),
            },
        );
    }

    fn delete(&mut self, path: &str, zxid: i64) {
        let (parent, child) = parent_of(path);
        if !self.nodes.contains_key(parent) {
            return;
        }
        self.change(parent, |p| {
            p.children.remove(child);
            if zxid > p.stat.pzxid {
                p.stat.pzxid = zxid;
            }
        });
        if self.nodes.contains_key(path) {
            let d = self.nd(path);
            self.digest.remove(d);
            self.nodes.remove(path);
        }
    }

    fn apply(&mut self, h: &TxnHeader, txn: &Txn) {
        let (zxid, time) = (h.zxid, h.time);
        match txn {
            Txn::Create { txn: t, .. } => {
                let owner = if t.ephemeral { h.client_id } else { 0 };
                self.create(
                    &t.path,
                    &t.data,
                    &t.acl,
                    owner,
                    t.parent_cversion,
                    zxid,
                    time,
                )
            }
            Txn::CreateContainer(t) => self.create(
                &t.path,
                &t.data,
                &t.acl,
                i64::MIN,
                t.parent_cversion,
                zxid,
                time,
            ),
            Txn::CreateTtl(t) => self.create(
                &t.path,
                &t.data,
                &t.acl,
                zkproto::consts::TTL_EPHEMERAL_OWNER_PREFIX | t.ttl,
                t.parent_cversion,
                zxid,
                time,
            ),
            Txn::Delete { txn: t, .. } => self.delete(&t.path, zxid),
            Txn::SetData { txn: t, .. } => {
                if self.nodes.contains_key(&t.path) {
                    self.change(&t.path, |n| {
                        n.data = t.data.clone();
                        n.stat.mtime = time;
                        n.stat.mzxid = zxid;
                        n.stat.version = t.version;
                    })
                }
            }
            Txn::SetAcl(t) => {
                if self.nodes.contains_key(&t.path) {
                    let id = self.intern(&t.acl);
                    self.change(&t.path, |n| {
                        n.stat.aversion = t.version;
                        n.acl_id = id;
                    })
                }
            }
            Txn::Check(_) | Txn::Error(_) => {}
            Txn::Multi(txns) => {
                if txns.iter().any(|t| matches!(t, Txn::Error(_))) {
                    return;
                }
                for t in txns {
                    self.apply(h, t);
                }
            }
            Txn::CreateSession(t) => {
                self.sessions.insert(h.client_id, t.time_out);
            }
            Txn::CloseSession(t) => {
                self.sessions.remove(&h.client_id);
                if let Some(t) = t {
                    for p in &t.paths_to_delete {
                        self.delete(p, zxid);
                    }
                }
                let left: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|(_, n)| n.stat.ephemeral_owner == h.client_id)
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in left {
                    self.delete(&p, zxid);
                }
            }
        }
    }

    /// Recomputes the digest from scratch.
    fn full_digest(&self) -> i64 {
        let mut t = TreeDigest::new();
        for p in self.nodes.keys() {
            t.add(self.nd(p));
        }
        t.value()
    }

    /// Pre-order DFS, as ZooKeeper serializes.
    fn preorder(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec!["/".to_string()];
        while let Some(p) = stack.pop() {
            let n = &self.nodes[&p];
            for c in n.children.iter().rev() {
                stack.push(if p == "/" {
                    format!("/{c}")
                } else {
                    format!("{p}/{c}")
                });
            }
            out.push(p);
        }
        out
    }

    fn write_snapshot(&self, dir: &Path, zxid: i64, trailer: SnapshotTrailer) -> PathBuf {
        let mut w = SnapshotWriter::create(dir, zxid).expect("create snapshot");
        w.sessions(self.sessions.iter().map(|(k, v)| (*k, *v)))
            .expect("sessions");
        w.acls(self.acls.iter().map(|(id, a)| (*id, a.as_slice())))
            .expect("acls");
        for p in self.preorder() {
            let n = &self.nodes[&p];
            w.node(&p, n.data.as_deref(), n.acl_id, &n.stat)
                .expect("node");
        }
        w.finish(trailer).expect("finish snapshot")
    }
}

// ---------------------------------------------------------------------------
// A realistic history written with our writers
// ---------------------------------------------------------------------------

const SESSION_A: i64 = 0x0100_0123_4567_0001;
const SESSION_B: i64 = 0x0100_0123_4567_0002;
const BIN: &[u8] = &[0, 1, 2, 0xff, 0xfe, b'\n', 0x80];
/// digest:bob:secret
const BOB: &str = "bob:EXYzJgjhhLGsZx2E+3sxjvvdYNk=";

fn open() -> Vec<Acl> {
    Acl::open_unsafe()
}

fn create(path: &str, data: Option<&[u8]>, ephemeral: bool, pcv: i32) -> Txn {
    Txn::Create {
        op_type: op::CREATE,
        txn: CreateTxn {
            path: path.into(),
            data: data.map(|d| d.to_vec()),
            acl: open(),
            ephemeral,
            parent_cversion: pcv,
        },
    }
}

fn set_data(path: &str, data: &[u8], version: i32) -> Txn {
    Txn::SetData {
        op_type: op::SET_DATA,
        txn: SetDataTxn {
            path: path.into(),
            data: Some(data.to_vec()),
            version,
        },
    }
}

/// The scenario: (session, txn) in zxid order, starting at zxid 1, and the
/// index after which the log is rolled and the snapshot taken.
fn scenario() -> (Vec<(i64, Txn)>, usize) {
    let a = SESSION_A;
    let b = SESSION_B;
    let secure_acl = vec![Acl::new(31, "digest", BOB), Acl::new(1, "world", "anyone")];
    let txns = vec![
        (a, Txn::CreateSession(CreateSessionTxn { time_out: 30000 })),
        (b, Txn::CreateSession(CreateSessionTxn { time_out: 40000 })),
        (a, create("/app", Some(b"hello"), false, 1)),
        (a, create("/app/empty", Some(b""), false, 1)),
        (a, create("/app/null", None, false, 2)),
        (a, create("/app/bin", Some(BIN), false, 3)),
        (a, create("/app/eph", Some(b"e"), true, 4)),
        (b, create("/app/ephB", Some(b"b"), true, 5)),
        (
            a,
            Txn::CreateContainer(CreateContainerTxn {
                path: "/cont".into(),
                data: Some(b"".to_vec()),
                acl: open(),
                parent_cversion: 2,
            }),
        ),
        (a, create("/cont/child", Some(b"x"), false, 1)),
        (
            a,
            Txn::CreateTtl(CreateTtlTxn {
                path: "/ttl".into(),
                data: Some(b"t".to_vec()),
                acl: open(),
                parent_cversion: 3,
                ttl: 600_000,
            }),
        ),
        (
            a,
            Txn::Create {
                op_type: op::CREATE2,
                txn: CreateTxn {
                    path: "/secure".into(),
                    data: Some(b"s".to_vec()),
                    acl: secure_acl,
                    ephemeral: false,
                    parent_cversion: 4,
                },
            },
        ),
        (a, set_data("/app", b"world", 1)),
        (
            a,
            Txn::SetAcl(SetAclTxn {
                path: "/app/bin".into(),
                acl: Acl::read_unsafe(),
                version: 1,
            }),
        ),
        (a, Txn::Error(ErrorTxn { err: -110 })),
        (
            a,
            Txn::Multi(vec![
                create("/m1", Some(b"m"), false, 5),
                set_data("/app", b"multi", 2),
                Txn::Check(CheckVersionTxn {
                    path: "/app".into(),
                    version: 2,
                }),
                Txn::Delete {
                    op_type: op::DELETE,
                    txn: DeleteTxn {
                        path: "/app/null".into(),
                    },
                },
            ]),
        ),
        (
            a,
            Txn::Multi(vec![
                Txn::Error(ErrorTxn { err: 0 }),
                Txn::Error(ErrorTxn { err: -110 }),
                Txn::Error(ErrorTxn { err: -2 }),
            ]),
        ),
        (
            a,
            Txn::Delete {
                op_type: op::DELETE,
                txn: DeleteTxn {
                    path: "/cont/child".into(),
                },
            },
        ),
        // --- roll + snapshot after this point ---
        (
            a,
            Txn::Create {
                op_type: op::CREATE2,
                txn: CreateTxn {
                    path: "/seq-0000000006".into(),
                    data: None,
                    acl: open(),
                    ephemeral: false,
                    parent_cversion: 6,
                },
            },
        ),
        (a, set_data("/app/bin", &BIN[..3], 1)),
        (a, create("/deep", Some(b"d"), false, 7)),
        (a, create("/deep/a", Some(b"da"), false, 1)),
        (a, create("/deep/a/b", Some(&[0u8; 300]), false, 1)),
        (
            a,
            Txn::CloseSession(Some(CloseSessionTxn {
                paths_to_delete: vec!["/app/eph".into()],
            })),
        ),
    ];
    (txns, 18)
}

const TIME0: i64 = 1_700_000_000_000;

/// Writes the scenario into `dir` (a version-2 directory): log.1 with
/// txns 1..=18, log.13 with the rest, snapshot.0 (fresh tree, no trailer)
/// and snapshot.12 (after txn 18, with digest and lastProcessedZxid
/// trailers). Returns the final model and the per-file entry counts.
fn write_scenario(dir: &Path) -> (Model, Vec<(i64, usize)>, i64) {
    let (txns, snap_after) = scenario();
    let mut model = Model::new();
    model.write_snapshot(dir, 0, SnapshotTrailer::default());
    let mut w = TxnLogWriter::open(
        dir,
        TxnLogOptions {
            prealloc_size: 64 * 1024,
            force_sync: true,
            size_limit: None,
        },
    )
    .expect("open log");
    let mut snap_zxid = 0;
    for (i, (session, txn)) in txns.into_iter().enumerate() {
        let zxid = i as i64 + 1;
        let header = TxnHeader {
            client_id: session,
            cxid: zxid as i32,
            zxid,
            time: TIME0 + zxid * 1000,
            op_type: txn.op_type(),
        };
        model.apply(&header, &txn);
        assert_eq!(model.digest.value(), model.full_digest());
        // Standalone ZooKeeper logs ErrorTxns without a digest.
        let digest = (!matches!(txn, Txn::Error(_))).then_some(TxnDigest {
            version: DIGEST_VERSION,
            tree_digest: model.digest.value(),
        });
        w.append(&TxnEntry {
            header,
            txn,
            digest,
        })
        .expect("append");
        if i + 1 == snap_after {
            w.commit().expect("commit");
            w.roll().expect("roll");
            snap_zxid = zxid;
            model.write_snapshot(
                dir,
                zxid,
                SnapshotTrailer {
                    digest: Some(ZxidDigest {
                        zxid,
                        digest_version: DIGEST_VERSION,
                        digest: model.digest.value(),
                    }),
                    last_processed_zxid: Some(zxid),
                },
            );
        }
    }
    w.close().expect("close log");
    let total = scenario().0.len();
    (
        model,
        vec![(1, snap_after), (snap_after as i64 + 1, total - snap_after)],
        snap_zxid,
    )
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn our_files_pass_zookeeper_formatters() {
    let Some(zk) = zookeeper("our_files_pass_zookeeper_formatters") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = datadir::ensure_version_dir(tmp.path()).expect("version-2");
    let (model, per_file, snap_zxid) = write_scenario(&dir);

    // Logs: TxnLogToolkit reads every entry, checksums match.
    let mut all = String::new();
    for (start, n) in &per_file {
        let p = dir.join(datadir::log_file_name(*start));
        let r = zk.txn_log_toolkit(&p);
        assert_no_exception("TxnLogToolkit", &r);
        assert_eq!(toolkit_count(&r.stdout), *n, "{}", r.stdout);
        assert!(r
            .stdout
            .contains("ZooKeeper Transactional Log File with dbid 0 txnlog format version 2"));
        all.push_str(&r.stdout);
    }
    for want in [
        "zxid 0x1 createSession 30000",
        "create /app,hello,",
        "create /app/null,,",
        "createContainer /cont,,",
        "createTtl /ttl,t,",
        "create2 /secure,s,[31,s{'digest,'bob:EXYzJgjhhLGsZx2E+3sxjvvdYNk=}",
        "setData /app,world,1",
        "setACL '/app/bin",
        "zxid 0xf error -110",
        "multi create:",
        "multi error:",
        "delete '/cont/child",
        "closeSession v{'/app/eph}",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }

    // Snapshots: SnapshotFormatter shows every path, the sessions and
    // their ephemerals; -d shows the binary data; -json parses.
    let snap = dir.join(datadir::snapshot_file_name(snap_zxid));
    let (at_snap, _) = Model::from_snapshot(&snap);
    let r = zk.snapshot_formatter(&snap, None);
    assert_no_exception("SnapshotFormatter", &r);
    let v = parse_formatter(&r.stdout);
    assert_eq!(
        v.count,
        at_snap.nodes.len() + 1,
        "count includes the root alias"
    );
    let want: BTreeSet<String> = at_snap.nodes.keys().cloned().collect();
    assert_eq!(v.paths, want);
    for p in [
        "/app/empty",
        "/app/eph",
        "/app/ephB",
        "/cont",
        "/ttl",
        "/secure",
        "/zookeeper/config",
    ] {
        assert!(v.paths.contains(p), "{p}");
    }
    // The successful multi deleted it before the snapshot.
    assert!(!v.paths.contains("/app/null"));
    let sessions: BTreeMap<i64, (i32, usize)> =
        [(SESSION_A, (30000, 1)), (SESSION_B, (40000, 1))].into();
    assert_eq!(v.sessions, sessions);
    assert!(r.stdout.contains(&format!("Last zxid: 0x{snap_zxid:x}")));
    let d = zk.snapshot_formatter(&snap, Some("-d"));
    assert_no_exception("SnapshotFormatter -d", &d);
    assert!(
        d.stdout.contains("  data = AAEC//4KgA=="),
        "binary data:\n{}",
        d.stdout
    );
    let j = zk.snapshot_formatter(&snap, Some("-json"));
    assert_no_exception("SnapshotFormatter -json", &j);
    assert!(j
        .stdout
        .starts_with("[1,0,{\"progname\":\"SnapshotFormatter.java\""));
    assert!(
        j.stdout.contains("{\"name\":\"bin\",\"asize\":7,"),
        "{}",
        j.stdout
    );
    let r0 = zk.snapshot_formatter(&dir.join("snapshot.0"), None);
    assert_no_exception("SnapshotFormatter snapshot.0", &r0);
    assert_eq!(parse_formatter(&r0.stdout).count, 5);

    // And our own readers agree with what we wrote.
    let got: Vec<i64> = txnlog::read_log(&dir, -1)
        .expect("read")
        .map(|t| t.expect("entry").entry.header.zxid)
        .collect();
    assert_eq!(got.len(), per_file.iter().map(|(_, n)| n).sum::<usize>());
    assert_eq!(model.sessions.len(), 1);
}

#[test]
fn zookeeper_loads_our_datadir_and_recomputes_our_digests() {
    let Some(zk) = zookeeper("zookeeper_loads_our_datadir_and_recomputes_our_digests") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let dir = datadir::ensure_version_dir(&data).expect("version-2");
    let (model, _, snap_zxid) = write_scenario(&dir);
    let last = scenario().0.len() as i64;

    let server = zk.start_server(&data, &tmp.path().join("work"), 1000);
    let out = server.cli(&[
        "get /app",
        "get /app/null",
        "get /deep/a",
        "ls /",
        "ls /app",
        "getAcl /secure",
        "stat /ttl",
        "create /after \"written by zookeeper\"",
    ]);
    let log = server.stop();

    // It loaded our snapshot including the digest record (and ignored the
    // 3.9 lastProcessedZxid trailer), replayed our log, and its own digest
    // of the resulting tree equals ours.
    assert!(
        log.contains(&format!(
            "Reading snapshot {}",
            dir.join(format!("snapshot.{snap_zxid:x}")).display()
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "The digest in the snapshot has digest version of 2, with zxid as 0x{snap_zxid:x}"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "highest zxid is 0x{last:x}, digest is {}",
            model.digest.value()
        )),
        "digest after replay differs:\n{log}"
    );
    for bad in [
        "problem reading snap file",
        "Digests are not matching",
        "digest mismatch",
        "CRC",
        "Unable to load database",
    ] {
        assert!(!log.contains(bad), "ZooKeeper logged {bad:?}:\n{log}");
    }
    for want in [
        "\nmulti\n",
        "Node does not exist: /app/null",
        "\nda\n",
        "[app, cont, deep, m1, secure, seq-0000000006, ttl, zookeeper]",
        "[bin, empty, ephB]",
        // 3.8 masks digest ids in getAcl replies for non-admin callers.
        "'digest,'bob:x",
        "ephemeralOwner = 0x0",
        "Created /after",
    ] {
        assert!(out.contains(want), "zkCli output lacks {want:?}:\n{out}");
    }

    // ZooKeeper appended its own log after ours; we read the mixture.
    let txns: Vec<_> = txnlog::read_log(&dir, -1)
        .expect("read")
        .map(|t| t.expect("entry"))
        .collect();
    assert!(txns.len() as i64 > last);
    assert!(txns
        .iter()
        .any(|t| matches!(&t.entry.txn, Txn::Create { txn, .. } if txn.path == "/after")));
}

#[test]
fn we_read_a_real_zookeeper_datadir() {
    let Some(zk) = zookeeper("we_read_a_real_zookeeper_datadir") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let work = tmp.path().join("work");
    let server = zk.start_server(&data, &work, 20);
    let mut cmds: Vec<String> = [
        "create /app \"hello\"",
        "create /app/empty \"\"",
        "create /app/nodata",
        "create -e /app/eph \"e\"",
        "create -s /app/seq- \"s\"",
        "create -s /app/seq- \"s\"",
        "create -c /cont \"\"",
        "create /cont/child \"x\"",
        "create -t 100000 /ttl \"t\"",
        "set /app \"world\"",
        "create /app \"dup\"",
        "delete /nope",
        "addauth digest bob:secret",
        "create /secure \"s\" digest:bob:EXYzJgjhhLGsZx2E+3sxjvvdYNk=:cdrwa",
        "setAcl /app world:anyone:r",
        "delete /app/nodata",
        "deleteall /cont",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in 0..30 {
        cmds.push(format!("create /n{i} \"{i}\""));
        if i % 3 == 0 {
            cmds.push(format!("set /n{i} \"v{i}\""));
        }
        if i % 5 == 0 {
            cmds.push(format!("delete /n{i}"));
        }
    }
    let refs: Vec<&str> = cmds.iter().map(|s| s.as_str()).collect();
    let out = server.cli(&refs);
    assert!(out.contains("Created /n29"), "{out}");
    server.stop();
    // Which zxids the in-run snapshots cover, before ZooKeeper's start-up
    // snapshot may overwrite one of them (same name: the last zxid).
    let snapped_in_run: BTreeSet<i64> = datadir::list_snapshots(&datadir::version_dir(&data))
        .expect("snaps")
        .iter()
        .map(|s| s.zxid)
        .collect();
    // Restart: ZooKeeper replays its logs and takes a clean snapshot at the
    // last zxid, logging its digest.
    let server = zk.start_server(&data, &work, 20);
    let restart_log = server.stop();

    let dir = datadir::version_dir(&data);
    let logs = datadir::list_logs(&dir).expect("logs");
    let snaps = datadir::list_snapshots(&dir).expect("snaps");
    assert!(logs.len() >= 3, "snapCount=20 should roll logs: {logs:?}");
    assert!(snaps.len() >= 3, "and take snapshots: {snaps:?}");

    // Every entry decodes, checksums verify, no tear, and the counts per
    // file match TxnLogToolkit. Re-encoding gives the exact logged bytes.
    let mut it = txnlog::read_log(&dir, -1).expect("read");
    let txns: Vec<txnlog::LoggedTxn> = (&mut it).map(|t| t.expect("entry")).collect();
    assert!(it.tear().is_none(), "{:?}", it.tear());
    for f in &logs {
        let r = zk.txn_log_toolkit(&f.path);
        assert_no_exception("TxnLogToolkit", &r);
        let ours = txns.iter().filter(|t| t.log_zxid == f.zxid).count();
        assert_eq!(ours, toolkit_count(&r.stdout), "{}", f.path.display());
    }
    for t in &txns {
        assert_eq!(
            t.entry.encode(),
            t.raw,
            "round trip of {:?}",
            t.entry.header
        );
    }
    let types: BTreeSet<i32> = txns.iter().map(|t| t.entry.header.op_type).collect();
    for ty in [
        op::CREATE_SESSION,
        op::CLOSE_SESSION,
        op::CREATE,
        op::CREATE_CONTAINER,
        op::CREATE_TTL,
        op::SET_DATA,
        op::SET_ACL,
        op::DELETE,
        op::MULTI,
        op::ERROR,
    ] {
        assert!(types.contains(&ty), "no txn of type {ty} in {types:?}");
    }
    let last_zxid = txns.last().expect("some txns").entry.header.zxid;
    assert_eq!(
        txnlog::last_logged_zxid(&dir).expect("last"),
        Some(last_zxid)
    );

    // Every snapshot verifies, and matches SnapshotFormatter.
    for s in &snaps {
        assert!(snapshot::quick_check(&s.path).expect("quick check"));
        let (m, _) = Model::from_snapshot(&s.path);
        let r = zk.snapshot_formatter(&s.path, None);
        assert_no_exception("SnapshotFormatter", &r);
        let v = parse_formatter(&r.stdout);
        assert_eq!(v.count, m.nodes.len() + 1, "{}", s.path.display());
        assert_eq!(v.paths, m.nodes.keys().cloned().collect::<BTreeSet<_>>());
        assert_eq!(
            v.sessions.keys().collect::<Vec<_>>(),
            m.sessions.keys().collect::<Vec<_>>()
        );
    }

    // The start-up snapshot is not fuzzy: its digest record equals our
    // digest of its nodes, and the number ZooKeeper logged.
    let newest = snaps.last().expect("snapshot");
    assert_eq!(newest.zxid, last_zxid);
    let trailer = snapshot::verify(&newest.path).expect("verify");
    if let Some(d) = trailer.digest {
        let (m, _) = Model::from_snapshot(&newest.path);
        assert_eq!(d.zxid, last_zxid);
        assert_eq!(d.digest_version, 2);
        assert_eq!(d.digest, m.full_digest());
        assert!(
            restart_log.contains(&format!(
                "highest zxid is 0x{last_zxid:x}, digest is {}",
                d.digest
            )),
            "{restart_log}"
        );
    } else {
        // When the last txn of the first run started a (fuzzy) snapshot at
        // the last zxid, ZooKeeper's start-up snapshot has nothing newer to
        // write (rare: rolls are randomised). Anything else is a failure.
        // ZooKeeper then rewrites that file on start-up (same name), still
        // without a digest: what matters is that an in-run snapshot had
        // already covered the last zxid.
        assert!(
            snapped_in_run.contains(&newest.zxid),
            "the start-up snapshot {} has no digest record",
            newest.path.display()
        );
        eprintln!(
            "NOTE: ZooKeeper's in-run snapshot {} already covers the last zxid; \
             the start-up digest check is skipped this time",
            newest.path.display()
        );
    }
    assert_eq!(trailer.last_processed_zxid, None, "3.8 does not write it");

    // Replaying every logged txn on the first snapshot reproduces every
    // TxnDigest ZooKeeper logged: our node digest is ZooKeeper's.
    let (mut m, z0) = Model::from_snapshot(&snaps[0].path);
    assert_eq!(z0, 0);
    let mut checked = 0;
    for t in &txns {
        m.apply(&t.entry.header, &t.entry.txn);
        if let Some(d) = &t.entry.digest {
            assert_eq!(d.version, 2);
            assert_eq!(
                d.tree_digest,
                m.digest.value(),
                "digest after zxid {:#x} ({:?})",
                t.entry.header.zxid,
                t.entry.txn
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} digests checked");
    if let Some(d) = trailer.digest {
        assert_eq!(m.digest.value(), d.digest);
    }
}

/// Tiny deterministic PRNG (xorshift64*), to keep the test reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

#[test]
fn torn_tail_at_random_offsets() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path().join("base");
    fs::create_dir_all(&base).expect("mkdir");
    let mut w = TxnLogWriter::open(
        &base,
        TxnLogOptions {
            prealloc_size: 16 * 1024,
            force_sync: false,
            size_limit: None,
        },
    )
    .expect("open");
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    // Older file: 1..=20; last file: 21..=60, with varied sizes.
    let mut ends = Vec::new(); // (zxid, end offset) in the last file
    let mut pos = txnlog::HEADER_LEN;
    for z in 1..=60i64 {
        if z == 21 {
            w.roll().expect("roll");
        }
        let len = rng.below(600) as usize;
        let e = TxnEntry {
            header: TxnHeader {
                client_id: 9,
                cxid: z as i32,
                zxid: z,
                time: z,
                op_type: op::SET_DATA,
            },
            txn: set_data("/t", &vec![z as u8; len], z as i32),
            digest: Some(TxnDigest {
                version: 2,
                tree_digest: z,
            }),
        };
        if z >= 21 {
            pos += 13 + e.encode().len() as u64;
            ends.push((z, pos));
        }
        w.append(&e).expect("append");
    }
    w.close().expect("close");
    let last = base.join("log.15");
    let data_end = pos;
    assert!(
        fs::metadata(&last).expect("meta").len() > data_end,
        "preallocated"
    );

    let original = fs::read(&last).expect("read");
    for round in 0..300 {
        let dir = tmp.path().join(format!("r{round}"));
        copy_dir(&base, &dir);
        let lastp = dir.join("log.15");
        let mode = round % 3;
        // Cuts inside the header are only realistic as a short file
        // (mode 0); zeroed or garbage headers are tested separately.
        let cut = if mode == 0 {
            rng.below(data_end + 1)
        } else {
            txnlog::HEADER_LEN + rng.below(data_end - txnlog::HEADER_LEN + 1)
        };
        let mut bytes = original.clone();
        match mode {
            // Crash before the tail reached the disk: file cut short.
            0 => bytes.truncate(cut as usize),
            // Pages after the cut never written: zeros (preallocation).
            1 => bytes[cut as usize..].fill(0),
            // Garbage after the cut (e.g. stale blocks).
            _ => {
                for b in &mut bytes[cut as usize..data_end as usize] {
                    *b = rng.next() as u8;
                }
            }
        }
        fs::write(&lastp, &bytes).expect("write");

        let complete: Vec<i64> = ends
            .iter()
            .filter(|(_, e)| *e <= cut)
            .map(|(z, _)| *z)
            .collect();
        let last_end = ends
            .iter()
            .filter(|(_, e)| *e <= cut)
            .map(|(_, e)| *e)
            .max()
            .unwrap_or(txnlog::HEADER_LEN);
        // Bytes of the cut entry that survived: if all are zero the file
        // simply looks preallocated there, which is a clean end.
        let survivors_nonzero = cut > last_end
            && original[last_end as usize..cut as usize]
                .iter()
                .any(|&b| b != 0);
        let expect_tear = match mode {
            0 if cut < txnlog::HEADER_LEN => Some(0),
            0 | 1 => survivors_nonzero.then_some(last_end),
            _ => (cut < data_end).then_some(last_end),
        };
        let mut it = txnlog::read_log(&dir, -1).expect("read");
        let got: Vec<i64> = (&mut it)
            .map(|t| t.expect("no error for a torn tail").entry.header.zxid)
            .collect();
        let want: Vec<i64> = (1..=20).chain(complete.iter().copied()).collect();
        assert_eq!(got, want, "round {round} mode {mode} cut {cut}");
        let tear = it.tear().cloned();
        assert_eq!(
            tear.as_ref().map(|t| t.offset),
            expect_tear,
            "round {round} mode {mode} cut {cut}: {tear:?}"
        );
        if let Some(t) = &tear {
            assert_eq!(t.last_good_zxid, complete.last().copied());
        }
        if let Some(t) = it.tear() {
            txnlog::truncate_tear(t).expect("truncate");
        }
        // After truncation: same entries, clean end, and a new writer can
        // carry on.
        let mut it = txnlog::read_log(&dir, -1).expect("read");
        let again: Vec<i64> = (&mut it)
            .map(|t| t.expect("entry").entry.header.zxid)
            .collect();
        assert_eq!(again, want);
        assert!(it.tear().is_none());
        let next = want.last().copied().unwrap_or(20) + 1;
        let mut w = TxnLogWriter::open(&dir, TxnLogOptions::default()).expect("open");
        w.append(&TxnEntry {
            header: TxnHeader {
                client_id: 9,
                cxid: 0,
                zxid: next,
                time: 0,
                op_type: op::SET_DATA,
            },
            txn: set_data("/t", b"after", 0),
            digest: None,
        })
        .expect("append");
        w.close().expect("close");
        let s = txnlog::replay(&dir, -1, |_| Ok(())).expect("replay");
        assert_eq!(s.last_zxid, Some(next));
        assert!(s.truncated.is_none());
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}

#[test]
fn purge_keeps_what_recovery_needs_like_purgetxnlog() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("ours");
    fs::create_dir_all(&dir).expect("mkdir");
    let model = Model::new();
    for z in [0i64, 0x10, 0x20, 0x30] {
        model.write_snapshot(&dir, z, SnapshotTrailer::default());
    }
    // Newest snapshot fails the quick check: it must not count.
    fs::write(dir.join("snapshot.40"), b"torn").expect("write");
    let mut w = TxnLogWriter::open(
        &dir,
        TxnLogOptions {
            prealloc_size: 0,
            force_sync: false,
            size_limit: None,
        },
    )
    .expect("open");
    for z in 1..=0x45i64 {
        if [0x5, 0x12, 0x21, 0x38].contains(&z) {
            w.roll().expect("roll");
        }
        w.append(&TxnEntry {
            header: TxnHeader {
                client_id: 1,
                cxid: 0,
                zxid: z,
                time: 0,
                op_type: op::SET_DATA,
            },
            txn: set_data("/p", b"x", 1),
            digest: None,
        })
        .expect("append");
    }
    w.close().expect("close");
    let theirs = tmp.path().join("theirs");
    copy_dir(&dir, &theirs);

    let report = datadir::purge(&dir, &dir, 1).expect("purge");
    // Keep 3 valid snapshots (0x30, 0x20, 0x10): the oldest kept is 0x10,
    // whose replay needs log.5 (starts at or before 0x10) and later.
    assert_eq!(report.oldest_kept_snapshot, Some(0x10));
    let names = |d: &Path| -> BTreeSet<String> {
        fs::read_dir(d)
            .expect("ls")
            .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
            .collect()
    };
    let left = names(&dir);
    let want: BTreeSet<String> = [
        "snapshot.10",
        "snapshot.20",
        "snapshot.30",
        "snapshot.40",
        "log.5",
        "log.12",
        "log.21",
        "log.38",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(left, want);
    assert_eq!(report.removed.len(), 2);
    // Nothing more to do the second time; recovery still works.
    assert!(datadir::purge(&dir, &dir, 3)
        .expect("purge")
        .removed
        .is_empty());
    let loaded = snapshot::load_newest(&dir, |_| Ok(()))
        .expect("load")
        .expect("some");
    assert_eq!(loaded.zxid, 0x30);
    let s = txnlog::replay(&dir, loaded.zxid, |_| Ok(())).expect("replay");
    assert_eq!((s.count, s.last_zxid), (0x15, Some(0x45)));

    // ZooKeeper's own PurgeTxnLog leaves exactly the same files.
    let Some(zk) = zookeeper("purge_keeps_what_recovery_needs_like_purgetxnlog (PurgeTxnLog part)")
    else {
        return;
    };
    // PurgeTxnLog expects the parent of version-2.
    let parent = tmp.path().join("zkparent");
    fs::create_dir_all(&parent).expect("mkdir");
    fs::rename(&theirs, parent.join("version-2")).expect("rename");
    let pp = parent.to_str().expect("utf-8");
    let r = zk.run(
        "org.apache.zookeeper.server.PurgeTxnLog",
        &[pp, pp, "-n", "3"],
    );
    assert!(r.ok, "{}", r.all);
    assert_eq!(names(&parent.join("version-2")), want, "{}", r.all);
}

#[test]
fn damaged_headers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let mut w = TxnLogWriter::open(dir, TxnLogOptions::default()).expect("open");
    let e = |z: i64| TxnEntry {
        header: TxnHeader {
            client_id: 1,
            cxid: 0,
            zxid: z,
            time: 0,
            op_type: op::SET_DATA,
        },
        txn: set_data("/h", b"x", 1),
        digest: None,
    };
    w.append(&e(1)).expect("append");
    w.roll().expect("roll");
    w.append(&e(2)).expect("append");
    w.close().expect("close");
    // A newest file whose header page never reached the disk: a tear.
    let newest = dir.join("log.2");
    let mut b = fs::read(&newest).expect("read");
    b[..4096].fill(0);
    fs::write(&newest, &b).expect("write");
    let s = txnlog::replay(dir, -1, |_| Ok(())).expect("replay");
    assert_eq!(s.last_zxid, Some(1));
    assert_eq!(s.truncated.map(|t| t.offset), Some(0));
    assert!(!newest.exists(), "a torn file without entries is removed");
    // A foreign magic is not a tear but an error, even in the newest file.
    let old = dir.join("log.1");
    let mut b = fs::read(&old).expect("read");
    b[0] = b'X';
    fs::write(&old, &b).expect("write");
    let res: Vec<_> = txnlog::read_log(dir, -1).expect("read").collect();
    assert!(res.len() == 1 && res[0].is_err(), "{res:?}");
}
