//! Deterministic simulation: 3 or 5 voters (sometimes plus an observer) with
//! random (currentEpoch, lastLoggedZxid), each running an [`Election`],
//! driven by a seeded scheduler over virtual time.
//!
//! The transport is modelled on `QuorumCnxManager`: random delays, FIFO per
//! ordered pair (one TCP connection), reordering across pairs, messages lost
//! while a link is cut or an end is down, and on reconnection the last
//! message sent on that pair goes out again (a restarted `SendWorker`
//! re-sends its last message, and the one-entry queue keeps only the
//! newest). Chaos (crashes, restarts, bipartitions, single cut links, writes)
//! runs for [`CHAOS_MS`], then everything heals and stays calm for
//! [`CALM_MS`]. A quarter of the seeds have no failures at all and
//! near-simultaneous starts.
//!
//! After the election a member takes a *role*, a stand-in for ZAB just
//! strong enough to end roles the way Java does: a leader needs a quorum of
//! connected followers within [`LEAD_GRACE_MS`] (then it "establishes" a new
//! epoch, which followers adopt, with `update_vote_peer_epoch`), a follower
//! needs its leader connected and LEADING within [`FOLLOW_GRACE_MS`];
//! otherwise the member looks again with `start_looking`.
//!
//! Invariants (only what FLE guarantees; see the module docs of [`super`]):
//! * per send: a LOOKING notification from a voter to a voter carries the
//!   sender's clock and a vote at least its own initial vote of the round;
//! * per decision: the leader is a voter, LEADING iff it is the decider,
//!   observers OBSERVING; the decision is backed by a quorum of voters that
//!   announced it: exactly this vote (all four fields, in any state: Java's
//!   `Vote.equals` compares all four as soon as one side is LOOKING, so a
//!   FOLLOWING vote kept in `recvset` can count toward a LOOKING quorum), or
//!   any notification naming this leader with the leader itself having
//!   announced LEADING;
//! * no failures: every decision is for the voter with the maximal
//!   (peerEpoch, zxid, sid);
//! * liveness: by the end of the calm phase, every member has agreed on one
//!   leader, a voter that is LEADING, for at least [`STABLE_MS`].
//!
//! A failure names the seed and the command that replays it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod net;
mod roles;

use super::{vote_beats, Election, ElectionConfig, Output, Timing};
use crate::quorum::types::{make_zxid, LearnerType, Notification, PeerState, Sid, Vote, Zxid};

pub const CHAOS_MS: u64 = 20_000;
/// Longer than two maximal poll timeouts (60 s), so liveness cannot hide
/// behind the back-off.
pub const CALM_MS: u64 = 130_000;
/// How long the final agreement must have held at the end.
pub const STABLE_MS: u64 = 5_000;
pub const LEAD_GRACE_MS: u64 = 2_000;
pub const FOLLOW_GRACE_MS: u64 = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Down,
    Looking,
    /// `term` numbers each leadership, so followers notice a restart.
    Leading {
        established: Option<i64>,
        term: u64,
    },
    /// `term`: the leadership this follower connected to; when it ends (or
    /// changes) the follower's connection is gone and it looks again at once.
    Following {
        leader: Sid,
        synced: bool,
        term: Option<u64>,
    },
}

struct Member {
    sid: Sid,
    observer: bool,
    core: Election,
    /// Durable: lastLoggedZxid and currentEpoch.
    zxid: Zxid,
    epoch: i64,
    role: Role,
    /// Since when the role lacks what it needs.
    bad_since: Option<u64>,
    restart_at: Option<u64>,
}

/// A delivery: (time, seq, from index, to index, link generation); the
/// notification is in `Sim::payloads` under `seq`.
type Event = Reverse<(u64, u64, usize, usize, u64)>;

/// Everything a voter ever announced: (state, vote).
type History = BTreeSet<(i32, Sid, Zxid, i64, i64)>;

struct Sim {
    seed: u64,
    rng: StdRng,
    now: u64,
    seq: u64,
    calm_seed: bool,
    /// The voter with the maximal (currentEpoch, lastLoggedZxid, sid) at boot.
    calm_best: Sid,
    members: Vec<Member>,
    voters: Vec<Sid>,
    config: Vec<u8>,
    events: BinaryHeap<Event>,
    payloads: BTreeMap<u64, Notification>,
    /// Unordered pairs that are cut.
    cut: BTreeSet<(usize, usize)>,
    /// Per ordered pair: generation (bumped when the connection dies) and
    /// the delivery time of the last message (FIFO).
    gen: BTreeMap<(usize, usize), u64>,
    fifo: BTreeMap<(usize, usize), u64>,
    last_sent: BTreeMap<(usize, usize), Notification>,
    history: BTreeMap<Sid, History>,
    next_chaos: u64,
    heal_at: Option<u64>,
    agreed_since: Option<u64>,
    terms: u64,
    stats: Stats,
    trace: bool,
}

/// What a run exercised.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub decisions: u64,
    /// Decisions faster than finalizeWait, which only FOLLOWING/LEADING
    /// answers allow (joining a running leader).
    pub joins: u64,
    /// Rounds in which two members decided different leaders (allowed).
    pub split_rounds: u64,
    pub timeouts: u64,
    pub crashes: u64,
    pub partitions: u64,
    pub established: u64,
    /// The longest time from the final heal to lasting agreement.
    pub max_converge_ms: u64,
}

fn key(v: &Vote, s: PeerState) -> (i32, Sid, Zxid, i64, i64) {
    (s.wire(), v.leader, v.zxid, v.election_epoch, v.peer_epoch)
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = if rng.gen_bool(0.5) { 3 } else { 5 };
        let with_observer = rng.gen_bool(0.4);
        let calm_seed = seed % 4 == 3;
        let voters: Vec<Sid> = (1..=n).collect();
        let config = format!("sim ensemble of {n}\nversion=0").into_bytes();
        let mut members = Vec::new();
        for sid in 1..=n + i64::from(with_observer) {
            let observer = sid > n;
            let epoch = rng.gen_range(0..=2);
            let zxid = make_zxid(rng.gen_range(0..=epoch), rng.gen_range(0..=3));
            let lt = if observer {
                LearnerType::Observer
            } else {
                LearnerType::Participant
            };
            members.push(Member {
                sid,
                observer,
                core: Election::new(ElectionConfig {
                    my_sid: sid,
                    learner_type: lt,
                    voters: voters.clone(),
                    config: config.clone(),
                    timing: Timing::default(),
                }),
                zxid,
                epoch,
                role: Role::Down,
                bad_since: None,
                restart_at: Some(if calm_seed {
                    rng.gen_range(0..=20)
                } else {
                    rng.gen_range(0..=3000)
                }),
            });
        }
        let mut best: Option<(i64, Zxid, Sid)> = None;
        for m in members.iter().filter(|m| !m.observer) {
            best = best.max(Some((m.epoch, m.zxid, m.sid)));
        }
        Sim {
            seed,
            rng,
            now: 0,
            seq: 0,
            calm_seed,
            calm_best: best.map_or(0, |b| b.2),
            members,
            voters,
            config,
            events: BinaryHeap::new(),
            payloads: BTreeMap::new(),
            cut: BTreeSet::new(),
            gen: BTreeMap::new(),
            fifo: BTreeMap::new(),
            last_sent: BTreeMap::new(),
            history: BTreeMap::new(),
            next_chaos: 500,
            heal_at: None,
            agreed_since: None,
            terms: 0,
            stats: Stats::default(),
            trace: std::env::var("ZK_ELECTION_SIM_TRACE").is_ok(),
        }
    }

    fn fail(&self, msg: String) -> ! {
        panic!(
            "seed {} at {} ms: {msg}\nreplay: ZK_ELECTION_SIM_SEED={} cargo test -p zkserver --lib quorum::election::sim::replay -- --nocapture",
            self.seed, self.now, self.seed
        );
    }

    fn log(&self, msg: String) {
        if self.trace {
            println!("{:>7} {msg}", self.now);
        }
    }

    fn is_quorum(&self, n: usize) -> bool {
        n * 2 > self.voters.len()
    }

    fn alive(&self, i: usize) -> bool {
        self.members[i].role != Role::Down
    }

    fn connected(&self, a: usize, b: usize) -> bool {
        a == b || (self.alive(a) && self.alive(b) && !self.cut.contains(&pair(a, b)))
    }

    fn idx(&self, sid: Sid) -> Option<usize> {
        self.members.iter().position(|m| m.sid == sid)
    }

    fn exec(&mut self, i: usize, outs: Vec<Output>) {
        for o in outs {
            match o {
                Output::Send { to, n } => {
                    self.check_send(i, to, &n);
                    if !self.members[i].observer {
                        let sid = self.members[i].sid;
                        self.history
                            .entry(sid)
                            .or_default()
                            .insert(key(&n.vote, n.state));
                    }
                    match self.idx(to) {
                        Some(j) => self.transmit(i, j, n),
                        None => self.fail(format!("send to unknown sid {to}")),
                    }
                }
                Output::Decided {
                    state,
                    vote,
                    took_ms,
                } => self.decided(i, state, vote, took_ms),
                Output::NotificationTimeout { .. } => self.stats.timeouts += 1,
                Output::ConnectAll => {}
            }
        }
    }

    fn check_send(&self, i: usize, to: Sid, n: &Notification) {
        let m = &self.members[i];
        if to == m.sid {
            self.fail(format!("{} sent to itself", m.sid));
        }
        if m.observer || n.state != PeerState::Looking || !self.voters.contains(&to) {
            return;
        }
        let init = m.core.initial_vote();
        if n.vote.election_epoch != m.core.logical_clock() || vote_beats(&init, &n.vote) {
            self.fail(format!(
                "{} sent LOOKING {:?} to {to} with clock {} and initial vote {init:?}",
                m.sid,
                n.vote,
                m.core.logical_clock()
            ));
        }
    }

    fn decided(&mut self, i: usize, state: PeerState, vote: Vote, took_ms: u64) {
        let (sid, observer) = (self.members[i].sid, self.members[i].observer);
        self.log(format!("{sid} decided {state:?} {vote:?} in {took_ms} ms"));
        self.stats.decisions += 1;
        if !self.voters.contains(&vote.leader) {
            self.fail(format!("{sid} decided on non-voter {}", vote.leader));
        }
        let want = if vote.leader == sid {
            PeerState::Leading
        } else if observer {
            PeerState::Observing
        } else {
            PeerState::Following
        };
        if state != want || (observer && vote.leader == sid) {
            self.fail(format!(
                "{sid} decided {state:?} for leader {}",
                vote.leader
            ));
        }
        let empty = History::new();
        let hist = |s: &Sid| self.history.get(s).unwrap_or(&empty);
        let exact = self
            .voters
            .iter()
            .filter(|q| {
                hist(q).iter().any(|h| {
                    (h.1, h.2, h.3, h.4)
                        == (vote.leader, vote.zxid, vote.election_epoch, vote.peer_epoch)
                })
            })
            .count();
        let naming = self
            .voters
            .iter()
            .filter(|q| hist(q).iter().any(|h| h.1 == vote.leader))
            .count();
        let leader_said = vote.leader == sid
            || hist(&vote.leader)
                .iter()
                .any(|h| h.0 == PeerState::Leading.wire() && h.1 == vote.leader);
        let by_exact = self.is_quorum(exact);
        if !(by_exact || (self.is_quorum(naming) && leader_said)) {
            self.fail(format!(
                "{sid} decided {vote:?} without a quorum announcing it ({exact} exact, {naming} naming, leader LEADING: {leader_said})"
            ));
        }
        if took_ms < Timing::default().finalize_wait_ms {
            self.stats.joins += 1; // no finalizeWait: through FOLLOWING/LEADING
        }
        if self.calm_seed && vote.leader != self.calm_best {
            self.fail(format!(
                "no failures, yet {sid} decided {} instead of {}",
                vote.leader, self.calm_best
            ));
        }
        // A split round: someone else currently holds another leader for the
        // same electionEpoch.
        let split = self.members.iter().any(|m| {
            m.sid != sid
                && !m.core.is_looking()
                && m.role != Role::Down
                && m.core.current_vote().is_some_and(|c| {
                    c.election_epoch == vote.election_epoch && c.leader != vote.leader
                })
        });
        if split {
            self.stats.split_rounds += 1;
        }
        self.members[i].role = if state == PeerState::Leading {
            self.terms += 1;
            Role::Leading {
                established: None,
                term: self.terms,
            }
        } else {
            Role::Following {
                leader: vote.leader,
                synced: false,
                term: None,
            }
        };
        self.members[i].bad_since = None;
    }

    fn start(&mut self, i: usize) {
        let (zxid, epoch) = (self.members[i].zxid, self.members[i].epoch);
        self.members[i].role = Role::Looking;
        self.members[i].bad_since = None;
        let outs = self.members[i].core.start_looking(self.now, zxid, epoch);
        self.exec(i, outs);
    }

    fn next_time(&self) -> u64 {
        let mut t = u64::MAX;
        if let Some(Reverse(e)) = self.events.peek() {
            t = t.min(e.0);
        }
        for m in &self.members {
            if m.role != Role::Down {
                if let Some(d) = m.core.next_deadline() {
                    t = t.min(d);
                }
            }
            if let Some(r) = m.restart_at {
                t = t.min(r);
            }
            if let (Some(b), false) = (m.bad_since, m.role == Role::Down) {
                t = t.min(b + Self::grace(m.role));
            }
        }
        if let Some(h) = self.heal_at {
            t = t.min(h);
        }
        if self.now < CHAOS_MS && !self.calm_seed {
            t = t.min(self.next_chaos);
        }
        t.max(self.now)
    }

    fn step(&mut self) {
        self.now = self.next_time();
        while let Some(Reverse(e)) = self.events.peek().copied() {
            if e.0 > self.now {
                break;
            }
            self.events.pop();
            let (_, seq, from, to, g) = e;
            let Some(n) = self.payloads.remove(&seq) else {
                continue;
            };
            if *self.gen.get(&(from, to)).unwrap_or(&0) != g || !self.connected(from, to) {
                continue;
            }
            let sid = self.members[from].sid;
            let outs = self.members[to].core.receive(self.now, sid, n);
            self.exec(to, outs);
        }
        for i in 0..self.members.len() {
            if self.members[i].restart_at.is_some_and(|r| r <= self.now) {
                self.restart(i);
            }
        }
        for i in 0..self.members.len() {
            if self.alive(i)
                && self.members[i]
                    .core
                    .next_deadline()
                    .is_some_and(|d| d <= self.now)
            {
                let have_delivered = (0..self.members.len())
                    .any(|j| j != i && !self.members[j].observer && self.connected(i, j));
                let outs = self.members[i].core.tick(self.now, have_delivered);
                self.exec(i, outs);
            }
        }
        if self.heal_at.is_some_and(|h| h <= self.now) {
            self.heal_at = None;
            self.set_cut(BTreeSet::new());
        }
        if !self.calm_seed && self.now < CHAOS_MS && self.now >= self.next_chaos {
            self.chaos();
        }
        // Until nothing changes: a leader establishing lets followers
        // checked before it sync in the same instant.
        for _ in 0..4 {
            let before: Vec<Role> = self.members.iter().map(|m| m.role).collect();
            self.roles();
            if self.members.iter().map(|m| m.role).eq(before) {
                break;
            }
        }
        self.track_agreement();
    }

    fn run_until(&mut self, limit: u64) {
        let mut steps = 0u64;
        while self.next_time() <= limit {
            self.step();
            steps += 1;
            if steps > 2_000_000 {
                self.fail("the scheduler makes no progress".into());
            }
        }
        self.now = self.now.max(limit);
    }

    fn finish(&mut self) {
        let end = CHAOS_MS + CALM_MS;
        // Chaos is over: heal every link and restart whoever is down.
        self.heal_at = None;
        self.set_cut(BTreeSet::new());
        let now = self.now;
        for m in self.members.iter_mut() {
            if m.role == Role::Down {
                m.restart_at = Some(now);
            }
        }
        self.run_until(end);
        match self.agreed_since {
            Some(t) if t + STABLE_MS <= end => {
                let from = if self.calm_seed { 0 } else { CHAOS_MS };
                self.stats.max_converge_ms = t.saturating_sub(from);
            }
            _ => {
                let roles: Vec<(Sid, Role)> =
                    self.members.iter().map(|m| (m.sid, m.role)).collect();
                self.fail(format!(
                    "no lasting agreement after the calm phase: {roles:?}"
                ));
            }
        }
    }
}

/// Runs one seed; panics with a replay command on a violated invariant.
pub fn run_seed(seed: u64) -> Stats {
    let mut sim = Sim::new(seed);
    sim.run_until(CHAOS_MS);
    sim.finish();
    sim.stats
}

#[test]
fn seeds() {
    let n: u64 = std::env::var("ZK_ELECTION_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut t = Stats::default();
    for seed in 0..n {
        let s = run_seed(seed);
        t.decisions += s.decisions;
        t.joins += s.joins;
        t.split_rounds += s.split_rounds;
        t.timeouts += s.timeouts;
        t.crashes += s.crashes;
        t.partitions += s.partitions;
        t.established += s.established;
        t.max_converge_ms = t.max_converge_ms.max(s.max_converge_ms);
    }
    println!("{n} seeds: {t:?}");
    assert!(t.decisions > n && t.joins > 0 && t.established >= n);
}

/// `ZK_ELECTION_SIM_SEED=N` replays one seed (a no-op without it).
#[test]
fn replay() {
    if let Some(seed) = std::env::var("ZK_ELECTION_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        println!("seed {seed}: {:?}", run_seed(seed));
    }
}
