//! Synchronising one learner: the DIFF / TRUNC / SNAP decision of
//! `LearnerHandler.syncFollower` and `queueCommittedProposals`, then
//! `Leader.startForwarding` and NEWLEADER.

use super::{Leader, PState};
use crate::quorum::types::{
    counter_of, epoch_of, make_zxid, packet, LearnerType, QuorumPacket, Zxid,
};
use crate::quorum::zab::{ConnId, Output, Txn};

/// One element of a learner's sync queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Item {
    /// DIFF or TRUNC with its zxid.
    Op(i32, Zxid),
    /// A PROPOSAL followed by its COMMIT.
    Pair(Zxid, Txn),
    /// PROPOSAL+COMMIT pairs for `(after, upto]` from the on-disk log.
    Disk(Zxid, Zxid),
}

/// The decision for one learner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Plan {
    /// SNAP first (then `items` is empty).
    pub snap: bool,
    pub items: Vec<Item>,
    /// The zxid the learner will be at once the queue is applied
    /// (`startForwarding`'s lastSeenZxid).
    pub current: Zxid,
}

/// `queueCommittedProposals`: walks `entries` and queues what the peer is
/// missing, deciding DIFF vs TRUNC(prev) on the way. Returns the last zxid
/// queued; leaves `need_op` set when it cannot decide (the peer diverged in
/// an older epoch: "Cannot send TRUNC to peer ... different epoch"), which
/// makes the caller fall back to SNAP.
fn queue_committed<'a>(
    entries: impl Iterator<Item = &'a (Zxid, Txn)>,
    peer: Zxid,
    max_zxid: Option<Zxid>,
    last_committed: Zxid,
    need_op: &mut bool,
    items: &mut Vec<Item>,
) -> Zxid {
    let peer_new_epoch = counter_of(peer) == 0;
    let mut queued = peer;
    let mut prev: Zxid = -1;
    for (z, txn) in entries {
        let z = *z;
        if max_zxid.is_some_and(|m| z > m) {
            break;
        }
        if z < peer {
            prev = z;
            continue;
        }
        if *need_op {
            if z == peer {
                items.push(Item::Op(packet::DIFF, last_committed));
                *need_op = false;
                continue;
            }
            if peer_new_epoch {
                items.push(Item::Op(packet::DIFF, last_committed));
                *need_op = false;
            } else if z > peer {
                if epoch_of(z) != epoch_of(peer) {
                    return queued;
                }
                items.push(Item::Op(packet::TRUNC, prev));
                *need_op = false;
            }
        }
        if z <= queued {
            continue;
        }
        items.push(Item::Pair(z, txn.clone()));
        queued = z;
    }
    if *need_op && peer_new_epoch {
        items.push(Item::Op(packet::DIFF, last_committed));
        *need_op = false;
    }
    queued
}

impl Leader {
    /// `syncFollower` for a learner whose last logged zxid is `peer`.
    pub(super) fn plan_sync(&self, peer: Zxid) -> Plan {
        let history: Vec<&(Zxid, Txn)> = self
            .committed_log
            .iter()
            .chain(self.to_be_applied.iter())
            .collect();
        let (min, max) = match (history.first(), history.last()) {
            (Some(a), Some(b)) => (a.0, b.0),
            _ => (self.last_processed, self.last_processed),
        };
        let mut items = Vec::new();
        let mut need_op = true;
        let mut need_snap = true;
        let mut current = peer;
        if self.last_processed == peer {
            // Already in sync: DIFF carries the peer's own zxid (§1.11).
            items.push(Item::Op(packet::DIFF, peer));
            need_op = false;
            need_snap = false;
        } else if peer > max && counter_of(peer) != 0 {
            // The peer has txns we never saw (an old leader's tail).
            items.push(Item::Op(packet::TRUNC, max));
            current = max;
            need_op = false;
            need_snap = false;
        } else if min <= peer && peer <= max {
            current = queue_committed(
                history.iter().copied(),
                peer,
                None,
                max,
                &mut need_op,
                &mut items,
            );
            need_snap = false;
        } else if peer < min && !self.disk_log.is_empty() {
            if let Some(c) = self.plan_disk(peer, min, max, &mut need_op, &mut items) {
                current = queue_committed(
                    history.iter().copied(),
                    c,
                    None,
                    max,
                    &mut need_op,
                    &mut items,
                );
                need_snap = false;
            } else {
                items.clear();
                need_op = true;
            }
        }
        if need_op && !need_snap {
            // "Unhandled scenario ... fall back to use snapshot"
            need_snap = true;
        }
        if need_snap {
            items.clear();
            current = self.applied;
        }
        Plan {
            snap: need_snap,
            items,
            current,
        }
    }

    /// The on-disk part (`getProposalsFromTxnLog` + the gap check): only if
    /// the disk log holds exactly `peer`, the txns after it fit the size
    /// limit, and it reaches `min` (the committed log's start) without a gap.
    /// Returns the last zxid streamed from disk.
    fn plan_disk(
        &self,
        peer: Zxid,
        min: Zxid,
        max: Zxid,
        need_op: &mut bool,
        items: &mut Vec<Item>,
    ) -> Option<Zxid> {
        // Java positions the log iterator at the peer's zxid; a peer that
        // saw only the start of an epoch (counter 0, never a txn) resumes
        // at the first txn after it (`isPeerNewEpochZxid`).
        let start = match self.disk_log.binary_search_by_key(&peer, |d| d.0) {
            Ok(i) => i + 1,
            Err(i) if counter_of(peer) == 0 => i,
            Err(_) => return None,
        };
        let after = &self.disk_log[start..];
        if let Some(limit) = self.disk_size_limit {
            let size: u64 = after.iter().map(|d| d.1).sum();
            if size > limit {
                return None;
            }
        }
        let last = after.iter().take_while(|d| d.0 <= min).last()?.0;
        if last < min {
            return None;
        }
        items.push(Item::Op(packet::DIFF, max));
        *need_op = false;
        items.push(Item::Disk(peer, last));
        Some(last)
    }

    /// Runs the sync for `conn`, then `startForwarding`, then NEWLEADER.
    pub(super) fn sync_learner(&mut self, conn: ConnId, peer_last: Zxid) {
        let Some(kind) = self.peers.get(&conn).map(|p| p.kind) else {
            return;
        };
        let plan = self.plan_sync(peer_last);
        if plan.snap {
            self.out.push(Output::SendSnapshot {
                to: conn,
                zxid: self.applied,
            });
        }
        for item in plan.items {
            match item {
                Item::Op(kind, zxid) => self.send(conn, QuorumPacket::bare(kind, zxid)),
                Item::Pair(zxid, txn) => self.send_pair(conn, zxid, &txn),
                Item::Disk(after, upto) => self.out.push(Output::SendCommittedRange {
                    to: conn,
                    after,
                    upto,
                }),
            }
        }
        // startForwarding: decided-but-unapplied txns with their COMMIT,
        // then (participants only) outstanding proposals without one.
        let tba: Vec<(Zxid, Txn)> = self
            .to_be_applied
            .iter()
            .filter(|(z, _)| *z > plan.current)
            .cloned()
            .collect();
        for (z, t) in tba {
            self.send_pair(conn, z, &t);
        }
        if kind == LearnerType::Participant {
            let outstanding: Vec<(Zxid, Txn)> = self
                .outstanding
                .range(plan.current + 1..)
                .map(|(z, p)| (*z, p.txn.clone()))
                .collect();
            for (z, t) in outstanding {
                self.send(
                    conn,
                    QuorumPacket::with_data(packet::PROPOSAL, z, t.to_vec()),
                );
            }
        }
        let nl = QuorumPacket::with_data(
            packet::NEWLEADER,
            make_zxid(self.epoch, 0),
            self.config_text.clone(),
        );
        self.send(conn, nl);
        if let Some(p) = self.peers.get_mut(&conn) {
            p.state = PState::AwaitNewLeaderAck;
        }
    }

    fn send_pair(&mut self, conn: ConnId, zxid: Zxid, txn: &Txn) {
        self.send(
            conn,
            QuorumPacket::with_data(packet::PROPOSAL, zxid, txn.to_vec()),
        );
        self.send(conn, QuorumPacket::bare(packet::COMMIT, zxid));
    }
}
