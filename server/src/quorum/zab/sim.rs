//! Deterministic simulation: one leader and its learners driven by a seeded
//! scheduler over virtual time, with per-connection FIFO delays, fsync
//! delays, crashes (unsynced entries lost), dropped connections, leader
//! changes chosen the way FLE would (max (currentEpoch, lastLoggedZxid,
//! sid) among a live quorum of looking voters) and random client writes.
//!
//! Each member's durable state is modelled as the driver contract in
//! `zab` describes: epoch files, a snapshot of applied state (taken after
//! every apply, a legal driver choice) and the txn log after it; entries are
//! durable only once fsynced. Invariants are checked after every step; a
//! failure names the seed and the command that replays it.

use std::collections::{BTreeMap, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::leader::{Leader, LeaderConfig};
use super::learner::{Learner, LearnerConfig};
use super::{ConnId, Limits, Output, Txn};
use crate::quorum::types::{counter_of, packet, LearnerType, QuorumPacket, Sid, Zxid};

const STEP_MS: u64 = 5;
const TICK_MS: u64 = 50; // half of tickTime = 100 ms
const LIMITS: Limits = Limits {
    init_limit: 10,
    sync_limit: 5,
};
const CHAOS_MS: u64 = 20_000;
const CALM_MS: u64 = 25_000;

enum Role {
    Down,
    Looking { since: u64 },
    Leading(Box<Leader>),
    Following(Box<Learner>, ConnId),
}

struct Member {
    sid: Sid,
    observer: bool,
    accepted: i64,
    current: i64,
    applied: Vec<(Zxid, Txn)>,
    log: Vec<(Zxid, Txn)>,
    unsynced: Vec<(Zxid, Txn)>,
    fsync_at: Option<u64>,
    role: Role,
    restart_at: u64,
}

impl Member {
    fn last_applied(&self) -> Zxid {
        self.applied.last().map_or(0, |e| e.0)
    }
    fn last_logged(&self) -> Zxid {
        let l = self.log.last().map_or(0, |e| e.0);
        self.last_applied().max(l)
    }
    fn alive(&self) -> bool {
        !matches!(self.role, Role::Down)
    }
}

enum Msg {
    Pkt(QuorumPacket),
    /// SNAP plus the inline stream (the leader's applied txns).
    Snap(Vec<(Zxid, Txn)>, QuorumPacket),
}

struct Conn {
    leader: usize,
    learner: usize,
    alive: bool,
    to_learner: VecDeque<(u64, Msg)>,
    to_leader: VecDeque<(u64, QuorumPacket)>,
    last_l: u64,
    last_f: u64,
}

struct Sim {
    seed: u64,
    rng: StdRng,
    now: u64,
    members: Vec<Member>,
    voters: Vec<Sid>,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: ConnId,
    global: BTreeMap<Zxid, Txn>,
    acked: Vec<(Zxid, Txn)>,
    established: BTreeMap<i64, Sid>,
    writes: u64,
    commit_log_count: usize,
    calm_write: Option<Txn>,
    stats: Stats,
    /// `ZK_SIM_TRACE=1`: print role changes and closes.
    trace: bool,
}

/// What a run exercised, to see that the scheduler reaches the hard paths.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub leaders: u64,
    pub established: u64,
    pub crashes: u64,
    pub snaps: u64,
    pub truncs: u64,
    pub disk_diffs: u64,
    pub commits: u64,
    pub writes: u64,
}

fn mk_txn(n: u64) -> Txn {
    format!("write-{n}").into_bytes().into()
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = StdRng::seed_from_u64(seed);
        let n_voters = if rng.gen_bool(0.5) { 3 } else { 5 };
        let observer = rng.gen_bool(0.6);
        let mut members: Vec<Member> = (1..=n_voters)
            .map(|s| (s, false))
            .chain(observer.then_some((100, true)))
            .map(|(sid, observer)| Member {
                sid,
                observer,
                accepted: 0,
                current: 0,
                applied: vec![],
                log: vec![],
                unsynced: vec![],
                fsync_at: None,
                role: Role::Looking { since: 0 },
                restart_at: 0,
            })
            .collect();
        members.sort_by_key(|m| m.sid);
        Sim {
            seed,
            commit_log_count: rng.gen_range(2..8),
            rng,
            now: 0,
            members,
            voters: (1..=n_voters).collect(),
            conns: BTreeMap::new(),
            next_conn: 1,
            global: BTreeMap::new(),
            acked: vec![],
            established: BTreeMap::new(),
            writes: 0,
            calm_write: None,
            stats: Stats::default(),
            trace: std::env::var("ZK_SIM_TRACE").is_ok(),
        }
    }

    fn fail(&self, msg: String) -> ! {
        panic!(
            "seed {} at {} ms: {msg}\nreplay: ZK_SIM_SEED={} cargo test -p zkserver --lib quorum::zab::sim::replay -- --nocapture",
            self.seed, self.now, self.seed
        );
    }

    fn quorum(&self, n: usize) -> bool {
        2 * n > self.voters.len()
    }

    fn leader_idx(&self) -> Option<usize> {
        self.members
            .iter()
            .position(|m| matches!(m.role, Role::Leading(_)))
    }

    // ----- outputs -----

    fn run(&mut self, m: usize, outs: Vec<Output>) {
        for o in outs {
            self.exec(m, o);
        }
    }

    fn delay(&mut self, calm: bool) -> u64 {
        if calm {
            self.rng.gen_range(1..10)
        } else {
            self.rng.gen_range(1..60)
        }
    }

    fn send_from(&mut self, m: usize, to: ConnId, msg: Msg) {
        let calm = self.now > CHAOS_MS;
        let d = self.delay(calm);
        let now = self.now;
        let Some(c) = self.conns.get_mut(&to) else {
            return;
        };
        if !c.alive {
            return;
        }
        if c.leader == m {
            let t = (now + d).max(c.last_l);
            c.last_l = t;
            c.to_learner.push_back((t, msg));
        } else if let Msg::Pkt(p) = msg {
            let t = (now + d).max(c.last_f);
            c.last_f = t;
            c.to_leader.push_back((t, p));
        }
    }

    fn exec(&mut self, m: usize, o: Output) {
        if self.trace {
            match &o {
                Output::Abandon { .. } | Output::Close { .. } | Output::StartServing => {
                    println!("{:>6} sid {}: {o:?}", self.now, self.members[m].sid)
                }
                _ => {}
            }
        }
        match o {
            Output::Send { to, pkt } => {
                if pkt.kind == packet::TRUNC {
                    self.stats.truncs += 1;
                }
                self.send_from(m, to, Msg::Pkt(pkt))
            }
            Output::SendSnapshot { to, zxid } => {
                let mem = &self.members[m];
                let last = mem.last_applied();
                if !(last == zxid || (last < zxid && counter_of(zxid) == 0)) {
                    self.fail(format!("SendSnapshot at {zxid:#x} but applied {last:#x}"));
                }
                let seq = mem.applied.clone();
                self.stats.snaps += 1;
                self.send_from(
                    m,
                    to,
                    Msg::Snap(seq, QuorumPacket::bare(packet::SNAP, zxid)),
                );
            }
            Output::SendCommittedRange { to, after, upto } => {
                self.stats.disk_diffs += 1;
                let pairs: Vec<(Zxid, Txn)> = self.members[m]
                    .applied
                    .iter()
                    .filter(|e| e.0 > after && e.0 <= upto)
                    .cloned()
                    .collect();
                if pairs.last().map(|e| e.0) != Some(upto) {
                    self.fail(format!("disk range ({after:#x},{upto:#x}] not on disk"));
                }
                for (z, t) in pairs {
                    let p = QuorumPacket::with_data(packet::PROPOSAL, z, t.to_vec());
                    self.send_from(m, to, Msg::Pkt(p));
                    self.send_from(m, to, Msg::Pkt(QuorumPacket::bare(packet::COMMIT, z)));
                }
            }
            Output::Persist { zxid, txn } => {
                let mem = &self.members[m];
                if zxid
                    <= mem
                        .last_logged()
                        .max(mem.unsynced.last().map_or(0, |e| e.0))
                {
                    self.fail(format!("sid {} persists {zxid:#x} out of order", mem.sid));
                }
                self.members[m].unsynced.push((zxid, txn));
                if self.members[m].fsync_at.is_none() {
                    let d = if self.rng.gen_bool(0.2) {
                        self.rng.gen_range(25..200)
                    } else {
                        self.rng.gen_range(1..25)
                    };
                    self.members[m].fsync_at = Some(self.now + d);
                }
            }
            Output::Truncate { zxid } => {
                if zxid < self.members[m].last_applied() {
                    self.fail(format!(
                        "truncate below applied at sid {}",
                        self.members[m].sid
                    ));
                }
                let mem = &mut self.members[m];
                mem.log.retain(|e| e.0 <= zxid);
                mem.unsynced.retain(|e| e.0 <= zxid);
            }
            Output::TakeSnapshot => {}
            Output::WriteAcceptedEpoch(e) => self.members[m].accepted = e,
            Output::WriteCurrentEpoch(e) => self.members[m].current = e,
            Output::Commit { zxid, txn } => self.apply(m, zxid, txn),
            Output::StartServing | Output::UpdateVotePeerEpoch(_) => {}
            Output::Abandon { .. } => self.stop_role(m),
            Output::Close { conn, .. } => self.kill_conn(conn),
            Output::SyncDone | Output::Touches { .. } | Output::Forwarded { .. } => {}
            Output::AnswerPing { zxid } => {
                if let Role::Following(_, c) = self.members[m].role {
                    let p = QuorumPacket::with_data(packet::PING, zxid, vec![]);
                    self.send_from(m, c, Msg::Pkt(p));
                }
            }
        }
    }

    /// A Commit: the core promises zxid order; the sim checks it against
    /// the one global sequence (no gaps, no different txn at a zxid).
    fn apply(&mut self, m: usize, zxid: Zxid, txn: Txn) {
        let prev = self.members[m].last_applied();
        if zxid <= prev {
            self.fail(format!(
                "sid {} applies {zxid:#x} after {prev:#x}",
                self.members[m].sid
            ));
        }
        let gprev = self.global.range(..zxid).next_back().map_or(0, |e| *e.0);
        if gprev != prev {
            self.fail(format!(
                "sid {} applies {zxid:#x} after {prev:#x}, but the history has {gprev:#x} before it",
                self.members[m].sid
            ));
        }
        match self.global.get(&zxid) {
            Some(t) if *t != txn => self.fail(format!("two txns committed at {zxid:#x}")),
            Some(_) => {}
            None => {
                if let Some((z, _)) = self.global.range(zxid + 1..).next() {
                    self.fail(format!("{zxid:#x} committed after {z:#x}"));
                }
                self.global.insert(zxid, txn.clone());
            }
        }
        if matches!(self.members[m].role, Role::Leading(_)) {
            self.acked.push((zxid, txn.clone()));
        }
        self.stats.commits += 1;
        let mem = &mut self.members[m];
        mem.applied.push((zxid, txn));
        mem.log.retain(|e| e.0 > zxid);
        mem.unsynced.retain(|e| e.0 > zxid);
    }

    fn kill_conn(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if !c.alive {
            return;
        }
        c.alive = false;
        let (l, f) = (c.leader, c.learner);
        if let Role::Leading(ld) = &mut self.members[l].role {
            ld.disconnected(id);
            let o = ld.take_outputs();
            self.run(l, o);
        }
        if let Role::Following(lr, c) = &mut self.members[f].role {
            if *c == id {
                lr.disconnected();
                let o = lr.take_outputs();
                self.run(f, o);
            }
        }
    }

    /// Leaves the current role (not a crash): the log is flushed, as Java's
    /// shutdown syncs it, and every connection of the role is closed.
    fn stop_role(&mut self, m: usize) {
        if !self.members[m].alive() || matches!(self.members[m].role, Role::Looking { .. }) {
            return;
        }
        self.members[m].role = Role::Looking { since: self.now };
        self.flush(m);
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.alive && (c.leader == m || c.learner == m))
            .map(|(i, _)| *i)
            .collect();
        for i in ids {
            self.kill_conn(i);
        }
    }

    fn flush(&mut self, m: usize) {
        let mem = &mut self.members[m];
        let u = std::mem::take(&mut mem.unsynced);
        mem.log.extend(u);
        mem.fsync_at = None;
    }

    fn crash(&mut self, m: usize) {
        self.stats.crashes += 1;
        let mem = &mut self.members[m];
        mem.unsynced.clear();
        mem.fsync_at = None;
        mem.role = Role::Down;
        mem.restart_at = self.now + self.rng.gen_range(100..3000);
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.alive && (c.leader == m || c.learner == m))
            .map(|(i, _)| *i)
            .collect();
        for i in ids {
            self.kill_conn(i);
        }
    }

    // ----- roles -----

    fn start_leading(&mut self, m: usize) {
        let mem = &self.members[m];
        let n = self.commit_log_count;
        let start = mem.applied.len().saturating_sub(n);
        let disk_start = mem.applied.len().saturating_sub(3 * n);
        let history: Vec<&(Zxid, Txn)> = mem.applied.iter().chain(mem.log.iter()).collect();
        for (z, t) in &self.acked {
            if !history.iter().any(|e| e.0 == *z && e.1 == *t) {
                self.fail(format!(
                    "new leader {} lacks acknowledged write {z:#x}",
                    mem.sid
                ));
            }
        }
        let cfg = LeaderConfig {
            me: mem.sid,
            voters: self.voters.clone(),
            observers: vec![100],
            accepted_epoch: mem.accepted,
            current_epoch: mem.current,
            last_committed: mem.last_applied(),
            committed_log: mem.applied[start..].to_vec(),
            tail: mem.log.clone(),
            disk_log: mem.applied[disk_start..]
                .iter()
                .map(|e| (e.0, e.1.len() as u64))
                .collect(),
            disk_size_limit: None,
            txn_log_sync: false,
            commit_log_count: n,
            limits: LIMITS,
            config_text: b"version=0".to_vec(),
        };
        match Leader::new(cfg) {
            Ok(l) => {
                self.stats.leaders += 1;
                self.members[m].role = Role::Leading(Box::new(l))
            }
            Err(e) => self.fail(e),
        }
    }

    fn join(&mut self, f: usize, l: usize) {
        let id = self.next_conn;
        self.next_conn += 1;
        let mem = &self.members[f];
        let cfg = LearnerConfig {
            me: mem.sid,
            kind: if mem.observer {
                LearnerType::Observer
            } else {
                LearnerType::Participant
            },
            conn: id,
            accepted_epoch: mem.accepted,
            current_epoch: mem.current,
            last_committed: mem.last_applied(),
            tail: mem.log.clone(),
            limits: LIMITS,
        };
        let mut lr = Learner::new(cfg);
        self.conns.insert(
            id,
            Conn {
                leader: l,
                learner: f,
                alive: true,
                to_learner: VecDeque::new(),
                to_leader: VecDeque::new(),
                last_l: 0,
                last_f: 0,
            },
        );
        if let Role::Leading(ld) = &mut self.members[l].role {
            ld.connected(id);
        }
        lr.connected();
        let o = lr.take_outputs();
        self.members[f].role = Role::Following(Box::new(lr), id);
        self.run(f, o);
    }

    /// The FLE stand-in.
    fn elect(&mut self) {
        let looking: Vec<usize> = (0..self.members.len())
            .filter(|&i| {
                matches!(self.members[i].role, Role::Looking { since } if self.now >= since + 200)
            })
            .collect();
        if let Some(l) = self.leader_idx() {
            for f in looking {
                self.join(f, l);
            }
            return;
        }
        let voters: Vec<usize> = looking
            .iter()
            .copied()
            .filter(|&i| !self.members[i].observer)
            .collect();
        if !self.quorum(voters.len()) {
            return;
        }
        let Some(&l) = voters.iter().max_by_key(|&&i| {
            let m = &self.members[i];
            (m.current, m.last_logged(), m.sid)
        }) else {
            return;
        };
        self.start_leading(l);
        for f in looking {
            if f != l {
                self.join(f, l);
            }
        }
    }

    // ----- the loop -----

    fn deliver(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            loop {
                let now = self.now;
                let Some(c) = self.conns.get_mut(&id) else {
                    break;
                };
                if !c.alive {
                    break;
                }
                let (l, f) = (c.leader, c.learner);
                if c.to_learner.front().is_some_and(|e| e.0 <= now) {
                    let (_, msg) = c.to_learner.pop_front().expect("checked");
                    self.deliver_to_learner(f, id, msg);
                } else if c.to_leader.front().is_some_and(|e| e.0 <= now) {
                    let (_, p) = c.to_leader.pop_front().expect("checked");
                    if let Role::Leading(ld) = &mut self.members[l].role {
                        ld.receive(id, p);
                        let o = ld.take_outputs();
                        self.run(l, o);
                    }
                } else {
                    break;
                }
            }
        }
        self.conns.retain(|_, c| c.alive);
    }

    fn deliver_to_learner(&mut self, f: usize, id: ConnId, msg: Msg) {
        if !matches!(self.members[f].role, Role::Following(_, c) if c == id) {
            return;
        }
        let pkt = match msg {
            Msg::Pkt(p) => p,
            Msg::Snap(seq, p) => {
                let want: Vec<(Zxid, Txn)> = self
                    .global
                    .range(..=p.zxid)
                    .map(|(z, t)| (*z, t.clone()))
                    .collect();
                if seq != want {
                    self.fail("SNAP is not a prefix of the committed history".into());
                }
                let mem = &mut self.members[f];
                mem.applied = seq;
                mem.log.clear();
                mem.unsynced.clear();
                p
            }
        };
        if let Role::Following(lr, _) = &mut self.members[f].role {
            lr.receive(pkt);
            let o = lr.take_outputs();
            self.run(f, o);
        }
    }

    fn fsyncs(&mut self) {
        for m in 0..self.members.len() {
            if self.members[m].fsync_at.is_some_and(|t| t <= self.now) {
                self.flush(m);
                let z = self.members[m].log.last().map_or(0, |e| e.0);
                let o = match &mut self.members[m].role {
                    Role::Leading(l) => {
                        l.persisted(z);
                        l.take_outputs()
                    }
                    Role::Following(l, _) => {
                        l.persisted(z);
                        l.take_outputs()
                    }
                    _ => vec![],
                };
                self.run(m, o);
            }
        }
    }

    fn ticks(&mut self) {
        for m in 0..self.members.len() {
            let o = match &mut self.members[m].role {
                Role::Leading(l) => {
                    let was = l.is_established();
                    l.tick();
                    let o = l.take_outputs();
                    if !was && l.is_established() {
                        unreachable!("establishment happens on packets, not ticks");
                    }
                    o
                }
                Role::Following(l, _) => {
                    l.tick();
                    l.take_outputs()
                }
                _ => vec![],
            };
            self.run(m, o);
        }
    }

    fn check_establishment(&mut self) {
        for m in 0..self.members.len() {
            if let Role::Leading(l) = &self.members[m].role {
                if l.is_established() {
                    let (e, sid) = (l.epoch(), self.members[m].sid);
                    match self.established.get(&e) {
                        Some(s) if *s != sid => {
                            self.fail(format!("epoch {e} established by {s} and {sid}"))
                        }
                        Some(_) => {}
                        None => {
                            self.stats.established += 1;
                            self.established.insert(e, sid);
                        }
                    }
                }
            }
        }
    }

    fn chaos(&mut self) {
        let n = self.members.len();
        if self.rng.gen_bool(0.002) {
            let m = self.rng.gen_range(0..n);
            if self.members[m].alive() {
                self.crash(m);
            }
        }
        if self.rng.gen_bool(0.001) {
            if let Some(l) = self.leader_idx() {
                self.crash(l);
            }
        }
        // A power cut: every member at once (unsynced entries lost everywhere).
        if self.rng.gen_bool(0.0003) {
            for m in 0..n {
                if self.members[m].alive() {
                    self.crash(m);
                }
            }
        }
        if self.rng.gen_bool(0.001) && !self.conns.is_empty() {
            let ids: Vec<ConnId> = self.conns.keys().copied().collect();
            let id = ids[self.rng.gen_range(0..ids.len())];
            self.kill_conn(id);
        }
    }

    fn propose(&mut self) {
        let Some(l) = self.leader_idx() else {
            return;
        };
        self.writes += 1;
        let t = mk_txn(self.writes);
        let o = match &mut self.members[l].role {
            Role::Leading(ld) if ld.is_established() => {
                if ld.propose(t.clone()).is_ok() && self.now > CHAOS_MS + 5_000 {
                    self.calm_write.get_or_insert(t);
                }
                ld.take_outputs()
            }
            _ => vec![],
        };
        self.run(l, o);
    }

    fn step(&mut self) {
        self.now += STEP_MS;
        let calm = self.now > CHAOS_MS;
        for m in 0..self.members.len() {
            if matches!(self.members[m].role, Role::Down) && self.now >= self.members[m].restart_at
            {
                self.members[m].role = Role::Looking { since: self.now };
            }
        }
        self.deliver();
        self.fsyncs();
        if self.now.is_multiple_of(TICK_MS) {
            self.ticks();
        }
        if self.now.is_multiple_of(100) {
            self.elect();
        }
        if !calm {
            self.chaos();
        }
        let quiet = self.now > CHAOS_MS + CALM_MS - 4_000;
        if !quiet && self.rng.gen_bool(0.05) {
            self.propose();
        }
        self.check_establishment();
    }

    /// Liveness at the end of the calm phase: an established leader, every
    /// live member synced to its last commit, and a write proposed during
    /// the calm phase committed everywhere.
    fn check_liveness(&self) {
        let Some(l) = self.leader_idx() else {
            self.fail("no leader after the calm phase".into());
        };
        let Role::Leading(ld) = &self.members[l].role else {
            unreachable!()
        };
        if !ld.is_established() {
            self.fail("leader not established after the calm phase".into());
        }
        let Some(w) = &self.calm_write else {
            self.fail("no write was proposed during the calm phase".into());
        };
        let last = self.members[l].last_applied();
        let mut synced_voters = 0;
        for m in &self.members {
            // Java-faithful: a member that accepted a later epoch from an
            // aborted attempt refuses this leader ("Leaders epoch, X is less
            // than accepted epoch, Y") until the next leader change.
            if m.accepted > ld.epoch() {
                continue;
            }
            let serving = match &m.role {
                Role::Following(f, _) => f.is_serving(),
                Role::Leading(_) => true,
                _ => false,
            };
            if !serving {
                self.fail(format!("sid {} not serving after the calm phase", m.sid));
            }
            if m.last_applied() != last || !m.applied.iter().any(|e| e.1 == *w) {
                self.fail(format!(
                    "sid {} behind: {:#x} vs {last:#x}",
                    m.sid,
                    m.last_applied()
                ));
            }
            synced_voters += usize::from(!m.observer);
        }
        if !self.quorum(synced_voters) {
            self.fail("no quorum of voters in sync after the calm phase".into());
        }
    }
}

/// Runs one seed; panics with a replay command on a violated invariant.
pub fn run_seed(seed: u64) -> Stats {
    let mut sim = Sim::new(seed);
    while sim.now < CHAOS_MS + CALM_MS {
        sim.step();
    }
    sim.check_liveness();
    Stats {
        writes: sim.writes,
        ..sim.stats
    }
}

#[test]
fn seeds() {
    let n: u64 = std::env::var("ZK_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut t = Stats::default();
    for seed in 0..n {
        let s = run_seed(seed);
        t.leaders += s.leaders;
        t.established += s.established;
        t.crashes += s.crashes;
        t.snaps += s.snaps;
        t.truncs += s.truncs;
        t.disk_diffs += s.disk_diffs;
        t.commits += s.commits;
        t.writes += s.writes;
    }
    println!("{n} seeds: {t:?}");
    assert!(t.commits > 0 && t.established > n);
}

/// `ZK_SIM_SEED=N` replays one seed (a no-op without it).
#[test]
fn replay() {
    if let Some(seed) = std::env::var("ZK_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        println!("seed {seed}: {:?}", run_seed(seed));
    }
}
