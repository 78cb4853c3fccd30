//! The role seam between the request pipeline and the quorum peer.
//!
//! The pipeline (`core.rs`) prepares and applies transactions the same way
//! in every role; only two points differ (architecture.md, item 5):
//!
//! * **where a prepared transaction goes**: standalone logs it; a leader
//!   hands it to the ZAB leader core ([`PeerMsg::Propose`]), which logs and
//!   proposes it; a follower or observer does not prepare writes at all but
//!   forwards the client's request to the leader ([`PeerMsg::Forward`]);
//! * **where commits come from**: standalone applies what the local log made
//!   durable; every replicated member applies what its ZAB core commits
//!   ([`PeerEvent::Commit`]).
//!
//! This module holds only the messages across that seam, so the pipeline
//! and the peer loop (`quorum::peer`) both import it and neither imports the
//! other's internals.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::db::tree::DataTree;
use crate::quorum::types::{QuorumPacket, Zxid};

/// What the member is doing, as `srvr`/`mntr` report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Standalone,
    Leader,
    Follower,
    Observer,
    /// LOOKING too long with `readonlymode.enabled`: serving reads only.
    ReadOnly,
}

impl Mode {
    /// The word after `Mode: ` in `srvr` / `stat`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Leader => "leader",
            Mode::Follower => "follower",
            Mode::Observer => "observer",
            Mode::ReadOnly => "read-only",
        }
    }
}

/// What `mntr` reports about the quorum (the leader's learner counts, the
/// ZAB phase), kept current by the peer loop.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumStats {
    /// `zk_peer_state`: `leading - broadcast`, `following - synchronization`...
    pub peer_state: String,
    pub quorum_size: usize,
    pub learners: usize,
    pub synced_followers: usize,
    pub synced_observers: usize,
    pub pending_syncs: usize,
}

/// Leader elections this member took part in, for `mntr` (ZooKeeper's
/// `election_time` summary: count, sum, min, max in ms).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElectionStats {
    pub count: u64,
    pub sum_ms: u64,
    pub min_ms: u64,
    pub max_ms: u64,
}

impl ElectionStats {
    pub fn record(&mut self, ms: u64) {
        self.min_ms = if self.count == 0 {
            ms
        } else {
            self.min_ms.min(ms)
        };
        self.max_ms = self.max_ms.max(ms);
        self.count += 1;
        self.sum_ms += ms;
    }
}

/// From the peer loop to the pipeline.
pub enum PeerEvent {
    /// The quorum figures changed.
    Stats(QuorumStats),
    /// An election ended after `ms` (LOOKING to a decision).
    Elected { ms: u64 },
    /// LOOKING, or a role ended: close every client connection, refuse new
    /// ones and fail what is in flight.
    NotServing,
    /// LOOKING for max(2 s, tickTime) with `readonlymode.enabled`: serve
    /// read-only clients from the local copy (3.8's ReadOnlyZooKeeperServer).
    ReadOnly,
    /// Serve clients in `mode`. A leader numbers its proposals from
    /// `epoch << 32`.
    Serving { mode: Mode, epoch: i64 },
    /// Append these txn bytes to the txn log; the pipeline reports back
    /// [`PeerMsg::Persisted`] once the log thread made them durable.
    Persist { zxid: Zxid, txn: Arc<[u8]> },
    /// Cut the txn log after `zxid` (TRUNC).
    Truncate(Zxid),
    /// Answered once the log thread has done everything asked before.
    LogBarrier { done: oneshot::Sender<()> },
    /// Reload the tree and sessions from the dataDir (after a TRUNC below
    /// what was applied: Java's `ZKDatabase.loadDataBase` on truncation).
    Reload {
        done: oneshot::Sender<Result<Zxid, String>>,
    },
    /// Apply a committed txn (strictly increasing zxid order).
    Commit { zxid: Zxid, txn: Arc<[u8]> },
    /// SNAP: replace the tree and the session table with the leader's, make
    /// it durable as a snapshot and start a fresh txn log, then answer.
    InstallSnapshot {
        tree: Box<DataTree>,
        sessions: Vec<(i64, i32)>,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Make the applied tree durable as a snapshot, then answer.
    TakeSnapshot {
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Leader: the serialized tree as SNAP sends it (sessions, ACLs, nodes,
    /// "/" and "BenWasHere"), checked to be exactly the state at `zxid`.
    SnapshotBody {
        zxid: Zxid,
        reply: oneshot::Sender<Result<Vec<u8>, String>>,
    },
    /// The durable state a role starts from.
    State { reply: oneshot::Sender<MemberState> },
    /// Leader: a client request a learner forwarded (REQUEST).
    Forwarded(QuorumPacket),
    /// Leader: sessions a learner's clients touched (PING reply).
    Touches(Vec<(i64, i32)>),
    /// Learner: the leader answered the oldest forwarded `sync`.
    SyncDone,
    /// Learner: the leader's REVALIDATE answer for a reconnecting session.
    Revalidated { session: i64, valid: bool },
    /// Leader: whether a session a learner revalidates is alive.
    SessionValid {
        session: i64,
        reply: oneshot::Sender<bool>,
    },
}

/// The pipeline's state a role starts from.
#[derive(Clone, Debug)]
pub struct MemberState {
    /// Zxid of the applied tree (everything on disk is replayed at start).
    pub last_zxid: Zxid,
    /// The newest committed txns, ascending (the leader's DIFF source).
    pub committed_log: Vec<(Zxid, Arc<[u8]>)>,
    /// Txns logged in this process but not (yet) known to be committed,
    /// ascending: they count in lastLoggedZxid and every sync decision.
    pub tail: Vec<(Zxid, Arc<[u8]>)>,
}

impl MemberState {
    /// lastLoggedZxid: what the election vote and ACKEPOCH carry.
    pub fn last_logged(&self) -> Zxid {
        self.tail.last().map_or(self.last_zxid, |t| t.0)
    }
}

/// From the pipeline to the peer loop.
#[derive(Debug)]
pub enum PeerMsg {
    /// Leader: propose these txn bytes; `zxid` is what the pipeline numbered
    /// it, which must be what the leader core assigns.
    Propose { zxid: Zxid, txn: Arc<[u8]> },
    /// Learner: forward a client request to the leader (REQUEST).
    Forward(QuorumPacket),
    /// The txn log made everything up to `zxid` durable.
    Persisted(Zxid),
    /// Learner: sessions of local clients, for the next PING reply.
    Touches(Vec<(i64, i32)>),
    /// Something that must not happen did: leave the role.
    Fail(String),
}

/// The pipeline's handle on the peer loop.
pub type PeerTx = mpsc::UnboundedSender<PeerMsg>;
