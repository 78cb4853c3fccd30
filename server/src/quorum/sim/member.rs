//! One member: durable state, the election core for its whole life, the ZAB
//! core of its current role, and the driver logic of `peer` between them.

use rand::Rng;

use super::net::Msg;
use super::{new_election, Sim, LIMITS};
use crate::quorum::election::{Election, Output as EOutput};
use crate::quorum::types::{
    counter_of, packet, LearnerType, Notification, PeerState, QuorumPacket, Sid, Zxid,
};
use crate::quorum::zab::{ConnId, Leader, LeaderConfig, Learner, LearnerConfig, Output, Txn};

/// `Learner.connectToLeader`: attempts a second apart.
const CONNECT_ATTEMPTS: u32 = 5;
const CONNECT_RETRY_MS: u64 = 1_000;
/// The driver takes an early learner only if it waited less than initLimit
/// ticks (tickTime = 100 ms).
const EARLY_FRESH_MS: u64 = 100 * LIMITS.init_limit;

pub(super) enum Role {
    Down,
    Looking,
    /// Decided to follow `leader` (an index); dialling its quorum port.
    Connecting {
        leader: usize,
        attempts: u32,
        next_at: u64,
    },
    Leading(Box<Leader>),
    Following(Box<Learner>, ConnId),
}

impl Role {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Role::Down => "down",
            Role::Looking => "looking",
            Role::Connecting { .. } => "connecting",
            Role::Leading(l) if l.is_established() => "leading",
            Role::Leading(_) => "leading(sync)",
            Role::Following(f, _) if f.is_serving() => "following",
            Role::Following(..) => "following(sync)",
        }
    }
}

pub(super) struct Member {
    pub sid: Sid,
    pub observer: bool,
    pub election: Election,
    pub accepted: i64,
    pub current: i64,
    /// The applied (committed) txns: durable as a snapshot.
    pub applied: Vec<(Zxid, Txn)>,
    /// The durable txn log after the snapshot.
    pub log: Vec<(Zxid, Txn)>,
    /// Appended, not yet fsynced: lost on a crash.
    pub unsynced: Vec<(Zxid, Txn)>,
    /// The last appended zxid the next fsync reports.
    pub pending_sync: Option<Zxid>,
    pub fsync_at: Option<u64>,
    /// Notifications that arrived while dialling the leader: the driver's
    /// `follow` connects before its select loop, so they wait in the
    /// election channel (bounded, back-pressured, nothing lost).
    pub held: Vec<(Sid, Notification)>,
    pub role: Role,
    pub restart_at: u64,
}

impl Member {
    pub(super) fn new(sid: Sid, observer: bool, election: Election, start_at: u64) -> Member {
        Member {
            sid,
            observer,
            election,
            accepted: 0,
            current: 0,
            applied: vec![],
            log: vec![],
            unsynced: vec![],
            pending_sync: None,
            fsync_at: None,
            held: vec![],
            role: Role::Down,
            restart_at: start_at,
        }
    }

    pub(super) fn last_applied(&self) -> Zxid {
        self.applied.last().map_or(0, |e| e.0)
    }

    /// lastLoggedZxid, including appended but unsynced entries.
    pub(super) fn last_logged(&self) -> Zxid {
        let l = self.log.last().map_or(0, |e| e.0);
        let u = self.unsynced.last().map_or(0, |e| e.0);
        self.last_applied().max(l).max(u)
    }
}

impl Sim {
    // ----- life cycle -----

    pub(super) fn crash(&mut self, m: usize) {
        self.log(m, || "crashes".into());
        self.stats.crashes += 1;
        let mem = &mut self.members[m];
        mem.unsynced.clear();
        mem.pending_sync = None;
        mem.fsync_at = None;
        mem.held.clear();
        mem.role = Role::Down;
        mem.restart_at = self.now + self.rng.gen_range(100..3000);
        for j in 0..self.members.len() {
            if j != m {
                self.break_link(m, j);
                self.last_sent.remove(&(m, j));
            }
        }
        self.kill_conns(|c| c.leader == m || c.learner == m);
    }

    /// A new process from durable state: a fresh election core, LOOKING.
    pub(super) fn restart(&mut self, m: usize) {
        self.log(m, || "starts".into());
        let mem = &mut self.members[m];
        mem.election = new_election(mem.sid, mem.observer, &self.voters, &self.config);
        mem.role = Role::Looking;
        for j in 0..self.members.len() {
            if j != m && self.connected(m, j) {
                self.reconnect(m, j);
            }
        }
        self.start_looking(m);
    }

    fn start_looking(&mut self, m: usize) {
        let mem = &mut self.members[m];
        mem.role = Role::Looking;
        let (z, e) = (mem.last_logged(), mem.current);
        let outs = mem.election.start_looking(self.now, z, e);
        self.exec_election(m, outs);
    }

    /// Leaves the current role (not a crash): the log is flushed, every
    /// quorum connection of the role closes, and the member looks again.
    pub(super) fn stop_role(&mut self, m: usize, why: &str) {
        if matches!(self.members[m].role, Role::Down | Role::Looking) {
            return;
        }
        self.log(m, || format!("{} ends: {why}", self.members[m].role.name()));
        self.stats.abandons += 1;
        self.members[m].role = Role::Looking;
        self.flush(m);
        self.kill_conns(|c| c.leader == m || c.learner == m);
        self.start_looking(m);
        self.release_held(m);
    }

    /// Feeds the notifications held while dialling, in arrival order, until
    /// the member is dialling again.
    fn release_held(&mut self, m: usize) {
        let mut held = std::mem::take(&mut self.members[m].held).into_iter();
        while let Some((from, n)) = held.next() {
            if matches!(self.members[m].role, Role::Connecting { .. } | Role::Down) {
                let mem = &mut self.members[m];
                let rest: Vec<_> = std::iter::once((from, n)).chain(held).collect();
                mem.held.splice(0..0, rest);
                return;
            }
            let outs = self.members[m].election.receive(self.now, from, n);
            self.exec_election(m, outs);
        }
    }

    fn flush(&mut self, m: usize) {
        let mem = &mut self.members[m];
        let u = std::mem::take(&mut mem.unsynced);
        mem.log.extend(u);
        mem.fsync_at = None;
    }

    // ----- the election core -----

    pub(super) fn exec_election(&mut self, m: usize, outs: Vec<EOutput>) {
        for o in outs {
            match o {
                EOutput::Send { to, n } => match self.idx(to) {
                    Some(j) if j != m => self.transmit(m, j, n),
                    _ => self.fail(format!("sid {} sends to sid {to}", self.members[m].sid)),
                },
                EOutput::ConnectAll | EOutput::NotificationTimeout { .. } => {}
                EOutput::Decided { state, vote, .. } => {
                    // In a role, a "decision" is only the core noticing the
                    // leader it follows; the driver ignores it.
                    if matches!(self.members[m].role, Role::Looking) {
                        self.decided(m, state, vote.leader);
                    }
                }
            }
        }
    }

    pub(super) fn election_ticks(&mut self) {
        for m in 0..self.members.len() {
            if !self.alive(m)
                || self.members[m]
                    .election
                    .next_deadline()
                    .is_none_or(|d| d > self.now)
            {
                continue;
            }
            let have_delivered = (0..self.members.len())
                .any(|j| j != m && !self.members[j].observer && self.connected(m, j));
            let outs = self.members[m].election.tick(self.now, have_delivered);
            self.exec_election(m, outs);
        }
    }

    fn decided(&mut self, m: usize, state: PeerState, leader: Sid) {
        self.stats.decisions += 1;
        self.log(m, || format!("decided {state:?} for {leader}"));
        if state == PeerState::Leading {
            self.start_leading(m);
            return;
        }
        let Some(l) = self.idx(leader) else {
            self.fail(format!("decided on unknown sid {leader}"));
        };
        // Dialled us while we looked, but we are not the leader.
        self.kill_conns(|c| c.leader == m && !c.adopted);
        self.members[m].role = Role::Connecting {
            leader: l,
            attempts: 0,
            next_at: self.now,
        };
        self.try_connect(m);
    }

    fn start_leading(&mut self, m: usize) {
        let mem = &self.members[m];
        let n = self.commit_log_count;
        let start = mem.applied.len().saturating_sub(n);
        let disk_start = mem.applied.len().saturating_sub(3 * n);
        let cfg = LeaderConfig {
            me: mem.sid,
            voters: self.voters.clone(),
            observers: self.observers.clone(),
            accepted_epoch: mem.accepted,
            current_epoch: mem.current,
            last_committed: mem.last_applied(),
            committed_log: mem.applied[start..].to_vec(),
            tail: mem.log.iter().chain(mem.unsynced.iter()).cloned().collect(),
            disk_log: mem.applied[disk_start..]
                .iter()
                .map(|e| (e.0, e.1.len() as u64))
                .collect(),
            disk_size_limit: None,
            txn_log_sync: false,
            commit_log_count: n,
            limits: LIMITS,
            config_text: self.config.clone(),
        };
        let mut ld = match Leader::new(cfg) {
            Ok(l) => l,
            Err(e) => self.fail(format!("cannot lead: {e}")),
        };
        self.stats.leaders += 1;
        // Learners that dialled while we looked, if they are fresh.
        let early: Vec<(ConnId, u64)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.alive && c.leader == m && !c.adopted)
            .map(|(i, c)| (*i, c.opened_at))
            .collect();
        let mut stale = vec![];
        for (id, at) in early {
            if self.now - at < EARLY_FRESH_MS {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.adopted = true;
                }
                ld.connected(id);
            } else {
                stale.push(id);
            }
        }
        let o = ld.take_outputs();
        self.members[m].role = Role::Leading(Box::new(ld));
        self.run(m, o);
        for id in stale {
            self.kill_conn(id);
        }
    }

    pub(super) fn connect_attempts(&mut self) {
        for m in 0..self.members.len() {
            if matches!(self.members[m].role, Role::Connecting { next_at, .. } if next_at <= self.now)
            {
                self.try_connect(m);
            }
        }
    }

    /// One dial of the leader's quorum port.
    fn try_connect(&mut self, f: usize) {
        let Role::Connecting {
            leader: l,
            attempts,
            ..
        } = self.members[f].role
        else {
            return;
        };
        let answers = self.connected(f, l)
            && matches!(self.members[l].role, Role::Leading(_) | Role::Looking);
        if !answers {
            self.stats.refused += 1;
            if attempts + 1 >= CONNECT_ATTEMPTS {
                let why = format!("leader {} does not answer", self.members[l].sid);
                self.stop_role(f, &why);
            } else {
                self.members[f].role = Role::Connecting {
                    leader: l,
                    attempts: attempts + 1,
                    next_at: self.now + CONNECT_RETRY_MS,
                };
            }
            return;
        }
        let id = self.open_conn(f, l);
        let mem = &self.members[f];
        let mut lr = Learner::new(LearnerConfig {
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
            tail: mem.log.iter().chain(mem.unsynced.iter()).cloned().collect(),
            limits: LIMITS,
        });
        lr.connected();
        let o = lr.take_outputs();
        self.members[f].role = Role::Following(Box::new(lr), id);
        self.log(f, || format!("connected to {} ({id})", self.members[l].sid));
        if let Role::Leading(ld) = &mut self.members[l].role {
            if let Some(c) = self.conns.get_mut(&id) {
                c.adopted = true;
            }
            ld.connected(id);
            let lo = ld.take_outputs();
            self.run(l, lo);
        }
        self.run(f, o);
        self.release_held(f);
    }

    // ----- the ZAB cores -----

    pub(super) fn zab_ticks(&mut self) {
        for m in 0..self.members.len() {
            let o = match &mut self.members[m].role {
                Role::Leading(l) => {
                    l.tick();
                    l.take_outputs()
                }
                Role::Following(l, _) => {
                    l.tick();
                    l.take_outputs()
                }
                _ => continue,
            };
            self.run(m, o);
        }
    }

    pub(super) fn fsyncs(&mut self) {
        for m in 0..self.members.len() {
            if self.members[m].fsync_at.is_none_or(|t| t > self.now) {
                continue;
            }
            self.flush(m);
            let Some(z) = self.members[m].pending_sync.take() else {
                continue;
            };
            let o = match &mut self.members[m].role {
                Role::Leading(l) => {
                    l.persisted(z);
                    l.take_outputs()
                }
                Role::Following(l, _) => {
                    l.persisted(z);
                    l.take_outputs()
                }
                _ => continue,
            };
            self.run(m, o);
        }
    }

    pub(super) fn run(&mut self, m: usize, outs: Vec<Output>) {
        for o in outs {
            self.exec(m, o);
        }
    }

    fn exec(&mut self, m: usize, o: Output) {
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
                let p = QuorumPacket::bare(packet::SNAP, zxid);
                self.send_from(m, to, Msg::Snap(seq, p));
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
                if zxid <= mem.last_logged() {
                    self.fail(format!("sid {} persists {zxid:#x} out of order", mem.sid));
                }
                let d = if self.rng.gen_bool(0.2) {
                    self.rng.gen_range(25..200)
                } else {
                    self.rng.gen_range(1..25)
                };
                let mem = &mut self.members[m];
                mem.unsynced.push((zxid, txn));
                mem.pending_sync = Some(zxid);
                mem.fsync_at.get_or_insert(self.now + d);
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
                mem.pending_sync = mem.pending_sync.filter(|p| *p <= zxid);
            }
            Output::TakeSnapshot => {}
            Output::WriteAcceptedEpoch(e) => self.members[m].accepted = e,
            Output::WriteCurrentEpoch(e) => self.members[m].current = e,
            Output::Commit { zxid, txn } => self.apply(m, zxid, txn),
            Output::StartServing => self.log(m, || "serving".into()),
            Output::UpdateVotePeerEpoch(e) => self.members[m].election.update_vote_peer_epoch(e),
            Output::Abandon { reason } => self.stop_role(m, &reason),
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
        let sid = self.members[m].sid;
        let prev = self.members[m].last_applied();
        if zxid <= prev {
            self.fail(format!("sid {sid} applies {zxid:#x} after {prev:#x}"));
        }
        let gprev = self.global.range(..zxid).next_back().map_or(0, |e| *e.0);
        if gprev != prev {
            self.fail(format!(
                "sid {sid} applies {zxid:#x} after {prev:#x}, but the history has {gprev:#x} before it"
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
}
