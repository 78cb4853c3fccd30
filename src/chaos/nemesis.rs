//! The nemesis: a seeded schedule of faults, one at a time, each held a
//! while and then healed, written to the run's `faults.log` (the seed
//! replays it).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::cluster::{Cluster, Net};
use super::damage;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    KillMember,
    KillLeader,
    PauseMember,
    PauseLeader,
    /// Both followers paused, the leader killed -9 meanwhile, then the
    /// followers resumed: whatever the leader acknowledged must be on a
    /// follower's disk (the fault an early-acking leader cannot survive).
    LeaderDiesFollowersPaused,
    /// kill -9, the newest txn log truncated or a byte flipped, restart.
    DamageLog,
    /// kill -9, a byte flipped in the newest snapshot, restart.
    DamageSnapshot,
    IsolateLeader,
    IsolateMember,
    Bridge,
    OneWay,
    /// The member's own small disk filled up, held, then freed.
    DiskFull,
}

impl Fault {
    pub const ALL: [Fault; 12] = [
        Fault::KillMember,
        Fault::KillLeader,
        Fault::PauseMember,
        Fault::PauseLeader,
        Fault::LeaderDiesFollowersPaused,
        Fault::DamageLog,
        Fault::DamageSnapshot,
        Fault::IsolateLeader,
        Fault::IsolateMember,
        Fault::Bridge,
        Fault::OneWay,
        Fault::DiskFull,
    ];

    /// Its line in the report.
    pub fn name(self) -> &'static str {
        match self {
            Fault::KillMember => "kill -9 a member",
            Fault::KillLeader => "kill -9 the leader",
            Fault::PauseMember => "pause a member",
            Fault::PauseLeader => "pause the leader",
            Fault::LeaderDiesFollowersPaused => "leader killed, followers paused",
            Fault::DamageLog => "damaged txn log",
            Fault::DamageSnapshot => "damaged snapshot",
            Fault::IsolateLeader => "isolate the leader",
            Fault::IsolateMember => "isolate a member",
            Fault::Bridge => "bridge (two cut apart)",
            Fault::OneWay => "one-way cut",
            Fault::DiskFull => "disk full",
        }
    }

    /// Its name for `zkchaos --faults`.
    pub fn key(self) -> &'static str {
        match self {
            Fault::KillMember => "kill",
            Fault::KillLeader => "kill-leader",
            Fault::PauseMember => "pause",
            Fault::PauseLeader => "pause-leader",
            Fault::LeaderDiesFollowersPaused => "leader-alone",
            Fault::DamageLog => "damage-log",
            Fault::DamageSnapshot => "damage-snapshot",
            Fault::IsolateLeader => "isolate-leader",
            Fault::IsolateMember => "isolate",
            Fault::Bridge => "bridge",
            Fault::OneWay => "one-way",
            Fault::DiskFull => "disk-full",
        }
    }

    pub fn parse(key: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.key() == key)
    }

    /// Partitions need the harness's network namespace.
    pub fn needs_net(self) -> bool {
        matches!(
            self,
            Fault::IsolateLeader | Fault::IsolateMember | Fault::Bridge | Fault::OneWay
        )
    }

    /// The disk-full fault needs a tmpfs per member (a mount namespace).
    pub fn needs_disk(self) -> bool {
        self == Fault::DiskFull
    }

    /// Faults that act on a member's files: only on our members.
    fn ours_only(self) -> bool {
        matches!(
            self,
            Fault::DamageLog | Fault::DamageSnapshot | Fault::DiskFull
        )
    }

    fn on_leader(self) -> bool {
        matches!(
            self,
            Fault::KillLeader
                | Fault::PauseLeader
                | Fault::IsolateLeader
                | Fault::LeaderDiesFollowersPaused
        )
    }
}

pub struct Schedule<'a> {
    pub seed: u64,
    /// Mean seconds between faults.
    pub every: f64,
    pub faults: &'a [Fault],
    pub journal: &'a Path,
}

#[derive(Default)]
pub struct Outcome {
    pub faults: BTreeMap<&'static str, u64>,
    /// Harness errors (a partition that did not cut): the run proves nothing.
    pub harness: Vec<String>,
    /// A member that did not come back from a storage fault as it should.
    pub anomalies: Vec<String>,
}

fn nap(secs: f64, stop: &AtomicBool) {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < end && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the schedule until `stop`.
pub fn run(
    cluster: &Mutex<Cluster>,
    net: Option<&Net>,
    stop: &AtomicBool,
    s: &Schedule,
) -> Outcome {
    let mut rng = StdRng::seed_from_u64(s.seed);
    let mut out = Outcome::default();
    let mut journal = String::new();
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst) && !s.faults.is_empty() {
        nap(rng.gen_range(s.every * 0.5..s.every * 1.5), stop);
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // A member that stopped by itself since the last fault (none of ours
        // should) is reported, then started again.
        if let Ok(mut c) = cluster.lock() {
            for j in 1..=c.members.len() as u32 {
                if let Some(st) = c.exited(j) {
                    out.anomalies.push(format!(
                        "member {j} exited by itself ({st}) between faults: see its log"
                    ));
                    let _ = c.start_member(j);
                }
            }
        }
        let fault = s.faults[rng.gen_range(0..s.faults.len())];
        let hold = rng.gen_range(1.0..6.0);
        let pick = rng.gen_range(0..1000u32);
        let Ok(c) = cluster.lock() else { break };
        let n = c.members.len() as u32;
        let ours: Vec<u32> = c
            .members
            .iter()
            .filter(|m| !m.apache)
            .map(|m| m.id)
            .collect();
        let leader = c.leader();
        let ips: Vec<std::net::Ipv4Addr> = c.members.iter().map(|m| m.ip).collect();
        drop(c);
        let target = if fault.ours_only() {
            if ours.is_empty() {
                continue;
            }
            ours[pick as usize % ours.len()]
        } else if fault.on_leader() {
            leader.unwrap_or(1 + pick % n)
        } else {
            1 + pick % n
        };
        let other = 1 + (target % n); // a second member, for the bridge / one-way cuts
        let mut line = format!(
            "{:>8.3}s {}: member {target}{}, {hold:.1}s",
            start.elapsed().as_secs_f64(),
            fault.name(),
            if matches!(fault, Fault::Bridge | Fault::OneWay) {
                format!(" and {other}")
            } else {
                String::new()
            }
        );
        *out.faults.entry(fault.name()).or_default() += 1;
        match fault {
            Fault::KillMember | Fault::KillLeader => {
                lock(cluster, |c| c.kill(target));
                nap(hold, stop);
                lock(cluster, |c| {
                    let _ = c.start_member(target);
                });
            }
            Fault::PauseMember | Fault::PauseLeader => {
                lock(cluster, |c| c.pause(target));
                nap(hold, stop);
                lock(cluster, |c| c.resume(target));
            }
            Fault::LeaderDiesFollowersPaused => {
                let others: Vec<u32> = (1..=n).filter(|&j| j != target).collect();
                lock(cluster, |c| others.iter().for_each(|&j| c.pause(j)));
                nap(hold / 2.0, stop);
                lock(cluster, |c| c.kill(target));
                lock(cluster, |c| others.iter().for_each(|&j| c.resume(j)));
                nap(hold / 2.0, stop);
                lock(cluster, |c| {
                    let _ = c.start_member(target);
                });
            }
            Fault::DamageLog | Fault::DamageSnapshot => {
                damage_and_recover(cluster, fault, target, &mut rng, &mut line, &mut out);
            }
            Fault::DiskFull => disk_full(cluster, target, hold, stop, &mut line, &mut out),
            Fault::IsolateLeader | Fault::IsolateMember | Fault::Bridge | Fault::OneWay => {
                let Some(net) = net else { continue };
                let ip = |id: u32| ips[id as usize - 1];
                // The cuts name addresses: every member's quorum and election
                // connections must leave from its own.
                if let Ok(c) = cluster.lock() {
                    for j in 1..=n {
                        for s in c.stray_connections(j) {
                            out.harness.push(format!(
                                "member {j}'s connection {s} does not leave from its own address"
                            ));
                        }
                    }
                }
                // (from, to) pairs to drop.
                let cuts: Vec<(u32, u32)> = match fault {
                    Fault::Bridge => vec![(target, other), (other, target)],
                    Fault::OneWay => vec![(target, other)],
                    _ => (1..=n)
                        .filter(|&j| j != target)
                        .flat_map(|j| [(target, j), (j, target)])
                        .collect(),
                };
                for &(a, b) in &cuts {
                    net.cut(ip(a), ip(b));
                }
                // A partition that does not cut would make every later check
                // meaningless: verify it on the quorum port.
                for &(a, b) in &cuts {
                    if Net::reaches(ip(a), ip(b), 2888) {
                        out.harness.push(format!(
                            "a partition did not cut: {}: {} still reaches {}",
                            fault.name(),
                            ip(a),
                            ip(b)
                        ));
                    }
                }
                nap(hold, stop);
                net.heal();
            }
        }
        journal.push_str(&line);
        journal.push('\n');
    }
    let _ = std::fs::write(s.journal, journal);
    out
}

fn lock(cluster: &Mutex<Cluster>, f: impl FnOnce(&mut Cluster)) {
    if let Ok(mut c) = cluster.lock() {
        f(&mut c);
    }
}

/// Lines the member logged after byte `from` of its log.
fn log_since(cluster: &Mutex<Cluster>, id: u32, from: u64) -> String {
    let path = match cluster.lock() {
        Ok(c) => c.member(id).log(),
        Err(_) => return String::new(),
    };
    let text = std::fs::read(&path).unwrap_or_default();
    String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default()).into_owned()
}

fn log_len(cluster: &Mutex<Cluster>, id: u32) -> u64 {
    cluster
        .lock()
        .ok()
        .and_then(|c| std::fs::metadata(c.member(id).log()).ok())
        .map_or(0, |m| m.len())
}

/// Waits until the member serves (`Ok`), exits (`Err(Some(status))`) or
/// `within` passes (`Err(None)`).
fn await_member(
    cluster: &Mutex<Cluster>,
    id: u32,
    within: Duration,
) -> Result<(), Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(mut c) = cluster.lock() {
            if let Some(st) = c.exited(id) {
                return Err(Some(st));
            }
            if c.serving(id) {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(None)
}

fn last_error(log: &str) -> String {
    log.lines()
        .rev()
        .find(|l| l.contains("ERROR") || l.contains("error") || l.starts_with("zkserver: "))
        .unwrap_or("(nothing logged)")
        .trim()
        .to_string()
}

/// kill -9, damage the newest log or snapshot, restart. The member must
/// either start, say what it refused and catch up from its peers, or refuse
/// to start with a clear error; then, as an operator would, the harness
/// moves its version-2 aside and it must come back with a copy from the
/// leader. Either way it serves again before the next fault.
fn damage_and_recover(
    cluster: &Mutex<Cluster>,
    fault: Fault,
    target: u32,
    rng: &mut StdRng,
    line: &mut String,
    out: &mut Outcome,
) {
    lock(cluster, |c| c.kill(target));
    let vdir = match cluster.lock() {
        Ok(c) => c.member(target).version_dir(),
        Err(_) => return,
    };
    let done = if fault == Fault::DamageLog {
        damage::damage_log(&vdir, rng)
    } else {
        damage::damage_snapshot(&vdir, rng)
    };
    let what = match done {
        Ok(Some(w)) => w,
        Ok(None) => "nothing to damage (restarted as is)".into(),
        Err(e) => format!("damaging failed: {e} (restarted as is)"),
    };
    line.push_str(&format!(" [{what}]"));
    let mark = log_len(cluster, target);
    lock(cluster, |c| {
        let _ = c.start_member(target);
    });
    let flipped = what.contains("flipped");
    match await_member(cluster, target, Duration::from_secs(60)) {
        Ok(()) => {
            let log = log_since(cluster, target, mark);
            let said = if fault == Fault::DamageLog {
                log.contains("torn tail")
            } else {
                log.contains("snap")
                    && (log.contains("WARN") || log.contains("problem") || log.contains("skipping"))
            };
            if flipped && !said {
                out.anomalies.push(format!(
                    "member {target}: {what}, yet it started without a word about it"
                ));
            }
            line.push_str(" -> recovered and serving");
        }
        Err(Some(st)) => {
            let log = log_since(cluster, target, mark);
            let why = last_error(&log);
            if why == "(nothing logged)" {
                out.anomalies.push(format!(
                    "member {target}: {what}; it exited ({st}) without an error message"
                ));
            }
            line.push_str(&format!(
                " -> refused to start ({st}): {why}; restored from peers"
            ));
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            // Off the member's own disk (its dataDir may be a small tmpfs),
            // as an operator would keep it for a post-mortem.
            let member_dir = vdir
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let aside = member_dir.join(format!("version-2.damaged-{stamp}"));
            let moved = std::process::Command::new("mv")
                .arg(&vdir)
                .arg(&aside)
                .status()
                .is_ok_and(|s| s.success());
            if !moved {
                out.anomalies
                    .push(format!("harness: could not move {} aside", vdir.display()));
            }
            lock(cluster, |c| {
                let _ = c.start_member(target);
            });
            if let Err(e) = await_member(cluster, target, Duration::from_secs(60)) {
                out.anomalies.push(format!(
                    "member {target}: with an empty dataDir after {what} it did not serve again ({e:?})"
                ));
            }
        }
        Err(None) => out.anomalies.push(format!(
            "member {target}: {what}; not serving 60 s after its restart"
        )),
    }
}

/// Fills the member's disk, holds, frees it. A member whose log write
/// failed must have exited (status 4) rather than go on; it is restarted
/// and must serve again.
fn disk_full(
    cluster: &Mutex<Cluster>,
    target: u32,
    hold: f64,
    stop: &AtomicBool,
    line: &mut String,
    out: &mut Outcome,
) {
    let (dir, own) = match cluster.lock() {
        Ok(c) => (c.member(target).data_dir(), c.member(target).own_disk()),
        Err(_) => return,
    };
    if !own {
        line.push_str(" [no disk of its own: skipped]");
        return;
    }
    let mark = log_len(cluster, target);
    let filler = match damage::fill_disk(&dir) {
        Ok((p, n)) => {
            line.push_str(&format!(" [{} MiB to fill it]", n >> 20));
            Some(p)
        }
        Err(e) => {
            line.push_str(&format!(" [filling failed: {e}]"));
            None
        }
    };
    nap(hold, stop);
    if let Some(p) = filler {
        let _ = std::fs::remove_file(p);
    }
    let exited = cluster.lock().ok().and_then(|mut c| c.exited(target));
    if let Some(st) = exited {
        let log = log_since(cluster, target, mark);
        if st.code() != Some(4) || !log.contains("transaction log failed") {
            out.anomalies.push(format!(
                "member {target}: on a full disk it exited ({st}) but not as a failed log write (status 4): {}",
                last_error(&log)
            ));
        }
        line.push_str(&format!(" -> exited ({st}), restarted"));
        lock(cluster, |c| {
            let _ = c.start_member(target);
        });
    }
    match await_member(cluster, target, Duration::from_secs(60)) {
        Ok(()) => {}
        Err(e) => {
            // A member that kept running but stopped serving is a hang.
            out.anomalies.push(format!(
                "member {target}: not serving 60 s after its disk was freed ({e:?})"
            ));
            lock(cluster, |c| {
                let _ = c.start_member(target);
            });
        }
    }
}
