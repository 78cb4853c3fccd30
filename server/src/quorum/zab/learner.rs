//! The learner side of ZAB (follower or observer) for one connection to one
//! leader: `Learner.registerWithLeader`, `syncWithLeader`, then
//! `Follower.processPacket` / `Observer.processPacket`, as a pure state
//! machine.
//!
//! Sync follows 3.8.5+ (ZOOKEEPER-4785): at NEWLEADER a follower logs the
//! proposals it was sent, waits until they are durable, writes currentEpoch
//! and only then ACKs NEWLEADER; their own ACKs follow the UPTODATE ACK.
//! Unlike Java (which applies SNAP/TRUNC-mode txns to memory as they
//! arrive), nothing received during sync is applied before UPTODATE: by then
//! a quorum acked NEWLEADER, so what we apply can never be rolled back.

use std::collections::VecDeque;

use super::payload;
use super::{ConnId, Limits, Output, Txn};
use crate::quorum::types::{epoch_of, make_zxid, packet, LearnerType, QuorumPacket, Sid, Zxid};

/// What a learner starts from: the member's durable state.
#[derive(Clone, Debug)]
pub struct LearnerConfig {
    pub me: Sid,
    pub kind: LearnerType,
    /// The transport's id for the leader connection (the `to` of `Send`).
    pub conn: ConnId,
    pub accepted_epoch: i64,
    pub current_epoch: i64,
    /// Zxid of the applied (committed) tree.
    pub last_committed: Zxid,
    /// Logged txns after `last_committed`, ascending, not known to be
    /// committed; lastLoggedZxid is the last of them.
    pub tail: Vec<(Zxid, Txn)>,
    pub limits: Limits,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    AwaitLeaderInfo,
    AwaitSync,
    Syncing,
    /// NEWLEADER seen; waiting for the sync proposals to be durable.
    NewLeaderPersist {
        target: Zxid,
    },
    AwaitUptodate,
    Broadcast,
    Abandoned,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Diff,
    Trunc,
    Snap,
}

#[derive(Clone, Debug)]
struct Pend {
    zxid: Zxid,
    txn: Txn,
    committed: bool,
    logged: bool,
}

/// One learner connection. See the module docs of `zab` for the I/O contract.
#[derive(Debug)]
pub struct Learner {
    me: Sid,
    kind: LearnerType,
    conn: ConnId,
    limits: Limits,
    accepted_epoch: i64,
    current_epoch: i64,
    new_epoch: i64,
    last_committed: Zxid,
    last_logged: Zxid,
    /// Logged before this connection; confirmed by DIFF/TRUNC, applied at
    /// UPTODATE.
    tail: VecDeque<(Zxid, Txn)>,
    mode: Mode,
    phase: Phase,
    /// Proposals received and not yet applied, in zxid order
    /// (`packetsNotCommitted`, then `pendingTxns`).
    pending: VecDeque<Pend>,
    /// Logged at NEWLEADER; ACKed after the UPTODATE ACK (`requestsToAck`).
    to_ack: Vec<Zxid>,
    /// Logged in broadcast, ACKed once `persisted` covers them.
    unacked: VecDeque<Zxid>,
    persisted: Zxid,
    now: u64,
    deadline: u64,
    out: Vec<Output>,
}

impl Learner {
    pub fn new(cfg: LearnerConfig) -> Learner {
        let last_logged = cfg.tail.last().map_or(cfg.last_committed, |t| t.0);
        Learner {
            me: cfg.me,
            kind: cfg.kind,
            conn: cfg.conn,
            limits: cfg.limits,
            accepted_epoch: cfg.accepted_epoch,
            current_epoch: cfg.current_epoch,
            new_epoch: -1,
            last_committed: cfg.last_committed,
            last_logged,
            tail: cfg.tail.into_iter().collect(),
            mode: Mode::Diff,
            phase: Phase::Idle,
            pending: VecDeque::new(),
            to_ack: Vec::new(),
            unacked: VecDeque::new(),
            persisted: last_logged,
            now: 0,
            deadline: u64::MAX,
            out: Vec::new(),
        }
    }

    /// The outputs produced since the last call, to execute in order.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    pub fn accepted_epoch(&self) -> i64 {
        self.accepted_epoch
    }
    pub fn current_epoch(&self) -> i64 {
        self.current_epoch
    }
    /// lastLoggedZxid, what ACKEPOCH and the election vote carry.
    pub fn last_logged(&self) -> Zxid {
        self.last_logged
    }
    /// Zxid of the applied tree.
    pub fn last_committed(&self) -> Zxid {
        self.last_committed
    }
    /// Whether UPTODATE arrived (clients may be served).
    pub fn is_serving(&self) -> bool {
        self.phase == Phase::Broadcast
    }
    pub fn is_abandoned(&self) -> bool {
        self.phase == Phase::Abandoned
    }

    fn send(&mut self, pkt: QuorumPacket) {
        self.out.push(Output::Send { to: self.conn, pkt });
    }

    fn abandon(&mut self, reason: String) {
        if self.phase != Phase::Abandoned {
            self.phase = Phase::Abandoned;
            self.out.push(Output::Abandon { reason });
        }
    }

    /// The TCP connection to the leader is up: register
    /// (`Learner.registerWithLeader`).
    pub fn connected(&mut self) {
        if self.phase != Phase::Idle {
            return;
        }
        let kind = match self.kind {
            LearnerType::Participant => packet::FOLLOWERINFO,
            LearnerType::Observer => packet::OBSERVERINFO,
        };
        let zxid = make_zxid(self.accepted_epoch, 0);
        self.send(QuorumPacket::with_data(
            kind,
            zxid,
            payload::learner_info(self.me),
        ));
        self.phase = Phase::AwaitLeaderInfo;
        self.deadline = self.now + self.limits.init_ticks();
    }

    /// The connection dropped: the learner is done (Java's `followLeader`
    /// returns and the peer goes LOOKING).
    pub fn disconnected(&mut self) {
        self.abandon("connection to the leader lost".into());
    }

    /// Sends a REQUEST or REVALIDATE from the pipeline on the leader
    /// connection (`Learner.request`, `revalidate`). Returns false (and
    /// sends nothing) for any other packet type or a dead learner.
    pub fn forward(&mut self, pkt: QuorumPacket) -> bool {
        let ok = matches!(pkt.kind, packet::REQUEST | packet::REVALIDATE)
            && !matches!(self.phase, Phase::Idle | Phase::Abandoned);
        if ok {
            self.send(pkt);
        }
        ok
    }

    /// One half-tick: no packet from the leader for initLimit (before
    /// NEWLEADER) or syncLimit (after) ends the connection (`SO_TIMEOUT`).
    pub fn tick(&mut self) {
        if matches!(self.phase, Phase::Idle | Phase::Abandoned) {
            return;
        }
        self.now += 1;
        if self.now > self.deadline {
            self.abandon("read timeout: nothing from the leader".into());
        }
    }

    /// The driver's fsync covers every entry up to `zxid`.
    pub fn persisted(&mut self, zxid: Zxid) {
        if self.phase == Phase::Abandoned || zxid <= self.persisted {
            return;
        }
        self.persisted = zxid;
        if let Phase::NewLeaderPersist { target } = self.phase {
            if zxid >= target {
                self.ack_newleader();
            }
        }
        if self.phase == Phase::Broadcast && self.kind == LearnerType::Participant {
            while self.unacked.front().is_some_and(|z| *z <= zxid) {
                let z = self.unacked.pop_front().unwrap_or_default();
                self.send(QuorumPacket::bare(packet::ACK, z));
            }
        }
    }

    /// One packet from the leader. With SNAP the driver has already loaded
    /// the inline snapshot stream before handing the packet over.
    pub fn receive(&mut self, pkt: QuorumPacket) {
        if matches!(self.phase, Phase::Idle | Phase::Abandoned) {
            return;
        }
        let quiet = match self.phase {
            Phase::AwaitLeaderInfo | Phase::AwaitSync | Phase::Syncing => self.limits.init_ticks(),
            _ => self.limits.sync_ticks(),
        };
        self.deadline = self.now + quiet;
        match self.phase {
            Phase::AwaitLeaderInfo => self.on_leader_info(pkt),
            Phase::AwaitSync => self.on_sync_start(pkt),
            Phase::Syncing | Phase::NewLeaderPersist { .. } | Phase::AwaitUptodate => {
                self.on_sync_packet(pkt)
            }
            Phase::Broadcast => self.on_broadcast(pkt),
            Phase::Idle | Phase::Abandoned => {}
        }
    }

    /// LEADERINFO (`registerWithLeader`): a newer epoch is accepted
    /// durably before ACKEPOCH, which carries the currentEpoch we had; the
    /// same epoch is acked with -1; an older one ends the connection.
    fn on_leader_info(&mut self, pkt: QuorumPacket) {
        if pkt.kind != packet::LEADERINFO {
            let why = format!("First packet from the leader is {}", packet::name(pkt.kind));
            return self.abandon(why);
        }
        if payload::parse_int(pkt.data.as_deref()).is_none() {
            return self.abandon("LEADERINFO without a protocol version".into());
        }
        let new_epoch = epoch_of(pkt.zxid);
        let reply_epoch = if new_epoch > self.accepted_epoch {
            let cur = self.current_epoch;
            self.accepted_epoch = new_epoch;
            self.out.push(Output::WriteAcceptedEpoch(new_epoch));
            cur
        } else if new_epoch == self.accepted_epoch {
            -1
        } else {
            let why = format!(
                "Leaders epoch, {new_epoch} is less than accepted epoch, {}",
                self.accepted_epoch
            );
            return self.abandon(why);
        };
        self.new_epoch = new_epoch;
        let ack = QuorumPacket::with_data(
            packet::ACKEPOCH,
            self.last_logged,
            payload::int(reply_epoch as i32),
        );
        self.send(ack);
        self.phase = Phase::AwaitSync;
    }

    /// The first sync packet: DIFF, TRUNC or SNAP.
    fn on_sync_start(&mut self, pkt: QuorumPacket) {
        match pkt.kind {
            packet::DIFF => self.mode = Mode::Diff,
            packet::TRUNC => {
                if pkt.zxid < self.last_committed {
                    let why = format!(
                        "leader asked to truncate to {:#x}, below applied {:#x}",
                        pkt.zxid, self.last_committed
                    );
                    return self.abandon(why);
                }
                self.mode = Mode::Trunc;
                self.out.push(Output::Truncate { zxid: pkt.zxid });
                while self.tail.back().is_some_and(|t| t.0 > pkt.zxid) {
                    self.tail.pop_back();
                }
                self.last_logged = pkt.zxid;
                self.persisted = self.persisted.min(pkt.zxid);
            }
            packet::SNAP => {
                self.mode = Mode::Snap;
                self.tail.clear();
                self.last_committed = pkt.zxid;
                self.last_logged = pkt.zxid;
                self.persisted = pkt.zxid;
            }
            k => {
                let why = format!("Got unexpected packet from leader: {}", packet::name(k));
                return self.abandon(why);
            }
        }
        self.phase = Phase::Syncing;
    }

    /// Marks the oldest uncommitted pending proposal committed if it is
    /// `zxid`; otherwise only warns, as `syncWithLeader` does.
    fn commit_during_sync(&mut self, zxid: Zxid) {
        match self.pending.iter_mut().find(|p| !p.committed) {
            Some(p) if p.zxid == zxid => p.committed = true,
            Some(p) => tracing::warn!("Committing {:#x}, but next proposal is {:#x}", zxid, p.zxid),
            None => tracing::warn!("Committing {:#x} with no pending proposal", zxid),
        }
    }

    fn push_pending(&mut self, zxid: Zxid, txn: Txn, committed: bool) {
        if self.pending.back().is_some_and(|p| p.zxid >= zxid) || zxid <= self.last_logged {
            tracing::warn!("ignoring proposal {:#x}: not after what we have", zxid);
            return;
        }
        self.pending.push_back(Pend {
            zxid,
            txn,
            committed,
            logged: false,
        });
    }

    /// Packets between the sync op and UPTODATE.
    fn on_sync_packet(&mut self, pkt: QuorumPacket) {
        match pkt.kind {
            packet::PROPOSAL => {
                let txn: Txn = pkt.data.unwrap_or_default().into();
                self.push_pending(pkt.zxid, txn, false);
            }
            packet::COMMIT => self.commit_during_sync(pkt.zxid),
            packet::INFORM => {
                let txn: Txn = pkt.data.unwrap_or_default().into();
                self.push_pending(pkt.zxid, txn, true);
            }
            packet::NEWLEADER if self.phase == Phase::Syncing => self.on_newleader(),
            packet::UPTODATE if self.phase == Phase::AwaitUptodate => self.on_uptodate(),
            packet::UPTODATE | packet::NEWLEADER => {
                let why = format!("{} out of order during sync", packet::name(pkt.kind));
                self.abandon(why);
            }
            // syncWithLeader has no case for PING and the rest: ignored.
            _ => {}
        }
    }

    /// NEWLEADER: snapshot after SNAP/TRUNC, log the received proposals
    /// (followers), and once they are durable write currentEpoch and ACK.
    fn on_newleader(&mut self) {
        if matches!(self.mode, Mode::Snap | Mode::Trunc) {
            self.out.push(Output::TakeSnapshot);
        }
        if self.kind == LearnerType::Observer {
            return self.ack_newleader();
        }
        let mut target = None;
        for p in self.pending.iter_mut().filter(|p| !p.logged) {
            p.logged = true;
            self.to_ack.push(p.zxid);
            self.last_logged = p.zxid;
            target = Some(p.zxid);
            self.out.push(Output::Persist {
                zxid: p.zxid,
                txn: p.txn.clone(),
            });
        }
        match target {
            Some(t) if t > self.persisted => self.phase = Phase::NewLeaderPersist { target: t },
            _ => self.ack_newleader(),
        }
    }

    fn ack_newleader(&mut self) {
        self.current_epoch = self.new_epoch;
        self.out.push(Output::WriteCurrentEpoch(self.new_epoch));
        self.send(QuorumPacket::bare(
            packet::ACK,
            make_zxid(self.new_epoch, 0),
        ));
        self.phase = Phase::AwaitUptodate;
    }

    /// UPTODATE: the second ACK first, then apply what sync confirmed, start
    /// serving, update the vote, ACK the proposals logged at NEWLEADER, and
    /// log what arrived since.
    fn on_uptodate(&mut self) {
        self.phase = Phase::Broadcast;
        self.send(QuorumPacket::bare(
            packet::ACK,
            make_zxid(self.new_epoch, 0),
        ));
        let follower = self.kind == LearnerType::Participant;
        for p in self.pending.iter_mut().filter(|p| !p.logged) {
            p.logged = true;
            self.last_logged = p.zxid;
            if follower {
                self.unacked.push_back(p.zxid);
            }
            self.out.push(Output::Persist {
                zxid: p.zxid,
                txn: p.txn.clone(),
            });
        }
        while let Some((zxid, txn)) = self.tail.pop_front() {
            self.apply(zxid, txn);
        }
        while self.pending.front().is_some_and(|p| p.committed) {
            if let Some(p) = self.pending.pop_front() {
                self.apply(p.zxid, p.txn);
            }
        }
        if !follower && !self.pending.is_empty() {
            tracing::warn!(
                "observer dropping {} uncommitted sync proposals",
                self.pending.len()
            );
            self.pending.clear();
        }
        self.out.push(Output::StartServing);
        self.out.push(Output::UpdateVotePeerEpoch(self.new_epoch));
        for z in std::mem::take(&mut self.to_ack) {
            self.send(QuorumPacket::bare(packet::ACK, z));
        }
        // Anything persisted while we waited for UPTODATE.
        let p = self.persisted;
        self.persisted = i64::MIN;
        self.persisted(p);
    }

    fn apply(&mut self, zxid: Zxid, txn: Txn) {
        if zxid <= self.last_committed {
            return;
        }
        self.last_committed = zxid;
        self.out.push(Output::Commit { zxid, txn });
    }

    /// Broadcast (`Follower.processPacket`, `Observer.processPacket`).
    fn on_broadcast(&mut self, pkt: QuorumPacket) {
        let follower = self.kind == LearnerType::Participant;
        match pkt.kind {
            packet::PROPOSAL if follower => {
                if pkt.zxid <= self.last_logged {
                    tracing::warn!("ignoring old proposal {:#x}", pkt.zxid);
                    return;
                }
                let txn: Txn = pkt.data.unwrap_or_default().into();
                self.last_logged = pkt.zxid;
                self.pending.push_back(Pend {
                    zxid: pkt.zxid,
                    txn: txn.clone(),
                    committed: false,
                    logged: true,
                });
                self.unacked.push_back(pkt.zxid);
                self.out.push(Output::Persist {
                    zxid: pkt.zxid,
                    txn,
                });
            }
            packet::COMMIT if follower => match self.pending.front() {
                // FollowerZooKeeperServer.commit: nothing pending is a warning.
                None => tracing::warn!("Committing {:#x} without seeing txn", pkt.zxid),
                Some(p) if p.zxid != pkt.zxid => {
                    // Java exits with code 12 (UNMATCHED_TXN_COMMIT).
                    let why = format!(
                        "UNMATCHED_TXN_COMMIT: committing zxid {:#x} but next pending txn {:#x}",
                        pkt.zxid, p.zxid
                    );
                    self.abandon(why);
                }
                Some(_) => {
                    if let Some(p) = self.pending.pop_front() {
                        self.apply(p.zxid, p.txn);
                    }
                }
            },
            packet::INFORM if !follower => {
                if pkt.zxid <= self.last_logged {
                    return;
                }
                let txn: Txn = pkt.data.unwrap_or_default().into();
                self.last_logged = pkt.zxid;
                self.out.push(Output::Persist {
                    zxid: pkt.zxid,
                    txn: txn.clone(),
                });
                self.apply(pkt.zxid, txn);
            }
            packet::PING => self.out.push(Output::AnswerPing { zxid: pkt.zxid }),
            packet::SYNC => self.out.push(Output::SyncDone),
            packet::REVALIDATE => self.out.push(Output::Forwarded {
                conn: self.conn,
                sid: self.me,
                pkt,
            }),
            k => tracing::warn!("ignoring {} in broadcast", packet::name(k)),
        }
    }
}
