use super::*;
use crate::quorum::types::{make_zxid, LearnerType};
use crate::quorum::zab::learner::{Learner, LearnerConfig};
use crate::quorum::zab::Output;

use packet::*;

const C: u64 = 7;

fn cfg(kind: LearnerType) -> LearnerConfig {
    LearnerConfig {
        me: 1,
        kind,
        conn: C,
        accepted_epoch: 0,
        current_epoch: 0,
        last_committed: 0,
        tail: vec![],
        limits: LIMITS,
    }
}

fn leaderinfo(epoch: i64) -> QuorumPacket {
    pkd(LEADERINFO, epoch << 32, int(0x10000))
}

/// A fresh follower taken through discovery by a leader of epoch 1.
fn discovered(kind: LearnerType) -> Learner {
    let mut l = Learner::new(cfg(kind));
    l.connected();
    l.receive(leaderinfo(1));
    l.take_outputs();
    l
}

#[test]
fn fresh_follower_handshake_bytes_and_order() {
    let mut l = Learner::new(cfg(LearnerType::Participant));
    l.connected();
    let o = l.take_outputs();
    assert_bytes(
        &packets(&o, C)[0],
        "0000000b 0000000000000000 00000014 0000000000000001 00010000 0000000000000000 ffffffff",
    );
    l.receive(leaderinfo(1));
    let o = l.take_outputs();
    assert_eq!(
        o[0],
        Output::WriteAcceptedEpoch(1),
        "durable before ACKEPOCH"
    );
    assert_bytes(
        &packets(&o, C)[0],
        "00000012 0000000000000000 00000004 00000000 ffffffff",
    );
    l.receive(pk(DIFF, 0));
    l.receive(pkd(NEWLEADER, 1 << 32, b"cfg".to_vec()));
    let o = l.take_outputs();
    assert_eq!(o[0], Output::WriteCurrentEpoch(1), "durable before the ACK");
    assert_bytes(
        &packets(&o, C)[0],
        "00000003 0000000100000000 ffffffff ffffffff",
    );
    l.receive(pk(UPTODATE, -1));
    let o = l.take_outputs();
    assert_eq!(sent(&o, C), vec![(ACK, 1 << 32)]);
    assert!(o.contains(&Output::StartServing));
    assert!(o.contains(&Output::UpdateVotePeerEpoch(1)));
    assert!(l.is_serving());
}

#[test]
fn ackepoch_for_rejoin_equal_and_stale_epochs() {
    let mut l = Learner::new(LearnerConfig {
        accepted_epoch: 1,
        current_epoch: 1,
        last_committed: make_zxid(1, 9),
        ..cfg(LearnerType::Participant)
    });
    l.connected();
    l.receive(leaderinfo(2));
    let o = l.take_outputs();
    assert_bytes(
        &packets(&o, C)[1],
        "00000012 0000000100000009 00000004 00000001 ffffffff",
    );
    let mut l = Learner::new(LearnerConfig {
        accepted_epoch: 2,
        ..cfg(LearnerType::Participant)
    });
    l.connected();
    l.receive(leaderinfo(2));
    let o = l.take_outputs();
    assert!(!o.iter().any(|x| matches!(x, Output::WriteAcceptedEpoch(_))));
    assert_eq!(packets(&o, C)[1].data.as_deref(), Some(&int(-1)[..]));
    let mut l = Learner::new(LearnerConfig {
        accepted_epoch: 3,
        ..cfg(LearnerType::Participant)
    });
    l.connected();
    l.receive(leaderinfo(2));
    assert!(abandoned(&l.take_outputs())
        .unwrap()
        .contains("less than accepted"));
}

#[test]
fn diff_proposals_logged_before_newleader_ack_applied_at_uptodate() {
    let mut l = discovered(LearnerType::Participant);
    let (a, b, c) = (make_zxid(0, 1), make_zxid(0, 2), make_zxid(1, 1));
    l.receive(pk(DIFF, b));
    for z in [a, b] {
        l.receive(pkd(PROPOSAL, z, txn(z).to_vec()));
        l.receive(pk(COMMIT, z));
    }
    l.receive(pkd(PROPOSAL, c, txn(c).to_vec())); // outstanding, no COMMIT
    assert!(
        l.take_outputs().is_empty(),
        "DIFF mode applies nothing before NEWLEADER"
    );
    l.receive(pkd(NEWLEADER, 1 << 32, vec![]));
    let o = l.take_outputs();
    let persisted: Vec<Zxid> = o
        .iter()
        .filter_map(|x| match x {
            Output::Persist { zxid, .. } => Some(*zxid),
            _ => None,
        })
        .collect();
    assert_eq!(persisted, vec![a, b, c]);
    assert!(
        sent(&o, C).is_empty(),
        "no ACK before the proposals are durable"
    );
    l.persisted(b);
    assert!(l.take_outputs().is_empty());
    l.persisted(c);
    let o = l.take_outputs();
    assert_eq!(o[0], Output::WriteCurrentEpoch(1));
    assert_eq!(
        sent(&o, C),
        vec![(ACK, 1 << 32)],
        "the first packet after NEWLEADER"
    );
    l.receive(pk(UPTODATE, -1));
    let o = l.take_outputs();
    assert_eq!(commits(&o), vec![a, b]);
    assert_eq!(
        sent(&o, C),
        vec![(ACK, 1 << 32), (ACK, a), (ACK, b), (ACK, c)]
    );
    l.receive(pk(COMMIT, c));
    assert_eq!(commits(&l.take_outputs()), vec![c]);
}

#[test]
fn trunc_and_snap_take_a_snapshot_at_newleader() {
    let z = |c| make_zxid(1, c);
    let mut l = Learner::new(LearnerConfig {
        accepted_epoch: 1,
        current_epoch: 1,
        last_committed: z(3),
        tail: (4..=6).map(|c| (z(c), txn(z(c)))).collect(),
        ..cfg(LearnerType::Participant)
    });
    l.connected();
    l.receive(leaderinfo(2));
    assert_eq!(
        packets(&l.take_outputs(), C)[1].zxid,
        z(6),
        "the tail counts"
    );
    l.receive(pk(TRUNC, z(4)));
    assert_eq!(l.take_outputs(), vec![Output::Truncate { zxid: z(4) }]);
    l.receive(pkd(NEWLEADER, 2 << 32, vec![]));
    let o = l.take_outputs();
    assert_eq!(o[0], Output::TakeSnapshot);
    l.receive(pk(UPTODATE, -1));
    assert_eq!(commits(&l.take_outputs()), vec![z(4)], "the confirmed tail");
    // A TRUNC below what we applied is refused.
    let mut l = Learner::new(LearnerConfig {
        accepted_epoch: 1,
        last_committed: z(3),
        ..cfg(LearnerType::Participant)
    });
    l.connected();
    l.receive(leaderinfo(2));
    l.receive(pk(TRUNC, z(2)));
    assert!(abandoned(&l.take_outputs()).is_some());
    // SNAP: the driver loaded the tree; the tail is dropped.
    let mut l = discovered(LearnerType::Participant);
    l.receive(pk(SNAP, z(8)));
    l.receive(pkd(NEWLEADER, 1 << 32, vec![]));
    assert_eq!(l.take_outputs()[0], Output::TakeSnapshot);
    assert_eq!(l.last_committed(), z(8));
}

#[test]
fn broadcast_proposal_ack_commit_ping_sync() {
    let mut l = discovered(LearnerType::Participant);
    l.receive(pk(DIFF, 0));
    l.receive(pkd(NEWLEADER, 1 << 32, vec![]));
    l.receive(pk(UPTODATE, -1));
    l.take_outputs();
    let (a, b) = (make_zxid(1, 1), make_zxid(1, 2));
    l.receive(pkd(PROPOSAL, a, txn(a).to_vec()));
    l.receive(pkd(PROPOSAL, b, txn(b).to_vec()));
    let o = l.take_outputs();
    assert!(sent(&o, C).is_empty(), "no ACK before durable");
    assert_eq!(o.len(), 2);
    l.persisted(b);
    assert_eq!(sent(&l.take_outputs(), C), vec![(ACK, a), (ACK, b)]);
    l.receive(pk(COMMIT, a));
    assert_eq!(commits(&l.take_outputs()), vec![a]);
    l.receive(pk(PING, b));
    l.receive(pk(SYNC, 0));
    assert_eq!(
        l.take_outputs(),
        vec![Output::AnswerPing { zxid: b }, Output::SyncDone]
    );
    // COMMIT of something not at the head: never applied out of order.
    l.receive(pk(COMMIT, make_zxid(1, 3)));
    let o = l.take_outputs();
    assert!(commits(&o).is_empty());
    assert!(abandoned(&o).unwrap().contains("UNMATCHED_TXN_COMMIT"));
}

#[test]
fn observer_applies_inform_and_never_acks_it() {
    let mut l = discovered(LearnerType::Observer);
    assert!(
        matches!(&l.take_outputs()[..], []),
        "outputs already drained"
    );
    l.receive(pk(DIFF, 0));
    l.receive(pkd(NEWLEADER, 1 << 32, vec![]));
    l.receive(pk(UPTODATE, -1));
    l.take_outputs();
    let z = make_zxid(1, 1);
    l.receive(pkd(INFORM, z, txn(z).to_vec()));
    let o = l.take_outputs();
    assert_eq!(commits(&o), vec![z]);
    l.persisted(z);
    assert!(sent(&l.take_outputs(), C).is_empty());
}

#[test]
fn sync_warnings_and_deadlines_never_panic() {
    let mut l = discovered(LearnerType::Participant);
    l.receive(pk(DIFF, 0));
    l.receive(pk(COMMIT, 5)); // nothing pending: only a warning
    l.receive(pkd(PROPOSAL, 9, vec![]));
    l.receive(pk(COMMIT, 8)); // not the head: only a warning
    l.receive(pk(PING, 0)); // ignored during sync, as syncWithLeader does
    assert!(l.take_outputs().is_empty());
    for _ in 0..LIMITS.init_ticks() {
        l.tick();
    }
    assert!(l.take_outputs().is_empty());
    l.tick();
    assert!(abandoned(&l.take_outputs()).is_some());
    // A bad first packet or a packet with garbage: abandon, no panic.
    let mut l = Learner::new(cfg(LearnerType::Participant));
    l.connected();
    l.receive(pkd(LEADERINFO, 1 << 32, vec![1]));
    assert!(abandoned(&l.take_outputs()).is_some());
    let mut l = discovered(LearnerType::Participant);
    l.receive(pk(UPTODATE, -1));
    assert!(abandoned(&l.take_outputs()).is_some());
}

#[test]
fn forward_only_requests_and_revalidates() {
    let mut l = discovered(LearnerType::Participant);
    assert!(l.forward(pkd(REQUEST, -1, vec![0; 16])));
    assert!(!l.forward(pk(ACK, 3)));
    assert_eq!(sent(&l.take_outputs(), C), vec![(REQUEST, -1)]);
}
