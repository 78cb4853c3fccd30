//! Crash safety of zkserver's durable storage.
//!
//! * `sigkill_at_random_moments`: writers pipeline creates and setData
//!   against zkserver from several sessions; the server is SIGKILLed at a
//!   random moment while writes are in flight, restarted on the same
//!   dataDir, and every acknowledged write must be there with its data and
//!   Stat (or be superseded by a later write of ours), nothing that was never
//!   sent may appear, and the server must start cleanly. snapCount=50 and a
//!   small preAllocSize make snapshots, log rolls and file growth happen
//!   during the rounds. When ZooKeeper is installed it loads the final
//!   dataDir and must show the same tree.
//! * `torn_log_tail`: with all writes acknowledged the server is killed, the
//!   newest log is truncated / overwritten / appended with garbage at a
//!   random offset; the server must start with a warning and hold exactly
//!   the transactions fully written before the tear.
//!
//! Seeds come from CRASH_SEED (printed on every run).

mod durable;

use std::collections::{BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use durable::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use zkproto::consts::op;
use zkproto::jute::Jute;
use zkproto::records::*;

const WORKERS: usize = 4;
/// Requests each session keeps in flight.
const WINDOW: usize = 8;
/// Znodes each worker owns at most.
const NODES_PER_WORKER: usize = 40;
const SESSION_TIMEOUT: i32 = 4000;
const ROOT: &str = "/crash";

fn server_cfg(snap_count: u32) -> String {
    format!("snapCount={snap_count}\npreAllocSize=16\nforceSync=yes\nmaxSessionTimeout=8000\n")
}

// ---- the model of what we wrote ----------------------------------------------

#[derive(Clone, Debug)]
struct Op {
    data: Vec<u8>,
    /// The Stat of the reply, once acknowledged (or once observed after a
    /// restart, which makes it just as certain).
    stat: Option<Stat>,
}

/// One znode; `ops[0]` is its create, `ops[i]` the setData giving version i.
/// Only ops that are applied or whose outcome is unknown are kept.
#[derive(Clone, Debug)]
struct Znode {
    path: String,
    ops: Vec<Op>,
}

impl Znode {
    /// Index of the newest op known to be applied.
    fn known(&self) -> Option<usize> {
        self.ops.iter().rposition(|o| o.stat.is_some())
    }
}

#[derive(Clone, Debug)]
struct WorkerModel {
    id: usize,
    parent: String,
    nodes: Vec<Znode>,
    next_name: u64,
    seq: u64,
}

impl WorkerModel {
    fn new(id: usize) -> WorkerModel {
        WorkerModel {
            id,
            parent: format!("{ROOT}/w{id}"),
            nodes: Vec::new(),
            next_name: 0,
            seq: 0,
        }
    }

    fn max_acked_zxid(&self) -> i64 {
        self.nodes
            .iter()
            .flat_map(|n| n.ops.iter())
            .filter_map(|o| o.stat.as_ref().map(|s| s.mzxid))
            .max()
            .unwrap_or(0)
    }

    /// Forgets every op with a zxid above `z` (the torn-tail test, where all
    /// ops are acknowledged and the tear takes the newest away).
    fn drop_after(&mut self, z: i64) {
        for n in &mut self.nodes {
            assert!(
                n.ops.iter().all(|o| o.stat.is_some()),
                "{}: unacknowledged op in a quiesced round",
                n.path
            );
            n.ops
                .retain(|o| o.stat.as_ref().is_some_and(|s| s.mzxid <= z));
        }
        self.nodes.retain(|n| !n.ops.is_empty());
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind2 {
    Create,
    Set,
}

struct Outstanding {
    xid: i32,
    node: usize,
    op: usize,
    kind: Kind2,
}

struct WorkerResult {
    model: WorkerModel,
    acked: usize,
    sent: usize,
    error: Option<String>,
}

fn payload(rng: &mut StdRng, w: usize, round: usize, seq: u64) -> Vec<u8> {
    let mut d = format!("w{w}-r{round}-o{seq}-").into_bytes();
    let pad = if rng.gen_ratio(1, 20) {
        rng.gen_range(1500..4000)
    } else {
        rng.gen_range(0..300)
    };
    d.extend((0..pad).map(|i| b'a' + ((i as u64 + seq) % 26) as u8));
    d
}

/// One session of one worker: pipelines up to WINDOW writes until the
/// connection dies (the kill), `stop` is set, or `max_ops` were sent.
fn run_worker(
    port: u16,
    mut m: WorkerModel,
    round: usize,
    seed: u64,
    stop: Arc<AtomicBool>,
    max_ops: usize,
) -> WorkerResult {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut res = WorkerResult {
        model: WorkerModel::new(m.id),
        acked: 0,
        sent: 0,
        error: None,
    };
    let mut c = match Conn::connect(port, SESSION_TIMEOUT) {
        Ok(c) => c,
        Err(_) => {
            // Killed before this session got going.
            res.model = m;
            return res;
        }
    };
    let mut out: VecDeque<Outstanding> = VecDeque::new();
    'run: loop {
        while out.len() < WINDOW && !stop.load(Ordering::Relaxed) && res.sent < max_ops {
            let settable: Vec<usize> = (0..m.nodes.len())
                .filter(|&i| m.nodes[i].ops[0].stat.is_some())
                .collect();
            let create =
                m.nodes.len() < NODES_PER_WORKER && (settable.is_empty() || rng.gen_ratio(1, 4));
            m.seq += 1;
            let data = payload(&mut rng, m.id, round, m.seq);
            let (node, kind, opc, body) = if create {
                let path = format!("{}/n{:05}", m.parent, m.next_name);
                m.next_name += 1;
                m.nodes.push(Znode {
                    path: path.clone(),
                    ops: Vec::new(),
                });
                let body = CreateRequest {
                    path,
                    data: Some(data.clone()),
                    acl: Acl::open_unsafe(),
                    flags: flags::PERSISTENT,
                }
                .to_bytes();
                (m.nodes.len() - 1, Kind2::Create, op::CREATE2, body)
            } else {
                let i = settable[rng.gen_range(0..settable.len())];
                let body = SetDataRequest {
                    path: m.nodes[i].path.clone(),
                    data: Some(data.clone()),
                    version: -1,
                }
                .to_bytes();
                (i, Kind2::Set, op::SET_DATA, body)
            };
            // Recorded before it is sent: from here on it may land.
            m.nodes[node].ops.push(Op { data, stat: None });
            let opi = m.nodes[node].ops.len() - 1;
            res.sent += 1;
            match c.send(opc, &body) {
                Ok(xid) => out.push_back(Outstanding {
                    xid,
                    node,
                    op: opi,
                    kind,
                }),
                Err(_) => break 'run,
            }
        }
        let Some(front) = out.pop_front() else {
            break;
        };
        let (h, body) = match c.recv() {
            Ok(r) => r,
            Err(_) => break,
        };
        let n = &mut m.nodes[front.node];
        let fail = |msg: String| Some(format!("worker {} {}: {msg}", m.id, n.path));
        if h.xid != front.xid {
            res.error = fail(format!("reply xid {} while expecting {}", h.xid, front.xid));
            break;
        }
        if h.err != 0 {
            res.error = fail(format!("{:?} failed with error {}", front.kind, h.err));
            break;
        }
        let stat = match front.kind {
            Kind2::Create => match Create2Response::from_bytes(&body) {
                Ok(r) if r.path == n.path => r.stat,
                Ok(r) => {
                    res.error = fail(format!("create answered path {}", r.path));
                    break;
                }
                Err(e) => {
                    res.error = fail(format!("bad Create2Response: {e}"));
                    break;
                }
            },
            Kind2::Set => match StatResponse::from_bytes(&body) {
                Ok(r) => r.stat,
                Err(e) => {
                    res.error = fail(format!("bad SetDataResponse: {e}"));
                    break;
                }
            },
        };
        // Live checks: the ack is consistent with the ops before it.
        let want_len = n.ops[front.op].data.len() as i32;
        let prev = n.ops[..front.op].iter().rev().find_map(|o| o.stat.clone());
        let bad = if stat.version != front.op as i32 {
            Some(format!(
                "acked version {} for op #{}",
                stat.version, front.op
            ))
        } else if stat.mzxid != h.zxid || stat.data_length != want_len {
            Some(format!("ack stat {stat:?} (reply zxid 0x{:x})", h.zxid))
        } else if front.kind == Kind2::Create && (stat.czxid != h.zxid || stat.pzxid != h.zxid) {
            Some(format!("create stat {stat:?}"))
        } else if prev
            .as_ref()
            .is_some_and(|p| p.mzxid >= stat.mzxid || p.czxid != stat.czxid)
        {
            Some(format!("ack stat {stat:?} after {prev:?}"))
        } else {
            None
        };
        if let Some(b) = bad {
            res.error = fail(b);
            break;
        }
        n.ops[front.op].stat = Some(stat);
        res.acked += 1;
    }
    if res.error.is_none() && stop.load(Ordering::Relaxed) && !out.is_empty() {
        res.error = Some(format!(
            "worker {}: {} replies missing after stop",
            m.id,
            out.len()
        ));
    }
    res.model = m;
    res
}

/// Runs all workers until `stop_after` elapses: with `kill`, the server is
/// SIGKILLed then (writes in flight); without, the workers stop sending and
/// drain every reply first.
fn write_round(
    server: &mut Proc,
    models: &mut Vec<WorkerModel>,
    round: usize,
    rng: &mut StdRng,
    stop_after: Duration,
    kill: bool,
) -> (usize, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = models
        .drain(..)
        .map(|m| {
            let (port, stop, seed) = (server.port, stop.clone(), rng.gen::<u64>());
            std::thread::spawn(move || run_worker(port, m, round, seed, stop, 20_000))
        })
        .collect();
    std::thread::sleep(stop_after);
    if kill {
        server.kill9();
    } else {
        stop.store(true, Ordering::Relaxed);
    }
    let (mut sent, mut acked) = (0, 0);
    let mut errors = Vec::new();
    for h in handles {
        let r = h.join().expect("worker thread panicked");
        sent += r.sent;
        acked += r.acked;
        if let Some(e) = r.error {
            errors.push(e);
        }
        models.push(r.model);
    }
    assert!(errors.is_empty(), "round {round}: {}", errors.join("\n"));
    (sent, acked)
}

// ---- verification after a restart ---------------------------------------------------

/// Checks the server against the model and resolves every unknown op: the
/// znode's data names the newest applied op (data is unique), which must not
/// be older than the newest acknowledged one; ops after it are dropped.
fn verify(port: u16, models: &mut [WorkerModel], ctx: &str) {
    let mut c = Conn::connect(port, SESSION_TIMEOUT)
        .unwrap_or_else(|e| panic!("{ctx}: cannot connect to verify: {e}"));
    let parents: BTreeSet<String> = c
        .get_children(ROOT)
        .unwrap_or_else(|e| panic!("{ctx}: getChildren {ROOT}: error {e}"))
        .into_iter()
        .collect();
    let want: BTreeSet<String> = models.iter().map(|m| format!("w{}", m.id)).collect();
    assert_eq!(parents, want, "{ctx}: children of {ROOT}");
    for m in models.iter_mut() {
        let mut gone = Vec::new();
        for (i, n) in m.nodes.iter_mut().enumerate() {
            let known = n.known();
            match c.get_data(&n.path) {
                Err(-101) => {
                    assert!(
                        known.is_none(),
                        "{ctx}: {} is missing but op #{} on it was acknowledged with {:?}",
                        n.path,
                        known.unwrap_or(0),
                        n.ops[known.unwrap_or(0)].stat
                    );
                    gone.push(i);
                }
                Err(e) => panic!("{ctx}: getData {}: error {e}", n.path),
                Ok((data, stat)) => {
                    let data = data.unwrap_or_default();
                    let Some(j) = n.ops.iter().rposition(|o| o.data == data) else {
                        panic!(
                            "{ctx}: {} holds data we never sent: {}",
                            n.path,
                            show_data(&Some(data))
                        );
                    };
                    if let Some(k) = known {
                        assert!(
                            j >= k,
                            "{ctx}: {} lost acknowledged write #{k} (version {}, mzxid 0x{:x}): \
                             the server has write #{j} (version {}, mzxid 0x{:x})",
                            n.path,
                            k,
                            n.ops[k].stat.as_ref().map_or(0, |s| s.mzxid),
                            stat.version,
                            stat.mzxid
                        );
                    }
                    assert_eq!(
                        stat.version, j as i32,
                        "{ctx}: {} has the data of write #{j} but version {} ({stat:?})",
                        n.path, stat.version
                    );
                    match &n.ops[j].stat {
                        Some(acked) => assert_eq!(
                            &stat, acked,
                            "{ctx}: {}: Stat differs from the acknowledged one",
                            n.path
                        ),
                        None => {
                            let before = n.ops[..j].iter().rev().find_map(|o| o.stat.clone());
                            let ok = stat.data_length == data.len() as i32
                                && stat.num_children == 0
                                && stat.ephemeral_owner == 0
                                && stat.czxid <= stat.mzxid
                                && before.as_ref().is_none_or(|b| {
                                    b.czxid == stat.czxid
                                        && b.ctime == stat.ctime
                                        && b.mzxid < stat.mzxid
                                });
                            assert!(
                                ok,
                                "{ctx}: {}: Stat {stat:?} of unacknowledged write #{j} is \
                                 inconsistent with the last acknowledged {before:?}",
                                n.path
                            );
                        }
                    }
                    n.ops.truncate(j + 1);
                    n.ops[j].stat = Some(stat);
                }
            }
        }
        for i in gone.into_iter().rev() {
            m.nodes.remove(i);
        }
        // Children: exactly the znodes we know exist; the parent's Stat
        // counts them (nothing is ever deleted under it).
        let kids: BTreeSet<String> = c
            .get_children(&m.parent)
            .unwrap_or_else(|e| panic!("{ctx}: getChildren {}: error {e}", m.parent))
            .into_iter()
            .map(|k| format!("{}/{k}", m.parent))
            .collect();
        let model_kids: BTreeSet<String> = m.nodes.iter().map(|n| n.path.clone()).collect();
        assert_eq!(
            kids, model_kids,
            "{ctx}: children of {} differ from what we created",
            m.parent
        );
        let pst = c
            .exists(&m.parent)
            .unwrap_or_else(|e| panic!("{ctx}: exists {}: error {e}", m.parent));
        let max_czxid = m
            .nodes
            .iter()
            .filter_map(|n| n.ops[0].stat.as_ref().map(|s| s.czxid))
            .max();
        assert_eq!(
            pst.num_children as usize,
            m.nodes.len(),
            "{ctx}: {} numChildren",
            m.parent
        );
        assert_eq!(
            pst.cversion as usize,
            m.nodes.len(),
            "{ctx}: {} cversion",
            m.parent
        );
        if let Some(z) = max_czxid {
            assert_eq!(pst.pzxid, z, "{ctx}: {} pzxid", m.parent);
        }
    }
    c.close();
}

fn setup_tree(port: u16, models: &[WorkerModel]) {
    let mut c = Conn::connect(port, SESSION_TIMEOUT).expect("connect for setup");
    c.create(ROOT, Some(b""), &Acl::open_unsafe(), flags::PERSISTENT)
        .unwrap_or_else(|e| panic!("create {ROOT}: error {e}"));
    for m in models {
        c.create(&m.parent, None, &Acl::open_unsafe(), flags::PERSISTENT)
            .unwrap_or_else(|e| panic!("create {}: error {e}", m.parent));
    }
    c.close();
}

fn version_dir(data: &Path) -> PathBuf {
    data.join("version-2")
}

fn max_acked(models: &[WorkerModel]) -> i64 {
    models.iter().map(|m| m.max_acked_zxid()).max().unwrap_or(0)
}

// ---- the tests -----------------------------------------------------------------------------

#[test]
fn sigkill_at_random_moments() {
    const ROUNDS: usize = 24;
    let started = Instant::now();
    let seed = seed_from_env("CRASH_SEED");
    let mut rng = StdRng::seed_from_u64(seed);
    let tmp = tempfile::Builder::new()
        .prefix("zk-crash-")
        .tempdir()
        .expect("tempdir");
    let data = tmp.path().join("data");
    let work = tmp.path().join("work");
    let cfg = server_cfg(50);
    let mut models: Vec<WorkerModel> = (0..WORKERS).map(WorkerModel::new).collect();
    let (mut total_sent, mut total_acked) = (0, 0);
    for round in 0..ROUNDS {
        let ctx = format!("seed {seed} round {round}");
        let mut p = Proc::start(&Kind::Ours, &data, &work, &cfg);
        assert_clean_start(&mut p, &ctx);
        if round == 0 {
            setup_tree(p.port, &models);
        } else {
            let z = p.zxid().unwrap_or_else(|| panic!("{ctx}: no Zxid in srvr"));
            assert!(
                z >= max_acked(&models),
                "{ctx}: server restarted at zxid 0x{z:x}, below the acknowledged 0x{:x}",
                max_acked(&models)
            );
            verify(p.port, &mut models, &ctx);
        }
        let delay = Duration::from_millis(rng.gen_range(50..=500));
        let (sent, acked) = write_round(&mut p, &mut models, round, &mut rng, delay, true);
        total_sent += sent;
        total_acked += acked;
        let panics = panic_lines(&p.log());
        assert!(
            panics.is_empty(),
            "{ctx}: server panicked before the kill:\n{}",
            p.log()
        );
        eprintln!("round {round}: killed after {delay:?}: {acked}/{sent} writes acknowledged");
    }
    // A last recovery, then a clean stop and one more recovery.
    let ctx = format!("seed {seed} final");
    let mut p = Proc::start(&Kind::Ours, &data, &work, &cfg);
    assert_clean_start(&mut p, &ctx);
    verify(p.port, &mut models, &ctx);
    let st = p.term(Duration::from_secs(10));
    assert!(
        st.is_some_and(|s| s.success()),
        "{ctx}: SIGTERM did not stop the server cleanly ({st:?}):\n{}",
        p.log()
    );
    let mut p = Proc::start(&Kind::Ours, &data, &work, &cfg);
    assert_clean_start(&mut p, &format!("{ctx} after SIGTERM"));
    verify(p.port, &mut models, &format!("{ctx} after SIGTERM"));

    let vd = version_dir(&data);
    let (snaps, logs) = (snapshot_files(&vd).len(), log_files(&vd).len());
    eprintln!(
        "{ROUNDS} rounds: {total_acked}/{total_sent} writes acknowledged, {snaps} snapshots, \
         {logs} log files, {:?}",
        started.elapsed()
    );
    assert!(
        total_acked > 200,
        "too few writes were acknowledged to mean much"
    );
    assert!(
        snaps >= 3 && logs >= 3,
        "expected snapshots and log rolls: {snaps} snapshots, {logs} logs"
    );

    // ZooKeeper reads what survived all these crashes as the same tree.
    let mut c = Conn::connect(p.port, SESSION_TIMEOUT).expect("connect");
    let ours = dump(&mut c);
    c.close();
    p.kill9();
    let Some(cp) = zookeeper_or_skip("sigkill_at_random_moments (ZooKeeper cross-check)") else {
        return;
    };
    let zk = Proc::start(&Kind::Apache(cp), &data, &work, &cfg);
    let mut c = Conn::connect(zk.port, SESSION_TIMEOUT).expect("connect to ZooKeeper");
    let theirs = dump(&mut c);
    let diff = diff_dumps("zkserver", &ours, "zookeeper", &theirs);
    assert!(
        diff.is_empty(),
        "seed {seed}: ZooKeeper sees another tree:\n{}",
        diff.join("\n")
    );
    eprintln!(
        "ZooKeeper loaded the dataDir: the same {} znodes",
        theirs.len()
    );
    let log = zk.log();
    for bad in [
        "Digests are not matching",
        "digest mismatch",
        "CRC",
        "Unable to load database",
    ] {
        assert!(!log.contains(bad), "ZooKeeper logged {bad:?}:\n{log}");
    }
}

#[derive(Debug, Clone, Copy)]
enum Tear {
    Truncate,
    Overwrite,
    Append,
}

#[test]
fn torn_log_tail() {
    const ROUNDS: usize = 8;
    let seed = seed_from_env("CRASH_SEED");
    let mut rng = StdRng::seed_from_u64(seed ^ 0x746f_726e);
    let tmp = tempfile::Builder::new()
        .prefix("zk-torn-")
        .tempdir()
        .expect("tempdir");
    let data = tmp.path().join("data");
    let work = tmp.path().join("work");
    // Snapshots still happen every round, but the log tail after the newest
    // one is usually long enough for the tear to take something away.
    let cfg = server_cfg(400);
    let vd = version_dir(&data);
    let mut models: Vec<WorkerModel> = (0..WORKERS).map(WorkerModel::new).collect();
    // What the next start must recover to, and whether it must warn.
    let mut expect: Option<(i64, bool, String)> = None;
    for round in 0..=ROUNDS {
        let ctx = format!("seed {seed} round {round}");
        let mut p = Proc::start(&Kind::Ours, &data, &work, &cfg);
        assert_clean_start(&mut p, &ctx);
        if let Some((z, warn, what)) = expect.take() {
            let got = p.zxid().unwrap_or_else(|| panic!("{ctx}: no Zxid in srvr"));
            assert_eq!(
                got,
                z,
                "{ctx}: after {what} the server recovered zxid 0x{got:x}, expected 0x{z:x}:\n{}",
                p.log()
            );
            let log = p.log();
            let warned = log
                .lines()
                .any(|l| l.contains("WARN") && l.contains("torn"));
            if warn {
                assert!(warned, "{ctx}: no torn-tail warning after {what}:\n{log}");
            }
            for m in models.iter_mut() {
                m.drop_after(z);
            }
            verify(p.port, &mut models, &format!("{ctx} after {what}"));
        } else if round == 0 {
            setup_tree(p.port, &models);
        }
        if round == ROUNDS {
            break;
        }
        let run = Duration::from_millis(rng.gen_range(100..=400));
        write_round(&mut p, &mut models, round, &mut rng, run, false);
        // Let a snapshot being written finish, so the newest snapshot on
        // disk is known; then crash.
        std::thread::sleep(Duration::from_millis(300));
        p.kill9();

        let logs = log_files(&vd);
        let (newest_start, newest) = logs.last().cloned().expect("a log file");
        let before_last = logs[..logs.len() - 1]
            .iter()
            .flat_map(|(_, f)| parse_log(&fs::read(f).expect("read log")))
            .map(|e| e.zxid)
            .max()
            .unwrap_or(0);
        let bytes = fs::read(&newest).expect("read newest log");
        let entries = parse_log(&bytes);
        let end = entries.last().map_or(16, |e| e.end);
        let snap = snapshot_files(&vd).last().map_or(0, |s| s.0);
        let mode = if entries.is_empty() {
            Tear::Append
        } else {
            [Tear::Truncate, Tear::Overwrite, Tear::Append][rng.gen_range(0..3)]
        };
        // Mostly after the newest snapshot, where a tear loses something.
        let tear_from = match entries.iter().find(|e| e.zxid > snap) {
            Some(e) if rng.gen_ratio(4, 5) => e.start,
            _ => 16,
        };
        let garbage: Vec<u8> = (0..rng.gen_range(1..=40))
            .map(|_| rng.gen_range(1..=255u8))
            .collect();
        let (cut, warn) = match mode {
            Tear::Truncate => {
                // Mostly inside the entries, sometimes inside the header.
                let p = if rng.gen_ratio(1, 8) {
                    rng.gen_range(0..16)
                } else {
                    rng.gen_range(tear_from..end)
                };
                let f = fs::OpenOptions::new()
                    .write(true)
                    .open(&newest)
                    .expect("open");
                f.set_len(p).expect("truncate");
                let boundary = p == 16 || entries.iter().any(|e| e.end == p);
                (p, !boundary)
            }
            Tear::Overwrite => {
                let p = rng.gen_range(tear_from..end);
                let mut b = bytes.clone();
                let stop = (p as usize + garbage.len()).min(b.len());
                b[p as usize..stop].copy_from_slice(&garbage[..stop - p as usize]);
                fs::write(&newest, &b).expect("overwrite");
                (p, true)
            }
            Tear::Append => {
                let mut b = bytes.clone();
                let at = end as usize;
                if b.len() < at + garbage.len() {
                    b.resize(at + garbage.len(), 0);
                }
                b[at..at + garbage.len()].copy_from_slice(&garbage);
                fs::write(&newest, &b).expect("append garbage");
                (end, true)
            }
        };
        let survivors: Vec<&RawEntry> = entries.iter().filter(|e| e.end <= cut).collect();
        let z_cut = survivors.last().map_or(before_last, |e| e.zxid);
        let z = z_cut.max(snap);
        let what = format!(
            "{mode:?} of {} (log.{newest_start:x}, {} bytes of entries, {} entries) at offset {cut}: \
             {} entries survive, last zxid 0x{z_cut:x}, newest snapshot 0x{snap:x}",
            newest.display(),
            end,
            entries.len(),
            survivors.len()
        );
        eprintln!("round {round}: {what}");
        expect = Some((z, warn, what));
    }
}
