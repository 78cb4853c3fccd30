//! `zkbench`: a load generator for ZooKeeper-compatible servers.
//!
//! It talks the wire protocol through `zkcli::client` (one pipelined
//! connection per session) and measures, for a bounded time window:
//! throughput, latency percentiles (HdrHistogram), errors by code, and the
//! server's CPU seconds per 1,000 operations (utime+stime of `--pid` from
//! `/proc/PID/stat`).
//!
//! ```text
//! zkbench --server 127.0.0.1:2181 --pid 1234 set --sessions 16 --inflight 4 --duration 10
//! zkbench load 1000000 --value-size 100
//! zkbench fsync-probe --dir /var/lib/zookeeper
//! zkbench wait-ready --since-ns "$(date +%s%N)" --path /zkload/b0000/n000
//! zkbench report results.jsonl          # markdown comparison table
//! ```
//!
//! Every result is printed as a small table (or as one JSON line with
//! `--json`) and, with `--out FILE`, appended to FILE as one JSON line; the
//! `report` subcommand turns such a file into the ours-vs-ZooKeeper table.
//! Every loop is bounded in time and count.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zkcli::client::{Acl, Client, ClientOptions};
use zkproto::consts::CreateMode;
use zkproto::ErrorCode;

mod failover;

#[derive(Parser, Debug)]
#[command(
    name = "zkbench",
    version,
    about = "Load generator and comparison tool for ZooKeeper-compatible servers"
)]
struct Cli {
    /// Server address (host:port)
    #[arg(long, global = true, default_value = "127.0.0.1:2181")]
    server: String,
    /// Server pid, for CPU seconds per 1,000 ops (from /proc/PID/stat); a
    /// comma-separated list (an ensemble's members) sums them
    #[arg(long, global = true, value_delimiter = ',')]
    pid: Vec<u32>,
    /// With several servers in --server: session i starts on server i mod n
    /// (load spread evenly over an ensemble's members; it fails over to the
    /// others in order) instead of each session picking one at random
    #[arg(long, global = true)]
    spread: bool,
    /// Label stored with the results (e.g. `ours`, `zk`)
    #[arg(long, global = true, default_value = "server")]
    label: String,
    /// Print results as one JSON line instead of a table
    #[arg(long, global = true)]
    json: bool,
    /// Also append each result as one JSON line to FILE
    #[arg(long, global = true, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Client threads: 1 runs every session on one thread; 0 = one per core
    #[arg(long, global = true, default_value_t = 0)]
    threads: usize,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create new persistent znodes (one per op)
    Create(RunArgs),
    /// setData on random keys of the keyspace
    Set(RunArgs),
    /// getData on random keys of the keyspace
    Get(RunArgs),
    /// exists on random keys of the keyspace
    Exists(RunArgs),
    /// getChildren of a node with --fanout children
    Children(RunArgs),
    /// getData / setData on random keys, --read-pct reads
    Mix(RunArgs),
    /// Create N znodes (PREFIX/bNNNN/nNNN, 1,000 per bucket) as fast as possible
    Load(LoadArgs),
    /// Measure the disk's fsync latency: small appends + fdatasync in a
    /// sparse preallocated file in DIR (as both servers' txn logs)
    FsyncProbe(FsyncArgs),
    /// Poll until `ruok` answers `imok` and a getData succeeds; reports the
    /// time since --since-ns (e.g. the server's launch)
    WaitReady(WaitArgs),
    /// Paced writes on an ensemble, the leader killed by --kill part-way:
    /// time to the first write acknowledged by the new leader and until
    /// every session writes again
    Failover(failover::FailoverArgs),
    /// Record a measurement made elsewhere (memory, wall time) in --out
    Note(NoteArgs),
    /// Print the ours-vs-ZooKeeper markdown table from a results file
    /// (repeated workload runs: each server's median run by ops/s)
    Report(ReportArgs),
}

#[derive(Args, Debug, Clone)]
struct RunArgs {
    /// Concurrent sessions (one TCP connection each)
    #[arg(long, default_value_t = 16)]
    sessions: usize,
    /// Requests in flight per session (closed loop)
    #[arg(long, default_value_t = 4)]
    inflight: usize,
    /// Measured window, seconds
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured warm-up before the window, seconds
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Value size in bytes for create/set (and of the keyspace nodes)
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Number of keys for set/get/exists/mix
    #[arg(long, default_value_t = 10_000)]
    keyspace: usize,
    /// Percentage of reads in `mix`
    #[arg(long, default_value_t = 90)]
    read_pct: u32,
    /// Children of the node read by `children`
    #[arg(long, default_value_t = 16)]
    fanout: usize,
    /// Root of the benchmark's znodes
    #[arg(long, default_value = "/zkbench")]
    prefix: String,
    /// Hard cap on operations (measured or not)
    #[arg(long, default_value_t = 50_000_000)]
    max_ops: u64,
    /// Session timeout, ms
    #[arg(long, default_value_t = 30_000)]
    session_timeout: u32,
    /// Offered load in ops/s over all sessions (0 = closed loop, as fast as
    /// the server answers). Paced requests are spread evenly over the
    /// sessions×inflight slots; a request that could not start on time
    /// (its slot still waited for a reply) is timed from when it should
    /// have started, so a slow server is not hidden (coordinated omission).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
}

#[derive(Args, Debug)]
struct LoadArgs {
    /// Number of znodes to create (indices START..START+N)
    n: u64,
    /// First index
    #[arg(long, default_value_t = 0)]
    start: u64,
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    #[arg(long, default_value_t = 8)]
    sessions: usize,
    #[arg(long, default_value_t = 32)]
    inflight: usize,
    #[arg(long, default_value = "/zkload")]
    prefix: String,
    /// Give up after this many seconds
    #[arg(long, default_value_t = 1800.0)]
    timeout: f64,
}

#[derive(Args, Debug, Clone)]
struct FsyncArgs {
    /// Directory on the disk to probe (the servers' dataDir)
    #[arg(long)]
    dir: PathBuf,
    /// Number of write+fdatasync rounds
    #[arg(long, default_value_t = 500)]
    count: u32,
    /// Stop after this many seconds even if fewer rounds were done
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Bytes written before each fdatasync (about one small txn)
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// How the probed file is preallocated: `sparse` (set_len, as ZooKeeper's
    /// FilePadding does) or `zeros` (written with zeros and synced first, as
    /// zkserver's txn log is)
    #[arg(long, default_value = "sparse")]
    prealloc: String,
    /// Meanwhile, write files of this many MiB beside the probe over and over
    /// (buffered writes, fsync at the end: like a snapshot being taken)
    #[arg(long, default_value_t = 0)]
    beside_mib: u64,
    /// Push the beside-writer's data out every this many MiB with
    /// sync_file_range (as zkserver's snapshot writer does); 0 = never
    #[arg(long, default_value_t = 0)]
    beside_flush_mib: u64,
    /// Cap the beside-writer at this many MiB/s (0 = as fast as it can)
    #[arg(long, default_value_t = 0)]
    beside_mib_per_s: u64,
}

#[derive(Args, Debug)]
struct WaitArgs {
    /// Start time, nanoseconds since the Unix epoch (`date +%s%N`); default: now
    #[arg(long)]
    since_ns: Option<u128>,
    /// Znode whose getData must succeed
    #[arg(long, default_value = "/")]
    path: String,
    /// Give up after this many seconds
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
    /// Name of the measurement in the results
    #[arg(long, default_value = "ready")]
    name: String,
    /// Ready means a write succeeded (a create, then deleted), through any
    /// server of --server (an ensemble's connect string): no `ruok` step
    #[arg(long)]
    write: bool,
}

#[derive(Args, Debug)]
struct NoteArgs {
    #[arg(long)]
    name: String,
    #[arg(long)]
    value: f64,
    #[arg(long, default_value = "")]
    unit: String,
    /// Free-text detail (e.g. JVM flags)
    #[arg(long, default_value = "")]
    detail: String,
}

#[derive(Args, Debug)]
struct ReportArgs {
    /// JSON-lines results file (from --out)
    file: PathBuf,
    /// Label of our server
    #[arg(long, default_value = "ours")]
    ours: String,
    /// Label of the reference server
    #[arg(long, default_value = "zk")]
    theirs: String,
    /// The ensemble benchmark's targets (reads ≥ 2×, failover) instead of
    /// the standalone ones
    #[arg(long)]
    ensemble: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    Create,
    Set,
    Get,
    Exists,
    Children,
    Mix,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Exists => "exists",
            Workload::Children => "children",
            Workload::Mix => "mix",
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match if cli.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if cli.threads > 1 {
            b.worker_threads(cli.threads);
        }
        b.enable_all().build()
    } {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zkbench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zkbench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let result = match &cli.cmd {
        Cmd::Create(a) => run_workload(&cli, Workload::Create, a).await?,
        Cmd::Set(a) => run_workload(&cli, Workload::Set, a).await?,
        Cmd::Get(a) => run_workload(&cli, Workload::Get, a).await?,
        Cmd::Exists(a) => run_workload(&cli, Workload::Exists, a).await?,
        Cmd::Children(a) => run_workload(&cli, Workload::Children, a).await?,
        Cmd::Mix(a) => run_workload(&cli, Workload::Mix, a).await?,
        Cmd::Load(a) => run_load(&cli, a).await?,
        Cmd::FsyncProbe(a) => {
            let a = a.clone();
            tokio::task::spawn_blocking(move || fsync_probe(&a)).await??
        }
        Cmd::WaitReady(a) => wait_ready(&cli, a).await?,
        Cmd::Failover(a) => failover::run(&cli, a).await?,
        Cmd::Note(a) => json!({
            "kind": "note", "server": cli.label, "name": a.name,
            "value": a.value, "unit": a.unit, "detail": a.detail,
        }),
        Cmd::Report(a) => {
            print!("{}", report(a)?);
            return Ok(());
        }
    };
    emit(&cli, &result)
}

// ---------------------------------------------------------------- output

fn emit(cli: &Cli, v: &Value) -> anyhow::Result<()> {
    if cli.json {
        println!("{v}");
    } else {
        print_table(v);
    }
    if let Some(path) = &cli.out {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(f, "{v}").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print_table(v: &Value) {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    t.set_header(vec!["field", "value"]);
    fn walk(t: &mut comfy_table::Table, prefix: &str, v: &Value) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(t, &key, v);
                }
            }
            Value::Number(n) => {
                let s = match n.as_f64() {
                    Some(f) if n.is_f64() => format!("{f:.3}"),
                    _ => n.to_string(),
                };
                t.add_row(vec![prefix.to_string(), s]);
            }
            Value::String(s) => {
                t.add_row(vec![prefix.to_string(), s.clone()]);
            }
            other => {
                t.add_row(vec![prefix.to_string(), other.to_string()]);
            }
        }
    }
    walk(&mut t, "", v);
    println!("{t}");
}

// ---------------------------------------------------------------- /proc

/// utime+stime of a process in seconds, from /proc/PID/stat.
fn proc_cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// VmRSS of a process in bytes.
fn proc_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

struct CpuSample {
    server: Option<f64>,
    client: Option<f64>,
}

/// Summed over `pids` (`None` if there are none or one cannot be read).
fn cpu_sample(pids: &[u32]) -> CpuSample {
    let server = if pids.is_empty() {
        None
    } else {
        pids.iter()
            .map(|p| proc_cpu_seconds(&p.to_string()))
            .sum::<Option<f64>>()
    };
    CpuSample {
        server,
        client: proc_cpu_seconds("self"),
    }
}

// ---------------------------------------------------------------- sessions

/// The connect string of session `i`: `server`, or with `spread` the same
/// hosts rotated so that the `i mod n`-th comes first (tried in order: the
/// session starts there and can still fail over to the others).
fn session_server(server: &str, spread: bool, i: usize) -> String {
    let mut hosts: Vec<&str> = server.split(',').collect();
    if spread && hosts.len() > 1 {
        let n = hosts.len();
        hosts.rotate_left(i % n);
        hosts.join(",")
    } else {
        server.to_string()
    }
}

async fn connect_sessions(
    server: &str,
    n: usize,
    timeout_ms: u32,
    spread: bool,
) -> anyhow::Result<Vec<Client>> {
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let server = session_server(server, spread, i);
        let server = server.as_str();
        let opts = ClientOptions {
            session_timeout_ms: timeout_ms,
            request_timeout_ms: Some(30_000),
            hosts_in_order: spread,
            ..ClientOptions::default()
        };
        let (c, mut events) = Client::new(server, opts)
            .map_err(|e| anyhow!("session {i}: bad connect string: {e:?}"))?;
        // Drain session events so the channel does not grow without bound.
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        c.wait_connected(Duration::from_secs(15))
            .await
            .map_err(|e| anyhow!("session {i} to {server}: {e:?}"))?;
        clients.push(c);
    }
    Ok(clients)
}

async fn close_sessions(clients: Vec<Client>) {
    let mut set = tokio::task::JoinSet::new();
    for c in clients {
        set.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), c.close()).await;
        });
    }
    while set.join_next().await.is_some() {}
}

/// Creates `path` (empty) if missing.
async fn ensure(c: &Client, path: &str, data: &[u8]) -> anyhow::Result<()> {
    match c
        .create(
            path,
            Some(data),
            &Acl::open_unsafe(),
            CreateMode::Persistent,
            None,
        )
        .await
    {
        Ok(_) | Err(ErrorCode::NodeExists) => Ok(()),
        Err(e) => bail!("create {path}: {e:?}"),
    }
}

/// Creates the given paths with up to `clients.len() * inflight` requests in
/// flight; NodeExists is fine. Returns the number created.
async fn create_many(
    clients: &[Client],
    inflight: usize,
    paths: Arc<dyn Fn(u64) -> String + Send + Sync>,
    range: std::ops::Range<u64>,
    value: Arc<Vec<u8>>,
    deadline: Instant,
) -> anyhow::Result<u64> {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(range.start));
    let end = range.end;
    let mut set = tokio::task::JoinSet::new();
    for c in clients {
        for _ in 0..inflight.max(1) {
            let c = c.clone();
            let next = next.clone();
            let paths = paths.clone();
            let value = value.clone();
            set.spawn(async move {
                let acl = Acl::open_unsafe();
                let mut made = 0u64;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= end {
                        return Ok(made);
                    }
                    if Instant::now() > deadline {
                        return Err(anyhow!("timed out at index {i}"));
                    }
                    let p = paths(i);
                    match c
                        .create(&p, Some(&value), &acl, CreateMode::Persistent, None)
                        .await
                    {
                        Ok(_) => made += 1,
                        Err(ErrorCode::NodeExists) => {}
                        Err(e) => return Err(anyhow!("create {p}: {e:?}")),
                    }
                }
            });
        }
    }
    let mut total = 0;
    let mut first_err = None;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => {
                if first_err.is_none() {
                    first_err = Some(e);
                }
                // Stop handing out work so the other tasks finish quickly.
                next.store(end, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => first_err = first_err.or(Some(anyhow!("task failed: {e}"))),
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

// ---------------------------------------------------------------- workloads

fn key_path(prefix: &str, i: u64) -> String {
    format!("{prefix}/k/{i:08}")
}

async fn setup(w: Workload, clients: &[Client], a: &RunArgs) -> anyhow::Result<()> {
    let c = &clients[0];
    let value = vec![b'v'; a.value_size];
    ensure(c, &a.prefix, b"").await?;
    match w {
        Workload::Create => ensure(c, &format!("{}/c", a.prefix), b"").await,
        Workload::Children => {
            let g = format!("{}/g", a.prefix);
            ensure(c, &g, b"").await?;
            for i in 0..a.fanout {
                ensure(c, &format!("{g}/child-{i:06}"), &value).await?;
            }
            Ok(())
        }
        Workload::Set | Workload::Get | Workload::Exists | Workload::Mix => {
            ensure(c, &format!("{}/k", a.prefix), b"").await?;
            let last = key_path(&a.prefix, a.keyspace.saturating_sub(1) as u64);
            if c.exists(&last, false).await.ok().flatten().is_some() {
                return Ok(()); // made by an earlier run
            }
            let prefix = a.prefix.clone();
            create_many(
                clients,
                8,
                Arc::new(move |i| key_path(&prefix, i)),
                0..a.keyspace as u64,
                Arc::new(value),
                Instant::now() + Duration::from_secs(600),
            )
            .await
            .map(|_| ())
        }
    }
}

struct TaskResult {
    hist: Histogram<u64>,
    ops: u64,
    errors: BTreeMap<String, u64>,
    issued: u64,
}

fn new_hist() -> Histogram<u64> {
    // 1 µs .. 1 h, 3 significant digits. Bounds are constants, so this
    // cannot fail; fall back to an auto-resizing histogram anyway.
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .or_else(|_| Histogram::new(3))
        .unwrap_or_else(|_| unreachable!("hdrhistogram rejected constant bounds"))
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    w: Workload,
    c: Client,
    a: Arc<RunArgs>,
    id: usize,
    start_measure: Instant,
    end: Instant,
    budget: Arc<std::sync::atomic::AtomicU64>,
    value: Arc<Vec<u8>>,
) -> TaskResult {
    let mut rng = StdRng::seed_from_u64(0x5eed ^ (id as u64).wrapping_mul(0x9e37_79b9));
    let mut r = TaskResult {
        hist: new_hist(),
        ops: 0,
        errors: BTreeMap::new(),
        issued: 0,
    };
    let acl = Acl::open_unsafe();
    let tag = format!(
        "{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let children = format!("{}/g", a.prefix);
    let keyspace = a.keyspace.max(1) as u64;
    let mut seq = 0u64;
    let mut consecutive_errors = 0u32;
    let slots = (a.sessions * a.inflight).max(1) as f64;
    let pace = (a.rate > 0.0).then(|| Duration::from_secs_f64(slots / a.rate));
    let mut next = Instant::now() + pace.map_or(Duration::ZERO, |p| p.mul_f64(id as f64 / slots));
    loop {
        let now = Instant::now();
        if now >= end || (pace.is_some() && next >= end) {
            break;
        }
        if budget.fetch_sub(1, std::sync::atomic::Ordering::Relaxed) == 0 {
            budget.store(0, std::sync::atomic::Ordering::Relaxed);
            break;
        }
        r.issued += 1;
        let t0 = match pace {
            None => Instant::now(),
            Some(p) => {
                // Early: wait for the slot's time and time from the actual
                // send (the client's timer is not the server's latency).
                // Late: time from when the request should have started.
                let t = if next > Instant::now() {
                    tokio::time::sleep_until(next.into()).await;
                    Instant::now()
                } else {
                    next
                };
                next += p;
                t
            }
        };
        let res: Result<(), ErrorCode> = match w {
            Workload::Create => {
                seq += 1;
                let p = format!("{}/c/{tag}-{id}-{seq}", a.prefix);
                c.create(&p, Some(&value), &acl, CreateMode::Persistent, None)
                    .await
                    .map(|_| ())
            }
            Workload::Set => {
                let p = key_path(&a.prefix, rng.gen_range(0..keyspace));
                c.set_data(&p, Some(&value), -1).await.map(|_| ())
            }
            Workload::Get => {
                let p = key_path(&a.prefix, rng.gen_range(0..keyspace));
                c.get_data(&p, false).await.map(|_| ())
            }
            Workload::Exists => {
                let p = key_path(&a.prefix, rng.gen_range(0..keyspace));
                match c.exists(&p, false).await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err(ErrorCode::NoNode),
                    Err(e) => Err(e),
                }
            }
            Workload::Children => c.get_children(&children, false).await.map(|_| ()),
            Workload::Mix => {
                let p = key_path(&a.prefix, rng.gen_range(0..keyspace));
                if rng.gen_range(0..100) < a.read_pct {
                    c.get_data(&p, false).await.map(|_| ())
                } else {
                    c.set_data(&p, Some(&value), -1).await.map(|_| ())
                }
            }
        };
        let t1 = Instant::now();
        let measured = t0 >= start_measure && t1 <= end;
        match res {
            Ok(()) => {
                consecutive_errors = 0;
                if measured {
                    let us = (t1 - t0).as_micros().max(1) as u64;
                    let _ = r.hist.record(us.min(3_600_000_000));
                    r.ops += 1;
                }
            }
            Err(e) => {
                if measured {
                    *r.errors.entry(format!("{e:?}")).or_insert(0) += 1;
                }
                consecutive_errors += 1;
                if consecutive_errors > 1000 {
                    *r.errors.entry("gave-up".into()).or_insert(0) += 1;
                    break;
                }
                if matches!(e, ErrorCode::ConnectionLoss | ErrorCode::RequestTimeout) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
    r
}

async fn run_workload(cli: &Cli, w: Workload, a: &RunArgs) -> anyhow::Result<Value> {
    if a.sessions == 0 || a.inflight == 0 {
        bail!("--sessions and --inflight must be at least 1");
    }
    if !(a.duration > 0.0 && a.duration <= 3600.0 && a.warmup >= 0.0 && a.warmup <= 600.0) {
        bail!("--duration must be in (0, 3600] s and --warmup in [0, 600] s");
    }
    let clients = connect_sessions(&cli.server, a.sessions, a.session_timeout, cli.spread).await?;
    setup(w, &clients, a).await?;
    let args = Arc::new(a.clone());
    let value = Arc::new(vec![b'x'; a.value_size]);
    let budget = Arc::new(std::sync::atomic::AtomicU64::new(a.max_ops));
    let begin = Instant::now();
    let start_measure = begin + Duration::from_secs_f64(a.warmup);
    let end = start_measure + Duration::from_secs_f64(a.duration);
    let mut set = tokio::task::JoinSet::new();
    let mut id = 0;
    for c in &clients {
        for _ in 0..a.inflight {
            set.spawn(worker(
                w,
                c.clone(),
                args.clone(),
                id,
                start_measure,
                end,
                budget.clone(),
                value.clone(),
            ));
            id += 1;
        }
    }
    tokio::time::sleep_until(start_measure.into()).await;
    let cpu0 = cpu_sample(&cli.pid);
    let m0 = Instant::now();
    tokio::time::sleep_until(end.into()).await;
    let cpu1 = cpu_sample(&cli.pid);
    let window = m0.elapsed().as_secs_f64();
    let mut hist = new_hist();
    let mut ops = 0;
    let mut issued = 0;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    // Workers stop at `end`; the ones waiting on a reply finish with it
    // (bounded by the 30 s request timeout).
    while let Some(r) = set.join_next().await {
        let r = r.map_err(|e| anyhow!("worker failed: {e}"))?;
        let _ = hist.add(&r.hist);
        ops += r.ops;
        issued += r.issued;
        for (k, v) in r.errors {
            *errors.entry(k).or_insert(0) += v;
        }
    }
    close_sessions(clients).await;
    let error_total: u64 = errors.values().sum();
    let server_cpu = match (cpu0.server, cpu1.server) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let client_cpu = match (cpu0.client, cpu1.client) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let per_1k = |cpu: Option<f64>| cpu.filter(|_| ops > 0).map(|c| c * 1000.0 / ops as f64);
    Ok(json!({
        "kind": "workload",
        "server": cli.label,
        "workload": w.name(),
        "sessions": a.sessions,
        "inflight": a.inflight,
        "rate": if a.rate > 0.0 { json!(a.rate) } else { Value::Null },
        "value_size": a.value_size,
        "keyspace": a.keyspace,
        "read_pct": if w == Workload::Mix { json!(a.read_pct) } else { Value::Null },
        "window_s": window,
        "ops": ops,
        "issued": issued,
        "ops_per_s": ops as f64 / window,
        "lat_ms": {
            "p50": hist.value_at_quantile(0.50) as f64 / 1000.0,
            "p99": hist.value_at_quantile(0.99) as f64 / 1000.0,
            "p999": hist.value_at_quantile(0.999) as f64 / 1000.0,
            "max": hist.max() as f64 / 1000.0,
            "mean": hist.mean() / 1000.0,
        },
        "errors": errors,
        "errors_total": error_total,
        "server_cpu_s": server_cpu,
        "server_cpu_s_per_1k": per_1k(server_cpu),
        "client_cpu_s_per_1k": per_1k(client_cpu),
    }))
}

// ---------------------------------------------------------------- load

fn load_path(prefix: &str, i: u64) -> String {
    format!("{prefix}/b{:04}/n{:03}", i / 1000, i % 1000)
}

async fn run_load(cli: &Cli, a: &LoadArgs) -> anyhow::Result<Value> {
    if a.sessions == 0 || a.inflight == 0 {
        bail!("--sessions and --inflight must be at least 1");
    }
    let deadline = Instant::now() + Duration::from_secs_f64(a.timeout.clamp(1.0, 86_400.0));
    let clients = connect_sessions(&cli.server, a.sessions, 30_000, cli.spread).await?;
    let end = a.start.saturating_add(a.n);
    let c = &clients[0];
    ensure(c, &a.prefix, b"").await?;
    let t0 = Instant::now();
    let cpu0 = cpu_sample(&cli.pid);
    // Buckets first (1,000 children each), then the znodes.
    let first_bucket = a.start / 1000;
    let last_bucket = end.div_ceil(1000);
    let prefix = a.prefix.clone();
    create_many(
        &clients,
        a.inflight,
        Arc::new(move |b| format!("{prefix}/b{b:04}")),
        first_bucket..last_bucket,
        Arc::new(Vec::new()),
        deadline,
    )
    .await?;
    let prefix = a.prefix.clone();
    let made = create_many(
        &clients,
        a.inflight,
        Arc::new(move |i| load_path(&prefix, i)),
        a.start..end,
        Arc::new(vec![b'd'; a.value_size]),
        deadline,
    )
    .await?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_sample(&cli.pid);
    close_sessions(clients).await;
    let server_cpu = match (cpu0.server, cpu1.server) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    Ok(json!({
        "kind": "load",
        "server": cli.label,
        "start": a.start,
        "n": a.n,
        "created": made,
        "value_size": a.value_size,
        "seconds": secs,
        "ops_per_s": a.n as f64 / secs,
        "server_cpu_s": server_cpu,
        "rss_bytes": (!cli.pid.is_empty())
            .then(|| cli.pid.iter().map(|&p| proc_rss_bytes(p)).sum::<Option<u64>>())
            .flatten(),
    }))
}

// ---------------------------------------------------------------- fsync

fn fsync_probe(a: &FsyncArgs) -> anyhow::Result<Value> {
    use std::os::unix::fs::FileExt;
    let path = a
        .dir
        .join(format!(".zkbench-fsync-probe-{}", std::process::id()));
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    struct Remove<'a>(&'a Path);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _guard = Remove(&path);
    // Like a txn log: preallocated to 64 MiB, appended to in place, made
    // durable with fdatasync.
    let size = a.size.clamp(1, 1 << 20) as u64;
    let prealloc = 64 << 20;
    match a.prealloc.as_str() {
        "sparse" => f.set_len(prealloc)?,
        "zeros" => {
            let zeros = vec![0u8; 1 << 20];
            for i in 0..(prealloc >> 20) {
                f.write_all_at(&zeros, i << 20)?;
            }
        }
        other => anyhow::bail!("--prealloc {other}: expected sparse or zeros"),
    }
    f.sync_all()?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let beside = (a.beside_mib > 0).then(|| {
        let (dir, mib, flush, rate, stop) = (
            a.dir.clone(),
            a.beside_mib,
            a.beside_flush_mib,
            a.beside_mib_per_s,
            stop.clone(),
        );
        std::thread::spawn(move || beside_writer(&dir, mib, flush, rate, &stop))
    });
    struct Stop(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let stop_guard = Stop(stop);
    let buf = vec![0x5a_u8; size as usize];
    let mut hist = new_hist();
    let deadline = Instant::now() + Duration::from_secs_f64(a.seconds.clamp(0.1, 600.0));
    let mut off = 0u64;
    for _ in 0..a.count.max(1) {
        if Instant::now() > deadline {
            break;
        }
        if off + size > prealloc {
            off = 0;
        }
        let t0 = Instant::now();
        f.write_all_at(&buf, off)?;
        f.sync_data()?;
        let us = t0.elapsed().as_micros().max(1) as u64;
        let _ = hist.record(us.min(3_600_000_000));
        off += size;
    }
    drop(stop_guard);
    let beside_files = match beside {
        Some(h) => h
            .join()
            .map_err(|_| anyhow::anyhow!("beside-writer panicked"))??,
        None => 0,
    };
    Ok(json!({
        "kind": "fsync",
        "prealloc": a.prealloc,
        "beside_mib": a.beside_mib,
        "beside_flush_mib": a.beside_flush_mib,
        "beside_mib_per_s": a.beside_mib_per_s,
        "beside_files": beside_files,
        "dir": a.dir.display().to_string(),
        "rounds": hist.len(),
        "write_size": size,
        "lat_ms": {
            "p50": hist.value_at_quantile(0.50) as f64 / 1000.0,
            "p99": hist.value_at_quantile(0.99) as f64 / 1000.0,
            "max": hist.max() as f64 / 1000.0,
            "mean": hist.mean() / 1000.0,
        },
    }))
}

/// Writes `mib`-MiB files in `dir` until `stop`, as a snapshot is written
/// (256 KiB buffered writes, fsync at the end), optionally pushing the data
/// out every `flush_mib` MiB with sync_file_range. Returns how many files it
/// finished.
fn beside_writer(
    dir: &Path,
    mib: u64,
    flush_mib: u64,
    mib_per_s: u64,
    stop: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<u64> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let path = dir.join(format!(".zkbench-beside-{}", std::process::id()));
    let chunk = vec![0xa5_u8; 256 << 10];
    let mut files = 0;
    let (started, mut total) = (Instant::now(), 0u64);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let mut f = std::fs::File::create(&path)?;
        let (mut written, mut flushed) = (0u64, 0u64);
        while written < mib << 20 && !stop.load(std::sync::atomic::Ordering::Relaxed) {
            f.write_all(&chunk)?;
            written += chunk.len() as u64;
            total += chunk.len() as u64;
            if mib_per_s > 0 {
                let due = Duration::from_secs_f64(total as f64 / (mib_per_s << 20) as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            if flush_mib > 0 && written - flushed >= flush_mib << 20 {
                // Start writing this range; wait for the one before it.
                // SAFETY: plain syscalls on an open fd.
                unsafe {
                    libc::sync_file_range(
                        f.as_raw_fd(),
                        flushed as i64,
                        (written - flushed) as i64,
                        libc::SYNC_FILE_RANGE_WRITE,
                    );
                    if flushed > 0 {
                        let prev = (flush_mib << 20).min(flushed);
                        libc::sync_file_range(
                            f.as_raw_fd(),
                            (flushed - prev) as i64,
                            prev as i64,
                            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                                | libc::SYNC_FILE_RANGE_WRITE
                                | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                        );
                    }
                }
                flushed = written;
            }
        }
        f.sync_all()?;
        files += 1;
    }
    let _ = std::fs::remove_file(&path);
    Ok(files)
}

// ---------------------------------------------------------------- wait-ready

async fn ruok(server: &str) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(server).await.ok()?;
        s.write_all(b"ruok").await.ok()?;
        let mut buf = Vec::with_capacity(8);
        (&mut s).take(16).read_to_end(&mut buf).await.ok()?;
        Some(buf == b"imok")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Some(true))
    )
}

async fn wait_ready(cli: &Cli, a: &WaitArgs) -> anyhow::Result<Value> {
    let now_ns = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    };
    let since = a.since_ns.unwrap_or_else(now_ns);
    let deadline = Instant::now() + Duration::from_secs_f64(a.timeout.clamp(0.1, 3600.0));
    let mut imok_ns = None;
    while !a.write && Instant::now() < deadline {
        if ruok(&cli.server).await {
            imok_ns = Some(now_ns());
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if imok_ns.is_none() && !a.write {
        bail!("no imok from {} within {} s", cli.server, a.timeout);
    }
    let mut served_ns = None;
    while Instant::now() < deadline {
        let opts = ClientOptions {
            request_timeout_ms: Some(10_000),
            ..ClientOptions::default()
        };
        let (c, _events) =
            Client::new(&cli.server, opts).map_err(|e| anyhow!("connect string: {e:?}"))?;
        let ok = c.wait_connected(Duration::from_secs(10)).await.is_ok()
            && if a.write {
                let p = format!("/zkbench-ready-{}", now_ns());
                let acl = Acl::open_unsafe();
                let made = c
                    .create(&p, Some(b""), &acl, CreateMode::Persistent, None)
                    .await
                    .is_ok();
                if made {
                    let _ = c.delete(&p, -1).await;
                }
                made
            } else {
                c.get_data(&a.path, false).await.is_ok()
            };
        let _ = tokio::time::timeout(Duration::from_secs(2), c.close()).await;
        if ok {
            served_ns = Some(now_ns());
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let Some(served_ns) = served_ns else {
        bail!("getData {} never succeeded on {}", a.path, cli.server);
    };
    let ms = |t: u128| t.saturating_sub(since) as f64 / 1e6;
    Ok(json!({
        "kind": "ready",
        "server": cli.label,
        "name": a.name,
        "path": a.path,
        "imok_ms": imok_ns.map(ms),
        "write": a.write,
        "ready_ms": ms(served_ns),
    }))
}

// ---------------------------------------------------------------- report

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_f64()
}

fn fmt_num(x: Option<f64>) -> String {
    match x {
        None => "—".into(),
        Some(x) if x.is_infinite() => "∞".into(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        Some(x) if x.abs() >= 1000.0 => format!("{:.0}", x),
        Some(x) if x.abs() >= 10.0 => format!("{:.1}", x),
        Some(x) if x.abs() >= 0.1 => format!("{:.2}", x),
        Some(x) => format!("{:.3}", x),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "—".into())
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "",
    }
}

/// What repeated workload runs of one server are grouped by, and what our
/// runs are paired with ZooKeeper's by.
type WorkloadKey = (Value, Value, Value, Value, Value);

fn workload_key(r: &Value) -> WorkloadKey {
    (
        r["workload"].clone(),
        r["sessions"].clone(),
        r["inflight"].clone(),
        r["read_pct"].clone(),
        r["rate"].clone(),
    )
}

fn runs_of<'a>(runs: &[&'a Value], key: &WorkloadKey) -> Vec<&'a Value> {
    runs.iter()
        .copied()
        .filter(|r| workload_key(r) == *key)
        .collect()
}

/// The run with the median ops/s (the lower middle one of an even count),
/// and the number of runs; None for no runs.
fn median_run<'a>(runs: &[&'a Value]) -> Option<(&'a Value, usize)> {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| {
        let ops = |r: &Value| num(r, &["ops_per_s"]).unwrap_or(f64::NEG_INFINITY);
        ops(a).total_cmp(&ops(b))
    });
    let n = sorted.len();
    sorted.get(n.saturating_sub(1) / 2).map(|r| (*r, n))
}

fn report(a: &ReportArgs) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("reading {}", a.file.display()))?;
    Ok(report_text(&text, &a.ours, &a.theirs, a.ensemble))
}

/// The median of some values (the lower middle one), and the largest.
fn median_max(mut v: Vec<f64>) -> Option<(f64, f64)> {
    v.sort_by(f64::total_cmp);
    Some((*v.get((v.len().max(1) - 1) / 2)?, *v.last()?))
}

/// The failover rounds (`zkbench failover`) of both servers, by name:
/// median and max over the rounds.
fn failover_rows(rows: &[Value], ours: &str, theirs: &str) -> String {
    let mut names: Vec<&str> = Vec::new();
    for r in rows.iter().filter(|r| r["kind"] == "failover") {
        if let Some(n) = r["name"].as_str() {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    let mut out = String::new();
    for name in names {
        let runs = |server: &str| -> Vec<&Value> {
            rows.iter()
                .filter(|r| r["kind"] == "failover" && r["server"] == server && r["name"] == name)
                .collect()
        };
        let of = |server: &str, field: &str| {
            median_max(
                runs(server)
                    .iter()
                    .map(|r| num(r, &[field]).unwrap_or(f64::INFINITY))
                    .collect(),
            )
        };
        let rounds = runs(ours).len();
        for (field, what) in [
            (
                "first_write_new_leader_ms",
                "leader kill -9 → first write acknowledged by the new leader",
            ),
            (
                "every_session_back_ms",
                "leader kill -9 → every session has written again",
            ),
        ] {
            let (o, t) = (of(ours, field), of(theirs, field));
            let r = ratio(t.map(|x| x.0), o.map(|x| x.0));
            let target = if field == "first_write_new_leader_ms" {
                format!(
                    "median < 1 s and ≤ ⅓ of ZK: {}",
                    verdict(o.zip(r).map(|(o, r)| o.0 < 1000.0 && r >= 3.0))
                )
            } else {
                String::new()
            };
            let mm = |x: Option<(f64, f64)>| match x {
                Some((m, x)) => format!("{} / {}", fmt_num(Some(m)), fmt_num(Some(x))),
                None => "—".into(),
            };
            out.push_str(&format!(
                "| {name}: {what}, median / max of {rounds} rounds (ms; a session that never wrote again counts as ∞) | {} | {} | {} faster | {target} |\n",
                mm(o),
                mm(t),
                fmt_ratio(r),
            ));
        }
    }
    out
}

/// The markdown report of a results file's `text` (JSON lines). Workload runs
/// repeated with the same (workload, sessions, inflight, read_pct) on one
/// server become one row: that server's median run by ops/s, latency and CPU
/// included, with the number of runs.
fn report_text(text: &str, ours_label: &str, theirs_label: &str, ensemble: bool) -> String {
    let rows: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of = |kind: &str, server: &str| -> Vec<&Value> {
        rows.iter()
            .filter(|r| r["kind"] == kind && r["server"] == server)
            .collect()
    };
    let mut out = String::new();
    let fsync = rows.iter().rev().find(|r| r["kind"] == "fsync");
    let fsync_p50 = fsync.and_then(|f| num(f, &["lat_ms", "p50"]));

    // Workloads: same (workload, sessions, inflight, read_pct) on both
    // servers, each server's median run of that key.
    out.push_str(
        "| workload | sessions×inflight | ops/s ours | ops/s ZK | ratio | p50 / p99 / p99.9 / max ms ours | p50 / p99 / p99.9 / max ms ZK | p99 ratio | CPU s/1k ops ours | CPU s/1k ops ZK | CPU ratio | zkbench CPU s/1k ops ours / ZK | errors ours / ZK | target |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---|---|---:|---:|---:|---:|---|---|---|\n");
    let ours = of("workload", ours_label);
    let theirs = of("workload", theirs_label);
    let mut keys: Vec<WorkloadKey> = Vec::new();
    for o in &ours {
        let k = workload_key(o);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for key in &keys {
        let (Some((o, n_ours)), Some((t, n_theirs))) = (
            median_run(&runs_of(&ours, key)),
            median_run(&runs_of(&theirs, key)),
        ) else {
            continue;
        };
        let runs = if n_ours != n_theirs {
            format!(" (median of {n_ours} ours / {n_theirs} ZK)")
        } else if n_ours > 1 {
            format!(" (median of {n_ours})")
        } else {
            String::new()
        };
        let w = o["workload"].as_str().unwrap_or("?");
        let sessions = num(o, &["sessions"]).unwrap_or(0.0);
        let inflight = num(o, &["inflight"]).unwrap_or(0.0);
        let tput = ratio(num(o, &["ops_per_s"]), num(t, &["ops_per_s"]));
        let p99 = ratio(num(o, &["lat_ms", "p99"]), num(t, &["lat_ms", "p99"]));
        let cpu = ratio(
            num(o, &["server_cpu_s_per_1k"]),
            num(t, &["server_cpu_s_per_1k"]),
        );
        let lat = |r: &Value| {
            ["p50", "p99", "p999", "max"]
                .iter()
                .map(|q| fmt_num(num(r, &["lat_ms", q])))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let writes = matches!(w, "create" | "set");
        let reads = matches!(w, "get" | "exists" | "children");
        let single = sessions == 1.0 && inflight == 1.0;
        let paced = num(o, &["rate"]);
        let target = if let Some(rate) = paced {
            // Both servers offered the same load: the latency comparison
            // the throughput rows cannot make (there ours carries more).
            format!(
                "p99 ≤ ZK at the same offered load ({} ops/s): {}",
                fmt_num(Some(rate)),
                verdict(p99.map(|p| p <= 1.0))
            )
        } else if single && w == "set" {
            // A synchronous writer over TCP waits for a round trip and an
            // fsync, so what the disk allows it is the fsync latency plus the
            // round trip of a read (get 1x1, same server, same run; the
            // median run, as for this row).
            let p50 = num(o, &["lat_ms", "p50"]);
            let gets: Vec<&Value> = ours
                .iter()
                .copied()
                .filter(|r| {
                    r["workload"] == "get"
                        && num(r, &["sessions"]) == Some(1.0)
                        && num(r, &["inflight"]) == Some(1.0)
                })
                .collect();
            let rtt = median_run(&gets).and_then(|(r, _)| num(r, &["lat_ms", "p50"]));
            match (p50, fsync_p50, rtt) {
                (Some(l), Some(f), Some(r)) => format!(
                    "p50 {} ms vs fsync p50 {} + read round trip p50 {} = {} ms (≤ +10%): {}",
                    fmt_num(Some(l)),
                    fmt_num(Some(f)),
                    fmt_num(Some(r)),
                    fmt_num(Some(f + r)),
                    verdict(Some(l <= (f + r) * 1.10))
                ),
                (Some(l), Some(f), None) => format!(
                    "p50 {} ms vs fsync p50 {} ms (≤ +10%): {}",
                    fmt_num(Some(l)),
                    fmt_num(Some(f)),
                    verdict(Some(l <= f * 1.10))
                ),
                _ => String::new(),
            }
        } else if writes && (sessions == 16.0 || sessions == 64.0) {
            format!(
                "≥2× and p99 ≤ ZK: {}",
                verdict(tput.zip(p99).map(|(t, p)| t >= 2.0 && p <= 1.0))
            )
        } else if reads && !single {
            let want = if ensemble { 2.0 } else { 1.5 };
            format!(
                "≥{want}× and CPU ≤ ½: {}",
                verdict(tput.zip(cpu).map(|(t, c)| t >= want && c <= 0.5))
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "| {w}{}{} | {}×{}{runs} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} | {} |\n",
            match num(o, &["read_pct"]) {
                Some(p) => format!(" {p:.0}/{:.0}", 100.0 - p),
                None => String::new(),
            },
            match paced {
                Some(r) => format!(" paced at {} ops/s", fmt_num(Some(r))),
                None => String::new(),
            },
            sessions,
            inflight,
            fmt_num(num(o, &["ops_per_s"])),
            fmt_num(num(t, &["ops_per_s"])),
            fmt_ratio(tput),
            lat(o),
            lat(t),
            fmt_ratio(p99),
            fmt_num(num(o, &["server_cpu_s_per_1k"])),
            fmt_num(num(t, &["server_cpu_s_per_1k"])),
            fmt_ratio(cpu),
            fmt_num(num(o, &["client_cpu_s_per_1k"])),
            fmt_num(num(t, &["client_cpu_s_per_1k"])),
            fmt_num(num(o, &["errors_total"])),
            fmt_num(num(t, &["errors_total"])),
            target,
        ));
    }

    // Everything else: one row per measurement.
    out.push_str(
        "\n| measurement | ours | ZK | ratio ours/ZK | target |\n|---|---:|---:|---:|---|\n",
    );
    if let Some(f) = fsync {
        out.push_str(&format!(
            "| disk fdatasync latency p50 / p99 ms ({} B writes, {} rounds) | {} / {} | (same disk) | | |\n",
            fmt_num(num(f, &["write_size"])),
            fmt_num(num(f, &["rounds"])),
            fmt_num(num(f, &["lat_ms", "p50"])),
            fmt_num(num(f, &["lat_ms", "p99"])),
        ));
    }
    for l in of("load", ours_label) {
        let n = num(l, &["n"]);
        let start = num(l, &["start"]);
        if let Some(t) = of("load", theirs_label)
            .into_iter()
            .rev()
            .find(|t| num(t, &["n"]) == n && num(t, &["start"]) == start)
        {
            let r = ratio(num(l, &["ops_per_s"]), num(t, &["ops_per_s"]));
            out.push_str(&format!(
                "| bulk create znodes {}..{} (creates/s) | {} | {} | {} | |\n",
                fmt_num(start),
                fmt_num(start.zip(n).map(|(s, n)| s + n)),
                fmt_num(num(l, &["ops_per_s"])),
                fmt_num(num(t, &["ops_per_s"])),
                fmt_ratio(r),
            ));
        }
    }
    let note = |server: &str, name: &str| -> Option<&Value> {
        rows.iter()
            .rev()
            .find(|r| r["kind"] == "note" && r["server"] == server && r["name"] == name)
    };
    let names: Vec<String> = rows
        .iter()
        .filter(|r| r["kind"] == "note")
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for name in names {
        if !seen.insert(name.clone()) {
            continue;
        }
        let o = note(ours_label, &name);
        let t = note(theirs_label, &name);
        let ov = o.and_then(|v| num(v, &["value"]));
        let tv = t.and_then(|v| num(v, &["value"]));
        let unit = o.or(t).and_then(|v| v["unit"].as_str()).unwrap_or_default();
        let r = ratio(ov, tv);
        let target = if name == "RSS per znode at 1M" {
            format!("≤ 0.25×: {}", verdict(r.map(|r| r <= 0.25)))
        } else {
            String::new()
        };
        out.push_str(&format!(
            "| {name}{} | {} | {} | {} | {target} |\n",
            if unit.is_empty() {
                String::new()
            } else {
                format!(" ({unit})")
            },
            fmt_num(ov),
            fmt_num(tv),
            fmt_ratio(r),
        ));
    }
    // Readiness, by name; a name measured several times (rounds) shows the
    // median round of each server.
    let mut ready_names: Vec<&str> = Vec::new();
    for o in of("ready", ours_label) {
        let name = o["name"].as_str().unwrap_or("ready");
        if !ready_names.contains(&name) {
            ready_names.push(name);
        }
    }
    for name in ready_names {
        let median_of = |server: &str| -> Option<(&Value, usize)> {
            let mut v: Vec<&Value> = of("ready", server)
                .into_iter()
                .filter(|r| r["name"].as_str() == Some(name))
                .collect();
            v.sort_by(|a, b| {
                num(a, &["ready_ms"])
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&num(b, &["ready_ms"]).unwrap_or(f64::INFINITY))
            });
            let n = v.len();
            v.get((n.max(1) - 1) / 2).map(|r| (*r, n))
        };
        let (Some((o, n)), Some((t, _))) = (median_of(ours_label), median_of(theirs_label)) else {
            continue;
        };
        let ov = num(o, &["ready_ms"]);
        let tv = num(t, &["ready_ms"]);
        let r = ratio(tv, ov);
        let imok = |r: &Value| match num(r, &["imok_ms"]) {
            Some(i) => format!("{} / ", fmt_num(Some(i))),
            None => String::new(),
        };
        let step = if o["write"] == true {
            "start → first write acknowledged"
        } else {
            "process start → imok / getData ok"
        };
        out.push_str(&format!(
            "| {name}: {step} (ms){} | {}{} | {}{} | {} faster | {} |\n",
            if n > 1 {
                format!(", median of {n}")
            } else {
                String::new()
            },
            imok(o),
            fmt_num(ov),
            imok(t),
            fmt_num(tv),
            fmt_ratio(r),
            if name == "recovery 1M" || name.starts_with("SNAP catch-up") {
                format!("≥ 3× faster: {}", verdict(r.map(|r| r >= 3.0)))
            } else if name.starts_with("cold start") {
                format!("≤ ⅓ of ZK: {}", verdict(r.map(|r| r >= 3.0)))
            } else {
                String::new()
            }
        ));
    }
    out.push_str(&failover_rows(&rows, ours_label, theirs_label));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One workload row as `run_workload` writes it (the fields the report reads).
    fn run(server: &str, w: &str, sessions: u32, inflight: u32, ops: f64, p50: f64) -> String {
        json!({
            "kind": "workload", "server": server, "workload": w,
            "sessions": sessions, "inflight": inflight, "value_size": 100, "keyspace": 10000,
            "read_pct": if w == "mix" { json!(90) } else { Value::Null },
            "window_s": 8.0, "ops": (ops * 8.0) as u64, "issued": (ops * 8.0) as u64,
            "ops_per_s": ops,
            "lat_ms": { "p50": p50, "p99": p50 * 4.0, "p999": p50 * 8.0, "max": p50 * 20.0, "mean": p50 * 1.2 },
            "errors": {}, "errors_total": 0,
            "server_cpu_s": 1.0, "server_cpu_s_per_1k": 1000.0 / ops, "client_cpu_s_per_1k": 500.0 / ops,
        })
        .to_string()
    }

    /// Interleaved runs (zk, ours, zk, ours, ...) as scripts/bench.sh writes them.
    fn synthetic() -> String {
        let mut lines = vec![
            json!({"kind": "ready", "server": "zk", "name": "start (empty dataDir, 16 sessions)", "path": "/", "imok_ms": 900.0, "ready_ms": 1000.0}).to_string(),
            json!({"kind": "ready", "server": "ours", "name": "start (empty dataDir, 16 sessions)", "path": "/", "imok_ms": 9.0, "ready_ms": 10.0}).to_string(),
        ];
        // set 16×4: medians 50000 (ours, p50 1.0) and 28000 (zk, p50 2.0);
        // the last run of each is neither.
        for (z, o) in [
            ((28000.0, 2.0), (50000.0, 1.0)),
            ((31000.0, 1.8), (70000.0, 0.7)),
            ((18000.0, 3.0), (30000.0, 1.6)),
        ] {
            lines.push(run("zk", "set", 16, 4, z.0, z.1));
            lines.push(run("ours", "set", 16, 4, o.0, o.1));
        }
        // mix 16×4 90/10: one run each, no "median of".
        lines.push(run("zk", "mix", 16, 4, 35000.0, 1.5));
        lines.push(run("ours", "mix", 16, 4, 90000.0, 0.6));
        lines.push(
            json!({"kind": "fsync", "dir": "/tmp", "rounds": 2000, "write_size": 1024,
                   "lat_ms": {"p50": 0.12, "p99": 0.30, "max": 1.0, "mean": 0.13}})
            .to_string(),
        );
        // set 1×1: median 4500 ours (p50 0.21), 2600 zk (p50 0.36).
        for (z, o) in [
            ((2600.0, 0.36), (4500.0, 0.21)),
            ((2700.0, 0.35), (4800.0, 0.20)),
            ((1500.0, 0.60), (3000.0, 0.33)),
        ] {
            lines.push(run("zk", "set", 1, 1, z.0, z.1));
            lines.push(run("ours", "set", 1, 1, o.0, o.1));
        }
        // get 1×1: median 12000 ours (p50 0.080); zk has 2 runs, the lower
        // middle of which is 5000.
        for (z, o) in [
            (Some((5500.0, 0.17)), (12000.0, 0.080)),
            (Some((5000.0, 0.19)), (9000.0, 0.11)),
            (None, (13000.0, 0.075)),
        ] {
            if let Some(z) = z {
                lines.push(run("zk", "get", 1, 1, z.0, z.1));
            }
            lines.push(run("ours", "get", 1, 1, o.0, o.1));
        }
        lines.join("\n") + "\n"
    }

    #[test]
    fn median_run_picks_lower_middle() {
        let rows: Vec<Value> = [3.0, 1.0, 4.0, 2.0]
            .iter()
            .map(|x| json!({ "ops_per_s": x }))
            .collect();
        let refs: Vec<&Value> = rows.iter().collect();
        let (m, n) = median_run(&refs).unwrap();
        assert_eq!((num(m, &["ops_per_s"]), n), (Some(2.0), 4));
        let (m, n) = median_run(&refs[..3]).unwrap();
        assert_eq!((num(m, &["ops_per_s"]), n), (Some(3.0), 3));
        assert!(median_run(&[]).is_none());
    }

    #[test]
    fn report_one_row_per_key_with_median_run() {
        let out = report_text(&synthetic(), "ours", "zk", false);
        println!("{out}");
        let rows = |prefix: &str| out.lines().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(rows("| set | 16×4"), 1);
        assert_eq!(rows("| set | 1×1"), 1);
        assert_eq!(rows("| get | 1×1"), 1);
        assert_eq!(rows("| mix 90/10 | 16×4"), 1);
        // Median runs, their latency and CPU, and the number of runs.
        assert!(out.contains(
            "| set | 16×4 (median of 3) | 50000 | 28000 | 1.79× | 1 / 4 / 8 / 20 | 2 / 8 / 16 / 40 | 0.50× | 0.020 | 0.036 | 0.56× |"
        ));
        assert!(out.contains("| mix 90/10 | 16×4 | 90000 | 35000 |"));
        assert!(out.contains("| get | 1×1 (median of 3 ours / 2 ZK) | 12000 | 5000 |"));
        // Single-writer target from the median set and get 1×1 runs of ours.
        assert!(out.contains(
            "| set | 1×1 (median of 3) | 4500 | 2600 | 1.73× | 0.21 / 0.84 / 1.68 / 4.20 |"
        ));
        assert!(out.contains(
            "p50 0.21 ms vs fsync p50 0.12 + read round trip p50 0.080 = 0.20 ms (≤ +10%): met"
        ));
        assert!(out.contains("| start (empty dataDir, 16 sessions): process start"));
        // Rows keep the order in which their keys first appear.
        let pos = |s: &str| out.find(s).unwrap();
        assert!(pos("| set | 16×4") < pos("| mix 90/10 | 16×4"));
        assert!(pos("| mix 90/10 | 16×4") < pos("| set | 1×1"));
        assert!(pos("| set | 1×1") < pos("| get | 1×1"));
    }

    #[test]
    fn report_failover_rounds_as_median_and_max() {
        let mut lines = Vec::new();
        for (server, firsts) in [
            ("ours", [300.0, 500.0, 400.0]),
            ("zk", [2000.0, 2600.0, 2200.0]),
        ] {
            for f in firsts {
                lines.push(
                    json!({"kind": "failover", "server": server, "name": "failover",
                           "first_write_new_leader_ms": f, "every_session_back_ms": f * 2.0})
                    .to_string(),
                );
            }
        }
        lines.push(
            json!({"kind": "failover", "server": "ours", "name": "failover",
                          "first_write_new_leader_ms": 450.0, "every_session_back_ms": null})
            .to_string(),
        );
        let out = report_text(&lines.join("\n"), "ours", "zk", true);
        let first = out
            .lines()
            .find(|l| l.contains("first write acknowledged"))
            .unwrap();
        // ours: 300, 400, 450, 500 -> lower median 400; ZK: 2000, 2200, 2600 -> 2200.
        assert!(
            first.contains("| 400 / 500 | 2200 / 2600 | 5.50× faster |"),
            "{first}"
        );
        assert!(
            first.contains("PASS") || first.contains("✓") || first.contains("met"),
            "{first}"
        );
        let every = out.lines().find(|l| l.contains("every session")).unwrap();
        // The round where a session never wrote again counts as infinite.
        assert!(every.contains("800 / ∞"), "{every}");
    }
}
