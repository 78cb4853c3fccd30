//! One chaos run: a fresh cluster, client workloads on our client library,
//! a seeded nemesis, then healing, final reads and the checks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use zkproto::consts::CreateMode;
use zkproto::records::Acl;
use zkproto::ErrorCode;

use super::cluster::{self, Cluster, Layout, Net, Spec};
use super::linear::{self, Op, RegIn, RegOut, Register, Time, Verdict};
use super::nemesis::{self, Fault, Schedule};
use crate::client::{Client, ClientOptions};

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub seed: u64,
    pub seconds: u64,
    pub members: u32,
    pub keys: u32,
    pub clients: u32,
    pub layout: Layout,
    pub zkserver: PathBuf,
    pub dir: PathBuf,
    pub base_port: u16,
    /// Mean seconds between faults.
    pub fault_every: f64,
    /// Inside the harness's own network namespace: members on their own
    /// addresses, and partitions among the faults.
    pub partitions: bool,
    /// Members that are Apache ZooKeeper 3.8 (a mixed ensemble).
    pub apache: Vec<u32>,
    /// The faults the nemesis chooses from.
    pub faults: Vec<Fault>,
    /// Each of our members on a small tmpfs of its own (in the harness's
    /// mount namespace), for the disk-full fault.
    pub own_disks: bool,
    /// A Python with kazoo, for the independent client (`None`: not run).
    pub kazoo_python: Option<PathBuf>,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct RunReport {
    pub faults: BTreeMap<&'static str, u64>,
    pub ops: BTreeMap<&'static str, u64>,
    pub unknown_ops: u64,
    pub anomalies: Vec<String>,
    pub lost_acked_writes: u64,
    pub undetermined: Vec<String>,
    /// Windows of more than a second in which no operation succeeded (ms).
    pub unavailable_ms: Vec<u64>,
}

/// A register operation and the session that issued it.
type Tagged = (u64, Op<RegIn, RegOut>);

struct Shared {
    start: Instant,
    stop: AtomicBool,
    successes: Mutex<Vec<Time>>,
    /// Per key: (session tag, operation).
    reg: Vec<Mutex<Vec<Tagged>>>,
    /// (client, key) -> versions read, in order.
    reads: Mutex<Vec<(u32, u32, i32, u64)>>,
    set_acked: Mutex<HashSet<u64>>,
    set_attempted: Mutex<HashSet<u64>>,
    ids_acked: Mutex<Vec<String>>,
    /// Counter increments by multi(check, setData): acknowledged, in doubt.
    counter: Mutex<(u64, u64)>,
    /// Queue: elements enqueued (acknowledged), dequeued (acknowledged) and
    /// dequeues in doubt.
    queue_in: Mutex<HashSet<String>>,
    queue_out: Mutex<Vec<String>>,
    queue_doubt: Mutex<HashSet<String>>,
    anomalies: Mutex<Vec<String>>,
    unknown: AtomicU64,
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl Shared {
    fn now(&self) -> Time {
        self.start.elapsed().as_nanos() as Time
    }
    fn success(&self) {
        let t = self.now();
        if let Ok(mut s) = self.successes.lock() {
            s.push(t);
        }
    }
    fn count(&self, what: &'static str) {
        if let Ok(mut c) = self.counts.lock() {
            *c.entry(what).or_default() += 1;
        }
    }
    fn anomaly(&self, what: String) {
        if let Ok(mut a) = self.anomalies.lock() {
            a.push(what);
        }
    }
}

/// Outcome of a request: an answer, or unknown (it may or may not apply).
fn indeterminate(e: ErrorCode) -> bool {
    matches!(
        e,
        ErrorCode::ConnectionLoss
            | ErrorCode::OperationTimeout
            | ErrorCode::RequestTimeout
            | ErrorCode::SessionExpired
            | ErrorCode::SessionMoved
            | ErrorCode::SystemError
    )
}

async fn client(cs: &str, timeout_ms: u32) -> Option<Client> {
    let opts = ClientOptions {
        session_timeout_ms: timeout_ms,
        request_timeout_ms: Some(4000),
        ..Default::default()
    };
    let (c, _events) = Client::new(cs, opts).ok()?;
    c.wait_connected(Duration::from_secs(20)).await.ok()?;
    Some(c)
}

/// A worker's session: opened when needed, forgotten when it expires or
/// cannot be used, closed at the end.
struct Session<'a> {
    cs: &'a str,
    zk: Option<Client>,
}

impl<'a> Session<'a> {
    fn new(cs: &'a str) -> Self {
        Session { cs, zk: None }
    }

    async fn get(&mut self) -> Option<&Client> {
        if self.zk.is_none() {
            self.zk = client(self.cs, 10_000).await;
        }
        self.zk.as_ref()
    }

    fn lost(&mut self) {
        self.zk = None;
    }

    /// After an error: an expired session is replaced at the next `get`.
    fn check(&mut self, e: ErrorCode) {
        if e == ErrorCode::SessionExpired {
            self.zk = None;
        }
    }

    async fn close(self) {
        if let Some(c) = self.zk {
            let _ = c.close().await;
        }
    }
}

const REG: &str = "/chaos/reg";

async fn register_worker(sh: Arc<Shared>, cs: String, id: u32, keys: u32, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ (0x9e37 * id as u64));
    let mut seen: HashMap<u32, i32> = HashMap::new();
    let mut counter = 0u64;
    let mut zk = None;
    let mut session = 0u64;
    while !sh.stop.load(Ordering::SeqCst) {
        if zk.is_none() {
            zk = client(&cs, 10_000).await;
            session += 1;
            seen.clear(); // a new session has no order to keep
            if zk.is_none() {
                continue;
            }
        }
        let Some(c) = zk.as_ref() else { continue };
        let key = rng.gen_range(0..keys);
        let path = format!("{REG}/k{key}");
        counter += 1;
        let value = ((id as u64) << 40) | counter;
        let roll = rng.gen_range(0..10);
        let invoke = sh.now();
        if roll < 3 {
            // A read: not linearizable in ZooKeeper; checked per client
            // (versions never go back) and against the written values.
            match c.get_data(&path, false).await {
                Ok((data, stat)) => {
                    sh.success();
                    sh.count("register read");
                    let v = parse_u64(data.as_deref());
                    if let Some(&prev) = seen.get(&key) {
                        if stat.version < prev {
                            sh.anomaly(format!(
                                "client {id} read {path} at version {} after version {prev}",
                                stat.version
                            ));
                        }
                    }
                    seen.insert(key, stat.version);
                    if let Ok(mut r) = sh.reads.lock() {
                        r.push((id, key, stat.version, v));
                    }
                }
                Err(e) if indeterminate(e) => {
                    if e == ErrorCode::SessionExpired {
                        zk = None;
                    }
                }
                Err(e) => sh.anomaly(format!("read {path}: unexpected {e:?}")),
            }
            continue;
        }
        let (input, version) = if roll < 6 {
            (RegIn::Set(value), -1)
        } else {
            let expect = seen.get(&key).copied().unwrap_or(0);
            (RegIn::Cas { expect, value }, expect)
        };
        let data = value.to_string();
        let r = c.set_data(&path, Some(data.as_bytes()), version).await;
        let complete = sh.now();
        let (complete, output) = match r {
            Ok(stat) => {
                sh.success();
                seen.insert(key, stat.version);
                (Some(complete), Some(RegOut::Written(stat.version)))
            }
            Err(ErrorCode::BadVersion) => {
                sh.success();
                (Some(complete), Some(RegOut::BadVersion))
            }
            Err(e) if indeterminate(e) => {
                sh.unknown.fetch_add(1, Ordering::SeqCst);
                if e == ErrorCode::SessionExpired {
                    zk = None;
                }
                (None, None)
            }
            Err(e) => {
                sh.anomaly(format!("set {path}: unexpected {e:?}"));
                continue;
            }
        };
        sh.count(if version < 0 {
            "register set"
        } else {
            "register cas"
        });
        if let Ok(mut h) = sh.reg[key as usize].lock() {
            h.push((
                ((id as u64) << 32) | session,
                Op::new(invoke, complete, input, output),
            ));
        }
    }
    if let Some(c) = zk {
        let _ = c.close().await;
    }
}

fn parse_u64(d: Option<&[u8]>) -> u64 {
    d.and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The parent of the CAS-append set's buckets.
const SET: &str = "/chaos/set";
/// Elements per bucket znode. Every append rewrites the whole value, so one
/// ever-growing znode would log a quadratic volume (gigabytes per minute on
/// a release build); buckets keep each value small. Both workers fill the
/// same bucket at about the same time, so their CASes still contend.
const SET_BUCKET: u64 = 400;

/// Appends unique elements to a bucket znode by compare-and-set.
async fn set_worker(sh: Arc<Shared>, cs: String, id: u32) {
    let mut s = Session::new(&cs);
    let mut n = 0u64;
    'outer: while !sh.stop.load(Ordering::SeqCst) {
        n += 1;
        let e = ((id as u64) << 40) | n;
        if let Ok(mut a) = sh.set_attempted.lock() {
            a.insert(e);
        }
        loop {
            if sh.stop.load(Ordering::SeqCst) {
                break 'outer;
            }
            let Some(c) = s.get().await else { continue };
            let bucket = format!("{SET}/b{:06}", n / SET_BUCKET);
            let (data, stat) = match c.get_data(&bucket, false).await {
                Ok(x) => x,
                Err(ErrorCode::NoNode) => {
                    let acl = Acl::open_unsafe();
                    let _ = c
                        .create(&bucket, Some(b""), &acl, CreateMode::Persistent, None)
                        .await;
                    continue;
                }
                Err(e) => {
                    s.check(e);
                    continue;
                }
            };
            let text = String::from_utf8_lossy(data.as_deref().unwrap_or_default()).into_owned();
            let elems: Vec<&str> = text.split(',').filter(|s| !s.is_empty()).collect();
            if elems.contains(&e.to_string().as_str()) {
                // An earlier attempt whose answer was lost had landed.
                if let Ok(mut a) = sh.set_acked.lock() {
                    a.insert(e);
                }
                break;
            }
            let new = if text.is_empty() {
                e.to_string()
            } else {
                format!("{text},{e}")
            };
            match c
                .set_data(&bucket, Some(new.as_bytes()), stat.version)
                .await
            {
                Ok(_) => {
                    sh.success();
                    sh.count("set add");
                    if let Ok(mut a) = sh.set_acked.lock() {
                        a.insert(e);
                    }
                    break;
                }
                Err(ErrorCode::BadVersion) => continue,
                Err(err) if indeterminate(err) => {
                    s.check(err);
                    continue;
                }
                Err(err) => {
                    sh.anomaly(format!("set add: unexpected {err:?}"));
                    break;
                }
            }
        }
    }
    s.close().await;
}

const IDS: &str = "/chaos/ids";

/// Unique ids from sequential creates.
async fn ids_worker(sh: Arc<Shared>, cs: String) {
    let mut s = Session::new(&cs);
    while !sh.stop.load(Ordering::SeqCst) {
        let Some(c) = s.get().await else { continue };
        let acl = Acl::open_unsafe();
        match c
            .create(
                &format!("{IDS}/id-"),
                Some(b""),
                &acl,
                CreateMode::PersistentSequential,
                None,
            )
            .await
        {
            Ok((path, _)) => {
                sh.success();
                sh.count("unique id");
                if let Ok(mut a) = sh.ids_acked.lock() {
                    a.push(path);
                }
            }
            Err(e) if indeterminate(e) => {
                s.check(e);
            }
            Err(e) => sh.anomaly(format!("create sequential: unexpected {e:?}")),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.close().await;
}

const COUNTER: &str = "/chaos/counter";
/// The set kazoo builds.
const KSET: &str = "/chaos/kset";
const QUEUE: &str = "/chaos/queue";

/// A counter incremented through multi(check version, setData).
async fn counter_worker(sh: Arc<Shared>, cs: String) {
    use zkproto::multi::{MultiOp, MultiResult};
    use zkproto::records::{CheckVersionRequest, SetDataRequest};
    let mut s = Session::new(&cs);
    while !sh.stop.load(Ordering::SeqCst) {
        let Some(c) = s.get().await else { continue };
        let Ok((d, st)) = c.get_data(COUNTER, false).await else {
            s.lost();
            continue;
        };
        let n = parse_u64(d.as_deref());
        let ops = vec![
            MultiOp::Check(CheckVersionRequest {
                path: COUNTER.into(),
                version: st.version,
            }),
            MultiOp::SetData(SetDataRequest {
                path: COUNTER.into(),
                data: Some((n + 1).to_string().into_bytes()),
                version: st.version,
            }),
        ];
        match c.multi(ops).await {
            Ok(r) if !r.iter().any(|x| matches!(x, MultiResult::Error(_))) => {
                sh.success();
                sh.count("counter increment");
                if let Ok(mut k) = sh.counter.lock() {
                    k.0 += 1;
                }
            }
            Ok(_) => {} // lost the race (BadVersion): no effect
            Err(e) if indeterminate(e) => {
                if let Ok(mut k) = sh.counter.lock() {
                    k.1 += 1;
                }
                s.check(e);
            }
            Err(e) => sh.anomaly(format!("counter multi: unexpected {e:?}")),
        }
    }
    s.close().await;
}

/// Enqueues sequential elements.
async fn queue_producer(sh: Arc<Shared>, cs: String) {
    let mut s = Session::new(&cs);
    while !sh.stop.load(Ordering::SeqCst) {
        let Some(c) = s.get().await else { continue };
        let acl = Acl::open_unsafe();
        match c
            .create(
                &format!("{QUEUE}/q-"),
                Some(b""),
                &acl,
                CreateMode::PersistentSequential,
                None,
            )
            .await
        {
            Ok((path, _)) => {
                sh.success();
                sh.count("queue enqueue");
                if let Ok(mut q) = sh.queue_in.lock() {
                    q.insert(path);
                }
            }
            Err(e) if indeterminate(e) => {
                s.check(e);
            }
            Err(e) => sh.anomaly(format!("enqueue: unexpected {e:?}")),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.close().await;
}

/// Dequeues the oldest element with multi(check the element, delete it):
/// a dequeue succeeds at most once per element.
async fn queue_consumer(sh: Arc<Shared>, cs: String) {
    use zkproto::multi::{MultiOp, MultiResult};
    use zkproto::records::{CheckVersionRequest, DeleteRequest};
    let mut s = Session::new(&cs);
    while !sh.stop.load(Ordering::SeqCst) {
        let Some(c) = s.get().await else { continue };
        let Ok((mut kids, _)) = c.get_children(QUEUE, false).await else {
            s.lost();
            continue;
        };
        kids.sort();
        let Some(first) = kids.first() else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let path = format!("{QUEUE}/{first}");
        let ops = vec![
            MultiOp::Check(CheckVersionRequest {
                path: path.clone(),
                version: 0,
            }),
            MultiOp::Delete(DeleteRequest {
                path: path.clone(),
                version: 0,
            }),
        ];
        match c.multi(ops).await {
            Ok(r) if !r.iter().any(|x| matches!(x, MultiResult::Error(_))) => {
                sh.success();
                sh.count("queue dequeue");
                if let Ok(mut q) = sh.queue_out.lock() {
                    q.push(path);
                }
            }
            Ok(_) => {} // another consumer took it
            Err(e) if indeterminate(e) => {
                if let Ok(mut q) = sh.queue_doubt.lock() {
                    q.insert(path);
                }
                s.check(e);
            }
            Err(e) => sh.anomaly(format!("dequeue multi: unexpected {e:?}")),
        }
    }
    s.close().await;
}

/// A session that stays connected: its ephemeral must never go.
async fn ephemeral_owner(sh: Arc<Shared>, cs: String, id: u32) -> Option<(String, Client)> {
    let c = client(&cs, 10_000).await?;
    let path = format!("/chaos/eph-{id}");
    let acl = Acl::open_unsafe();
    c.create(&path, Some(b""), &acl, CreateMode::Ephemeral, None)
        .await
        .ok()?;
    sh.count("ephemeral");
    Some((path, c))
}

/// One run, start to verdict.
pub fn run(cfg: &RunConfig) -> std::io::Result<RunReport> {
    std::fs::create_dir_all(&cfg.dir)?;
    let net = if cfg.partitions {
        Some(Net::new().map_err(std::io::Error::other)?)
    } else {
        None
    };
    if let Some(net) = &net {
        for &id in &cfg.apache {
            net.route_uid(cluster::apache_uid(id), cluster::member_ip(id, true))
                .map_err(std::io::Error::other)?;
        }
    }
    let cluster = Cluster::start(&Spec {
        bin: &cfg.zkserver,
        dir: &cfg.dir,
        members: cfg.members,
        base_port: cfg.base_port,
        layout: cfg.layout,
        own_ips: cfg.partitions,
        apache: &cfg.apache,
        own_disks: cfg.own_disks,
    })?;
    let cs = cluster.connect_string();
    let cluster = Arc::new(Mutex::new(cluster));
    if let Ok(mut c) = cluster.lock() {
        if !c.heal(Duration::from_secs(60)) {
            return Err(std::io::Error::other(
                "the cluster did not start serving within 60 s",
            ));
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sh = Arc::new(Shared {
        start: Instant::now(),
        stop: AtomicBool::new(false),
        successes: Mutex::new(Vec::new()),
        reg: (0..cfg.keys).map(|_| Mutex::new(Vec::new())).collect(),
        reads: Mutex::new(Vec::new()),
        set_acked: Mutex::new(HashSet::new()),
        set_attempted: Mutex::new(HashSet::new()),
        ids_acked: Mutex::new(Vec::new()),
        counter: Mutex::new((0, 0)),
        queue_in: Mutex::new(HashSet::new()),
        queue_out: Mutex::new(Vec::new()),
        queue_doubt: Mutex::new(HashSet::new()),
        anomalies: Mutex::new(Vec::new()),
        unknown: AtomicU64::new(0),
        counts: Mutex::new(BTreeMap::new()),
    });
    // Setup, on every server (the standalones are separate trees).
    let setup_hosts: Vec<String> = match cfg.layout {
        Layout::Ensemble | Layout::EarlyAck => vec![cs.clone()],
        Layout::Standalones => cs.split(',').map(str::to_string).collect(),
    };
    rt.block_on(async {
        for h in &setup_hosts {
            let c = client(h, 10_000)
                .await
                .ok_or_else(|| std::io::Error::other("setup session"))?;
            let acl = Acl::open_unsafe();
            for p in ["/chaos", REG, SET, IDS, QUEUE] {
                let _ = c
                    .create(p, Some(b""), &acl, CreateMode::Persistent, None)
                    .await;
            }
            for k in 0..cfg.keys {
                let _ = c
                    .create(
                        &format!("{REG}/k{k}"),
                        Some(b"0"),
                        &acl,
                        CreateMode::Persistent,
                        None,
                    )
                    .await;
            }
            let _ = c
                .create(COUNTER, Some(b"0"), &acl, CreateMode::Persistent, None)
                .await;
            let _ = c.close().await;
        }
        Ok::<_, std::io::Error>(())
    })?;
    let owners: Vec<(String, Client)> = rt.block_on(async {
        let mut v = Vec::new();
        for i in 0..2 {
            if let Some(o) = ephemeral_owner(sh.clone(), cs.clone(), i).await {
                v.push(o);
            }
        }
        v
    });
    // Sessions that die: an ephemeral each, then the process "crashes" (the
    // handle is dropped: no closeSession, the connection just ends). Their
    // ephemerals must be gone within the timeout once the cluster is whole.
    let doomed = rt.block_on(async {
        let mut n = 0;
        for i in 0..2 {
            if let Some(c) = client(&cs, 4000).await {
                let acl = Acl::open_unsafe();
                let p = format!("/chaos/doomed-{i}");
                if c.create(&p, Some(b""), &acl, CreateMode::Ephemeral, None)
                    .await
                    .is_ok()
                {
                    n += 1;
                }
                drop(c);
            }
        }
        n
    });
    let mut tasks = Vec::new();
    for i in 0..cfg.clients {
        tasks.push(rt.spawn(register_worker(
            sh.clone(),
            cs.clone(),
            i,
            cfg.keys,
            cfg.seed,
        )));
    }
    for i in 0..2 {
        tasks.push(rt.spawn(set_worker(sh.clone(), cs.clone(), 100 + i)));
    }
    tasks.push(rt.spawn(ids_worker(sh.clone(), cs.clone())));
    tasks.push(rt.spawn(counter_worker(sh.clone(), cs.clone())));
    tasks.push(rt.spawn(queue_producer(sh.clone(), cs.clone())));
    for _ in 0..2 {
        tasks.push(rt.spawn(queue_consumer(sh.clone(), cs.clone())));
    }

    // The independent client: kazoo, in its own process.
    let kstop = cfg.dir.join("kazoo.stop");
    let kout = cfg.dir.join("kazoo.out");
    let kazoo = cfg.kazoo_python.as_ref().and_then(|py| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kazoo/chaos_client.py");
        std::process::Command::new(py)
            .arg(script)
            .args([cs.as_str(), KSET])
            .arg(&kout)
            .arg(&kstop)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(cfg.dir.join("kazoo.err")).ok()?)
            .spawn()
            .ok()
    });
    let nem_stop = Arc::new(AtomicBool::new(false));
    let net = net.map(Arc::new);
    let nem = {
        let (cl, st, net, cfg) = (cluster.clone(), nem_stop.clone(), net.clone(), cfg.clone());
        std::thread::spawn(move || {
            let journal = cfg.dir.join("faults.log");
            let schedule = Schedule {
                seed: cfg.seed,
                every: cfg.fault_every,
                faults: &cfg.faults,
                journal: &journal,
            };
            nemesis::run(&cl, net.as_deref(), &st, &schedule)
        })
    };
    std::thread::sleep(Duration::from_secs(cfg.seconds));
    nem_stop.store(true, Ordering::SeqCst);
    let outcome = nem.join().unwrap_or_default();
    if let Some(n) = &net {
        n.heal();
    }
    let healed = cluster
        .lock()
        .map(|mut c| c.heal(Duration::from_secs(60)))
        .unwrap_or(false);
    // Let the load run on the healed cluster, so that in-doubt work settles.
    std::thread::sleep(Duration::from_secs(3));
    sh.stop.store(true, Ordering::SeqCst);
    let _ = std::fs::write(&kstop, b"");
    let kazoo_ok = kazoo.map(|mut k| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = k.try_wait() {
                return st.success();
            }
            if Instant::now() > deadline {
                let _ = k.kill();
                let _ = k.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    rt.block_on(async {
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
        }
    });
    let mut report = RunReport {
        faults: outcome.faults,
        ..Default::default()
    };
    for b in outcome.harness {
        report.anomalies.push(format!("harness: {b}"));
    }
    report.anomalies.extend(outcome.anomalies);
    if !healed {
        report
            .anomalies
            .push("the cluster did not recover within 60 s of the last fault".into());
    }
    // Final reads from one healed member, after sync.
    let final_state = rt.block_on(final_reads(&cs, cfg.keys, &owners));
    for (_, c) in owners {
        let _ = rt.block_on(c.close());
    }
    let mut fin = match final_state {
        Ok(f) => f,
        Err(e) => {
            report
                .anomalies
                .push(format!("the final reads failed: {e}"));
            return Ok(report);
        }
    };
    if doomed > 0 {
        let left = rt.block_on(doomed_left(&cs, Duration::from_secs(15)));
        for p in left {
            report.anomalies.push(format!(
                "{p}: its session died, yet it outlived the 4 s timeout by 15 s after the cluster recovered"
            ));
        }
    }
    let kset = std::mem::take(&mut fin.kset);
    check(&sh, cfg, fin, &mut report);
    if let Some(ok) = kazoo_ok {
        check_kazoo(&kout, ok, &kset, &mut report);
    }
    if doomed > 0 {
        report.ops.insert("dead session's ephemeral", doomed);
    }
    if cfg.layout.replicated() {
        let hosts: Vec<String> = cluster
            .lock()
            .map(|c| {
                c.members
                    .iter()
                    .map(|m| format!("{}:{}", m.ip, m.client_port))
                    .collect()
            })
            .unwrap_or_default();
        let diverged = rt.block_on(compare_members(&hosts, cfg.keys));
        report.ops.insert("members compared", hosts.len() as u64);
        report.anomalies.extend(diverged);
    }
    Ok(report)
}

/// The set's bucket znodes, in order.
async fn set_buckets(c: &Client) -> Result<Vec<String>, String> {
    let (mut kids, _) = c
        .get_children(SET, false)
        .await
        .map_err(|e| format!("ls {SET}: {e:?}"))?;
    kids.sort();
    Ok(kids.into_iter().map(|k| format!("{SET}/{k}")).collect())
}

/// What the workloads left, as one member serves it (after a sync): every
/// checked znode's data and version, and the children of the id and queue
/// parents.
async fn fingerprint(host: &str, keys: u32) -> Result<BTreeMap<String, String>, String> {
    let c = client(host, 10_000).await.ok_or("no session")?;
    c.sync("/").await.map_err(|e| format!("sync: {e:?}"))?;
    let mut out = BTreeMap::new();
    let mut paths: Vec<String> = (0..keys).map(|k| format!("{REG}/k{k}")).collect();
    let buckets = set_buckets(&c).await?;
    out.insert(SET.to_string(), buckets.join(","));
    paths.extend(buckets);
    paths.extend([COUNTER, KSET].map(str::to_string));
    for p in paths {
        let v = match c.get_data(&p, false).await {
            Ok((d, st)) => format!(
                "version {} mzxid {:#x} data {}",
                st.version,
                st.mzxid,
                String::from_utf8_lossy(d.as_deref().unwrap_or_default())
            ),
            Err(ErrorCode::NoNode) => "absent".into(),
            Err(e) => return Err(format!("get {p}: {e:?}")),
        };
        out.insert(p, v);
    }
    for p in [IDS, QUEUE] {
        let (mut kids, st) = c
            .get_children(p, false)
            .await
            .map_err(|e| format!("ls {p}: {e:?}"))?;
        kids.sort();
        out.insert(
            p.to_string(),
            format!("cversion {} children {}", st.cversion, kids.join(",")),
        );
    }
    let _ = c.close().await;
    Ok(out)
}

/// Every member must serve the same state once the load has stopped: a
/// member that recovered from a damaged file or a full disk, or came back
/// from a partition, must hold exactly what the others hold.
async fn compare_members(hosts: &[String], keys: u32) -> Vec<String> {
    let mut prints = Vec::new();
    let mut out = Vec::new();
    for h in hosts {
        match fingerprint(h, keys).await {
            Ok(f) => prints.push((h, f)),
            Err(e) => out.push(format!(
                "member {h} did not answer the final comparison: {e}"
            )),
        }
    }
    if let Some(((h0, first), rest)) = prints.split_first() {
        for (h, f) in rest {
            if let Some((p, v)) = f.iter().find(|(p, v)| first.get(*p) != Some(*v)) {
                let short = |s: &str| s.chars().take(160).collect::<String>();
                out.push(format!(
                    "member {h} diverges from {h0} at {p}: {} / {}",
                    short(v),
                    short(first.get(p).map_or("absent", String::as_str))
                ));
            }
        }
    }
    out
}

/// The kazoo client's set: acknowledged elements present, nothing never
/// attempted, nothing twice.
fn check_kazoo(out: &Path, exited_ok: bool, fin: &[String], report: &mut RunReport) {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    let mut attempted = HashSet::new();
    let mut acked = HashSet::new();
    for l in text.lines() {
        match l.split_once(' ') {
            Some(("attempt", e)) => {
                attempted.insert(e.to_string());
            }
            Some(("ack", e)) => {
                acked.insert(e.to_string());
            }
            _ => report.anomalies.push(format!("kazoo client: {l}")),
        }
    }
    if !exited_ok {
        report
            .anomalies
            .push("kazoo client: did not finish cleanly (see kazoo.err)".into());
    }
    report.ops.insert("kazoo set add", acked.len() as u64);
    let present: HashSet<&String> = fin.iter().collect();
    let lost = acked.iter().filter(|e| !present.contains(e)).count();
    if lost > 0 {
        report.lost_acked_writes += lost as u64;
        report
            .anomalies
            .push(format!("{KSET} (kazoo): {lost} acknowledged elements lost"));
    }
    if present.len() != fin.len() {
        report
            .anomalies
            .push(format!("{KSET} (kazoo): an element appears twice"));
    }
    if fin.iter().any(|e| !attempted.contains(e)) {
        report
            .anomalies
            .push(format!("{KSET} (kazoo): an element nobody added"));
    }
}

/// The dead sessions' ephemerals still present after `within`.
async fn doomed_left(cs: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let mut left = Vec::new();
        if let Some(c) = client(cs, 10_000).await {
            for i in 0..2 {
                let p = format!("/chaos/doomed-{i}");
                if let Ok(Some(_)) = c.exists(&p, false).await {
                    left.push(p);
                }
            }
            let _ = c.close().await;
        }
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

struct Final {
    kset: Vec<String>,
    counter: u64,
    queue: Vec<String>,
    regs: Vec<(i32, u64)>,
    set: Vec<u64>,
    ids: Vec<String>,
    ephemerals_present: Vec<(String, bool)>,
    read_done: Time,
}

async fn final_reads(cs: &str, keys: u32, owners: &[(String, Client)]) -> Result<Final, String> {
    let c = client(cs, 10_000).await.ok_or("no session")?;
    c.sync("/").await.map_err(|e| format!("sync: {e:?}"))?;
    let mut regs = Vec::new();
    for k in 0..keys {
        let (d, st) = c
            .get_data(&format!("{REG}/k{k}"), false)
            .await
            .map_err(|e| format!("get {REG}/k{k}: {e:?}"))?;
        regs.push((st.version, parse_u64(d.as_deref())));
    }
    let mut set = Vec::new();
    for p in set_buckets(&c).await? {
        let (d, _) = c
            .get_data(&p, false)
            .await
            .map_err(|e| format!("get {p}: {e:?}"))?;
        set.extend(
            String::from_utf8_lossy(d.as_deref().unwrap_or_default())
                .split(',')
                .filter_map(|s| s.parse::<u64>().ok()),
        );
    }
    let (kids, _) = c
        .get_children(IDS, false)
        .await
        .map_err(|e| format!("ls {IDS}: {e:?}"))?;
    let ids = kids.into_iter().map(|k| format!("{IDS}/{k}")).collect();
    let (d, _) = c
        .get_data(COUNTER, false)
        .await
        .map_err(|e| format!("get {COUNTER}: {e:?}"))?;
    let counter = parse_u64(d.as_deref());
    let kset = match c.get_data(KSET, false).await {
        Ok((d, _)) => String::from_utf8_lossy(d.as_deref().unwrap_or_default())
            .split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect(),
        Err(ErrorCode::NoNode) => Vec::new(),
        Err(e) => return Err(format!("get {KSET}: {e:?}")),
    };
    let (q, _) = c
        .get_children(QUEUE, false)
        .await
        .map_err(|e| format!("ls {QUEUE}: {e:?}"))?;
    let queue = q.into_iter().map(|k| format!("{QUEUE}/{k}")).collect();
    let mut ephemerals_present = Vec::new();
    for (p, owner) in owners {
        // Only an owner whose session never ended is owed its ephemeral.
        let alive = owner.exists("/chaos", false).await.is_ok();
        if alive {
            ephemerals_present.push((
                p.clone(),
                c.exists(p, false)
                    .await
                    .map_err(|e| format!("exists {p}: {e:?}"))?
                    .is_some(),
            ));
        }
    }
    let _ = c.close().await;
    Ok(Final {
        kset,
        regs,
        set,
        ids,
        counter,
        queue,
        ephemerals_present,
        read_done: 0,
    })
}

fn check(sh: &Shared, cfg: &RunConfig, mut fin: Final, report: &mut RunReport) {
    fin.read_done = sh.now();
    report.ops = sh.counts.lock().map(|c| c.clone()).unwrap_or_default();
    report.unknown_ops = sh.unknown.load(Ordering::SeqCst);
    report
        .anomalies
        .extend(sh.anomalies.lock().map(|a| a.clone()).unwrap_or_default());
    // Registers: every write and CAS, then the final read, linearizable.
    let mut written: HashMap<(u32, i32), u64> = HashMap::new();
    for (k, h) in sh.reg.iter().enumerate() {
        let tagged = h.lock().map(|h| h.clone()).unwrap_or_default();
        for (_, op) in &tagged {
            if let (Some(RegOut::Written(v)), RegIn::Set(x) | RegIn::Cas { value: x, .. }) =
                (&op.output, &op.input)
            {
                if written.insert((k as u32, *v), *x).is_some() {
                    report.anomalies.push(format!(
                        "{REG}/k{k}: two acknowledged writes both made version {v}"
                    ));
                }
            }
        }
        let (version, value) = fin.regs[k];
        let mut ops = prune_unknowns(tagged, version);
        ops.push(Op::new(
            fin.read_done,
            Some(fin.read_done + 1),
            RegIn::Read,
            Some(RegOut::Value { version, value }),
        ));
        let n = ops.len();
        match linear::check(&Register, &ops, Duration::from_secs(10), 2_000_000) {
            Verdict::Linearizable => {}
            Verdict::Violation { explained, .. } => report.anomalies.push(format!(
                "{REG}/k{k}: {n} operations are not linearizable (the longest explained prefix has {explained})"
            )),
            Verdict::Unknown => {
                let open = ops.iter().filter(|o| o.complete.is_none()).count();
                let dump: String = ops
                    .iter()
                    .map(|o| format!("{} {:?} {:?} {:?}\n", o.invoke, o.complete, o.input, o.output))
                    .collect();
                let _ = std::fs::write(cfg.dir.join(format!("history-k{k}.txt")), dump);
                report.undetermined.push(format!(
                    "{REG}/k{k}: {n} operations ({open} in doubt after pruning), the search ran out of budget"
                ))
            }
        }
    }
    // Reads: the value read at a version is the one written at it.
    for &(client, key, version, value) in sh
        .reads
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default()
        .iter()
    {
        if version == 0 {
            continue;
        }
        if let Some(&w) = written.get(&(key, version)) {
            if w != value {
                report.anomalies.push(format!(
                    "client {client} read {value} at {REG}/k{key} version {version}, which was written as {w}"
                ));
            }
        }
    }
    // The set: every acknowledged element present, nothing never attempted.
    let acked = sh.set_acked.lock().map(|a| a.clone()).unwrap_or_default();
    let attempted = sh
        .set_attempted
        .lock()
        .map(|a| a.clone())
        .unwrap_or_default();
    let present: HashSet<u64> = fin.set.iter().copied().collect();
    let lost: Vec<_> = acked.iter().filter(|e| !present.contains(e)).collect();
    if !lost.is_empty() {
        report.lost_acked_writes += lost.len() as u64;
        report
            .anomalies
            .push(format!("{SET}: {} acknowledged elements lost", lost.len()));
    }
    if present.len() != fin.set.len() {
        report
            .anomalies
            .push(format!("{SET}: an element appears twice"));
    }
    if fin.set.iter().any(|e| !attempted.contains(e)) {
        report
            .anomalies
            .push(format!("{SET}: an element nobody added"));
    }
    // Unique ids: distinct, and all present.
    let ids = sh.ids_acked.lock().map(|a| a.clone()).unwrap_or_default();
    let distinct: HashSet<&String> = ids.iter().collect();
    if distinct.len() != ids.len() {
        report.anomalies.push(format!(
            "{IDS}: {} ids handed out twice",
            ids.len() - distinct.len()
        ));
    }
    let now: HashSet<&String> = fin.ids.iter().collect();
    let missing = distinct.iter().filter(|p| !now.contains(*p)).count();
    if missing > 0 {
        report.lost_acked_writes += missing as u64;
        report.anomalies.push(format!(
            "{IDS}: {missing} acknowledged sequential creates lost"
        ));
    }
    // The counter: every acknowledged increment counted, and at most the
    // in-doubt ones on top.
    let (acked, doubt) = sh.counter.lock().map(|k| *k).unwrap_or_default();
    if fin.counter < acked || fin.counter > acked + doubt {
        if fin.counter < acked {
            report.lost_acked_writes += acked - fin.counter;
        }
        report.anomalies.push(format!(
            "{COUNTER}: {} after {acked} acknowledged increments and {doubt} in doubt",
            fin.counter
        ));
    }
    // The queue: nothing dequeued twice or never enqueued; every
    // acknowledged element either dequeued, in doubt, or still queued.
    let enq = sh.queue_in.lock().map(|q| q.clone()).unwrap_or_default();
    let deq = sh.queue_out.lock().map(|q| q.clone()).unwrap_or_default();
    let doubt = sh.queue_doubt.lock().map(|q| q.clone()).unwrap_or_default();
    let deq_set: HashSet<&String> = deq.iter().collect();
    if deq_set.len() != deq.len() {
        report.anomalies.push(format!(
            "{QUEUE}: {} elements dequeued twice",
            deq.len() - deq_set.len()
        ));
    }
    let still: HashSet<&String> = fin.queue.iter().collect();
    for p in &deq {
        if still.contains(p) {
            report
                .anomalies
                .push(format!("{p}: dequeued, yet still queued"));
        }
    }
    let lost: Vec<&String> = enq
        .iter()
        .filter(|p| !deq_set.contains(p) && !doubt.contains(*p) && !still.contains(p))
        .collect();
    if !lost.is_empty() {
        report.lost_acked_writes += lost.len() as u64;
        report.anomalies.push(format!(
            "{QUEUE}: {} acknowledged elements neither dequeued nor queued",
            lost.len()
        ));
    }
    for (p, present) in &fin.ephemerals_present {
        if !present {
            report
                .anomalies
                .push(format!("{p}: deleted while its owner's session lived"));
        }
    }
    // Unavailability: gaps of more than a second without any success.
    let mut s = sh.successes.lock().map(|s| s.clone()).unwrap_or_default();
    s.sort_unstable();
    for w in s.windows(2) {
        let gap = (w[1] - w[0]) / 1_000_000;
        if gap > 1000 {
            report.unavailable_ms.push(gap);
        }
    }
}

/// Drops the in-doubt writes that cannot have taken effect, before the
/// linearizability search (whose cost grows with every operation left
/// open). Every write that takes effect makes one new version; the
/// acknowledged ones name theirs, so only the versions up to the final one
/// that no acknowledged write made (the gaps) can have been made by an
/// in-doubt write. It must also respect its session's order (ZooKeeper runs
/// a session's requests in order; a request left behind on a connection the
/// session moved away from is refused with SessionMoved, not run later): it
/// comes after the session's earlier acknowledged write and before its
/// later one. A set fits a gap under those bounds, a CAS only the gap just
/// above the version it expects, and either only if invoked before the
/// write of the next version completed. An in-doubt write that fits no gap
/// never happened in any linearization, so dropping it changes no verdict;
/// the search still decides the rest.
pub fn prune_unknowns(
    ops: Vec<(u64, Op<RegIn, RegOut>)>,
    final_version: i32,
) -> Vec<Op<RegIn, RegOut>> {
    let mut made: HashMap<i32, Time> = HashMap::new(); // version -> completion
                                                       // Per session, its acknowledged writes: (invoke, version), in order.
    let mut by_session: HashMap<u64, Vec<(Time, i32)>> = HashMap::new();
    for (tag, op) in &ops {
        if let (Some(RegOut::Written(v)), Some(c)) = (&op.output, op.complete) {
            made.insert(*v, c);
            by_session.entry(*tag).or_default().push((op.invoke, *v));
        }
    }
    for w in by_session.values_mut() {
        w.sort_unstable();
    }
    let gaps: Vec<i32> = (1..=final_version)
        .filter(|v| !made.contains_key(v))
        .collect();
    // Per session, the invocations of its requests that got an answer: an
    // in-doubt request cannot take effect after the next of them completed.
    let mut answered: HashMap<u64, Vec<(Time, Time)>> = HashMap::new();
    for (tag, op) in &ops {
        if let Some(c) = op.complete {
            answered.entry(*tag).or_default().push((op.invoke, c));
        }
    }
    for a in answered.values_mut() {
        a.sort_unstable();
    }
    let ops: Vec<(u64, Op<RegIn, RegOut>)> = ops
        .into_iter()
        .map(|(tag, mut op)| {
            if op.complete.is_none() {
                if let Some(a) = answered.get(&tag) {
                    let i = a.partition_point(|&(t, _)| t < op.invoke);
                    op.deadline = a.get(i).map(|&(_, c)| c);
                }
            }
            (tag, op)
        })
        .collect();
    ops.into_iter()
        .filter(|(tag, op)| {
            if op.complete.is_some() || matches!(op.input, RegIn::Read) {
                return true;
            }
            let (lo, hi) = match by_session.get(tag) {
                Some(w) => {
                    let i = w.partition_point(|&(t, _)| t < op.invoke);
                    (
                        if i > 0 { w[i - 1].1 } else { 0 },
                        w.get(i).map_or(i32::MAX, |x| x.1),
                    )
                }
                None => (0, i32::MAX),
            };
            gaps.iter().any(|&g| {
                let ordered = g > lo && g < hi;
                let in_time = made.get(&(g + 1)).is_none_or(|&c| op.invoke < c);
                let fits = match op.input {
                    RegIn::Cas { expect, .. } => expect + 1 == g,
                    _ => true,
                };
                ordered && in_time && fits
            })
        })
        .map(|(_, op)| op)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        invoke: Time,
        complete: Option<Time>,
        input: RegIn,
        output: Option<RegOut>,
    ) -> Op<RegIn, RegOut> {
        Op {
            invoke,
            complete,
            input,
            output,
            deadline: None,
        }
    }

    #[test]
    fn only_in_doubt_writes_that_fit_a_gap_are_kept() {
        use RegIn::*;
        use RegOut::*;
        let ops = vec![
            op(0, Some(10), Set(1), Some(Written(1))),
            // In doubt, before version 3 was written: may be version 2.
            op(12, None, Set(2), None),
            // In doubt, invoked after the last write completed: no gap left
            // for it below the final version 3.
            op(40, None, Set(9), None),
            // A CAS expecting 0 cannot make version 2.
            op(
                13,
                None,
                Cas {
                    expect: 0,
                    value: 5,
                },
                None,
            ),
            op(20, Some(30), Set(3), Some(Written(3))),
        ];
        let kept = prune_unknowns(ops.into_iter().map(|o| (0, o)).collect(), 3);
        assert_eq!(kept.len(), 3, "{kept:?}");
        let mut with_read = kept.clone();
        with_read.push(op(
            50,
            Some(51),
            Read,
            Some(Value {
                version: 3,
                value: 3,
            }),
        ));
        assert_eq!(
            linear::check(&Register, &with_read, Duration::from_secs(5), 100_000),
            Verdict::Linearizable
        );
        // Without the in-doubt set there is no version 2: a violation.
        let mut without: Vec<_> = with_read
            .into_iter()
            .filter(|o| o.complete.is_some())
            .collect();
        without.sort_by_key(|o| o.invoke);
        assert!(matches!(
            linear::check(&Register, &without, Duration::from_secs(5), 100_000),
            Verdict::Violation { .. }
        ));
    }
}
