//! The leader side of ZAB for one epoch of leadership (`Leader.lead` and the
//! per-learner `LearnerHandler`s), as a pure state machine.
//!
//! Phases follow `Leader.lead`: discovery (`getEpochToPropose`), epoch
//! acknowledgement (`waitForEpochAck`), synchronisation of each learner
//! ([`sync`], `LearnerHandler.syncFollower` + `Leader.startForwarding`),
//! waiting for a quorum of NEWLEADER ACKs (`waitForNewLeaderAck`), then
//! broadcast ([`broadcast`]). Each phase before broadcast is bounded by
//! initLimit; running out abandons leadership, as Java goes back to LOOKING.

mod broadcast;
mod sync;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::payload;
use super::{ConnId, Limits, Output, Txn};
use crate::quorum::types::{
    epoch_of, make_zxid, packet, LearnerType, QuorumPacket, Sid, Zxid, ZAB_PROTOCOL_VERSION,
};

pub use broadcast::ProposeError;

/// Everything a leader starts from: the member's durable state plus the
/// ensemble's static view.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    /// My sid; must be one of `voters`.
    pub me: Sid,
    /// Voting members, me included (`QuorumVerifier.getVotingMembers`).
    pub voters: Vec<Sid>,
    /// Observers (non-voting members). Only used for logging: a learner's
    /// role on the wire comes from FOLLOWERINFO vs OBSERVERINFO, and whether
    /// it counts from `voters` (`Leader.isParticipant`).
    pub observers: Vec<Sid>,
    pub accepted_epoch: i64,
    pub current_epoch: i64,
    /// Zxid of the applied (committed) tree; also the zxid of its snapshot.
    pub last_committed: Zxid,
    /// The newest committed txns, ascending, ending at or before
    /// `last_committed`: at most `commit_log_count` of them (`ZKDatabase.
    /// committedLog`). Used for DIFF.
    pub committed_log: Vec<(Zxid, Txn)>,
    /// Logged txns after `last_committed`, ascending. The new leader
    /// commits them all once a quorum acked NEWLEADER (Java does so at
    /// `loadData`; see the module docs of `zab`). lastLoggedZxid is the last
    /// of these, or `last_committed` when empty.
    pub tail: Vec<(Zxid, Txn)>,
    /// Zxids (and sizes in bytes) of the committed txns the on-disk log can
    /// still stream, ascending; may overlap `committed_log`. Empty disables
    /// on-disk DIFF (`txnLogSyncEnabled`).
    pub disk_log: Vec<(Zxid, u64)>,
    /// `ZKDatabase.calculateTxnLogSizeLimit`: on-disk DIFF only if the txns
    /// to stream total at most this; `None` means no limit.
    pub disk_size_limit: Option<u64>,
    /// Whether every txn this leader commits joins the disk index at once
    /// (the driver's log holds it: the leader counts its own ACK only once
    /// it is durable), so on-disk DIFF reaches the committed log without a
    /// gap. When false, entries join the index only as they leave the
    /// in-memory committed log.
    pub txn_log_sync: bool,
    /// `zookeeper.commitLogCount`, 500 by default.
    pub commit_log_count: usize,
    pub limits: Limits,
    /// NEWLEADER data: the UTF-8 text of the last-seen config
    /// (`getQuorumVerifierBytes`).
    pub config_text: Vec<u8>,
}

/// The commitLogCount Java uses unless `zookeeper.commitLogCount` is set.
pub const DEFAULT_COMMIT_LOG_COUNT: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Discovery,
    EpochAck,
    NewLeaderAck,
    Broadcast,
    Abandoned,
}

/// Where one learner connection is in `LearnerHandler.run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PState {
    /// Connected; FOLLOWERINFO/OBSERVERINFO expected.
    AwaitInfo,
    /// Inside `getEpochToPropose`, waiting for the discovery quorum.
    AwaitEpoch,
    /// LEADERINFO sent; ACKEPOCH expected.
    AwaitAckEpoch,
    /// ACKEPOCH received; waiting for the epoch-ack quorum before sync.
    AwaitEpochQuorum { peer_last: Zxid },
    /// Synced and NEWLEADER queued: the next packet must be the ACK.
    AwaitNewLeaderAck,
    /// NEWLEADER acked; UPTODATE follows once leadership is established.
    AwaitEstablished,
    /// UPTODATE sent: the handler's main loop.
    Synced,
}

#[derive(Clone, Debug)]
struct Peer {
    sid: Sid,
    kind: LearnerType,
    /// Whether its ACKs count (`Leader.isParticipant`: the sid is a voter).
    voter: bool,
    state: PState,
    /// Half-tick after which the handler is dead (`tickOfNextAckDeadline`,
    /// standing in for the socket timeout too).
    deadline: u64,
    /// PROPOSALs sent while Synced and not yet ACKed, with the half-tick they
    /// were sent (`LearnerHandler.SyncLimitCheck`).
    unacked: VecDeque<(Zxid, u64)>,
}

impl Peer {
    /// Whether live broadcast reaches it: Java adds the handler to the
    /// forwarding set in `startForwarding`, right after its sync is queued.
    fn forwarding(&self) -> bool {
        matches!(
            self.state,
            PState::AwaitNewLeaderAck | PState::AwaitEstablished | PState::Synced
        )
    }
}

#[derive(Clone, Debug)]
struct Proposal {
    txn: Txn,
    acks: BTreeSet<Sid>,
}

/// One epoch of leadership. See the module docs of `zab` for the I/O contract.
#[derive(Debug)]
pub struct Leader {
    me: Sid,
    voters: BTreeSet<Sid>,
    limits: Limits,
    config_text: Vec<u8>,
    commit_log_count: usize,
    disk_log: Vec<(Zxid, u64)>,
    disk_size_limit: Option<u64>,
    txn_log_sync: bool,
    /// `leaderStateSummary`: (currentEpoch, lastLoggedZxid) at start.
    summary: (i64, Zxid),

    phase: Phase,
    now: u64,
    phase_deadline: u64,
    /// The epoch being proposed (discovery), then the established one.
    epoch: i64,
    connecting: BTreeSet<Sid>,
    electing: BTreeSet<Sid>,
    newleader_acks: BTreeSet<Sid>,
    peers: BTreeMap<ConnId, Peer>,

    committed_log: VecDeque<(Zxid, Txn)>,
    /// The old tail, decided but applied only at establishment (`toBeApplied`).
    to_be_applied: VecDeque<(Zxid, Txn)>,
    /// `lastProcessedZxid` as the sync decision sees it (Java's
    /// fast-forwarded tree): lastLogged before establishment, then
    /// epoch<<32, then each commit.
    last_processed: Zxid,
    /// Zxid of the tree the driver has applied: what a SNAP carries.
    applied: Zxid,
    last_committed: Zxid,
    last_proposed: Zxid,
    outstanding: BTreeMap<Zxid, Proposal>,
    /// Highest zxid the driver reported durable.
    persisted: Zxid,
    /// Forwarded syncs waiting for the commit of a zxid (`pendingSyncs`).
    pending_syncs: BTreeMap<Zxid, Vec<ConnId>>,
    tick_skip: bool,
    out: Vec<Output>,
}

impl Leader {
    /// Starts discovery. Fails only on a config that cannot lead (not a
    /// voter, or an unordered log).
    pub fn new(cfg: LeaderConfig) -> Result<Leader, String> {
        if !cfg.voters.contains(&cfg.me) {
            return Err(format!("sid {} is not a voter", cfg.me));
        }
        let ordered = |v: &[(Zxid, Txn)]| v.windows(2).all(|w| w[0].0 < w[1].0);
        if !ordered(&cfg.committed_log) || !ordered(&cfg.tail) {
            return Err("log entries out of order".into());
        }
        if cfg.tail.first().is_some_and(|t| t.0 <= cfg.last_committed) {
            return Err("tail does not follow last_committed".into());
        }
        let last_logged = cfg.tail.last().map_or(cfg.last_committed, |t| t.0);
        let mut committed_log: VecDeque<_> = cfg.committed_log.into_iter().collect();
        while committed_log.len() > cfg.commit_log_count.max(1) {
            committed_log.pop_front();
        }
        let me = cfg.me;
        let init = cfg.limits.init_ticks();
        Ok(Leader {
            me,
            voters: cfg.voters.into_iter().collect(),
            limits: cfg.limits,
            config_text: cfg.config_text,
            commit_log_count: cfg.commit_log_count.max(1),
            disk_log: cfg.disk_log,
            disk_size_limit: cfg.disk_size_limit,
            txn_log_sync: cfg.txn_log_sync,
            summary: (cfg.current_epoch, last_logged),
            phase: Phase::Discovery,
            now: 0,
            phase_deadline: init,
            // getEpochToPropose as called by the leader's own thread first.
            epoch: cfg.accepted_epoch + 1,
            connecting: [me].into_iter().collect(),
            electing: BTreeSet::new(),
            newleader_acks: BTreeSet::new(),
            peers: BTreeMap::new(),
            committed_log,
            to_be_applied: cfg.tail.into_iter().collect(),
            last_processed: last_logged,
            applied: cfg.last_committed,
            last_committed: cfg.last_committed,
            last_proposed: last_logged,
            outstanding: BTreeMap::new(),
            persisted: last_logged,
            pending_syncs: BTreeMap::new(),
            tick_skip: true,
            out: Vec::new(),
        })
    }

    /// The outputs produced since the last call, to execute in order.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// The epoch proposed (during discovery) or established.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// Whether a quorum acked NEWLEADER (`Leader.startZkServer` ran).
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    /// Whether this leadership was given up.
    pub fn is_abandoned(&self) -> bool {
        self.phase == Phase::Abandoned
    }

    /// `lastCommitted`.
    pub fn last_committed(&self) -> Zxid {
        self.last_committed
    }

    /// `lastProposed` (what PING carries).
    pub fn last_proposed(&self) -> Zxid {
        self.last_proposed
    }

    /// The sid behind a connection, once FOLLOWERINFO/OBSERVERINFO arrived.
    pub fn learner_sid(&self, conn: ConnId) -> Option<Sid> {
        self.peers
            .get(&conn)
            .filter(|p| p.state != PState::AwaitInfo)
            .map(|p| p.sid)
    }

    /// Sids of learners that got UPTODATE (for mntr's synced counts).
    /// Replaces the on-disk DIFF size limit (`calculateTxnLogSizeLimit`
    /// follows the newest snapshot, which the driver knows).
    pub fn set_disk_size_limit(&mut self, limit: Option<u64>) {
        self.disk_size_limit = limit;
    }

    /// Learner connections the leader knows (any phase).
    pub fn learner_count(&self) -> usize {
        self.peers.len()
    }

    /// Client syncs waiting for their proposals to commit.
    pub fn pending_sync_count(&self) -> usize {
        self.pending_syncs.values().map(Vec::len).sum()
    }

    pub fn synced_learners(&self) -> Vec<(Sid, LearnerType)> {
        self.peers
            .values()
            .filter(|p| p.state == PState::Synced)
            .map(|p| (p.sid, p.kind))
            .collect()
    }

    /// A learner connection was accepted. Its first deadline is
    /// initLimit + syncLimit (`getTickOfInitialAckDeadline`).
    pub fn connected(&mut self, conn: ConnId) {
        if self.phase == Phase::Abandoned {
            return;
        }
        let deadline = self.now + self.limits.init_ticks() + self.limits.sync_ticks();
        self.peers.insert(
            conn,
            Peer {
                sid: -1,
                kind: LearnerType::Participant,
                voter: false,
                state: PState::AwaitInfo,
                deadline,
                unacked: VecDeque::new(),
            },
        );
    }

    /// A learner connection died. Like Java, an epoch vote or ACK it already
    /// gave still counts (they are durable on the learner).
    pub fn disconnected(&mut self, conn: ConnId) {
        self.peers.remove(&conn);
    }

    /// Writes a packet from the request pipeline (e.g. a REVALIDATE reply)
    /// on a learner's connection, so the connection keeps a single writer.
    pub fn send_to(&mut self, conn: ConnId, pkt: QuorumPacket) {
        if self.phase != Phase::Abandoned && self.peers.contains_key(&conn) {
            self.out.push(Output::Send { to: conn, pkt });
        }
    }

    /// One packet from a learner.
    pub fn receive(&mut self, conn: ConnId, pkt: QuorumPacket) {
        if self.phase == Phase::Abandoned {
            return;
        }
        let Some(peer) = self.peers.get(&conn) else {
            return;
        };
        match peer.state {
            PState::AwaitInfo => self.on_learner_info(conn, pkt),
            PState::AwaitEpoch | PState::AwaitEpochQuorum { .. } => {
                let why = format!("unexpected {} before sync", packet::name(pkt.kind));
                self.close(conn, why);
            }
            PState::AwaitAckEpoch => self.on_ack_epoch(conn, pkt),
            PState::AwaitNewLeaderAck => self.on_newleader_ack(conn, pkt),
            PState::AwaitEstablished | PState::Synced => self.on_main_loop(conn, pkt),
        }
    }

    pub(super) fn close(&mut self, conn: ConnId, reason: String) {
        if self.peers.remove(&conn).is_some() {
            self.out.push(Output::Close { conn, reason });
        }
    }

    pub(super) fn abandon(&mut self, reason: String) {
        if self.phase != Phase::Abandoned {
            self.phase = Phase::Abandoned;
            self.peers.clear();
            self.out.push(Output::Abandon { reason });
        }
    }

    fn is_quorum(&self, set: &BTreeSet<Sid>) -> bool {
        let n = set.iter().filter(|s| self.voters.contains(s)).count();
        2 * n > self.voters.len()
    }

    fn send(&mut self, to: ConnId, pkt: QuorumPacket) {
        self.out.push(Output::Send { to, pkt });
    }

    fn leader_info(&self) -> QuorumPacket {
        QuorumPacket::with_data(
            packet::LEADERINFO,
            make_zxid(self.epoch, 0),
            payload::int(ZAB_PROTOCOL_VERSION),
        )
    }

    /// FOLLOWERINFO/OBSERVERINFO (`LearnerHandler.run` up to
    /// `getEpochToPropose`).
    fn on_learner_info(&mut self, conn: ConnId, pkt: QuorumPacket) {
        let kind = match pkt.kind {
            packet::FOLLOWERINFO => LearnerType::Participant,
            packet::OBSERVERINFO => LearnerType::Observer,
            k => {
                let why = format!(
                    "first packet is {}, not FOLLOWERINFO or OBSERVERINFO",
                    packet::name(k)
                );
                return self.close(conn, why);
            }
        };
        let Some(info) = payload::parse_learner_info(pkt.data.as_deref()) else {
            return self.close(conn, "LearnerInfo without a sid".into());
        };
        if info.protocol_version < ZAB_PROTOCOL_VERSION {
            // Java would take the pre-Zab-1.0 path; no 3.8 peer sends this.
            return self.close(conn, "pre-Zab-1.0 learner not supported".into());
        }
        if info.config_version > 0 {
            let why = "Follower is ahead of the leader (has a later activated configuration)";
            return self.close(conn, why.into());
        }
        if info.sid == self.me {
            return self.close(conn, format!("learner claims my own sid {}", info.sid));
        }
        // One connection per sid: a reconnecting learner's old connection is
        // dead (Java keeps both handlers until the old socket times out).
        let stale: Vec<ConnId> = self
            .peers
            .iter()
            .filter(|(c, p)| **c != conn && p.sid == info.sid && p.state != PState::AwaitInfo)
            .map(|(c, _)| *c)
            .collect();
        for c in stale {
            self.close(c, format!("sid {} reconnected", info.sid));
        }
        let voter = self.voters.contains(&info.sid);
        let accepted = epoch_of(pkt.zxid);
        let p = self.peers.get_mut(&conn).expect("checked by receive");
        p.sid = info.sid;
        p.kind = kind;
        p.voter = voter;
        if self.phase == Phase::Discovery {
            p.state = PState::AwaitEpoch;
            // getEpochToPropose: every learner raises the epoch; only
            // voters count toward the quorum.
            if accepted >= self.epoch {
                self.epoch = accepted + 1;
            }
            if voter {
                self.connecting.insert(info.sid);
            }
            if self.is_quorum(&self.connecting) {
                self.epoch_decided();
            }
        } else {
            p.state = PState::AwaitAckEpoch;
            let li = self.leader_info();
            self.send(conn, li);
        }
    }

    /// The discovery quorum is in: persist acceptedEpoch, then LEADERINFO to
    /// every waiting learner (`getEpochToPropose`, `LearnerHandler.run`).
    fn epoch_decided(&mut self) {
        self.phase = Phase::EpochAck;
        self.phase_deadline = self.now + self.limits.init_ticks();
        self.last_proposed = make_zxid(self.epoch, 0);
        self.out.push(Output::WriteAcceptedEpoch(self.epoch));
        let li = self.leader_info();
        let waiting: Vec<ConnId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.state == PState::AwaitEpoch)
            .map(|(c, _)| *c)
            .collect();
        for c in waiting {
            if let Some(p) = self.peers.get_mut(&c) {
                p.state = PState::AwaitAckEpoch;
            }
            self.send(c, li.clone());
        }
        // The leader's own waitForEpochAck.
        self.electing.insert(self.me);
        if self.is_quorum(&self.electing) {
            self.epoch_acked();
        }
    }

    /// ACKEPOCH (`LearnerHandler.run`, `Leader.waitForEpochAck`).
    fn on_ack_epoch(&mut self, conn: ConnId, pkt: QuorumPacket) {
        if pkt.kind != packet::ACKEPOCH {
            let why = format!("{} is not ACKEPOCH", packet::name(pkt.kind));
            return self.close(conn, why);
        }
        let Some(epoch) = payload::parse_int(pkt.data.as_deref()) else {
            return self.close(conn, "ACKEPOCH without an int epoch".into());
        };
        let (epoch, last_zxid) = (i64::from(epoch), pkt.zxid);
        if self.phase == Phase::EpochAck {
            if epoch != -1 {
                let (my_epoch, my_zxid) = self.summary;
                // StateSummary.isMoreRecentThan
                if epoch > my_epoch || (epoch == my_epoch && last_zxid > my_zxid) {
                    let why = format!(
                        "Follower is ahead of the leader, leader summary: {my_epoch} (current epoch), {my_zxid} (last zxid)"
                    );
                    return self.close(conn, why);
                }
                let p = &self.peers[&conn];
                if last_zxid != -1 && p.voter {
                    self.electing.insert(p.sid);
                }
            }
            if let Some(p) = self.peers.get_mut(&conn) {
                p.state = PState::AwaitEpochQuorum {
                    peer_last: last_zxid,
                };
            }
            if self.is_quorum(&self.electing) {
                self.epoch_acked();
            }
        } else {
            self.sync_learner(conn, last_zxid);
        }
    }

    /// A quorum acked the epoch: persist currentEpoch, then sync every
    /// learner that was waiting (`Leader.lead` after `waitForEpochAck`).
    fn epoch_acked(&mut self) {
        self.phase = Phase::NewLeaderAck;
        self.phase_deadline = self.now + self.limits.init_ticks();
        self.out.push(Output::WriteCurrentEpoch(self.epoch));
        let waiting: Vec<(ConnId, Zxid)> = self
            .peers
            .iter()
            .filter_map(|(c, p)| match p.state {
                PState::AwaitEpochQuorum { peer_last } => Some((*c, peer_last)),
                _ => None,
            })
            .collect();
        for (c, z) in waiting {
            self.sync_learner(c, z);
        }
        // The leader's own waitForNewLeaderAck.
        self.newleader_acks.insert(self.me);
        if self.is_quorum(&self.newleader_acks) {
            self.establish();
        }
    }

    /// The first packet after NEWLEADER (`LearnerHandler.run`,
    /// `Leader.waitForNewLeaderAck`): only an ACK of exactly newEpoch<<32
    /// counts; a different zxid is logged and not counted; anything but an
    /// ACK kills the handler.
    fn on_newleader_ack(&mut self, conn: ConnId, pkt: QuorumPacket) {
        if pkt.kind != packet::ACK {
            let why = format!(
                "Next packet was supposed to be an ACK, but received {}",
                packet::name(pkt.kind)
            );
            return self.close(conn, why);
        }
        let p = self.peers.get_mut(&conn).expect("checked by receive");
        p.deadline = self.now + self.limits.sync_ticks();
        if self.phase == Phase::Broadcast {
            p.state = PState::Synced;
            self.send(conn, QuorumPacket::bare(packet::UPTODATE, -1));
            return;
        }
        p.state = PState::AwaitEstablished;
        if pkt.zxid == make_zxid(self.epoch, 0) && p.voter {
            self.newleader_acks.insert(p.sid);
            if self.is_quorum(&self.newleader_acks) {
                self.establish();
            }
        }
    }

    /// A quorum acked NEWLEADER (`Leader.startZkServer`): the old tail is
    /// now committed; lastCommitted = lastProcessed = newEpoch<<32; update
    /// the vote, serve, and send UPTODATE to every learner that acked.
    fn establish(&mut self) {
        self.phase = Phase::Broadcast;
        while let Some((zxid, txn)) = self.to_be_applied.pop_front() {
            self.out.push(Output::Commit {
                zxid,
                txn: txn.clone(),
            });
            self.push_committed(zxid, txn);
        }
        let z = make_zxid(self.epoch, 0);
        self.last_committed = z;
        self.last_processed = z;
        self.applied = z;
        self.out.push(Output::UpdateVotePeerEpoch(self.epoch));
        self.out.push(Output::StartServing);
        let ready: Vec<ConnId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.state == PState::AwaitEstablished)
            .map(|(c, _)| *c)
            .collect();
        for c in ready {
            if let Some(p) = self.peers.get_mut(&c) {
                p.state = PState::Synced;
            }
            self.send(c, QuorumPacket::bare(packet::UPTODATE, -1));
        }
    }

    /// Appends to the in-memory committed log, spilling the oldest entry to
    /// the disk index (it is durable: the leader acked it).
    fn push_committed(&mut self, zxid: Zxid, txn: Txn) {
        if self.txn_log_sync && self.disk_log.last().is_none_or(|d| d.0 < zxid) {
            self.disk_log.push((zxid, txn.len() as u64));
        }
        self.committed_log.push_back((zxid, txn));
        while self.committed_log.len() > self.commit_log_count {
            if let Some((z, t)) = self.committed_log.pop_front() {
                if self.disk_log.last().is_none_or(|d| d.0 < z) {
                    self.disk_log.push((z, t.len() as u64));
                }
            }
        }
    }

    /// One half-tick: phase timeouts, learner deadlines, and in broadcast
    /// the synced-quorum check (every other tick) and PINGs (`Leader.lead`).
    pub fn tick(&mut self) {
        if self.phase == Phase::Abandoned {
            return;
        }
        self.now += 1;
        let reason = match self.phase {
            Phase::Discovery => "Timeout while waiting for epoch from quorum",
            Phase::EpochAck => "Timeout while waiting for epoch to be acked by quorum",
            Phase::NewLeaderAck => "Timeout while waiting for NEWLEADER to be acked by quorum",
            _ => "",
        };
        if !reason.is_empty() && self.now > self.phase_deadline {
            return self.abandon(reason.into());
        }
        let late: Vec<ConnId> = self
            .peers
            .iter()
            .filter(|(_, p)| self.now > p.deadline)
            .map(|(c, _)| *c)
            .collect();
        for c in late {
            self.close(c, "learner silent past its deadline (read timeout)".into());
        }
        if self.phase == Phase::Broadcast {
            self.broadcast_tick();
        }
    }
}
