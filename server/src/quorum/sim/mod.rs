//! Deterministic simulation of whole ensemble members: 3 or 5 voters
//! (sometimes plus an observer), each running the real [`Election`] core for
//! its whole life and a real ZAB [`Leader`] or [`Learner`] while in a role,
//! driven the way `peer` drives them (LOOKING → `Decided` → lead / follow →
//! `Abandon` → `start_looking(last_logged, currentEpoch)`; notifications
//! keep flowing into the election core during a role; `UpdateVotePeerEpoch`
//! goes to `update_vote_peer_epoch`), by a seeded scheduler over virtual
//! time in 5 ms steps.
//!
//! Modelled (see `net` and `member`):
//! * durable state per member: acceptedEpoch, currentEpoch, a snapshot of
//!   applied state (taken after every apply, a legal driver choice) and the
//!   txn log after it; appended entries become durable only after a random
//!   fsync delay and are lost on a crash; `persisted(z)` is reported after
//!   each fsync;
//! * the election port: a FIFO link per ordered pair with random delays,
//!   messages lost while a link is cut or an end is down, the last message
//!   re-sent when the link comes back (`QuorumCnxManager`'s `SendWorker`);
//! * the quorum port: one connection per learner role, FIFO both ways with
//!   random delays; it breaks when either role ends, on a crash, or when a
//!   partition cuts the pair. A learner dials its leader: a LEADING target
//!   takes it at once, a LOOKING one keeps it and takes it if it ends up
//!   leading within initLimit (the driver's `early` queue), anything else
//!   refuses it; five refusals a second apart and the learner abandons
//!   (`Learner.connectToLeader`). While it dials, the driver's `follow`
//!   keeps feeding the election core, as Java's `WorkerReceiver` thread
//!   does (`ZK_ENSEMBLE_SIM_HOLD=1` instead holds notifications until it
//!   connects or gives up, the driver's behaviour before it did);
//! * chaos for [`CHAOS_MS`]: crashes (also of the leader) and restarts,
//!   bipartitions and single cut links that heal, long delays, random
//!   client writes on every established leader; then [`CALM_MS`] with every
//!   member up and every link healed.
//!
//! Not modelled: the observer's random election delay, sessions, client
//! reads, dynamic reconfiguration, Java replaying its log into the tree (the
//! cores apply a tail only once a leader confirms it, see `zab`).
//!
//! Invariants, checked after every step unless said otherwise:
//! 1. at most one leader per epoch ever reaches `StartServing`, and when it
//!    does its history (applied + log) holds every txn any leader committed;
//! 2. every apply extends one global committed sequence (same txn at a
//!    zxid, no gaps, no reordering); a SNAP carries a prefix of it;
//! 3. at the end, every txn committed at a leader (every acknowledged
//!    client write) is applied on every member that serves the final leader;
//! 4. liveness: within [`LIVE_MS`] of the calm phase an established leader
//!    has a quorum of serving voters, and a write proposed then is applied
//!    on every live member by the end. Exempt, as Java does: a member whose
//!    acceptedEpoch is above the leader's epoch (from an aborted attempt)
//!    refuses that leader until the next leader change.
//!
//! A failure names the seed and the command that replays it;
//! `ZK_ENSEMBLE_SIM_TRACE=1` prints the events.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod member;
mod net;

use self::member::{Member, Role};
use self::net::Conn;
use crate::quorum::election::{Election, ElectionConfig, Timing};
use crate::quorum::types::{LearnerType, Notification, Sid, Zxid};
use crate::quorum::zab::{ConnId, Limits, Txn};

const STEP_MS: u64 = 5;
/// Half of tickTime = 100 ms: one ZAB tick.
const TICK_MS: u64 = 50;
const LIMITS: Limits = Limits {
    init_limit: 10,
    sync_limit: 5,
};
pub const CHAOS_MS: u64 = 20_000;
pub const CALM_MS: u64 = 25_000;
/// How long after the calm phase starts a served quorum must exist.
pub const LIVE_MS: u64 = 15_000;
/// No random writes in the last part of the calm phase, so they drain.
const QUIET_MS: u64 = 4_000;

/// What a run exercised, to see that the scheduler reaches the hard paths.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub decisions: u64,
    pub leaders: u64,
    pub established: u64,
    pub abandons: u64,
    pub crashes: u64,
    pub partitions: u64,
    pub snaps: u64,
    pub truncs: u64,
    pub disk_diffs: u64,
    pub commits: u64,
    pub writes: u64,
    pub refused: u64,
    /// Members exempt from the final checks (acceptedEpoch above the leader's).
    pub exempt: u64,
    /// Longest time from the calm phase to a served quorum.
    pub max_live_ms: u64,
}

impl Stats {
    fn add(&mut self, s: &Stats) {
        self.decisions += s.decisions;
        self.leaders += s.leaders;
        self.established += s.established;
        self.abandons += s.abandons;
        self.crashes += s.crashes;
        self.partitions += s.partitions;
        self.snaps += s.snaps;
        self.truncs += s.truncs;
        self.disk_diffs += s.disk_diffs;
        self.commits += s.commits;
        self.writes += s.writes;
        self.refused += s.refused;
        self.exempt += s.exempt;
        self.max_live_ms = self.max_live_ms.max(s.max_live_ms);
    }
}

pub(super) struct Sim {
    seed: u64,
    rng: StdRng,
    now: u64,
    members: Vec<Member>,
    voters: Vec<Sid>,
    observers: Vec<Sid>,
    config: Vec<u8>,
    commit_log_count: usize,
    // election port
    cut: BTreeSet<(usize, usize)>,
    elinks: BTreeMap<(usize, usize), VecDeque<(u64, Notification)>>,
    last_sent: BTreeMap<(usize, usize), Notification>,
    heal_at: Option<u64>,
    next_chaos: u64,
    // quorum port
    conns: BTreeMap<ConnId, Conn>,
    next_conn: ConnId,
    // history
    global: BTreeMap<Zxid, Txn>,
    acked: Vec<(Zxid, Txn)>,
    established: BTreeMap<i64, Sid>,
    writes: u64,
    probe: Option<(u64, Txn)>,
    stats: Stats,
    trace: bool,
    /// Hold election notifications while a learner dials
    /// (`ZK_ENSEMBLE_SIM_HOLD=1`); by default they are fed at once, as the
    /// driver's `follow` and Java's `WorkerReceiver` do.
    held_back: bool,
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

fn mk_txn(n: u64) -> Txn {
    format!("write-{n}").into_bytes().into()
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = StdRng::seed_from_u64(seed);
        let n: Sid = if rng.gen_bool(0.5) { 3 } else { 5 };
        let with_observer = rng.gen_bool(0.4);
        let voters: Vec<Sid> = (1..=n).collect();
        let observers: Vec<Sid> = if with_observer { vec![n + 1] } else { vec![] };
        let config = format!("sim ensemble of {n}\nversion=0").into_bytes();
        let members = voters
            .iter()
            .chain(observers.iter())
            .map(|&sid| {
                let observer = sid > n;
                let election = new_election(sid, observer, &voters, &config);
                Member::new(sid, observer, election, rng.gen_range(0..=1_000))
            })
            .collect();
        Sim {
            seed,
            commit_log_count: rng.gen_range(2..8),
            rng,
            now: 0,
            members,
            voters,
            observers,
            config,
            cut: BTreeSet::new(),
            elinks: BTreeMap::new(),
            last_sent: BTreeMap::new(),
            heal_at: None,
            next_chaos: 1_000,
            conns: BTreeMap::new(),
            next_conn: 1,
            global: BTreeMap::new(),
            acked: vec![],
            established: BTreeMap::new(),
            writes: 0,
            probe: None,
            stats: Stats::default(),
            trace: std::env::var("ZK_ENSEMBLE_SIM_TRACE").is_ok(),
            held_back: std::env::var("ZK_ENSEMBLE_SIM_HOLD").is_ok_and(|v| v == "1"),
        }
    }

    fn fail(&self, msg: String) -> ! {
        let roles: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{}:{}", m.sid, m.role.name()))
            .collect();
        panic!(
            "seed {} at {} ms: {msg}\nroles: {roles:?}\nreplay: ZK_ENSEMBLE_SIM_SEED={} cargo test -p zkserver --lib quorum::sim::replay -- --nocapture",
            self.seed, self.now, self.seed
        );
    }

    fn log(&self, m: usize, msg: impl FnOnce() -> String) {
        if self.trace {
            println!("{:>7} sid {}: {}", self.now, self.members[m].sid, msg());
        }
    }

    /// An event of the whole ensemble (partitions, heals).
    fn log_net(&self, msg: impl FnOnce() -> String) {
        if self.trace {
            println!("{:>7} net: {}", self.now, msg());
        }
    }

    fn is_quorum(&self, n: usize) -> bool {
        2 * n > self.voters.len()
    }

    fn idx(&self, sid: Sid) -> Option<usize> {
        self.members.iter().position(|m| m.sid == sid)
    }

    fn alive(&self, i: usize) -> bool {
        !matches!(self.members[i].role, Role::Down)
    }

    fn connected(&self, a: usize, b: usize) -> bool {
        a == b || (self.alive(a) && self.alive(b) && !self.cut.contains(&pair(a, b)))
    }

    fn calm(&self) -> bool {
        self.now >= CHAOS_MS
    }

    // ----- the loop -----

    fn step(&mut self) {
        self.now += STEP_MS;
        if self.now == CHAOS_MS {
            // The calm phase: heal everything, restart whoever is down.
            self.heal_at = None;
            self.set_cut(BTreeSet::new());
            for m in &mut self.members {
                m.restart_at = m.restart_at.min(CHAOS_MS);
            }
        }
        for m in 0..self.members.len() {
            if !self.alive(m) && self.now >= self.members[m].restart_at {
                self.restart(m);
            }
        }
        if self.heal_at.is_some_and(|h| h <= self.now) {
            self.heal_at = None;
            self.log_net(|| "partitions heal".into());
            self.set_cut(BTreeSet::new());
        }
        self.deliver_election();
        self.deliver_quorum();
        self.fsyncs();
        if self.now.is_multiple_of(TICK_MS) {
            self.zab_ticks();
        }
        self.election_ticks();
        self.connect_attempts();
        if !self.calm() && self.now >= self.next_chaos {
            self.chaos();
        }
        if self.now < CHAOS_MS + CALM_MS - QUIET_MS && self.rng.gen_bool(0.05) {
            self.propose_random();
        }
        if self.calm() && self.probe.is_none() {
            self.maybe_probe();
        }
        self.check_leaders();
    }

    /// The established leaders (`StartServing` happened and still leading).
    fn established_leaders(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&m| matches!(&self.members[m].role, Role::Leading(l) if l.is_established()))
            .collect()
    }

    fn propose_random(&mut self) {
        let ls = self.established_leaders();
        if ls.is_empty() {
            return;
        }
        let l = ls[self.rng.gen_range(0..ls.len())];
        self.writes += 1;
        let t = mk_txn(self.writes);
        self.propose(l, t);
    }

    fn propose(&mut self, l: usize, t: Txn) -> bool {
        let (ok, outs) = match &mut self.members[l].role {
            Role::Leading(ld) => (ld.propose(t).is_ok(), ld.take_outputs()),
            _ => (false, vec![]),
        };
        self.run(l, outs);
        ok
    }

    /// Invariant 4, first half: once a quorum of voters serves one
    /// established leader, propose the probe write on it.
    fn maybe_probe(&mut self) {
        for l in self.established_leaders() {
            let Role::Leading(ld) = &self.members[l].role else {
                continue;
            };
            let synced = ld
                .synced_learners()
                .iter()
                .filter(|s| s.1 == LearnerType::Participant)
                .count();
            if self.is_quorum(synced + 1) {
                self.writes += 1;
                let t = mk_txn(self.writes);
                if self.propose(l, t.clone()) {
                    self.log(l, || "probe proposed".into());
                    self.stats.max_live_ms = self.now - CHAOS_MS;
                    self.probe = Some((self.now, t));
                    return;
                }
            }
        }
        if self.now > CHAOS_MS + LIVE_MS {
            self.fail(format!(
                "no established leader with a serving quorum {LIVE_MS} ms into the calm phase"
            ));
        }
    }

    /// Invariant 1: one established leader per epoch, holding every txn any
    /// leader committed so far.
    fn check_leaders(&mut self) {
        for m in self.established_leaders() {
            let Role::Leading(l) = &self.members[m].role else {
                continue;
            };
            let (e, sid) = (l.epoch(), self.members[m].sid);
            match self.established.get(&e) {
                Some(s) if *s != sid => {
                    self.fail(format!("epoch {e} established by {s} and {sid}"))
                }
                Some(_) => {}
                None => {
                    self.stats.established += 1;
                    self.established.insert(e, sid);
                    let mem = &self.members[m];
                    for (z, t) in &self.acked {
                        let has = mem
                            .applied
                            .iter()
                            .chain(mem.log.iter())
                            .any(|x| x.0 == *z && x.1 == *t);
                        if !has {
                            self.fail(format!(
                                "leader {sid} established epoch {e} without committed txn {z:#x}"
                            ));
                        }
                    }
                }
            }
        }
    }

    /// Invariants 3 and 4 at the end of the calm phase.
    fn check_end(&mut self) {
        let Some((_, probe)) = self.probe.clone() else {
            self.fail("no probe write in the calm phase".into());
        };
        let ls = self.established_leaders();
        let [l] = ls[..] else {
            self.fail(format!("{} established leaders at the end", ls.len()));
        };
        let Role::Leading(ld) = &self.members[l].role else {
            unreachable!()
        };
        let epoch = ld.epoch();
        let mut serving_voters = 0;
        let mut exempt = 0;
        for m in &self.members {
            if m.accepted > epoch {
                exempt += 1;
                continue;
            }
            let serving = match &m.role {
                Role::Leading(_) => true,
                Role::Following(f, _) => f.is_serving(),
                _ => false,
            };
            if !serving {
                self.fail(format!("sid {} not serving at the end", m.sid));
            }
            if !m.applied.iter().any(|e| e.1 == probe) {
                self.fail(format!("sid {} lacks the probe write", m.sid));
            }
            for (z, t) in &self.acked {
                if !m.applied.iter().any(|e| e.0 == *z && e.1 == *t) {
                    self.fail(format!("sid {} lacks committed txn {z:#x}", m.sid));
                }
            }
            serving_voters += usize::from(!m.observer);
        }
        if !self.is_quorum(serving_voters) {
            self.fail("no quorum of voters serving at the end".into());
        }
        self.stats.exempt += exempt;
    }
}

fn new_election(sid: Sid, observer: bool, voters: &[Sid], config: &[u8]) -> Election {
    Election::new(ElectionConfig {
        my_sid: sid,
        learner_type: if observer {
            LearnerType::Observer
        } else {
            LearnerType::Participant
        },
        voters: voters.to_vec(),
        config: config.to_vec(),
        timing: Timing::default(),
    })
}

/// Runs one seed; panics with a replay command on a violated invariant.
pub fn run_seed(seed: u64) -> Stats {
    let mut sim = Sim::new(seed);
    while sim.now < CHAOS_MS + CALM_MS {
        sim.step();
    }
    sim.check_end();
    Stats {
        writes: sim.writes,
        ..sim.stats
    }
}

#[test]
fn seeds() {
    let n: u64 = std::env::var("ZK_ENSEMBLE_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let mut t = Stats::default();
    for seed in 0..n {
        t.add(&run_seed(seed));
    }
    println!("{n} seeds: {t:?}");
    assert!(t.commits > 0 && t.established > n && t.crashes > 0);
}

/// `ZK_ENSEMBLE_SIM_SEED=N` replays one seed (a no-op without it).
#[test]
fn replay() {
    if let Some(seed) = std::env::var("ZK_ENSEMBLE_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        println!("seed {seed}: {:?}", run_seed(seed));
    }
}
