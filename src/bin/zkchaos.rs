//! `zkchaos`: fault injection on real `zkserver` ensembles with every client
//! history checked. `scripts/chaos.sh` is the usual way in; see
//! `zkcli::chaos` for what runs and what is checked.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use zkcli::chaos::cluster::Layout;
use zkcli::chaos::nemesis::Fault;
use zkcli::chaos::run::{run, RunConfig, RunReport};

#[derive(Parser, Debug)]
#[command(
    name = "zkchaos",
    about = "Fault injection on real zkserver ensembles, histories checked"
)]
struct Args {
    /// Total time; runs of --run-seconds follow each other until it is spent.
    #[arg(long, default_value_t = 2.0)]
    minutes: f64,
    /// Length of one run (one fresh ensemble, one fault schedule).
    #[arg(long, default_value_t = 60)]
    run_seconds: u64,
    /// Seed of the first run; run i uses seed + i (its fault schedule and
    /// workload choices).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Exactly this many runs (overrides --minutes).
    #[arg(long)]
    runs: Option<u64>,
    #[arg(long, default_value_t = 3)]
    members: u32,
    /// Register keys.
    #[arg(long, default_value_t = 3)]
    keys: u32,
    /// Register clients (each its own session).
    #[arg(long, default_value_t = 6)]
    clients: u32,
    /// Mean seconds between faults.
    #[arg(long, default_value_t = 6.0)]
    fault_every: f64,
    /// The zkserver binary (default: next to this one).
    #[arg(long)]
    zkserver: Option<PathBuf>,
    /// Where runs keep their data, logs and histories.
    #[arg(long, default_value = "/tmp/zkchaos")]
    dir: PathBuf,
    #[arg(long, default_value_t = 31000)]
    base_port: u16,
    /// Sanity check of the harness itself, a broken system it must catch:
    /// "standalones" runs independent standalone servers behind one connect
    /// string; "early-ack" an ensemble whose leader answers before a quorum
    /// has logged a write (needs --zkserver built with `--features
    /// unsafe-early-ack`; best with --faults leader-alone).
    #[arg(long)]
    broken: Option<String>,
    /// Keep every run's directory, not only failing ones.
    #[arg(long)]
    keep: bool,
    /// Members on their own addresses (127.0.0.11, .12, ...) and network
    /// partitions among the faults; needs a network namespace of its own
    /// (scripts/chaos.sh --partitions runs zkchaos under `unshare -n`).
    #[arg(long)]
    partitions: bool,
    /// Make these members Apache ZooKeeper 3.8 (Debian's package), e.g.
    /// `--apache 1,3`: a mixed ensemble under the same faults. With
    /// --partitions each Apache member runs as a uid of its own, which a
    /// policy-routing rule gives its own source address (Java does not bind
    /// its outgoing quorum connections).
    #[arg(long, value_delimiter = ',')]
    apache: Vec<u32>,
    /// The faults to choose from, by name (default: every one this setup
    /// allows): kill, kill-leader, pause, pause-leader, leader-alone,
    /// damage-log, damage-snapshot, isolate-leader, isolate, bridge, one-way,
    /// disk-full. Partitions need --partitions, disk-full --disk-faults.
    #[arg(long, value_delimiter = ',')]
    faults: Vec<String>,
    /// Each of our members on a small tmpfs of its own, and "disk full"
    /// among the faults; needs a mount namespace of its own
    /// (scripts/chaos.sh runs zkchaos under `unshare -m` when it can).
    #[arg(long)]
    disk_faults: bool,
    /// A Python with kazoo for the independent client (default: the
    /// repository's .venv if it has kazoo; "none" leaves it out).
    #[arg(long)]
    kazoo_python: Option<String>,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let zkserver = a.zkserver.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("zkserver")))
            .unwrap_or_else(|| PathBuf::from("zkserver"))
    });
    if !zkserver.is_file() {
        eprintln!(
            "zkchaos: {} not found (cargo build -p zkserver, or --zkserver)",
            zkserver.display()
        );
        return ExitCode::from(2);
    }
    if !a.apache.is_empty() {
        let jar = zkcli::chaos::cluster::ZK_JAR;
        if !std::path::Path::new(jar).exists() {
            eprintln!(
                "zkchaos: --apache needs Apache ZooKeeper ({jar} missing; scripts/install-deps.sh)"
            );
            return ExitCode::from(2);
        }
        if a.apache.iter().any(|&i| i < 1 || i > a.members) {
            eprintln!("zkchaos: --apache: member ids are 1..{}", a.members);
            return ExitCode::from(2);
        }
    }
    let kazoo_python = match a.kazoo_python.as_deref() {
        Some("none") => None,
        Some(p) => Some(PathBuf::from(p)),
        None => {
            let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
            let has_kazoo = std::process::Command::new(&venv)
                .args(["-c", "import kazoo"])
                .status()
                .is_ok_and(|s| s.success());
            if has_kazoo {
                Some(venv)
            } else {
                eprintln!(
                    "zkchaos: no kazoo in {} (scripts/install-deps.sh): the independent client is left out",
                    venv.display()
                );
                None
            }
        }
    };
    let faults: Vec<Fault> = if a.faults.is_empty() {
        Fault::ALL
            .into_iter()
            .filter(|f| (a.partitions || !f.needs_net()) && (a.disk_faults || !f.needs_disk()))
            .collect()
    } else {
        let mut v = Vec::new();
        for k in &a.faults {
            match Fault::parse(k) {
                Some(f) if f.needs_net() && !a.partitions => {
                    eprintln!("zkchaos: --faults {k} needs --partitions");
                    return ExitCode::from(2);
                }
                Some(f) if f.needs_disk() && !a.disk_faults => {
                    eprintln!("zkchaos: --faults {k} needs --disk-faults");
                    return ExitCode::from(2);
                }
                Some(f) => v.push(f),
                None => {
                    let names: Vec<&str> = Fault::ALL.iter().map(|f| f.key()).collect();
                    eprintln!("zkchaos: unknown fault {k} (known: {})", names.join(", "));
                    return ExitCode::from(2);
                }
            }
        }
        v
    };
    let layout = match a.broken.as_deref() {
        None => Layout::Ensemble,
        Some("standalones") => Layout::Standalones,
        Some("early-ack") => Layout::EarlyAck,
        Some(other) => {
            eprintln!("zkchaos: --broken {other}: 'standalones' and 'early-ack' are known");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let budget = std::time::Duration::from_secs_f64(a.minutes * 60.0);
    let mut i = 0u64;
    let mut total = RunReport::default();
    let mut failed_runs = Vec::new();
    let mut runs = 0u64;
    loop {
        let more = match a.runs {
            Some(n) => i < n,
            None => {
                i == 0
                    || started.elapsed() + std::time::Duration::from_secs(a.run_seconds) <= budget
            }
        };
        if !more {
            break;
        }
        let seed = a.seed + i;
        let dir = a.dir.join(format!("run-{seed}"));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = RunConfig {
            seed,
            seconds: a.run_seconds,
            members: a.members,
            keys: a.keys,
            clients: a.clients,
            layout,
            zkserver: zkserver.clone(),
            dir: dir.clone(),
            base_port: a.base_port,
            fault_every: a.fault_every,
            partitions: a.partitions,
            apache: a.apache.clone(),
            faults: faults.clone(),
            own_disks: a.disk_faults,
            kazoo_python: kazoo_python.clone(),
        };
        let t = Instant::now();
        let r = match run(&cfg) {
            Ok(r) => r,
            Err(e) => {
                // A run that cannot even start would fail the same way
                // again: stop here rather than spin through the budget.
                eprintln!("zkchaos: run {seed} could not run: {e}");
                failed_runs.push((seed, dir));
                runs += 1;
                break;
            }
        };
        runs += 1;
        let ops: u64 = r.ops.values().sum();
        println!(
            "run {seed}: {:.0}s, {} faults, {ops} operations ({} in doubt), {} anomalies, {} undetermined, longest unavailability {} ms",
            t.elapsed().as_secs_f64(),
            r.faults.values().sum::<u64>(),
            r.unknown_ops,
            r.anomalies.len(),
            r.undetermined.len(),
            r.unavailable_ms.iter().max().copied().unwrap_or(0)
        );
        for an in r.anomalies.iter().take(12) {
            println!("  ANOMALY: {an}");
        }
        if r.anomalies.len() > 12 {
            println!("  ... and {} more anomalies", r.anomalies.len() - 12);
        }
        for u in &r.undetermined {
            println!("  undetermined: {u}");
        }
        if !r.anomalies.is_empty() {
            failed_runs.push((seed, dir.clone()));
        } else if !a.keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
        for (k, v) in &r.faults {
            *total.faults.entry(k).or_default() += v;
        }
        for (k, v) in &r.ops {
            *total.ops.entry(k).or_default() += v;
        }
        total.unknown_ops += r.unknown_ops;
        total.lost_acked_writes += r.lost_acked_writes;
        total.anomalies.extend(r.anomalies);
        total.undetermined.extend(r.undetermined);
        total.unavailable_ms.extend(r.unavailable_ms);
        i += 1;
    }
    println!(
        "\nzkchaos report ({} {}, {:.1} min)",
        runs,
        if runs == 1 { "run" } else { "runs" },
        started.elapsed().as_secs_f64() / 60.0
    );
    println!("  faults injected:");
    for (k, v) in &total.faults {
        println!("    {k:<22} {v}");
    }
    println!("  operations checked:");
    for (k, v) in &total.ops {
        println!("    {k:<22} {v}");
    }
    println!("  operations in doubt:     {}", total.unknown_ops);
    println!("  anomalies:               {}", total.anomalies.len());
    println!("  acknowledged writes lost: {}", total.lost_acked_writes);
    println!("  undetermined checks:     {}", total.undetermined.len());
    let mut u = total.unavailable_ms.clone();
    u.sort_unstable();
    println!(
        "  unavailability windows (>1 s): {}, longest {} ms, median {} ms",
        u.len(),
        u.last().copied().unwrap_or(0),
        u.get(u.len() / 2).copied().unwrap_or(0)
    );
    if failed_runs.is_empty() {
        println!("  result: no anomaly");
        return ExitCode::SUCCESS;
    }
    for (seed, dir) in &failed_runs {
        println!(
            "  FAILED run {seed}: logs and fault schedule in {}; replay: zkchaos --seed {seed} --runs 1 --run-seconds {}{}{}{}",
            dir.display(),
            a.run_seconds,
            match layout {
                Layout::Standalones => " --broken standalones",
                Layout::EarlyAck => " --broken early-ack (zkserver built with --features unsafe-early-ack)",
                Layout::Ensemble => "",
            },
            {
                let mut extra = String::new();
                if !a.faults.is_empty() {
                    extra.push_str(&format!(" --faults {}", a.faults.join(",")));
                }
                if a.disk_faults {
                    extra.push_str(" --disk-faults");
                }
                extra
            },
            {
                let mut extra = String::new();
                if !a.apache.is_empty() {
                    let ids: Vec<String> = a.apache.iter().map(u32::to_string).collect();
                    extra.push_str(&format!(" --apache {}", ids.join(",")));
                }
                if a.partitions {
                    extra.push_str(" --partitions");
                }
                match (a.partitions, a.disk_faults) {
                    (true, true) => extra.push_str(" (under unshare -n -m)"),
                    (true, false) => extra.push_str(" (under unshare -n)"),
                    (false, true) => extra.push_str(" (under unshare -m)"),
                    _ => {}
                }
                extra
            }
        );
    }
    ExitCode::from(1)
}
