//! Broadcast: proposing, counting ACKs, committing in zxid order, PINGs,
//! the synced-quorum check and forwarded syncs (`Leader.propose`,
//! `processAck`, `tryToCommit`, `commit`, `inform`, `processSync`, the
//! `lead` loop, `LearnerHandler.ping` and its main loop).

use std::collections::BTreeSet;

use super::{Leader, PState, Phase, Proposal};
use crate::quorum::types::{counter_of, make_zxid, packet, LearnerType, QuorumPacket, Zxid};
use crate::quorum::zab::{payload, ConnId, Output, Txn};

/// Why [`Leader::propose`] refused a txn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposeError {
    /// Not yet established (no quorum acked NEWLEADER) or already abandoned.
    NotLeading,
    /// The counter would reach 0xffffffff: leadership was abandoned so a
    /// new election starts a new epoch (`Leader.propose`, ZOOKEEPER-1277).
    Rollover,
}

impl Leader {
    /// Proposes `txn` (its TxnHeader must already carry the returned zxid:
    /// the pipeline asks [`Leader::next_zxid`] first). Emits `Persist` then a
    /// PROPOSAL to every forwarding participant; observers get the txn only
    /// as INFORM once committed.
    pub fn propose(&mut self, txn: Txn) -> Result<Zxid, ProposeError> {
        if self.phase != Phase::Broadcast {
            return Err(ProposeError::NotLeading);
        }
        let zxid = self.next_zxid()?;
        self.last_proposed = zxid;
        self.outstanding.insert(
            zxid,
            Proposal {
                txn: txn.clone(),
                acks: BTreeSet::new(),
            },
        );
        self.out.push(Output::Persist {
            zxid,
            txn: txn.clone(),
        });
        let now = self.now;
        let targets: Vec<ConnId> = self
            .peers
            .iter_mut()
            .filter(|(_, p)| p.forwarding() && p.kind == LearnerType::Participant)
            .map(|(c, p)| {
                if p.state == PState::Synced {
                    p.unacked.push_back((zxid, now));
                }
                *c
            })
            .collect();
        for c in targets {
            self.send(
                c,
                QuorumPacket::with_data(packet::PROPOSAL, zxid, txn.to_vec()),
            );
        }
        Ok(zxid)
    }

    /// The zxid the next [`Leader::propose`] will assign. At counter
    /// 0xffffffff it abandons leadership instead ("zxid lower 32 bits have
    /// rolled over").
    pub fn next_zxid(&mut self) -> Result<Zxid, ProposeError> {
        if self.phase != Phase::Broadcast {
            return Err(ProposeError::NotLeading);
        }
        let zxid = self.last_proposed + 1;
        if counter_of(zxid) == 0xffff_ffff {
            self.abandon(
                "zxid lower 32 bits have rolled over, forcing re-election, and therefore new epoch start"
                    .into(),
            );
            return Err(ProposeError::Rollover);
        }
        Ok(zxid)
    }

    /// The driver's fsync covers every entry up to `zxid`: the leader's own
    /// ACK for those proposals.
    pub fn persisted(&mut self, zxid: Zxid) {
        if self.phase == Phase::Abandoned || zxid <= self.persisted {
            return;
        }
        self.persisted = zxid;
        let me = self.me;
        for (_, p) in self.outstanding.range_mut(..=zxid) {
            p.acks.insert(me);
        }
        self.try_commit();
    }

    /// A forwarded `sync` from the learner on `conn`, in pipeline order
    /// (`Leader.processSync`): SYNC at once if nothing is outstanding,
    /// otherwise once the last zxid proposed now is committed.
    pub fn sync(&mut self, conn: ConnId) {
        if self.phase == Phase::Abandoned {
            return;
        }
        if self.outstanding.is_empty() {
            self.send_to(conn, QuorumPacket::bare(packet::SYNC, 0));
        } else {
            self.pending_syncs
                .entry(self.last_proposed)
                .or_default()
                .push(conn);
        }
    }

    /// Packets of the handler's main loop (after the NEWLEADER ACK). Every
    /// packet pushes the deadline out by syncLimit.
    pub(super) fn on_main_loop(&mut self, conn: ConnId, pkt: QuorumPacket) {
        let sync_ticks = self.limits.sync_ticks();
        let p = self.peers.get_mut(&conn).expect("checked by receive");
        p.deadline = self.now + sync_ticks;
        let sid = p.sid;
        match pkt.kind {
            packet::ACK => {
                while p.unacked.front().is_some_and(|u| u.0 <= pkt.zxid) {
                    p.unacked.pop_front();
                }
                self.process_ack(sid, pkt.zxid);
            }
            packet::PING => match payload::parse_touches(pkt.data.as_deref()) {
                Some(touches) => {
                    if !touches.is_empty() {
                        self.out.push(Output::Touches { conn, sid, touches });
                    }
                }
                None => self.close(conn, "PING reply with a ragged touch list".into()),
            },
            packet::REQUEST | packet::REVALIDATE => {
                self.out.push(Output::Forwarded { conn, sid, pkt });
            }
            // Java logs "unexpected quorum packet" and carries on.
            _ => {}
        }
    }

    /// `processAck`: ignores epoch zxids (the NEWLEADER/UPTODATE ACKs), zxids
    /// already committed and unknown ones; only voters' ACKs count.
    fn process_ack(&mut self, sid: i64, zxid: Zxid) {
        if self.phase != Phase::Broadcast || counter_of(zxid) == 0 || zxid <= self.last_committed {
            return;
        }
        if !self.voters.contains(&sid) {
            return;
        }
        if let Some(p) = self.outstanding.get_mut(&zxid) {
            p.acks.insert(sid);
            self.try_commit();
        }
    }

    /// `tryToCommit`, strictly in zxid order: only the oldest outstanding
    /// proposal may commit, and each commit may unblock the next.
    fn try_commit(&mut self) {
        while let Some((&zxid, p)) = self.outstanding.iter().next() {
            let early = early_ack() && p.acks.contains(&self.me);
            if !early && !self.is_quorum(&p.acks) {
                break;
            }
            let Some(p) = self.outstanding.remove(&zxid) else {
                break;
            };
            self.commit(zxid, p.txn);
        }
    }

    /// `commit` + `inform`: COMMIT to forwarding participants, INFORM (the
    /// full txn) to forwarding observers, then apply locally; answers the
    /// forwarded syncs waiting for this zxid.
    fn commit(&mut self, zxid: Zxid, txn: Txn) {
        self.last_committed = zxid;
        let targets: Vec<(ConnId, LearnerType)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.forwarding())
            .map(|(c, p)| (*c, p.kind))
            .collect();
        for (c, kind) in targets {
            let pkt = match kind {
                LearnerType::Participant => QuorumPacket::bare(packet::COMMIT, zxid),
                LearnerType::Observer => {
                    QuorumPacket::with_data(packet::INFORM, zxid, txn.to_vec())
                }
            };
            self.send(c, pkt);
        }
        self.out.push(Output::Commit {
            zxid,
            txn: txn.clone(),
        });
        self.push_committed(zxid, txn);
        self.applied = zxid;
        self.last_processed = zxid;
        if let Some(conns) = self.pending_syncs.remove(&zxid) {
            for c in conns {
                self.send_to(c, QuorumPacket::bare(packet::SYNC, 0));
            }
        }
    }

    /// The broadcast part of a half-tick: every other tick the synced
    /// voters plus me must form a quorum (`Leader.lead`, "Not sufficient
    /// followers synced"); then PING every learner whose sync has started,
    /// dropping one whose oldest unacked proposal is older than syncLimit
    /// (`LearnerHandler.ping`, `SyncLimitCheck`).
    pub(super) fn broadcast_tick(&mut self) {
        if !self.tick_skip {
            let mut synced: BTreeSet<i64> = self
                .peers
                .values()
                .filter(|p| p.state != PState::AwaitInfo && self.now <= p.deadline)
                .map(|p| p.sid)
                .collect();
            synced.insert(self.me);
            if !self.is_quorum(&synced) {
                let sids: Vec<String> = synced.iter().map(|s| s.to_string()).collect();
                return self.abandon(format!(
                    "Not sufficient followers synced, only synced with sids: [ {} ]",
                    sids.join(",")
                ));
            }
        }
        self.tick_skip = !self.tick_skip;
        let sync_ticks = self.limits.sync_ticks();
        let now = self.now;
        let mut ping = Vec::new();
        let mut drop = Vec::new();
        for (c, p) in &self.peers {
            if !p.forwarding() {
                continue;
            }
            if p.unacked.front().is_some_and(|u| now - u.1 > sync_ticks) {
                drop.push(*c);
            } else {
                ping.push(*c);
            }
        }
        for c in drop {
            self.close(
                c,
                "Closing connection to peer due to transaction timeout.".into(),
            );
        }
        let z = self.last_proposed;
        for c in ping {
            self.send(c, QuorumPacket::bare(packet::PING, z));
        }
    }

    /// Epoch<<32 of the established epoch: the zxid NEWLEADER, its ACKs and
    /// the leader's lastCommitted after establishment carry.
    pub fn epoch_zxid(&self) -> Zxid {
        make_zxid(self.epoch, 0)
    }
}

#[cfg(test)]
impl Leader {
    /// Test hook: pretend the epoch has proposed up to `zxid`.
    pub(crate) fn force_last_proposed(&mut self, zxid: Zxid) {
        self.last_proposed = zxid;
    }
}

/// The broken leader of the `unsafe-early-ack` test build (see
/// server/Cargo.toml): commits on its own ACK. Always false otherwise.
#[cfg(feature = "unsafe-early-ack")]
fn early_ack() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        let on = std::env::var("ZKSERVER_UNSAFE_EARLY_ACK").is_ok_and(|v| v == "1");
        if on {
            tracing::warn!(
                "UNSAFE TEST BUILD: this leader commits before a quorum has logged a proposal"
            );
        }
        on
    })
}

#[cfg(not(feature = "unsafe-early-ack"))]
fn early_ack() -> bool {
    false
}
