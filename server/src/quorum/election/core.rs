//! The state machine: `WorkerReceiver` (answers on arrival) and
//! `lookForLeader` (the election proper), as `FastLeaderElection` 3.8 runs
//! them. See the module docs of [`super`] for the driver's contract.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{vote_beats, ElectionConfig, Output};
use crate::quorum::types::{
    LearnerType, Notification, PeerState, Sid, Vote, Zxid, NOTIFICATION_VERSION,
};
use crate::quorum::wire::java_member_order;

/// Where `lookForLeader` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Before the first [`Election::start_looking`]: Java's FLE does not run
    /// yet, everything is ignored.
    Idle,
    /// Polling the queue, with the poll timeout ending at `poll_deadline`.
    Polling,
    /// Our proposal has a quorum; deciding at `deadline` unless a better vote
    /// arrives first (`finalizeWait`). Each notice that is not better is
    /// dropped and restarts the wait, exactly like Java's repeated
    /// `recvqueue.poll(finalizeWait)`.
    Finalizing { deadline: u64 },
    /// `lookForLeader` returned; only `WorkerReceiver` answers.
    Done,
}

/// A vote as Java keeps it in `recvset`/`outofelection`: with the state and
/// the format version, because `Vote.equals` depends on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ballot {
    vote: Vote,
    state: PeerState,
    version: i32,
}

impl Ballot {
    fn looking(vote: Vote) -> Ballot {
        Ballot {
            vote,
            state: PeerState::Looking,
            version: 0,
        }
    }

    /// `Vote.equals` (3.8): LOOKING on either side compares all four fields;
    /// otherwise leader id and peerEpoch, or only the id when exactly one side
    /// has version 0 (ZOOKEEPER-1805, ZOOKEEPER-1732).
    fn java_equals(&self, o: &Ballot) -> bool {
        if self.state == PeerState::Looking || o.state == PeerState::Looking {
            self.vote == o.vote
        } else if (self.version > 0) ^ (o.version > 0) {
            self.vote.leader == o.vote.leader
        } else {
            self.vote.leader == o.vote.leader && self.vote.peer_epoch == o.vote.peer_epoch
        }
    }
}

/// One member's Fast Leader Election. See [`super`] for the contract.
#[derive(Clone, Debug)]
pub struct Election {
    me: Sid,
    learner_type: LearnerType,
    voters: BTreeSet<Sid>,
    /// Voters in the order Java's `HashSet<Long>` iterates them.
    send_order: Vec<Sid>,
    config: Vec<u8>,
    timing: super::Timing,
    /// `self.getPeerState()`.
    state: PeerState,
    phase: Phase,
    /// `logicalclock`: the election round.
    logical_clock: i64,
    /// `proposedLeader/proposedZxid/proposedEpoch`; `election_epoch` unused.
    proposal: Vote,
    /// Our initial vote of this round (`getInitId`, `getInitLastLoggedZxid`,
    /// `getPeerEpoch`).
    init: Vote,
    /// `QuorumPeer.currentVote`: our own vote at boot, then the last decided
    /// one (it is *not* updated while looking).
    current_vote: Option<Vote>,
    recvset: BTreeMap<Sid, Ballot>,
    outofelection: BTreeMap<Sid, Ballot>,
    /// `notTimeout`.
    not_timeout: u64,
    poll_deadline: u64,
    started_ms: u64,
    /// Our own notifications on their way back to us (Java's loopback
    /// through `QuorumCnxManager.addToRecvQueue`).
    loopback: VecDeque<Notification>,
    out: Vec<Output>,
}

impl Election {
    pub fn new(cfg: ElectionConfig) -> Election {
        let voters: BTreeSet<Sid> = cfg.voters.iter().copied().collect();
        let positive: Vec<u64> = voters
            .iter()
            .filter(|&&s| s >= 0)
            .map(|&s| s as u64)
            .collect();
        let mut send_order: Vec<Sid> = java_member_order(&positive)
            .into_iter()
            .map(|s| s as Sid)
            .collect();
        send_order.extend(voters.iter().filter(|&&s| s < 0));
        let none = Vote {
            leader: Sid::MIN,
            zxid: Zxid::MIN,
            election_epoch: -1,
            peer_epoch: i64::MIN,
        };
        Election {
            me: cfg.my_sid,
            learner_type: cfg.learner_type,
            voters,
            send_order,
            config: cfg.config,
            timing: cfg.timing,
            state: PeerState::Looking,
            phase: Phase::Idle,
            logical_clock: 0,
            proposal: none,
            init: none,
            current_vote: None,
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            not_timeout: cfg.timing.min_notification_ms,
            poll_deadline: 0,
            started_ms: 0,
            loopback: VecDeque::new(),
            out: Vec::new(),
        }
    }

    // ----- inputs -----

    /// One `lookForLeader`: become LOOKING, increment the logical clock, vote
    /// for our initial vote and send it to every voter. Call at boot and
    /// whenever a LEADING/FOLLOWING/OBSERVING role ends, with the
    /// lastLoggedZxid and currentEpoch of that moment.
    pub fn start_looking(
        &mut self,
        now_ms: u64,
        last_logged_zxid: Zxid,
        current_epoch: i64,
    ) -> Vec<Output> {
        if self.current_vote.is_none() {
            // QuorumPeer.startLeaderElection, once at boot.
            self.current_vote = Some(Vote {
                leader: self.me,
                zxid: last_logged_zxid,
                election_epoch: -1,
                peer_epoch: current_epoch,
            });
        }
        self.state = PeerState::Looking;
        self.phase = Phase::Polling;
        self.recvset.clear();
        self.outofelection.clear();
        self.not_timeout = self.timing.min_notification_ms;
        self.started_ms = now_ms;
        self.logical_clock += 1;
        let participant = self.learner_type == LearnerType::Participant;
        self.init = Vote {
            leader: if self.is_voter(self.me) {
                self.me
            } else {
                Sid::MIN
            },
            zxid: if participant {
                last_logged_zxid
            } else {
                Zxid::MIN
            },
            election_epoch: -1,
            peer_epoch: if participant { current_epoch } else { i64::MIN },
        };
        self.proposal = self.init;
        self.send_notifications();
        self.poll_deadline = now_ms + self.not_timeout;
        self.drain_loopback(now_ms);
        std::mem::take(&mut self.out)
    }

    /// A notification from peer `from` (the sid of the connection it came
    /// on). Feed every one, also after [`Output::Decided`].
    pub fn receive(&mut self, now_ms: u64, from: Sid, n: Notification) -> Vec<Output> {
        if self.phase != Phase::Idle {
            self.worker_receive(now_ms, from, n);
            self.drain_loopback(now_ms);
        }
        std::mem::take(&mut self.out)
    }

    /// A notification from `from` whose state field was not 0..=3
    /// (`WireError::UnknownState`): Java drops it from a voter but still
    /// answers a non-voter with our current vote.
    pub fn receive_unknown_state(&mut self, _now_ms: u64, from: Sid) -> Vec<Output> {
        if self.phase != Phase::Idle && !self.is_voter(from) {
            self.answer_non_voter(from);
        }
        std::mem::take(&mut self.out)
    }

    /// Time passes. `have_delivered` is `QuorumCnxManager.haveDelivered()`
    /// (some per-peer send queue is empty); it only matters on a poll timeout.
    pub fn tick(&mut self, now_ms: u64, have_delivered: bool) -> Vec<Output> {
        match self.phase {
            Phase::Finalizing { deadline } if now_ms >= deadline => {
                let vote = self.proposal_vote();
                self.decide(now_ms, vote);
            }
            Phase::Polling if now_ms >= self.poll_deadline => {
                if have_delivered {
                    self.send_notifications();
                } else {
                    self.out.push(Output::ConnectAll);
                }
                self.not_timeout = (self.not_timeout * 2).min(self.timing.max_notification_ms);
                self.out.push(Output::NotificationTimeout {
                    timeout_ms: self.not_timeout,
                });
                self.poll_deadline = now_ms + self.not_timeout;
            }
            _ => {}
        }
        self.drain_loopback(now_ms);
        std::mem::take(&mut self.out)
    }

    /// ZOOKEEPER-1732 (`QuorumPeer.updateElectionVote`): once ZAB has
    /// established `epoch`, our current vote reports it as its peerEpoch.
    pub fn update_vote_peer_epoch(&mut self, epoch: i64) {
        if let Some(v) = self.current_vote.as_mut() {
            v.peer_epoch = epoch;
        }
    }

    // ----- queries -----

    /// `self.getPeerState()`.
    pub fn state(&self) -> PeerState {
        self.state
    }

    /// Whether an election is running (between `start_looking` and
    /// `Decided`).
    pub fn is_looking(&self) -> bool {
        matches!(self.phase, Phase::Polling | Phase::Finalizing { .. })
    }

    /// The election round (`logicalclock`).
    pub fn logical_clock(&self) -> i64 {
        self.logical_clock
    }

    /// Our proposal at our logical clock (`getVote()` plus the clock), as a
    /// LOOKING notification carries it.
    pub fn proposal(&self) -> Vote {
        self.proposal_vote()
    }

    /// Our initial vote of the current round.
    pub fn initial_vote(&self) -> Vote {
        Vote {
            election_epoch: self.logical_clock,
            ..self.init
        }
    }

    /// `QuorumPeer.getCurrentVote()`: the decided vote once decided.
    pub fn current_vote(&self) -> Option<Vote> {
        self.current_vote
    }

    /// When [`Election::tick`] must be called at the latest, if ever.
    pub fn next_deadline(&self) -> Option<u64> {
        match self.phase {
            Phase::Polling => Some(self.poll_deadline),
            Phase::Finalizing { deadline } => Some(deadline),
            Phase::Idle | Phase::Done => None,
        }
    }

    /// The current poll timeout (`notTimeout`).
    pub fn notification_timeout_ms(&self) -> u64 {
        self.not_timeout
    }

    /// Whether `sid` is a voter of the view (`validVoter`).
    pub fn is_voter(&self, sid: Sid) -> bool {
        self.voters.contains(&sid)
    }

    // ----- WorkerReceiver -----

    fn worker_receive(&mut self, now_ms: u64, from: Sid, n: Notification) {
        // Rule 1: a non-voter gets our current vote and state right away.
        if !self.is_voter(from) {
            self.answer_non_voter(from);
            return;
        }
        if self.state == PeerState::Looking {
            // Rule 2: queue it; a LOOKING sender behind our clock also gets
            // our proposal at our clock.
            if n.state == PeerState::Looking && n.vote.election_epoch < self.logical_clock {
                let v = self.proposal_vote();
                self.send(from, PeerState::Looking, v);
            }
            self.dequeue(now_ms, from, n);
        } else if n.state == PeerState::Looking {
            // Rule 3: tell a LOOKING voter who leads, with the vote's own
            // electionEpoch.
            if let Some(v) = self.current_vote {
                self.send(from, self.state, v);
            }
        }
        // Rule 4: neither side is looking: nothing.
    }

    fn answer_non_voter(&mut self, to: Sid) {
        if let Some(v) = self.current_vote {
            let v = Vote {
                election_epoch: self.logical_clock,
                ..v
            };
            self.send(to, self.state, v);
        }
    }

    // ----- lookForLeader -----

    /// `lookForLeader` takes `n` off `recvqueue`.
    fn dequeue(&mut self, now_ms: u64, from: Sid, n: Notification) {
        match self.phase {
            Phase::Finalizing { .. } => {
                if self.beats(&n.vote, &self.proposal) {
                    // recvqueue.put(n); break: back to the main loop with it.
                    self.phase = Phase::Polling;
                    self.process(now_ms, from, n);
                } else {
                    self.phase = Phase::Finalizing {
                        deadline: now_ms + self.timing.finalize_wait_ms,
                    };
                }
            }
            Phase::Polling => self.process(now_ms, from, n),
            Phase::Idle | Phase::Done => {}
        }
    }

    /// One turn of the main loop with a notification in hand.
    fn process(&mut self, now_ms: u64, from: Sid, n: Notification) {
        if self.is_voter(from) && self.is_voter(n.vote.leader) {
            match n.state {
                PeerState::Looking => self.received_looking(now_ms, from, &n),
                PeerState::Observing => {}
                PeerState::Following | PeerState::Leading => {
                    self.received_following(now_ms, from, &n)
                }
            }
        }
        if self.phase == Phase::Polling {
            self.poll_deadline = now_ms + self.not_timeout;
        }
    }

    fn received_looking(&mut self, now_ms: u64, from: Sid, n: &Notification) {
        if self.init.zxid == -1 || n.vote.zxid == -1 {
            return;
        }
        if n.vote.election_epoch > self.logical_clock {
            self.logical_clock = n.vote.election_epoch;
            self.recvset.clear();
            self.proposal = if self.beats(&n.vote, &self.init) {
                n.vote
            } else {
                self.init
            };
            self.send_notifications();
        } else if n.vote.election_epoch < self.logical_clock {
            return;
        } else if self.beats(&n.vote, &self.proposal) {
            self.proposal = n.vote;
            self.send_notifications();
        }
        self.recvset.insert(from, Ballot::looking(n.vote));
        let target = Ballot::looking(self.proposal_vote());
        if self.has_quorum(&self.recvset, &target) {
            self.phase = Phase::Finalizing {
                deadline: now_ms + self.timing.finalize_wait_ms,
            };
        }
    }

    /// `receivedFollowingNotification` (LEADING goes the same way; the
    /// oracle branch only exists for `QuorumOracleMaj`).
    fn received_following(&mut self, now_ms: u64, from: Sid, n: &Notification) {
        let target = Ballot {
            vote: n.vote,
            state: n.state,
            version: n.version,
        };
        if n.vote.election_epoch == self.logical_clock {
            // Java stores it with version 0 here.
            self.recvset.insert(
                from,
                Ballot {
                    version: 0,
                    ..target
                },
            );
            if self.has_quorum(&self.recvset, &target)
                && self.check_leader(&self.recvset, n.vote.leader, n.vote.election_epoch)
            {
                self.decide(now_ms, n.vote);
                return;
            }
        }
        self.outofelection.insert(from, target);
        if self.has_quorum(&self.outofelection, &target)
            && self.check_leader(&self.outofelection, n.vote.leader, n.vote.election_epoch)
        {
            self.logical_clock = n.vote.election_epoch;
            self.decide(now_ms, n.vote);
        }
    }

    /// `checkLeader`: a leader other than us must have told us itself that
    /// it is LEADING; if it is us, the round must be ours.
    fn check_leader(
        &self,
        votes: &BTreeMap<Sid, Ballot>,
        leader: Sid,
        election_epoch: i64,
    ) -> bool {
        if leader != self.me {
            votes
                .get(&leader)
                .is_some_and(|b| b.state == PeerState::Leading)
        } else {
            self.logical_clock == election_epoch
        }
    }

    /// `getVoteTracker(votes, target).hasAllQuorums()` for `QuorumMaj`: more
    /// than half of the voters hold a vote equal to `target`.
    fn has_quorum(&self, votes: &BTreeMap<Sid, Ballot>, target: &Ballot) -> bool {
        let acks = votes
            .iter()
            .filter(|(sid, b)| self.is_voter(**sid) && b.java_equals(target))
            .count();
        acks > self.voters.len() / 2
    }

    /// `totalOrderPredicate`, with a non-voter never winning.
    fn beats(&self, new: &Vote, cur: &Vote) -> bool {
        self.is_voter(new.leader) && vote_beats(new, cur)
    }

    fn decide(&mut self, now_ms: u64, vote: Vote) {
        let state = if vote.leader == self.me {
            PeerState::Leading
        } else if self.learner_type == LearnerType::Participant {
            PeerState::Following
        } else {
            PeerState::Observing
        };
        self.state = state;
        self.current_vote = Some(vote);
        self.phase = Phase::Done;
        self.recvset.clear();
        self.outofelection.clear();
        self.out.push(Output::Decided {
            state,
            vote,
            took_ms: now_ms.saturating_sub(self.started_ms),
        });
    }

    // ----- sending -----

    fn proposal_vote(&self) -> Vote {
        Vote {
            election_epoch: self.logical_clock,
            ..self.proposal
        }
    }

    /// `sendNotifications`: our proposal at our clock, LOOKING, to every
    /// voter including ourselves.
    fn send_notifications(&mut self) {
        let v = self.proposal_vote();
        for i in 0..self.send_order.len() {
            let to = self.send_order[i];
            self.send(to, PeerState::Looking, v);
        }
    }

    fn send(&mut self, to: Sid, state: PeerState, vote: Vote) {
        let n = Notification {
            state,
            vote,
            version: NOTIFICATION_VERSION,
            config: self.config.clone(),
        };
        if to == self.me {
            self.loopback.push_back(n);
        } else {
            self.out.push(Output::Send { to, n });
        }
    }

    /// Our own notifications come back through `WorkerReceiver` like any
    /// other (in Java via the loopback queue).
    fn drain_loopback(&mut self, now_ms: u64) {
        while let Some(n) = self.loopback.pop_front() {
            let me = self.me;
            self.worker_receive(now_ms, me, n);
        }
    }
}
