//! Message-by-message tests of the election core, plus a tiny zero-delay
//! network for the multi-member stories.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{vote_beats, Election, ElectionConfig, Output, Timing};
use crate::quorum::types::{
    make_zxid, LearnerType, Notification, PeerState, Sid, Vote, Zxid, NOTIFICATION_VERSION,
};
use crate::quorum::wire;

const CONFIG_3: &[u8] = b"server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant\nserver.3=127.0.0.1:2890:3890:participant\nversion=0";

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn cfg(me: Sid, voters: &[Sid], lt: LearnerType) -> ElectionConfig {
    ElectionConfig {
        my_sid: me,
        learner_type: lt,
        voters: voters.to_vec(),
        config: CONFIG_3.to_vec(),
        timing: Timing::default(),
    }
}

fn voter(me: Sid, voters: &[Sid]) -> Election {
    Election::new(cfg(me, voters, LearnerType::Participant))
}

fn v(leader: Sid, zxid: Zxid, election_epoch: i64, peer_epoch: i64) -> Vote {
    Vote {
        leader,
        zxid,
        election_epoch,
        peer_epoch,
    }
}

fn note(state: PeerState, vote: Vote) -> Notification {
    Notification {
        state,
        vote,
        version: NOTIFICATION_VERSION,
        config: CONFIG_3.to_vec(),
    }
}

fn looking(leader: Sid, zxid: Zxid, e: i64, pe: i64) -> Notification {
    note(PeerState::Looking, v(leader, zxid, e, pe))
}

fn sends(outs: &[Output]) -> Vec<(Sid, PeerState, Vote)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { to, n } => Some((*to, n.state, n.vote)),
            _ => None,
        })
        .collect()
}

fn decided(outs: &[Output]) -> Option<(PeerState, Vote)> {
    outs.iter().find_map(|o| match o {
        Output::Decided { state, vote, .. } => Some((*state, *vote)),
        _ => None,
    })
}

/// A zero-delay network: FIFO delivery, messages to a down member are lost,
/// poll timeouts re-send.
struct Net {
    nodes: BTreeMap<Sid, Election>,
    up: BTreeSet<Sid>,
    queue: VecDeque<(Sid, Sid, Notification)>,
    decided: BTreeMap<Sid, (PeerState, Vote, u64)>,
    now: u64,
}

impl Net {
    fn new(voters: &[Sid], observers: &[Sid]) -> Net {
        let mut nodes = BTreeMap::new();
        for &s in voters {
            nodes.insert(s, voter(s, voters));
        }
        for &s in observers {
            nodes.insert(s, Election::new(cfg(s, voters, LearnerType::Observer)));
        }
        Net {
            nodes,
            up: BTreeSet::new(),
            queue: VecDeque::new(),
            decided: BTreeMap::new(),
            now: 0,
        }
    }

    fn absorb(&mut self, from: Sid, outs: Vec<Output>) {
        for o in outs {
            match o {
                Output::Send { to, n } => self.queue.push_back((from, to, n)),
                Output::Decided {
                    state,
                    vote,
                    took_ms,
                } => {
                    self.decided.insert(from, (state, vote, took_ms));
                }
                _ => {}
            }
        }
    }

    fn start(&mut self, sid: Sid, zxid: Zxid, epoch: i64) {
        self.up.insert(sid);
        self.decided.remove(&sid);
        let outs = self
            .nodes
            .get_mut(&sid)
            .unwrap()
            .start_looking(self.now, zxid, epoch);
        self.absorb(sid, outs);
        self.flush();
    }

    /// Starts everyone at once: all are up before the first message flies.
    fn start_all(&mut self, members: &[(Sid, Zxid, i64)]) {
        for &(sid, _, _) in members {
            self.up.insert(sid);
        }
        for &(sid, zxid, epoch) in members {
            let outs = self
                .nodes
                .get_mut(&sid)
                .unwrap()
                .start_looking(self.now, zxid, epoch);
            self.absorb(sid, outs);
        }
        self.flush();
    }

    fn flush(&mut self) {
        while let Some((from, to, n)) = self.queue.pop_front() {
            if !self.up.contains(&to) {
                continue;
            }
            let outs = self.nodes.get_mut(&to).unwrap().receive(self.now, from, n);
            self.absorb(to, outs);
        }
    }

    /// Advances to `until`, firing every deadline on the way.
    fn run_until(&mut self, until: u64) {
        loop {
            self.flush();
            let next = self
                .up
                .iter()
                .filter_map(|s| self.nodes[s].next_deadline())
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    let due: Vec<Sid> = self
                        .up
                        .iter()
                        .copied()
                        .filter(|s| self.nodes[s].next_deadline().is_some_and(|d| d <= self.now))
                        .collect();
                    for s in due {
                        let now = self.now;
                        let outs = self.nodes.get_mut(&s).unwrap().tick(now, true);
                        self.absorb(s, outs);
                    }
                }
                _ => break,
            }
        }
        self.now = until;
    }

    fn outcome(&self, sid: Sid) -> Option<(PeerState, Sid)> {
        self.decided.get(&sid).map(|d| (d.0, d.1.leader))
    }
}

#[test]
fn vote_order() {
    let base = v(1, make_zxid(1, 5), 1, 1);
    assert!(
        vote_beats(&v(2, make_zxid(1, 5), 1, 1), &base),
        "higher sid"
    );
    assert!(!vote_beats(&base, &base), "a vote does not beat itself");
    assert!(
        vote_beats(&v(0, make_zxid(1, 6), 1, 1), &base),
        "higher zxid"
    );
    assert!(vote_beats(&v(0, 0, 1, 2), &base), "higher peerEpoch");
    assert!(!vote_beats(&v(9, make_zxid(1, 4), 1, 1), &base));
    assert!(
        !vote_beats(&v(9, make_zxid(1, 9), 7, 0), &base),
        "peerEpoch first"
    );
    assert!(
        vote_beats(&v(2, 5, 0, 1), &v(1, 5, 9, 1)),
        "electionEpoch is not compared"
    );
    // A non-voter never wins, however good its vote.
    let mut e = voter(1, &[1, 2, 3]);
    e.start_looking(0, 0, 0);
    let outs = e.receive(1, 2, looking(7, make_zxid(9, 9), 1, 9));
    assert!(sends(&outs).is_empty());
    assert_eq!(e.proposal().leader, 1);
}

#[test]
fn initial_vote_goes_to_every_other_voter() {
    let mut e = voter(3, &[1, 2, 3]);
    let outs = e.start_looking(0, make_zxid(1, 7), 1);
    assert_eq!(e.logical_clock(), 1);
    let want = v(3, make_zxid(1, 7), 1, 1);
    assert_eq!(
        sends(&outs),
        vec![(1, PeerState::Looking, want), (2, PeerState::Looking, want)],
        "to 1 and 2; our own copy loops back internally"
    );
    assert!(e.is_looking());
    assert_eq!(e.next_deadline(), Some(200));
    // A second round increments the clock.
    let outs = e.start_looking(1000, make_zxid(1, 7), 1);
    assert_eq!(sends(&outs)[0].2.election_epoch, 2);
}

#[test]
fn three_members_from_empty_state_elect_3() {
    let mut net = Net::new(&[1, 2, 3], &[]);
    net.start_all(&[(1, 0, 0), (2, 0, 0), (3, 0, 0)]);
    net.run_until(199);
    assert!(net.decided.is_empty(), "finalizeWait holds the decision");
    net.run_until(1000);
    assert_eq!(net.outcome(3), Some((PeerState::Leading, 3)));
    assert_eq!(net.outcome(1), Some((PeerState::Following, 3)));
    assert_eq!(net.outcome(2), Some((PeerState::Following, 3)));
    for s in [1, 2, 3] {
        let d = net.decided[&s];
        assert_eq!(d.1, v(3, 0, 1, 0));
        assert_eq!(d.2, 200, "took finalizeWait");
    }
}

#[test]
fn higher_zxid_beats_higher_sid() {
    let mut net = Net::new(&[1, 2, 3], &[]);
    net.start_all(&[
        (1, make_zxid(1, 5), 1),
        (2, make_zxid(1, 3), 1),
        (3, make_zxid(1, 4), 1),
    ]);
    net.run_until(1000);
    assert_eq!(net.outcome(1), Some((PeerState::Leading, 1)));
    assert_eq!(net.outcome(2), Some((PeerState::Following, 1)));
    assert_eq!(net.outcome(3), Some((PeerState::Following, 1)));
    assert_eq!(net.decided[&3].1, v(1, make_zxid(1, 5), 1, 1));
}

#[test]
fn higher_peer_epoch_beats_higher_zxid() {
    let mut net = Net::new(&[1, 2, 3], &[]);
    net.start_all(&[
        (1, make_zxid(1, 3), 2), // currentEpoch 2, nothing logged in it yet
        (2, make_zxid(1, 9), 1),
        (3, make_zxid(1, 9), 1),
    ]);
    net.run_until(1000);
    for s in [1, 2, 3] {
        assert_eq!(net.decided[&s].1, v(1, make_zxid(1, 3), 1, 2));
    }
    assert_eq!(net.outcome(1), Some((PeerState::Leading, 1)));
}

#[test]
fn finalize_wait_better_vote_changes_outcome() {
    let start = |e: &mut Election| {
        e.start_looking(0, 0, 0);
        // 2's vote wins over ours; with our own copy that is a quorum of 3.
        let outs = e.receive(10, 2, looking(2, 0, 1, 0));
        assert_eq!(sends(&outs).len(), 2, "adopted 2 and re-sent");
        assert_eq!(e.next_deadline(), Some(210), "finalizeWait started");
    };
    // Control: nothing arrives, 2 wins at 210.
    let mut e = voter(1, &[1, 2, 3]);
    start(&mut e);
    assert!(e.tick(209, true).is_empty());
    let d = decided(&e.tick(210, true)).unwrap();
    assert_eq!(d, (PeerState::Following, v(2, 0, 1, 0)));

    // A better vote inside the window: back to the loop, 3 wins.
    let mut e = voter(1, &[1, 2, 3]);
    start(&mut e);
    let outs = e.receive(110, 3, looking(3, 0, 1, 0));
    assert!(decided(&outs).is_none());
    assert_eq!(sends(&outs).len(), 2, "re-sent the new proposal");
    assert_eq!(
        e.next_deadline(),
        Some(310),
        "new quorum {{1, 3}}, new wait"
    );
    assert!(decided(&e.tick(210, true)).is_none());
    let d = decided(&e.tick(310, true)).unwrap();
    assert_eq!(d, (PeerState::Following, v(3, 0, 1, 0)));

    // A vote that is not better is dropped, but restarts the wait.
    let mut e = voter(1, &[1, 2, 3]);
    start(&mut e);
    let outs = e.receive(150, 2, looking(2, 0, 1, 0));
    assert!(outs.is_empty());
    assert_eq!(e.next_deadline(), Some(350));
    assert!(decided(&e.tick(210, true)).is_none());
    assert!(decided(&e.tick(350, true)).is_some());
}

#[test]
fn stale_election_epoch_is_ignored() {
    let mut e = voter(1, &[1, 2, 3]);
    e.start_looking(0, 0, 0);
    e.receive(1, 2, looking(2, 0, 5, 0));
    assert_eq!(e.logical_clock(), 5);
    // 3's better vote from round 4: ignored, but 3 gets our round-5 proposal.
    let outs = e.receive(2, 3, looking(3, 0, 4, 0));
    assert_eq!(sends(&outs), vec![(3, PeerState::Looking, v(2, 0, 5, 0))]);
    assert_eq!(e.proposal(), v(2, 0, 5, 0));
    // It was better than our proposal, so it ended finalizeWait before being
    // ignored as stale: no decision until the next notification or timeout.
    assert_eq!(e.next_deadline(), Some(202));
    assert!(decided(&e.tick(202, true)).is_none());
    assert_eq!(e.next_deadline(), Some(402), "own re-sent vote: finalizing");
    assert!(decided(&e.tick(402, true)).is_some());
}

#[test]
fn higher_election_epoch_is_adopted() {
    let mut e = voter(3, &[1, 2, 3]);
    e.start_looking(0, 0, 0);
    // 1 shows up in round 4 with a worse vote.
    let outs = e.receive(1, 1, looking(1, 0, 4, 0));
    assert_eq!(e.logical_clock(), 4);
    assert_eq!(
        e.proposal(),
        v(3, 0, 4, 0),
        "max(own initial vote, its vote)"
    );
    assert_eq!(
        sends(&outs),
        vec![
            (1, PeerState::Looking, v(3, 0, 4, 0)),
            (2, PeerState::Looking, v(3, 0, 4, 0))
        ]
    );
    // Round-1 votes were cleared: 2's old vote does not count, its new one does.
    e.receive(2, 2, looking(3, 0, 1, 0));
    assert_eq!(e.next_deadline(), Some(2 + 200), "poll, not finalize");
    e.receive(3, 2, looking(3, 0, 4, 0));
    assert_eq!(e.next_deadline(), Some(203), "finalizing with {{2, 3}}");
    let d = decided(&e.tick(203, true)).unwrap();
    assert_eq!(d, (PeerState::Leading, v(3, 0, 4, 0)));
}

/// Five servers started one after another, a second apart: none decides
/// until three are up; then 3 leads and 1, 2 follow; 4 and 5 follow 3 when
/// they start, through the LEADING/FOLLOWING answers of the others.
#[test]
fn seed_story_five_servers_started_one_after_another() {
    let all = [1, 2, 3, 4, 5];
    let mut net = Net::new(&all, &[]);
    net.start(1, 0, 0);
    net.run_until(1000);
    assert!(net.decided.is_empty());
    net.start(2, 0, 0);
    net.run_until(2000);
    assert!(net.decided.is_empty(), "two of five is no quorum");
    net.start(3, 0, 0);
    net.run_until(3000);
    assert_eq!(net.outcome(3), Some((PeerState::Leading, 3)));
    assert_eq!(net.outcome(1), Some((PeerState::Following, 3)));
    assert_eq!(net.outcome(2), Some((PeerState::Following, 3)));
    assert_eq!(net.decided[&3].1, v(3, 0, 1, 0));
    // ZAB establishes epoch 1 (ZOOKEEPER-1732).
    for s in [1, 2, 3] {
        net.nodes.get_mut(&s).unwrap().update_vote_peer_epoch(1);
    }
    net.start(4, 0, 0);
    assert_eq!(net.outcome(4), Some((PeerState::Following, 3)));
    assert_eq!(net.decided[&4].1, v(3, 0, 1, 1));
    assert_eq!(net.decided[&4].2, 0, "joined at once");
    net.run_until(4000);
    net.start(5, 0, 0);
    assert_eq!(
        net.outcome(5),
        Some((PeerState::Following, 3)),
        "5 has the best vote but joins the running leader"
    );
    net.run_until(10_000);
    for s in [1, 2, 4, 5] {
        assert_eq!(net.outcome(s), Some((PeerState::Following, 3)));
    }
}

#[test]
fn join_needs_the_leaders_own_leading_notification() {
    let mut e = voter(4, &[1, 2, 3, 4, 5]);
    e.start_looking(0, 0, 0);
    let f = |e: i64| note(PeerState::Following, v(3, 0, e, 1));
    assert!(decided(&e.receive(1, 1, f(1))).is_none());
    assert!(decided(&e.receive(2, 2, f(1))).is_none());
    // A third follower makes a quorum of equal votes, but the leader has not
    // spoken: checkLeader fails.
    assert!(decided(&e.receive(3, 5, f(1))).is_none());
    // The leader, from another round: joins through outofelection and takes
    // the leader's round as its clock.
    let d = e.receive(4, 3, note(PeerState::Leading, v(3, 0, 7, 1)));
    assert_eq!(decided(&d), Some((PeerState::Following, v(3, 0, 7, 1))));
    assert_eq!(e.logical_clock(), 7);
    // Followers reporting a different peerEpoch do not count together.
    let mut e = voter(4, &[1, 2, 3, 4, 5]);
    e.start_looking(0, 0, 0);
    e.receive(1, 1, note(PeerState::Following, v(3, 0, 7, 1)));
    e.receive(2, 2, note(PeerState::Following, v(3, 0, 7, 2)));
    let d = e.receive(3, 3, note(PeerState::Leading, v(3, 0, 7, 2)));
    assert!(decided(&d).is_none(), "only {{2, 3}} agree on epoch 2");
}

#[test]
fn split_decision_in_one_epoch_is_possible() {
    // FLE alone can let two members decide different leaders in one round;
    // ZAB then rejects the one without a quorum of followers. 1 sees a quorum
    // {1, 2, 3} for 3 and nothing better within finalizeWait...
    let all = [1, 2, 3, 4, 5];
    let mut one = voter(1, &all);
    one.start_looking(0, 0, 0);
    one.receive(1, 3, looking(3, 0, 1, 0));
    one.receive(2, 2, looking(3, 0, 1, 0));
    let d1 = decided(&one.tick(202, true)).unwrap();
    // ...while 2, still finalizing for 3, hears 5, and {2, 4, 5} elect 5.
    let mut two = voter(2, &all);
    two.start_looking(0, 0, 0);
    two.receive(1, 3, looking(3, 0, 1, 0));
    two.receive(2, 1, looking(3, 0, 1, 0));
    two.receive(100, 5, looking(5, 0, 1, 0));
    two.receive(101, 4, looking(5, 0, 1, 0));
    let d2 = decided(&two.tick(301, true)).unwrap();
    assert_eq!(d1.1.election_epoch, d2.1.election_epoch);
    assert_ne!(d1.1.leader, d2.1.leader);
}

#[test]
fn observer_never_wins_and_ends_observing() {
    let mut obs = Election::new(cfg(4, &[1, 2, 3], LearnerType::Observer));
    let outs = obs.start_looking(0, make_zxid(9, 9), 9);
    let init = v(Sid::MIN, Zxid::MIN, 1, i64::MIN);
    assert_eq!(obs.proposal(), init, "Long.MIN_VALUE x3");
    assert_eq!(
        sends(&outs),
        vec![
            (1, PeerState::Looking, init),
            (2, PeerState::Looking, init),
            (3, PeerState::Looking, init)
        ],
        "to the voters only"
    );
    // Voters treat it as a non-voter: immediate answers, no adoption.
    let mut net = Net::new(&[1, 2, 3], &[4]);
    net.start(4, make_zxid(9, 9), 9);
    for s in [1, 2, 3] {
        net.start(s, 0, 0);
    }
    net.run_until(5000);
    assert_eq!(net.outcome(3), Some((PeerState::Leading, 3)));
    assert_eq!(net.outcome(4), Some((PeerState::Observing, 3)));
    for s in [1, 2, 3] {
        assert_eq!(net.decided[&s].1.leader, 3);
    }
}

#[test]
fn non_voter_sender_gets_an_immediate_reply() {
    let mut e = voter(1, &[1, 2, 3]);
    e.start_looking(0, make_zxid(2, 4), 2);
    e.receive(1, 3, looking(3, 0, 1, 0)); // worse than ours: no change
    let outs = e.receive(2, 9, looking(9, make_zxid(9, 9), 1, 9));
    // Our *current* vote (QuorumPeer.currentVote: our own at boot), our clock.
    assert_eq!(
        sends(&outs),
        vec![(9, PeerState::Looking, v(1, make_zxid(2, 4), 1, 2))]
    );
    assert_eq!(e.proposal().leader, 1);
    // Observing notifications from a voter are ignored.
    assert!(e
        .receive(3, 2, note(PeerState::Observing, v(2, 0, 1, 0)))
        .is_empty());
    // An unknown state from a non-voter still gets the answer; from a voter not.
    assert_eq!(sends(&e.receive_unknown_state(4, 9)).len(), 1);
    assert!(e.receive_unknown_state(4, 2).is_empty());
    // After deciding, the decided vote with the decided state.
    e.receive(5, 2, looking(1, make_zxid(2, 4), 1, 2));
    let d = decided(&e.tick(205, true)).unwrap();
    assert_eq!(d.0, PeerState::Leading);
    let outs = e.receive(300, 9, looking(9, 0, 1, 0));
    assert_eq!(
        sends(&outs),
        vec![(9, PeerState::Leading, v(1, make_zxid(2, 4), 1, 2))]
    );
}

#[test]
fn decided_member_answers_looking_voters_only() {
    let mut e = voter(2, &[1, 2, 3]);
    e.start_looking(0, 0, 0);
    e.receive(1, 3, looking(3, 0, 1, 0));
    decided(&e.tick(201, true)).unwrap();
    e.update_vote_peer_epoch(1);
    // LOOKING voter from a later round: the vote's own round, peerEpoch 1.
    let outs = e.receive(500, 1, looking(1, 0, 6, 0));
    assert_eq!(sends(&outs), vec![(1, PeerState::Following, v(3, 0, 1, 1))]);
    assert!(e
        .receive(501, 1, note(PeerState::Following, v(3, 0, 1, 1)))
        .is_empty());
    assert!(e.tick(100_000, true).is_empty());
    assert_eq!(e.next_deadline(), None);
    // The role ends: a new round at clock 2, our own vote again.
    let outs = e.start_looking(600, make_zxid(1, 3), 1);
    assert_eq!(sends(&outs)[0].2, v(2, make_zxid(1, 3), 2, 1));
    // Until this round decides, non-voters still hear the last decided vote.
    let outs = e.receive(601, 7, looking(7, 0, 1, 0));
    assert_eq!(sends(&outs), vec![(7, PeerState::Looking, v(3, 0, 2, 1))]);
}

#[test]
fn zxid_minus_one_is_ignored() {
    let mut e = voter(1, &[1, 2, 3]);
    e.start_looking(0, 0, 0);
    let outs = e.receive(1, 2, looking(2, -1, 1, 0));
    assert!(outs.is_empty());
    assert_eq!(e.proposal().leader, 1);
}

#[test]
fn back_off_doubles_to_the_cap() {
    let mut e = voter(1, &[1, 2, 3]);
    e.start_looking(0, 0, 0);
    let mut now = 0;
    let mut seen = Vec::new();
    for i in 0..12 {
        now = e.next_deadline().unwrap();
        let outs = e.tick(now, i % 2 == 0);
        let t = outs.iter().find_map(|o| match o {
            Output::NotificationTimeout { timeout_ms } => Some(*timeout_ms),
            _ => None,
        });
        seen.push(t.unwrap());
        if i % 2 == 0 {
            assert_eq!(sends(&outs).len(), 2, "re-sent to 2 and 3");
        } else {
            assert_eq!(outs[0], Output::ConnectAll);
            assert!(sends(&outs).is_empty());
        }
    }
    assert_eq!(
        seen,
        vec![400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000, 60000, 60000]
    );
    assert_eq!(e.next_deadline(), Some(now + 60_000));
    // Notifications restart the poll but not the back-off.
    e.receive(now + 5, 2, note(PeerState::Observing, v(2, 0, 1, 0)));
    assert_eq!(e.next_deadline(), Some(now + 5 + 60_000));
    // A new round starts again at 200 ms.
    e.start_looking(now + 10, 0, 0);
    assert_eq!(e.notification_timeout_ms(), 200);
}

/// Wire check: what the core emits round-trips through the codec, and sid
/// 3's first-round vote is byte-identical to the capture (quorum-wire §2.2).
#[test]
fn emitted_notifications_match_the_capture() {
    let parsed = wire::parse_config_text(CONFIG_3).unwrap();
    let text = wire::config_text(parsed.servers.values(), parsed.version);
    assert_eq!(text.as_bytes(), CONFIG_3);
    let mut c = cfg(3, &[1, 2, 3], LearnerType::Participant);
    c.config = text.into_bytes();
    let mut e = Election::new(c);
    let outs = e.start_looking(0, 0, 0);
    let mut frame = hex(
        "000000b0 00000000 0000000000000003 0000000000000000 0000000000000001
         0000000000000000 00000002 00000084",
    );
    frame.extend_from_slice(CONFIG_3);
    for o in &outs {
        let Output::Send { n, .. } = o else { continue };
        assert_eq!(n.state, PeerState::Looking);
        assert_eq!(n.vote, v(3, 0, 1, 0));
        assert_eq!(wire::encode_election_frame(n).unwrap(), frame);
        let back = wire::decode_notification(&wire::encode_notification(n)).unwrap();
        assert_eq!(&back, n);
    }
    // A decided LEADING answer round-trips as well.
    e.receive(1, 1, looking(3, 0, 1, 0));
    decided(&e.tick(201, true)).unwrap();
    e.update_vote_peer_epoch(1);
    for o in e.receive(300, 2, looking(2, 0, 1, 0)) {
        let Output::Send { n, .. } = o else { continue };
        assert_eq!(n.state, PeerState::Leading);
        let b = wire::encode_notification(&n);
        assert_eq!(&b[..4], &[0, 0, 0, 2]);
        assert_eq!(wire::decode_notification(&b).unwrap(), n);
    }
}
