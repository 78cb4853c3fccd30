//! Recovery from fuzzy snapshots taken while a big tree is being mutated.
//!
//! zkserver does not stop the world to snapshot: the pipeline task copies
//! the tree in slices of 2048 znodes between requests (`Core::take_snapshot`
//! / `Core::snapshot_step`), and writes keep being applied in between. The
//! walk therefore cannot hold on to node references or lists of names; it
//! keeps a stack of frames (the node's arena id + the name of the last child
//! copied) and resumes each slice *after* that name. A node deleted since the
//! snapshot's zxid is simply not found any more, and a node (or a reused
//! arena slot) whose czxid is newer than the snapshot's zxid is skipped: the
//! transactions after the snapshot's zxid are replayed from the log on
//! recovery and bring both back. What the walk does copy may already carry
//! later changes (newer data and version, a parent's later cversion/pzxid, a
//! newer ACL); replaying those transactions again must land on exactly the
//! live state. Such a snapshot is only right together with the replay, so
//! this test checks the pair, end to end, with the real binary:
//!
//! Phase 1 (`snapCount=200`: a new snapshot every 100–200 transactions, so a
//! walk is nearly always in progress):
//!
//! * `/big` gets 6000 children (every 100th with 3 grandchildren) between two
//!   small subtrees, so one walk takes several slices;
//! * seeded rounds of pipelined writes then delete runs of `/big`'s children
//!   (grandchildren first), create children whose names sort before, between
//!   and after the existing ones (behind and ahead of the walk), setData and
//!   setACL everywhere, re-create deleted names (a new node under an old
//!   name, maybe in a reused slot), delete and at once re-create subtrees the
//!   walk may be inside, and grow or cut grandchildren;
//! * the live tree is dumped over the wire (data, full Stat, ACL) and checked
//!   against the test's own model; the server is SIGKILLed and restarted on
//!   the same dataDir, and the recovered tree must equal the dump exactly
//!   (czxid, mzxid, pzxid, version, cversion, aversion, numChildren, ...);
//! * the snapshot files are read: there must be several, at least three of
//!   the mutation rounds must be fuzzy (their trailer's last-processed zxid
//!   is past the zxid in their name: writes were applied during the walk),
//!   and none may hold a node created after its zxid, a path twice, or a
//!   child before its parent. The most fuzzy ones are then recovered *on
//!   their own* (a copy of the dataDir without the newer snapshots) and must
//!   replay to the same tree.
//!
//! Phase 2 (restarted with `snapCount=2`: walks back to back): short streams
//! of writes ending with deletes of `/big`'s last children, until the newest
//! snapshot shows the race this aims for: its walk had copied `/big`, then
//! those children were deleted before the walk reached them. They are not in
//! the snapshot, so their replayed deletes find no node, yet `/big`'s pzxid
//! must still come back as the zxid of the last one (ZooKeeper's
//! `DataTree.deleteNode` moves the parent's pzxid before it looks for the
//! child). Then SIGKILL, restart, and the same exact comparison.
//!
//! Finally, when Apache ZooKeeper is installed, it loads the final dataDir
//! and must show the same tree (skipped loudly otherwise, failing under
//! CI=true). The whole test takes 15–20 s on two cores.
//!
//! Seeds come from SNAPWALK_SEED (printed on every run). On failure the
//! dataDirs and server logs are kept and their location printed.

mod durable;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use durable::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use zkproto::consts::{op, perms};
use zkproto::jute::Jute;
use zkproto::records::*;

const SNAP_COUNT: u32 = 200;
/// Children of `/big`: about three slices of the walk on their own.
const BIG_CHILDREN: usize = 6000;
/// Every this many children of `/big` get grandchildren.
const GRANDCHILD_EVERY: usize = 100;
const GRANDCHILDREN: usize = 3;
/// Requests kept in flight on the writing session.
const WINDOW: usize = 256;
const ROUNDS: usize = 3;
/// Writes per mutation round (roughly).
const OPS_PER_ROUND: usize = 2500;
/// Fuzzy snapshots of the mutation rounds recovered on their own.
const OLD_SNAPSHOTS_CHECKED: usize = 2;
const SESSION_TIMEOUT: i32 = 30_000;
/// Children at the end of /big deleted (descending) by each tail.
const TAIL_DELETES: usize = 8;
/// Tails tried at most until one races the newest snapshot's walk.
const MAX_TAILS: usize = 25;

fn server_cfg(snap_count: u32) -> String {
    format!("snapCount={snap_count}\npreAllocSize=64\nmaxSessionTimeout=60000\n")
}

// ---- writes and the model of the tree ------------------------------------------

#[derive(Clone, Debug)]
enum Req {
    Create(String, Option<Vec<u8>>),
    Delete(String),
    Set(String, Option<Vec<u8>>),
    SetAcl(String, Vec<Acl>),
}

impl Req {
    fn encode(&self) -> (i32, Vec<u8>) {
        match self {
            Req::Create(path, data) => (
                op::CREATE,
                CreateRequest {
                    path: path.clone(),
                    data: data.clone(),
                    acl: Acl::open_unsafe(),
                    flags: flags::PERSISTENT,
                }
                .to_bytes(),
            ),
            Req::Delete(path) => (
                op::DELETE,
                DeleteRequest {
                    path: path.clone(),
                    version: -1,
                }
                .to_bytes(),
            ),
            Req::Set(path, data) => (
                op::SET_DATA,
                SetDataRequest {
                    path: path.clone(),
                    data: data.clone(),
                    version: -1,
                }
                .to_bytes(),
            ),
            Req::SetAcl(path, acl) => (
                op::SET_ACL,
                SetAclRequest {
                    path: path.clone(),
                    acl: acl.clone(),
                    version: -1,
                }
                .to_bytes(),
            ),
        }
    }
}

/// Data and ACL of a znode.
type Content = (Option<Vec<u8>>, Vec<Acl>);

/// The znodes this test made (path → data and ACL), and the writes that make
/// them, planned in the order they are sent. Every planned write must
/// succeed.
#[derive(Default)]
struct Model {
    nodes: BTreeMap<String, Content>,
    plan: Vec<Req>,
    seq: u64,
}

fn parent_of(p: &str) -> &str {
    match p.rfind('/') {
        Some(0) => "/",
        Some(i) => &p[..i],
        None => panic!("bad path {p}"),
    }
}

impl Model {
    fn exists(&self, p: &str) -> bool {
        p == "/" || self.nodes.contains_key(p)
    }

    fn payload(&mut self, rng: &mut StdRng, tag: &str) -> Option<Vec<u8>> {
        self.seq += 1;
        match rng.gen_range(0..40) {
            0 => None,
            1 => Some(Vec::new()),
            2 => {
                // Big enough to keep the snapshot writer busy now and then.
                let mut d = format!("{tag}#{}:", self.seq).into_bytes();
                d.extend((0..rng.gen_range(1000..4000)).map(|i| b'a' + (i % 26) as u8));
                Some(d)
            }
            _ => Some(format!("{tag}#{}", self.seq).into_bytes()),
        }
    }

    fn create(&mut self, p: &str, data: Option<Vec<u8>>) {
        assert!(self.exists(parent_of(p)), "plan: parent of {p} missing");
        assert!(!self.exists(p), "plan: {p} exists");
        self.nodes
            .insert(p.to_string(), (data.clone(), Acl::open_unsafe()));
        self.plan.push(Req::Create(p.to_string(), data));
    }

    fn set(&mut self, p: &str, data: Option<Vec<u8>>) {
        let n = self
            .nodes
            .get_mut(p)
            .expect("plan: setData of a missing node");
        n.0 = data.clone();
        self.plan.push(Req::Set(p.to_string(), data));
    }

    /// Replaces the ACL with one that still lets us do everything (the
    /// digest entry makes it a new ACL-map entry, new after the snapshots
    /// running now began).
    fn set_acl(&mut self, p: &str) {
        self.seq += 1;
        let user = format!("u{}", self.seq % 97);
        let acl = vec![
            Acl::new(perms::ALL, "world", "anyone"),
            Acl::new(perms::READ, "digest", &digest_id(&user, "pw")),
        ];
        let n = self
            .nodes
            .get_mut(p)
            .expect("plan: setACL of a missing node");
        n.1 = acl.clone();
        self.plan.push(Req::SetAcl(p.to_string(), acl));
    }

    /// Deletes `p` and everything under it, deepest first.
    fn delete_tree(&mut self, p: &str) {
        let prefix = format!("{p}/");
        let mut victims: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        victims.push(p.to_string());
        // Reverse lexicographic order puts every descendant before its
        // ancestor (an ancestor is a prefix, so it sorts first).
        victims.sort_unstable_by(|a, b| b.cmp(a));
        for v in victims {
            self.nodes.remove(&v);
            self.plan.push(Req::Delete(v));
        }
    }

    /// Direct children of `p`, sorted.
    fn children(&self, p: &str) -> Vec<String> {
        let prefix = format!("{p}/");
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k[prefix.len()..].contains('/'))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn create_with_kids(&mut self, rng: &mut StdRng, p: &str, kids: usize) {
        let d = self.payload(rng, p);
        self.create(p, d);
        for g in 0..kids {
            let gp = format!("{p}/g{g}");
            let d = self.payload(rng, &gp);
            self.create(&gp, d);
        }
    }

    fn take_plan(&mut self) -> Vec<Req> {
        std::mem::take(&mut self.plan)
    }
}

/// Sends `writes` on `c` with up to WINDOW in flight; every one must succeed.
fn run_pipelined(c: &mut Conn, writes: &[Req], ctx: &str) {
    let mut inflight: VecDeque<(i32, usize)> = VecDeque::new();
    let mut next = 0;
    while next < writes.len() || !inflight.is_empty() {
        while next < writes.len() && inflight.len() < WINDOW {
            let (opc, body) = writes[next].encode();
            let xid = c
                .send(opc, &body)
                .unwrap_or_else(|e| panic!("{ctx}: sending {:?}: {e}", writes[next]));
            inflight.push_back((xid, next));
            next += 1;
        }
        let (xid, i) = inflight.pop_front().expect("a write in flight");
        let (h, _) = c
            .recv()
            .unwrap_or_else(|e| panic!("{ctx}: reply to {:?}: {e}", writes[i]));
        assert_eq!(
            h.xid, xid,
            "{ctx}: reply xid {} while waiting for {xid}",
            h.xid
        );
        assert_eq!(
            h.err, 0,
            "{ctx}: {:?} failed with error {}",
            writes[i], h.err
        );
    }
}

// ---- the tree and the mutation rounds ---------------------------------------------

fn build_tree(m: &mut Model, rng: &mut StdRng) {
    // Root children sort as "a" < "big" < "zz" < "zookeeper": the walk goes
    // through a small subtree, then /big, then another small one.
    let d = m.payload(rng, "/a");
    m.create("/a", d);
    for i in 0..20 {
        let d = m.payload(rng, "a");
        m.create(&format!("/a/n{i:02}"), d);
    }
    m.create("/big", Some(b"big".to_vec()));
    for i in 0..BIG_CHILDREN {
        let kids = if i % GRANDCHILD_EVERY == 0 {
            GRANDCHILDREN
        } else {
            0
        };
        m.create_with_kids(rng, &format!("/big/c{i:05}"), kids);
    }
    m.create("/zz", None);
    for i in 0..20 {
        m.create_with_kids(rng, &format!("/zz/n{i:02}"), i % 3);
    }
}

/// Plans one round of mutations: a random mix of the actions below until
/// about OPS_PER_ROUND writes.
fn plan_round(m: &mut Model, rng: &mut StdRng, round: usize, deleted: &mut Vec<String>) {
    let start = m.plan.len();
    let mut k = 0u32;
    while m.plan.len() - start < OPS_PER_ROUND {
        k += 1;
        let kids = m.children("/big");
        match rng.gen_range(0..9) {
            // A run of deletes somewhere in /big (grandchildren first).
            0 | 1 => {
                let len = rng.gen_range(10..150).min(kids.len() / 4);
                let from = rng.gen_range(0..kids.len() - len);
                for p in &kids[from..from + len] {
                    m.delete_tree(p);
                    deleted.push(p.clone());
                }
            }
            // Names sorting before everything, after everything, and right
            // after an existing child (between two of them).
            2 => {
                for j in 0..rng.gen_range(5..40) {
                    let kids_n = if j % 7 == 0 { 2 } else { 0 };
                    m.create_with_kids(rng, &format!("/big/a{round}-{k:04}-{j:02}"), kids_n);
                }
            }
            3 => {
                for j in 0..rng.gen_range(5..40) {
                    let kids_n = if j % 5 == 0 { 1 } else { 0 };
                    m.create_with_kids(rng, &format!("/big/e{round}-{k:04}-{j:02}"), kids_n);
                }
            }
            4 => {
                for _ in 0..rng.gen_range(5..40) {
                    let at = kids.choose(rng).expect("children").clone();
                    let p = format!("{at}m{round}-{k}");
                    if !m.exists(&p) {
                        let n = rng.gen_range(0..2);
                        m.create_with_kids(rng, &p, n);
                    }
                }
            }
            // Deleted names come back: same name, a new node.
            5 => {
                deleted.shuffle(rng);
                for _ in 0..rng.gen_range(5..60) {
                    let Some(p) = deleted.pop() else { break };
                    if !m.exists(&p) {
                        let n = rng.gen_range(0..=GRANDCHILDREN);
                        m.create_with_kids(rng, &p, n);
                    }
                }
            }
            // Delete and at once re-create a subtree (the walk may be in it).
            6 => {
                for _ in 0..rng.gen_range(1..6) {
                    let p = kids.choose(rng).expect("children").clone();
                    if m.exists(&p) {
                        m.delete_tree(&p);
                        m.create_with_kids(rng, &p, GRANDCHILDREN);
                    }
                }
                if rng.gen_ratio(1, 4) {
                    m.delete_tree("/zz");
                    m.create("/zz", Some(format!("zz-{round}-{k}").into_bytes()));
                    for i in 0..rng.gen_range(1..10) {
                        m.create_with_kids(rng, &format!("/zz/r{round}-{k}-{i}"), i % 2);
                    }
                }
            }
            // Grandchildren appear under leaves (a frame to descend into
            // where there was none) or go away.
            7 => {
                for _ in 0..rng.gen_range(5..30) {
                    let p = kids.choose(rng).expect("children").clone();
                    if !m.exists(&p) {
                        continue;
                    }
                    let gk = m.children(&p);
                    if gk.is_empty() || rng.gen_bool(0.5) {
                        let gp = format!("{p}/h{round}-{k}");
                        if !m.exists(&gp) {
                            let d = m.payload(rng, &gp);
                            m.create(&gp, d);
                        }
                    } else {
                        let g = gk.choose(rng).expect("grandchild").clone();
                        m.delete_tree(&g);
                    }
                }
            }
            // setData on anything of ours.
            _ => {
                let all: Vec<String> = m.nodes.keys().cloned().collect();
                for _ in 0..rng.gen_range(20..120) {
                    let p = all.choose(rng).expect("nodes");
                    if rng.gen_ratio(1, 5) {
                        m.set_acl(p);
                    } else {
                        let d = m.payload(rng, p);
                        m.set(p, d);
                    }
                }
            }
        }
    }
    if round + 1 == ROUNDS {
        // Deletes all over /big and under its children.
        let kids = m.children("/big");
        for p in kids.iter().step_by(7).take(300) {
            m.delete_tree(p);
        }
        let with_kids: Vec<String> = m
            .children("/big")
            .into_iter()
            .filter(|p| !m.children(p).is_empty())
            .collect();
        for p in with_kids.iter().rev().take(20) {
            let g = m.children(p);
            m.delete_tree(&g[0]);
        }
    }
}

// ---- checks -------------------------------------------------------------------------

/// Our part of a dump (no `/`, no `/zookeeper`): path → data.
fn ours(d: &Dump) -> BTreeMap<String, Content> {
    d.iter()
        .filter(|(p, _)| p.as_str() != "/" && p.as_str() != "/zookeeper")
        .filter(|(p, _)| !p.starts_with("/zookeeper/"))
        .map(|(p, n)| (p.clone(), (n.data.clone(), n.acl.clone())))
        .collect()
}

/// Whether a snapshot is being written (its temp file exists).
fn snapshot_in_progress(vd: &Path) -> bool {
    fs::read_dir(vd).expect("read version-2").any(|e| {
        e.is_ok_and(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(".snapshot.") && n.ends_with(".tmp")
        })
    })
}

/// Waits until no snapshot is being written (no temp file for a while):
/// without writes, no new one starts.
fn wait_for_snapshot_writer(vd: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut quiet = 0;
    while quiet < 4 {
        assert!(
            Instant::now() < deadline,
            "a snapshot is still being written after 20 s"
        );
        quiet = if snapshot_in_progress(vd) {
            0
        } else {
            quiet + 1
        };
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn dump_port(port: u16, ctx: &str) -> Dump {
    let mut c = Conn::connect(port, SESSION_TIMEOUT)
        .unwrap_or_else(|e| panic!("{ctx}: cannot connect to dump: {e}"));
    let d = dump(&mut c);
    c.close();
    d
}

/// What one snapshot file holds, checked for the walk's invariants.
struct SnapInfo {
    zxid: i64,
    path: std::path::PathBuf,
    /// The trailer's last-processed zxid: past `zxid` when writes were
    /// applied during the walk.
    last: i64,
    nodes: usize,
    /// Copied znodes carrying a change made after `zxid`.
    newer: usize,
    paths: BTreeSet<String>,
    /// `/big` as copied.
    big: Option<StatPersisted>,
}

fn check_snapshot(zxid: i64, path: &Path) -> SnapInfo {
    use zkserver::storage::snapshot::FileSnapshotReader;
    let name = path.display();
    let mut r = FileSnapshotReader::open(path).unwrap_or_else(|e| panic!("open {name}: {e}"));
    r.sessions()
        .unwrap_or_else(|e| panic!("{name}: sessions: {e}"));
    r.acls().unwrap_or_else(|e| panic!("{name}: acls: {e}"));
    let mut seen = BTreeSet::new();
    let mut newer = 0;
    let mut big = None;
    while let Some(n) = r
        .next_node()
        .unwrap_or_else(|e| panic!("{name}: node: {e}"))
    {
        let p = if n.path.is_empty() {
            "/".to_string()
        } else {
            n.path
        };
        assert!(
            n.stat.czxid <= zxid,
            "{name}: {p} was created at 0x{:x}, after the snapshot's zxid 0x{zxid:x}",
            n.stat.czxid
        );
        if p != "/" {
            assert!(
                seen.contains(parent_of(&p)),
                "{name}: {p} comes before its parent (or without it)"
            );
        }
        if n.stat.mzxid > zxid || n.stat.pzxid > zxid {
            newer += 1;
        }
        if p == "/big" {
            big = Some(n.stat.clone());
        }
        assert!(seen.insert(p.clone()), "{name}: {p} is in it twice");
    }
    let trailer = r
        .finish()
        .unwrap_or_else(|e| panic!("{name}: trailer: {e}"));
    SnapInfo {
        zxid,
        path: path.to_path_buf(),
        last: trailer.last_processed_zxid.unwrap_or(zxid),
        nodes: seen.len(),
        newer,
        paths: seen,
        big,
    }
}

/// Copies `from` (a version-2 directory) without the snapshots newer than
/// `zxid` into `to/version-2`.
fn copy_upto(from: &Path, to: &Path, zxid: i64) {
    let dest = to.join("version-2");
    fs::create_dir_all(&dest).expect("create the copy's version-2");
    for e in fs::read_dir(from).expect("read version-2") {
        let e = e.expect("dir entry");
        let name = e.file_name().to_string_lossy().into_owned();
        let keep = if let Some(z) = name.strip_prefix("snapshot.") {
            i64::from_str_radix(z, 16).is_ok_and(|z| z <= zxid)
        } else {
            name.starts_with("log.")
        };
        if keep {
            fs::copy(e.path(), dest.join(&name)).expect("copy a data file");
        }
    }
}

fn diff_or_empty(a_name: &str, a: &Dump, b_name: &str, b: &Dump) -> Vec<String> {
    let mut d = diff_dumps(a_name, a, b_name, b);
    if d.len() > 40 {
        let n = d.len();
        d.truncate(40);
        d.push(format!("... and {} more differences", n - 40));
    }
    d
}

// ---- the test -------------------------------------------------------------------------

/// Checks the live dump against the model: every znode of ours with its
/// data and ACL, nothing else.
fn check_live(before: &Dump, m: &Model, ctx: &str) {
    let live = ours(before);
    if live == m.nodes {
        return;
    }
    let only_live: Vec<&String> = live.keys().filter(|k| !m.nodes.contains_key(*k)).collect();
    let only_model: Vec<&String> = m.nodes.keys().filter(|k| !live.contains_key(*k)).collect();
    let content_diff: Vec<&String> = live
        .iter()
        .filter(|(k, v)| m.nodes.get(*k).is_some_and(|w| w != *v))
        .map(|(k, _)| k)
        .collect();
    panic!(
        "{ctx}: the live tree is not what we wrote: only live {:?}, only in the model {:?}, \
         other data or ACL {:?}",
        &only_live[..only_live.len().min(20)],
        &only_model[..only_model.len().min(20)],
        &content_diff[..content_diff.len().min(20)]
    );
}

/// Dumps the live tree on the writing session (a new session would be a
/// transaction, which might start another snapshot), checks it against the
/// model, SIGKILLs the server and copies what it left to `copy`; then
/// restarts on the dataDir and returns the dump and how the recovered tree
/// differs from it.
fn kill_and_recover(
    p: &mut Proc,
    c: &mut Conn,
    m: &Model,
    dirs: (&Path, &Path, &Path),
    ctx: &str,
) -> (Dump, Vec<String>) {
    let (data, work, copy) = dirs;
    let before = dump(c);
    check_live(&before, m, ctx);
    let log = p.log();
    assert!(
        panic_lines(&log).is_empty(),
        "{ctx}: server panicked before the kill:\n{log}"
    );
    p.kill9();
    copy_upto(&data.join("version-2"), copy, i64::MAX);
    let mut q = Proc::start(&Kind::Ours, data, work, &server_cfg(SNAP_COUNT));
    assert_clean_start(&mut q, &format!("{ctx}: restart"));
    let after = dump_port(q.port, &format!("{ctx}: after the restart"));
    q.kill9();
    let loaded = q
        .log()
        .lines()
        .find(|l| l.contains("loaded snapshot") || l.contains("recovered zxid"))
        .map(|l| l[l.find("INFO").unwrap_or(0)..].to_string())
        .unwrap_or_default();
    let d = diff_or_empty("before kill", &before, "recovered", &after);
    let mut problems = Vec::new();
    if !d.is_empty() {
        problems.push(format!(
            "{ctx}: recovery from the newest snapshot ({loaded}) differs:\n{}",
            d.join("\n")
        ));
    }
    eprintln!(
        "{ctx}: {} znodes; recovered ({loaded}): {}",
        before.len(),
        if d.is_empty() {
            "same tree"
        } else {
            "DIFFERENT"
        }
    );
    (before, problems)
}

#[test]
fn recovery_from_fuzzy_snapshots_of_a_changing_tree() {
    let started = Instant::now();
    let seed = seed_from_env("SNAPWALK_SEED");
    let mut rng = StdRng::seed_from_u64(seed);
    let tmp = tempfile::Builder::new()
        .prefix("zk-snapwalk-")
        .tempdir()
        .expect("tempdir");
    let data = tmp.path().join("data");
    let work = tmp.path().join("work");
    let vd = data.join("version-2");
    let cfg = server_cfg(SNAP_COUNT);
    let mut problems = Vec::new();

    // ---- phase 1: build the tree, mutate it, snapshots all along ----------
    let mut p = Proc::start(&Kind::Ours, &data, &work, &cfg);
    assert_clean_start(&mut p, "first start");
    let mut c = Conn::connect(p.port, SESSION_TIMEOUT).expect("connect");
    let mut m = Model::default();
    build_tree(&mut m, &mut rng);
    let writes = m.take_plan();
    run_pipelined(&mut c, &writes, &format!("seed {seed}: building the tree"));
    let mut total = writes.len();
    let built_zxid = p
        .zxid()
        .unwrap_or_else(|| panic!("seed {seed}: no Zxid in srvr"));
    eprintln!(
        "built {} znodes with {} writes in {:?} (zxid 0x{built_zxid:x})",
        m.nodes.len(),
        writes.len(),
        started.elapsed()
    );
    let mut deleted = Vec::new();
    for round in 0..ROUNDS {
        let t = Instant::now();
        plan_round(&mut m, &mut rng, round, &mut deleted);
        let writes = m.take_plan();
        run_pipelined(&mut c, &writes, &format!("seed {seed} round {round}"));
        total += writes.len();
        eprintln!(
            "round {round}: {} writes in {:?}, {} znodes of ours, /big has {} children",
            writes.len(),
            t.elapsed(),
            m.nodes.len(),
            m.children("/big").len()
        );
    }
    let log = p.log();
    let (written, busy) = (
        log.matches("wrote snapshot").count(),
        log.matches("too busy to snap").count(),
    );
    let pristine = tmp.path().join("pristine");
    let ctx = format!("seed {seed} phase 1");
    let (before, mut found) = kill_and_recover(&mut p, &mut c, &m, (&data, &work, &pristine), &ctx);
    problems.append(&mut found);
    let phase1_session = (c.session_id, c.passwd.clone());

    // The snapshots themselves.
    let pristine_vd = pristine.join("version-2");
    let snaps = snapshot_files(&pristine_vd);
    let infos: Vec<SnapInfo> = snaps.iter().map(|(z, f)| check_snapshot(*z, f)).collect();
    let during_rounds: Vec<&SnapInfo> = infos.iter().filter(|s| s.zxid > built_zxid).collect();
    let fuzzy: Vec<&SnapInfo> = during_rounds
        .iter()
        .copied()
        .filter(|s| s.last > s.zxid)
        .collect();
    eprintln!(
        "{} snapshots ({written} written, {busy} skipped as too busy), {} during the mutation \
         rounds, {} of them fuzzy; txns applied during their walks: {:?}; znodes copied with a \
         change newer than the snapshot: {:?}",
        infos.len(),
        during_rounds.len(),
        fuzzy.len(),
        fuzzy.iter().map(|s| s.last - s.zxid).collect::<Vec<_>>(),
        fuzzy.iter().map(|s| s.newer).collect::<Vec<_>>(),
    );
    assert!(
        infos.len() >= 3,
        "seed {seed}: expected several snapshots, found {}",
        infos.len()
    );
    assert!(
        fuzzy.len() >= 3,
        "seed {seed}: expected walks overlapping writes: {} of {} snapshots of the mutation \
         rounds are fuzzy",
        fuzzy.len(),
        during_rounds.len()
    );
    assert!(
        infos.iter().any(|s| s.nodes > 2 * 2048),
        "seed {seed}: no snapshot spans several slices"
    );

    // Older fuzzy snapshots, each recovered on its own, replay to the same
    // tree: the most fuzzy ones of the mutation rounds.
    let mut picks: Vec<&SnapInfo> = fuzzy
        .iter()
        .copied()
        .filter(|s| Some(s.zxid) != snaps.last().map(|l| l.0))
        .collect();
    picks.sort_by_key(|s| std::cmp::Reverse(s.last - s.zxid));
    picks.truncate(OLD_SNAPSHOTS_CHECKED);
    for s in picks {
        let dir = tmp.path().join(format!("from-{:x}", s.zxid));
        copy_upto(&pristine_vd, &dir, s.zxid);
        let mut q = Proc::start(&Kind::Ours, &dir, &work, &cfg);
        let ctx = format!("seed {seed}: recovery from {}", s.path.display());
        assert_clean_start(&mut q, &ctx);
        let name = s.path.file_name().expect("snapshot file name");
        let want = format!(
            "loaded snapshot {}",
            dir.join("version-2").join(name).display()
        );
        assert!(
            q.log().contains(&want),
            "{ctx}: did not load that snapshot:\n{}",
            q.log()
        );
        let got = dump_port(q.port, &ctx);
        q.kill9();
        let d = diff_or_empty("before kill", &before, "recovered", &got);
        eprintln!(
            "recovered from snapshot 0x{:x} alone ({} txns applied during its walk): {}",
            s.zxid,
            s.last - s.zxid,
            if d.is_empty() {
                "same tree"
            } else {
                "DIFFERENT"
            }
        );
        if !d.is_empty() {
            problems.push(format!(
                "seed {seed}: recovery from snapshot 0x{:x} alone ({} txns during its walk) \
                 differs:\n{}",
                s.zxid,
                s.last - s.zxid,
                d.join("\n")
            ));
        }
    }

    // ---- phase 2: deletes that race the walk past their parent ------------
    // The writes end with a few deletes at the end of /big. When the newest
    // snapshot's walk has copied /big and is still on its way to those
    // children, they are missing from the snapshot and their replayed
    // deletes find nothing, yet /big's pzxid must come back as the zxid of
    // the last one (ZooKeeper's DataTree.deleteNode moves the parent's pzxid
    // before it looks for the child). snapCount=2 keeps a walk in progress
    // nearly all the time; whether one is at that point when the writes stop
    // is still timing, so the tail is repeated until the newest snapshot
    // shows it.
    let mut p = Proc::start(&Kind::Ours, &data, &work, &server_cfg(2));
    assert_clean_start(&mut p, &format!("seed {seed}: phase 2 start"));
    // Phase 1's session would expire in the middle of this phase (a
    // closeSession, i.e. a write that may start a snapshot): close it now.
    if let Ok(old) = Conn::reconnect(p.port, phase1_session.0, &phase1_session.1, SESSION_TIMEOUT) {
        old.close();
    }
    let mut c = Conn::connect(p.port, SESSION_TIMEOUT).expect("connect");
    let mut raced = None;
    let mut tails = 0;
    while raced.is_none() && tails < MAX_TAILS {
        tails += 1;
        // A stream of writes elsewhere (walks start one after the other
        // while it flows), ending with the deletes.
        for _ in 0..rng.gen_range(32..128) {
            let p = format!("/a/n{:02}", rng.gen_range(0..20));
            let d = m.payload(&mut rng, &p);
            m.set(&p, d);
        }
        let tail: Vec<String> = m
            .children("/big")
            .into_iter()
            .rev()
            .take(TAIL_DELETES)
            .collect();
        for p in &tail {
            m.delete_tree(p);
        }
        let writes = m.take_plan();
        run_pipelined(&mut c, &writes, &format!("seed {seed} tail {tails}"));
        total += writes.len();
        let big_pzxid = c
            .exists("/big")
            .unwrap_or_else(|e| panic!("seed {seed}: exists /big: error {e}"))
            .pzxid;
        let last = tail.last().expect("a tail");
        wait_for_snapshot_writer(&vd);
        let (z, f) = snapshot_files(&vd).pop().expect("a snapshot");
        let newest = check_snapshot(z, &f);
        let copied_pzxid = newest.big.as_ref().map_or(0, |b| b.pzxid);
        if newest.zxid < big_pzxid && copied_pzxid < big_pzxid && !newest.paths.contains(last) {
            raced = Some((z, newest.last, copied_pzxid, big_pzxid, last.clone()));
        }
    }
    match &raced {
        Some((z, l, copied, big, last)) => eprintln!(
            "tail {tails}: the newest snapshot 0x{z:x} (walk ended at 0x{l:x}) copied /big with \
             pzxid 0x{copied:x}; the last delete under /big ({last}, zxid 0x{big:x}) came during \
             its walk, after /big was copied and before the walk reached it"
        ),
        None => eprintln!(
            "**** no tail raced the newest snapshot's walk in {tails} tries: the pzxid case of \
             the replay was not exercised this run ****"
        ),
    }
    let last_zxid = p
        .zxid()
        .unwrap_or_else(|| panic!("seed {seed}: no Zxid in srvr"));
    let final_copy = tmp.path().join("final");
    let ctx = format!("seed {seed} phase 2");
    let (before, mut found) =
        kill_and_recover(&mut p, &mut c, &m, (&data, &work, &final_copy), &ctx);
    problems.append(&mut found);
    if let Some((z, ..)) = &raced {
        assert_eq!(
            snapshot_files(&final_copy.join("version-2"))
                .last()
                .map(|s| s.0),
            Some(*z),
            "seed {seed}: a snapshot was started after the tail"
        );
    }

    // Apache ZooKeeper reads the same tree out of the dataDir.
    if let Some(cp) =
        zookeeper_or_skip("recovery_from_fuzzy_snapshots_of_a_changing_tree (ZooKeeper)")
    {
        let zk = Proc::start(&Kind::Apache(cp), &final_copy, &work, &cfg);
        let theirs = dump_port(zk.port, &format!("seed {seed}: ZooKeeper"));
        drop(zk);
        let d = diff_or_empty("before kill", &before, "zookeeper", &theirs);
        eprintln!(
            "ZooKeeper loaded the final dataDir: {}",
            if d.is_empty() {
                "same tree"
            } else {
                "DIFFERENT"
            }
        );
        if !d.is_empty() {
            problems.push(format!(
                "seed {seed}: ZooKeeper on the same dataDir differs:\n{}",
                d.join("\n")
            ));
        }
    }

    eprintln!(
        "{total} writes up to zxid 0x{last_zxid:x}, {} snapshots in the end, {:?}",
        snapshot_files(&final_copy.join("version-2")).len(),
        started.elapsed()
    );
    if !problems.is_empty() {
        // Keep the dataDirs and logs to look at.
        let kept = tmp.keep();
        panic!(
            "SNAPWALK_SEED={seed} (dataDirs and logs kept in {}):\n{}",
            kept.display(),
            problems.join("\n\n")
        );
    }
}
