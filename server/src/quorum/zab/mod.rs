//! ZAB, the atomic-broadcast half of Apache ZooKeeper 3.8's quorum protocol,
//! as two pure state machines: [`Leader`] (one epoch of leadership) and
//! [`Learner`] (one connection of a follower or observer to one leader).
//!
//! Inputs are packets, ticks and "persisted up to zxid Z" notices; outputs
//! ([`Output`]) are packets to send, entries to persist, epoch files to write
//! and txns to apply. Neither core touches sockets, clocks, threads or disks,
//! so a tokio transport drives them in the server and the seeded scheduler in
//! [`sim`] drives them in tests.
//!
//! # The driver's contract
//!
//! * **Outputs are executed in order, each one finished before the next
//!   starts.** Durability rides on that order: `WriteAcceptedEpoch(e)` then
//!   `Send(ACKEPOCH)` means the epoch file is durable before the packet
//!   leaves (quorum-wire.md §8.8). The same holds for `WriteCurrentEpoch` and
//!   [`Output::TakeSnapshot`], which must be durable before the following
//!   output runs.
//! * [`Output::Persist`] only *appends*; it need not be durable when the next
//!   output runs. The driver reports durability later with `persisted(z)`
//!   after the fsync covering `z` (one notice may cover many entries: group
//!   commit). The cores never ACK, and never count their own vote for, an
//!   entry before that notice.
//! * [`Output::Commit`]s arrive in strictly increasing zxid order and must be
//!   applied in that order; by the time the driver runs an output that
//!   follows a `Commit`, that txn is applied (the leader's
//!   [`Output::SendSnapshot`] relies on this).
//! * Time is [`Leader::tick`] / [`Learner::tick`], **one call per half
//!   tickTime** (Java pings every tickTime/2 and checks the synced quorum
//!   every tickTime). Limits are given in tickTime units as in zoo.cfg
//!   ([`Limits`]); the cores double them.
//! * Each learner connection has a single writer: everything the leader
//!   writes on it (LEADERINFO, SNAP, the sync queue, live broadcast) and
//!   everything a learner writes to its leader (including the pipeline's
//!   REQUEST/REVALIDATE, via [`Learner::forward`]) is an output of the core,
//!   so ordering on the stream is the output order (quorum-wire.md §8.20).
//! * After [`Output::Abandon`] a core is dead: it ignores further inputs and
//!   the driver goes back to LOOKING, dropping every quorum connection.
//!
//! # Durable state a member restarts from
//!
//! acceptedEpoch, currentEpoch, a snapshot of *committed* state (its zxid is
//! `last_committed`) and the txn log after it (`tail`: logged, not known to be
//! committed). Unlike Java, which replays the whole log into its tree when it
//! leaves a role (`ZooKeeperServer.fastForwardDataBase`), these cores apply
//! the tail only once a leader has confirmed it (the learner at UPTODATE, the
//! leader once a quorum acked NEWLEADER), so an applied txn is never rolled
//! back. The wire behaviour is unchanged: the tail still counts in
//! lastLoggedZxid and in every sync decision.

pub mod leader;
pub mod learner;
mod payload;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use leader::{Leader, LeaderConfig, ProposeError};
pub use learner::{Learner, LearnerConfig};

use super::types::{QuorumPacket, Zxid};

/// A transport connection id. The leader names learners by connection
/// because the sid is only known once FOLLOWERINFO/OBSERVERINFO arrives; a
/// learner names its single leader connection by the id it was built with.
pub type ConnId = u64;

/// Txn bytes exactly as logged and as carried in PROPOSAL/INFORM data
/// (quorum-wire.md §2.4); shared so a proposal fans out without copies.
pub type Txn = Arc<[u8]>;

/// A session touch from a learner's PING reply: (sessionId, timeout ms).
pub type Touch = (i64, i32);

/// `initLimit` and `syncLimit` in tickTime units, as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub init_limit: u64,
    pub sync_limit: u64,
}

impl Limits {
    /// initLimit in half-ticks (the unit of `tick()`).
    pub(crate) fn init_ticks(self) -> u64 {
        self.init_limit.max(1) * 2
    }

    /// syncLimit in half-ticks.
    pub(crate) fn sync_ticks(self) -> u64 {
        self.sync_limit.max(1) * 2
    }
}

/// One thing for the driver to do. See the module docs for the ordering
/// rules; each variant says who emits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Write `pkt` on connection `to` (both cores).
    Send { to: ConnId, pkt: QuorumPacket },
    /// Leader: write `SNAP(zxid)` on `to` followed inline by the serialized
    /// tree and "BenWasHere" (quorum-wire.md §2.5). Emitted only when every
    /// `Commit` up to `zxid` has been emitted and nothing after it, so the
    /// applied tree *is* the state at `zxid` when the driver reaches this.
    SendSnapshot { to: ConnId, zxid: Zxid },
    /// Leader: stream PROPOSAL+COMMIT pairs for every txn in `(after, upto]`
    /// from the on-disk log on `to` (on-disk DIFF, `ZKDatabase.
    /// getProposalsFromTxnLog`). The core emits it only when its disk index
    /// says every one of those txns is on disk; the driver writes them before
    /// the next output for `to`.
    SendCommittedRange { to: ConnId, after: Zxid, upto: Zxid },
    /// Both: append `txn` at `zxid` to the txn log; later report `persisted`.
    Persist { zxid: Zxid, txn: Txn },
    /// Learner: cut the on-disk log after `zxid` (`FileTxnLog.truncate`).
    /// The core guarantees `zxid` ≥ its applied zxid, so the tree stays; any
    /// snapshot newer than `zxid` must be discarded (quorum-wire.md §8.12).
    Truncate { zxid: Zxid },
    /// Learner at NEWLEADER after SNAP or TRUNC (`Learner.syncWithLeader`:
    /// `zk.takeSnapshot`): make the applied tree durable as a snapshot. After
    /// a SNAP the driver must also make sure the old log after it is never
    /// replayed (start a fresh log).
    TakeSnapshot,
    /// Both: durably write the acceptedEpoch file (§1 item 23 format).
    WriteAcceptedEpoch(i64),
    /// Both: durably write the currentEpoch file.
    WriteCurrentEpoch(i64),
    /// Both: apply `txn` (strictly increasing zxid order).
    Commit { zxid: Zxid, txn: Txn },
    /// Both: start serving clients (leader: `startZkServer`; learner: UPTODATE).
    StartServing,
    /// Both: update the election vote's peerEpoch (ZOOKEEPER-1732).
    UpdateVotePeerEpoch(i64),
    /// Both: give up this role and go back to LOOKING (driver closes every
    /// quorum connection and stops serving). Nothing follows it.
    Abandon { reason: String },
    /// Leader: drop one learner connection. The core has already forgotten it.
    Close { conn: ConnId, reason: String },
    /// Learner: a SYNC arrived; complete the oldest pending client sync.
    SyncDone,
    /// Leader: session touches from a learner's PING reply
    /// (`LeaderZooKeeperServer.touch`).
    Touches {
        conn: ConnId,
        sid: i64,
        touches: Vec<Touch>,
    },
    /// Leader: a REQUEST or REVALIDATE from a synced learner for the request
    /// pipeline; answers go back through [`Leader::send_to`] /
    /// [`Leader::sync`].
    /// Learner: a REVALIDATE reply for the session layer.
    Forwarded {
        conn: ConnId,
        sid: i64,
        pkt: QuorumPacket,
    },
    /// Learner: reply to the leader's PING at `zxid` with the touch table
    /// (`Learner.ping`): PING, same zxid, data = touches (empty buffer if
    /// none), authinfo null.
    AnswerPing { zxid: Zxid },
}
