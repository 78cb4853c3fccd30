//! Fast Leader Election (Apache ZooKeeper 3.8's `FastLeaderElection`) as a
//! pure state machine, [`Election`].
//!
//! One [`Election`] plays both halves of Java's FLE instance: the
//! `WorkerReceiver` thread, which answers peers on arrival according to our
//! current state, and `lookForLeader`, which runs while we are LOOKING and
//! consumes the queued notifications. Inputs are received notifications,
//! time, and "start looking with (lastLoggedZxid, currentEpoch)"; outputs
//! ([`Output`]) are notifications to send, the poll-timeout actions, and the
//! final [`Output::Decided`]. No sockets, clocks, threads or disks inside: a
//! tokio driver feeds it from the election port (`cnxmanager`) and the seeded
//! scheduler in `sim` (test only) feeds it in tests.
//!
//! # Time
//!
//! Every input carries `now_ms`, a **monotonic** millisecond clock (Java's
//! `Time.currentElapsedTime()`, i.e. `nanoTime / 10⁶`; in tests a virtual
//! clock). It must never go backwards. The core only compares it with the
//! deadlines it set itself; [`Election::next_deadline`] says when the driver
//! must call [`Election::tick`] at the latest (calling it earlier or more
//! often is harmless).
//!
//! # The driver's contract
//!
//! 1. **Build once per process** with [`Election::new`] and the membership:
//!    the voters of the current view (`QuorumConfig::voters()`), our sid and
//!    [`LearnerType`], and the config bytes every notification carries (the
//!    `wire::config_text` of the current view, version 0 for a static
//!    config, quorum-wire.md §8.3). The logical clock lives in the instance,
//!    so keep the same instance across roles (Java keeps one FLE per
//!    QuorumPeer).
//! 2. **Start looking** with [`Election::start_looking`]`(now,
//!    last_logged_zxid, current_epoch)` at boot and every time a role ends
//!    (the follower lost its leader, the leader lost its quorum, any
//!    exception in `followLeader`/`lead`/`observeLeader`). Each call is one
//!    `lookForLeader`: it increments the logical clock, resets the proposal to
//!    our initial vote, clears the received votes and the back-off, and sends
//!    our vote to every voter. `last_logged_zxid` is the last *logged* zxid,
//!    including logged but uncommitted txns; `current_epoch` is the
//!    currentEpoch file (quorum-wire.md §8.4).
//! 3. **Feed every notification** received on the election port with
//!    [`Election::receive`]`(now, from, n)`, where `from` is the sid the
//!    connection's initial message announced, in arrival order per
//!    connection. **Keep feeding after [`Output::Decided`]** while the member
//!    is LEADING/FOLLOWING/OBSERVING: the core answers LOOKING peers with our
//!    current vote, as Java's `WorkerReceiver` does, which is how a restarted
//!    or late server joins the existing leader (quorum-wire.md §8.4). A frame
//!    that decodes to [`crate::quorum::wire::WireError::UnknownState`] goes to
//!    [`Election::receive_unknown_state`] (Java still answers a non-voter);
//!    any other undecodable frame is dropped.
//! 4. **Tick**: call [`Election::tick`]`(now, have_delivered)` when
//!    [`Election::next_deadline`] passes. `have_delivered` is
//!    `QuorumCnxManager.haveDelivered()`: whether *any* per-peer send queue is
//!    empty. On a poll timeout the core re-sends its notifications if it is
//!    true, and emits [`Output::ConnectAll`] otherwise.
//! 5. **Execute outputs in order.** [`Output::Send`] goes to the per-sid send
//!    queue (`QuorumCnxManager.toSend`). The core never emits a `Send` to our
//!    own sid: Java's loopback delivery of our own vote is done internally,
//!    with the same effect on the state machine, so the driver must not loop
//!    anything back. [`Output::Decided`] ends the election: the driver starts
//!    `lead`/`followLeader`/`observeLeader` for `vote.leader`.
//! 6. **Report the new epoch**: when ZAB establishes the epoch (the learner at
//!    UPTODATE, the leader once a quorum acked NEWLEADER), call
//!    [`Election::update_vote_peer_epoch`] (the zab cores emit
//!    `zab::Output::UpdateVotePeerEpoch`). Every FOLLOWING/LEADING answer for
//!    one leader must carry the same peerEpoch (ZOOKEEPER-1732).
//!
//! Not modelled: dynamic reconfiguration. A peer whose config text has a
//! higher version makes Java restart its election (quorum-wire.md §1 item 5);
//! the driver checks the received `Notification::config` and, for a static
//! ensemble, nothing more is needed.
//!
//! # What FLE guarantees (and what it does not)
//!
//! FLE is a liveness device; the safety of the replicated state is ZAB's job.
//! In particular two members can decide on *different* leaders in the same
//! election epoch: a member that saw a quorum for leader A and no better vote
//! during finalizeWait decides A, while a slower member that is still looking
//! adopts a better vote B that reaches a quorum with other members
//! (`tests::split_decision_in_one_epoch_is_possible`). ZAB then refuses the
//! leader without a quorum of followers and its members look again. What FLE
//! does guarantee, and what `sim` (test only) checks:
//! * a decided leader is a voter, the decider is LEADING iff it decided on
//!   itself, an observer ends OBSERVING;
//! * every decision is backed by a quorum of voters that announced that vote
//!   (LOOKING with the same round and vote, or FOLLOWING/LEADING for the same
//!   leader, and then the leader itself announced LEADING);
//! * every LOOKING vote a voter sends to a voter is at least its own initial
//!   vote of that round, so a leader elected by LOOKING votes has the maximal
//!   (peerEpoch, zxid, sid) among the quorum that elected it;
//! * with no failures and simultaneous starts, everyone elects the member
//!   with the maximal (peerEpoch, zxid, sid);
//! * liveness: once a quorum is connected and stable for a bounded time, all
//!   its members decide on the same leader, a voter of that quorum.

mod core;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

pub use self::core::Election;

use super::types::Notification;
use super::types::{LearnerType, PeerState, Sid, Vote};

/// FLE's timing knobs, in milliseconds (`FastLeaderElection.finalizeWait`,
/// `zookeeper.fastleader.minNotificationInterval` and
/// `…maxNotificationInterval`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long to wait for a better vote once our proposal has a quorum.
    pub finalize_wait_ms: u64,
    /// The first poll timeout of each election.
    pub min_notification_ms: u64,
    /// The cap of the doubling poll timeout.
    pub max_notification_ms: u64,
}

impl Default for Timing {
    /// 3.8's defaults: 200 ms finalizeWait, poll timeout 200 ms doubling to
    /// 60 s.
    fn default() -> Timing {
        Timing {
            finalize_wait_ms: 200,
            min_notification_ms: 200,
            max_notification_ms: 60_000,
        }
    }
}

/// What an [`Election`] needs to know about the ensemble and itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionConfig {
    pub my_sid: Sid,
    pub learner_type: LearnerType,
    /// The voting members of the current view (`getCurrentAndNextConfigVoters`
    /// for a static config; `QuorumConfig::voters()`). Order does not
    /// matter: sends follow Java's HashSet iteration order.
    pub voters: Vec<Sid>,
    /// The config text every notification we send carries
    /// (`QuorumMaj.toString()` bytes, see `wire::config_text`).
    pub config: Vec<u8>,
    pub timing: Timing,
}

/// One thing for the driver to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Queue `n` for peer `to` (never our own sid: loopback is internal).
    Send { to: Sid, n: Notification },
    /// A poll timeout found no empty send queue: reconnect to every voter
    /// (`QuorumCnxManager.connectAll`).
    ConnectAll,
    /// A poll timeout happened; `timeout_ms` is the next, doubled, timeout
    /// (Java logs "Notification time out: {timeout_ms} ms" at this point).
    NotificationTimeout { timeout_ms: u64 },
    /// The election is over: take up `state` (LEADING, FOLLOWING or
    /// OBSERVING) with `vote.leader` as the leader. `took_ms` is the time
    /// since the matching [`Election::start_looking`].
    Decided {
        state: PeerState,
        vote: Vote,
        took_ms: u64,
    },
}

/// `totalOrderPredicate` without the membership test: whether `new` beats
/// `cur` by (peerEpoch, zxid, sid), compared in that order. The election
/// epochs are not compared. [`Election`] additionally never lets a sid that
/// is not a voter win (Java's weight-0 rule; with majority quorums Java filters
/// such leaders with `validVoter` before it ever compares).
pub fn vote_beats(new: &Vote, cur: &Vote) -> bool {
    (new.peer_epoch, new.zxid, new.leader) > (cur.peer_epoch, cur.zxid, cur.leader)
}
