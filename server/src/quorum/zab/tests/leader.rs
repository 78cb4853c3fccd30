use super::*;
use crate::quorum::types::make_zxid;
use crate::quorum::zab::leader::{Leader, LeaderConfig};
use crate::quorum::zab::{Output, ProposeError};

use packet::*;

fn cfg(me: i64, voters: &[i64]) -> LeaderConfig {
    LeaderConfig {
        me,
        voters: voters.to_vec(),
        observers: vec![],
        accepted_epoch: 0,
        current_epoch: 0,
        last_committed: 0,
        committed_log: vec![],
        tail: vec![],
        disk_log: vec![],
        disk_size_limit: None,
        txn_log_sync: false,
        commit_log_count: 500,
        limits: LIMITS,
        config_text: b"server.1=a\nversion=0".to_vec(),
    }
}

fn log(epoch: i64, counters: std::ops::RangeInclusive<i64>) -> Vec<(Zxid, Txn)> {
    counters
        .map(|c| make_zxid(epoch, c))
        .map(|z| (z, txn(z)))
        .collect()
}

/// A leader at epoch 1 with `log` committed, established with one
/// follower (sid 1 on conn 1) that was in sync.
fn established(voters: &[i64], followers: &[i64]) -> Leader {
    let committed: Vec<(Zxid, Txn)> = vec![];
    let last = committed.last().map_or(0, |e| e.0);
    let mut l = Leader::new(LeaderConfig {
        accepted_epoch: 1,
        current_epoch: 1,
        last_committed: last,
        committed_log: committed,
        ..cfg(3, voters)
    })
    .unwrap();
    for &f in followers {
        l.connected(f as u64);
        l.receive(f as u64, info(FOLLOWERINFO, f, 1));
    }
    for &f in followers {
        l.receive(f as u64, ackepoch(last, 1));
    }
    for &f in followers {
        l.receive(f as u64, pk(ACK, make_zxid(2, 0)));
    }
    assert!(l.is_established());
    l.take_outputs();
    l
}

#[test]
fn fresh_ensemble_discovery_and_empty_diff() {
    let mut l = Leader::new(cfg(3, &[1, 2, 3, 4, 5])).unwrap();
    l.connected(1);
    l.connected(2);
    l.receive(1, info(FOLLOWERINFO, 1, 0));
    assert!(
        l.take_outputs().is_empty(),
        "waits for a quorum in getEpochToPropose"
    );
    l.receive(2, info(FOLLOWERINFO, 2, 0));
    let o = l.take_outputs();
    assert_eq!(
        o[0],
        Output::WriteAcceptedEpoch(1),
        "acceptedEpoch before LEADERINFO"
    );
    let li = &packets(&o, 1)[0];
    assert_bytes(li, "00000011 0000000100000000 00000004 00010000 ffffffff");
    assert_eq!(sent(&o, 2), vec![(LEADERINFO, 1 << 32)]);
    l.receive(2, ackepoch(0, 0));
    assert!(l.take_outputs().is_empty(), "epoch acks need a quorum too");

    l.receive(1, ackepoch(0, 0));
    let o = l.take_outputs();
    assert_eq!(o[0], Output::WriteCurrentEpoch(1));
    let p = packets(&o, 1);
    assert_bytes(&p[0], "0000000d 0000000000000000 ffffffff ffffffff");
    assert_eq!(p[1].kind, NEWLEADER);
    assert_eq!(p[1].zxid, 1 << 32);
    assert_eq!(p[1].data.as_deref(), Some(&b"server.1=a\nversion=0"[..]));

    l.receive(1, pk(ACK, 1 << 32));
    assert!(!l.is_established(), "NEWLEADER needs a quorum of 3 of 5");
    assert!(l.take_outputs().is_empty());
    l.receive(2, pk(ACK, 1 << 32));
    let o = l.take_outputs();
    assert!(l.is_established());
    assert_eq!(o[0], Output::UpdateVotePeerEpoch(1));
    assert_eq!(o[1], Output::StartServing);
    assert_bytes(
        &packets(&o, 1)[0],
        "0000000c ffffffffffffffff ffffffff ffffffff",
    );
    assert_eq!(
        l.last_committed(),
        1 << 32,
        "§1.25: lastCommitted = epoch<<32"
    );

    // Learner 2 (acked before) also got DIFF and NEWLEADER; a later
    // learner is synced at once and gets UPTODATE right after its ACK.
    l.connected(4);
    l.receive(4, info(FOLLOWERINFO, 4, 0));
    assert_eq!(sent(&l.take_outputs(), 4), vec![(LEADERINFO, 1 << 32)]);
    l.receive(4, ackepoch(0, 0));
    let o = l.take_outputs();
    // lastProcessed is now 1<<32, the committed log is empty: SNAP (§1.25).
    assert_eq!(
        o[0],
        Output::SendSnapshot {
            to: 4,
            zxid: 1 << 32
        }
    );
    assert_eq!(sent(&o, 4), vec![(NEWLEADER, 1 << 32)]);
    l.receive(4, pk(ACK, 1 << 32));
    assert_eq!(sent(&l.take_outputs(), 4), vec![(UPTODATE, -1)]);
}

#[test]
fn epoch_is_max_accepted_plus_one_and_observers_raise_it() {
    let mut l = Leader::new(LeaderConfig {
        accepted_epoch: 2,
        ..cfg(3, &[1, 2, 3])
    })
    .unwrap();
    l.connected(9);
    l.receive(9, info(OBSERVERINFO, 9, 7));
    assert!(l.take_outputs().is_empty(), "an observer does not count");
    l.connected(1);
    l.receive(1, info(FOLLOWERINFO, 1, 4));
    let o = l.take_outputs();
    assert_eq!(o[0], Output::WriteAcceptedEpoch(8));
    assert_eq!(sent(&o, 9), vec![(LEADERINFO, 8 << 32)]);
}

#[test]
fn ackepoch_minus_one_not_counted_and_ahead_learner_closed() {
    let mut l = Leader::new(LeaderConfig {
        accepted_epoch: 1,
        current_epoch: 1,
        last_committed: make_zxid(1, 5),
        committed_log: log(1, 1..=5),
        ..cfg(3, &[1, 2, 3])
    })
    .unwrap();
    for c in [1, 2] {
        l.connected(c);
        l.receive(c, info(FOLLOWERINFO, c as i64, 1));
    }
    l.take_outputs();
    l.receive(1, ackepoch(make_zxid(1, 5), -1));
    assert!(l.take_outputs().is_empty(), "ACKEPOCH -1 does not count");
    l.receive(2, ackepoch(make_zxid(1, 6), 1));
    let o = l.take_outputs();
    assert!(closed(&o, 2).unwrap().contains("ahead of the leader"));
    // Discovery gives up after initLimit.
    for _ in 0..LIMITS.init_ticks() {
        l.tick();
    }
    assert!(l.take_outputs().is_empty());
    l.tick();
    let r = abandoned(&l.take_outputs()).unwrap();
    assert!(r.contains("epoch to be acked"), "{r}");
}

/// Runs discovery with follower 2 (in sync), then syncs follower 1 at
/// `peer_last` (after the epoch-ack quorum, so no "ahead" check applies, as
/// in `waitForEpochAck`) and returns the outputs of that last step.
fn sync_one(c: LeaderConfig, peer_last: Zxid) -> Vec<Output> {
    let mut l = Leader::new(c).unwrap();
    l.connected(2);
    l.receive(2, info(FOLLOWERINFO, 2, 1));
    l.connected(1);
    l.receive(1, info(FOLLOWERINFO, 1, 1));
    l.receive(2, ackepoch(0, 1));
    l.take_outputs();
    l.receive(1, ackepoch(peer_last, 1));
    l.take_outputs()
}

fn epoch1(committed: Vec<(Zxid, Txn)>) -> LeaderConfig {
    LeaderConfig {
        accepted_epoch: 1,
        current_epoch: 1,
        last_committed: committed.last().map_or(0, |e| e.0),
        committed_log: committed,
        ..cfg(3, &[1, 2, 3])
    }
}

#[test]
fn rejoin_gets_diff_with_pairs() {
    let o = sync_one(epoch1(log(1, 1..=5)), make_zxid(1, 3));
    let z = |c| make_zxid(1, c);
    assert_eq!(
        sent(&o, 1),
        vec![
            (DIFF, z(5)),
            (PROPOSAL, z(4)),
            (COMMIT, z(4)),
            (PROPOSAL, z(5)),
            (COMMIT, z(5)),
            (NEWLEADER, 2 << 32),
        ]
    );
    let p = packets(&o, 1);
    assert_eq!(p[1].data.as_deref(), Some(&txn(z(4))[..]));
    // In sync: DIFF carries the peer's own zxid (§1.11).
    let o = sync_one(epoch1(log(1, 1..=5)), z(5));
    assert_eq!(sent(&o, 1)[0], (DIFF, z(5)));
}

#[test]
fn trunc_for_a_divergent_tail() {
    let z = |c| make_zxid(1, c);
    // Ahead of everything we have (an old leader's uncommitted tail).
    let o = sync_one(epoch1(log(1, 1..=5)), z(7));
    assert_eq!(&sent(&o, 1)[..], &[(TRUNC, z(5)), (NEWLEADER, 2 << 32)]);
    // A hole inside the committed log, same epoch: TRUNC(prev) + pairs.
    let mut l = log(1, 1..=2);
    l.push((z(4), txn(z(4))));
    let o = sync_one(epoch1(l), z(3));
    assert_eq!(
        &sent(&o, 1)[..],
        &[
            (TRUNC, z(2)),
            (PROPOSAL, z(4)),
            (COMMIT, z(4)),
            (NEWLEADER, 2 << 32)
        ]
    );
    // An epoch zxid is never truncated: the learner has no log there.
    let o = sync_one(epoch1(log(1, 1..=5)), 5 << 32);
    assert!(!sent(&o, 1).iter().any(|p| p.0 == TRUNC));
}

#[test]
fn snap_when_behind_or_across_epochs() {
    let z = |c| make_zxid(1, c);
    // Behind the committed log with no disk log.
    let o = sync_one(epoch1(log(1, 4..=6)), z(2));
    assert_eq!(o[0], Output::SendSnapshot { to: 1, zxid: z(6) });
    assert_eq!(&sent(&o, 1)[..], &[(NEWLEADER, 2 << 32)]);
    // Inside the committed log but the next txn is another epoch (§1.16).
    let mut l = log(1, 1..=3);
    l.extend(log(2, 1..=2));
    let o = sync_one(epoch1(l), z(4));
    assert!(matches!(o[0], Output::SendSnapshot { to: 1, .. }), "{o:?}");
    assert!(!sent(&o, 1).iter().any(|p| p.0 == TRUNC || p.0 == DIFF));
    // Behind the committed log but on disk: on-disk DIFF then the rest.
    let c = LeaderConfig {
        disk_log: (1..=5).map(|c| (z(c), 10)).collect(),
        ..epoch1(log(1, 4..=6))
    };
    let o = sync_one(c.clone(), z(2));
    assert_eq!(sent(&o, 1)[0], (DIFF, z(6)));
    assert!(o.contains(&Output::SendCommittedRange {
        to: 1,
        after: z(2),
        upto: z(4)
    }));
    assert_eq!(
        &sent(&o, 1)[1..],
        &[
            (PROPOSAL, z(5)),
            (COMMIT, z(5)),
            (PROPOSAL, z(6)),
            (COMMIT, z(6)),
            (NEWLEADER, 2 << 32)
        ]
    );
    // ...unless the size limit says the log is too big.
    let o = sync_one(
        LeaderConfig {
            disk_size_limit: Some(15),
            txn_log_sync: false,
            ..c
        },
        z(2),
    );
    assert!(matches!(o[0], Output::SendSnapshot { .. }));
}

#[test]
fn old_tail_is_committed_only_at_establishment() {
    let z = |c| make_zxid(1, c);
    let mut l = Leader::new(LeaderConfig {
        tail: log(1, 4..=5),
        ..epoch1(log(1, 1..=3))
    })
    .unwrap();
    l.connected(1);
    l.receive(1, info(FOLLOWERINFO, 1, 1));
    l.receive(1, ackepoch(z(2), 1));
    let o = l.take_outputs();
    assert!(commits(&o).is_empty());
    assert_eq!(
        sent(&o, 1)[1],
        (DIFF, z(5)),
        "the tail counts in maxCommittedLog"
    );
    l.receive(1, pk(ACK, 2 << 32));
    let o = l.take_outputs();
    assert_eq!(commits(&o), vec![z(4), z(5)]);
    // SNAP before establishment carries the applied zxid, then the tail.
    let o = sync_one(
        LeaderConfig {
            tail: log(1, 4..=5),
            ..epoch1(log(1, 2..=3))
        },
        0x0_0000_0001,
    );
    assert_eq!(o[0], Output::SendSnapshot { to: 1, zxid: z(3) });
    assert_eq!(&sent(&o, 1)[0..2], &[(PROPOSAL, z(4)), (COMMIT, z(4))]);
}

#[test]
fn newleader_ack_must_be_first_and_exact() {
    let mut l = Leader::new(epoch1(vec![])).unwrap();
    for c in [1, 2] {
        l.connected(c);
        l.receive(c, info(FOLLOWERINFO, c as i64, 1));
    }
    l.receive(1, ackepoch(0, 1));
    l.receive(2, ackepoch(0, 1));
    l.take_outputs();
    // Not an ACK at all: the handler dies.
    l.receive(1, pkd(PING, 0, vec![]));
    assert!(closed(&l.take_outputs(), 1).is_some());
    // An ACK of another zxid is not counted.
    l.receive(2, pk(ACK, make_zxid(2, 3)));
    assert!(!l.is_established());
    for _ in 0..=LIMITS.init_ticks() {
        l.tick();
    }
    let r = abandoned(&l.take_outputs()).unwrap();
    assert!(r.contains("NEWLEADER"), "{r}");
}

#[test]
fn observers_get_inform_and_their_acks_do_not_count() {
    let mut l = established(&[1, 2, 3], &[1]);
    l.connected(9);
    l.receive(9, info(OBSERVERINFO, 9, 2));
    l.receive(9, ackepoch(0, -1));
    l.receive(9, pk(ACK, 2 << 32));
    l.take_outputs();
    let z = l.propose(txn(1)).unwrap();
    assert_eq!(z, make_zxid(2, 1));
    let o = l.take_outputs();
    assert_eq!(sent(&o, 1), vec![(PROPOSAL, z)]);
    assert!(sent(&o, 9).is_empty(), "observers never get PROPOSAL");
    l.persisted(z);
    l.receive(9, pk(ACK, z));
    assert!(
        commits(&l.take_outputs()).is_empty(),
        "an observer's ACK does not count"
    );
    l.receive(1, pk(ACK, z));
    let o = l.take_outputs();
    assert_eq!(commits(&o), vec![z]);
    assert_bytes(
        &packets(&o, 1)[0],
        "00000004 0000000200000001 ffffffff ffffffff",
    );
    let inf = &packets(&o, 9)[0];
    assert_eq!((inf.kind, inf.zxid), (INFORM, z));
    assert_eq!(inf.data.as_deref(), Some(&txn(1)[..]));
}

#[test]
fn commits_in_zxid_order_despite_out_of_order_acks() {
    let mut l = established(&[1, 2, 3, 4, 5], &[1, 2]);
    let a = l.propose(txn(1)).unwrap();
    let b = l.propose(txn(2)).unwrap();
    l.take_outputs();
    l.persisted(b);
    l.receive(1, pk(ACK, b));
    l.receive(2, pk(ACK, b));
    assert!(commits(&l.take_outputs()).is_empty(), "b waits for a");
    // Epoch zxids and already-committed zxids are ignored (§8.18).
    l.receive(1, pk(ACK, 2 << 32));
    l.receive(1, pk(ACK, a));
    assert!(commits(&l.take_outputs()).is_empty());
    l.receive(2, pk(ACK, a));
    assert_eq!(commits(&l.take_outputs()), vec![a, b]);
}

#[test]
fn epoch_rollover_abandons() {
    let mut l = established(&[1, 2, 3], &[1]);
    l.force_last_proposed(make_zxid(2, 0xffff_fffe));
    assert_eq!(l.propose(txn(1)), Err(ProposeError::Rollover));
    assert!(abandoned(&l.take_outputs())
        .unwrap()
        .contains("rolled over"));
    assert!(l.is_abandoned());
}

#[test]
fn pings_deadlines_and_synced_quorum() {
    let mut l = established(&[1, 2, 3], &[1]);
    l.tick();
    let o = l.take_outputs();
    assert_bytes(
        &packets(&o, 1)[0],
        "00000005 0000000200000000 ffffffff ffffffff",
    );
    // The follower answers pings but never ACKs a proposal: dropped after syncLimit.
    let z = l.propose(txn(1)).unwrap();
    let mut reason = None;
    for _ in 0..(LIMITS.sync_ticks() + 2) {
        l.receive(1, pkd(PING, z, vec![]));
        l.tick();
        let o = l.take_outputs();
        reason = reason.or(closed(&o, 1));
    }
    assert!(reason.unwrap().contains("transaction timeout"));
    // Without it there is no quorum: within two ticks the leader abandons.
    l.tick();
    l.tick();
    let r = abandoned(&l.take_outputs()).unwrap();
    assert!(r.starts_with("Not sufficient followers synced"), "{r}");
}

#[test]
fn silent_follower_is_closed_then_quorum_lost() {
    let mut l = established(&[1, 2, 3], &[1]);
    let mut out = Vec::new();
    for _ in 0..=LIMITS.sync_ticks() + 2 {
        l.tick();
        out.extend(l.take_outputs());
    }
    assert!(closed(&out, 1).is_some() || abandoned(&out).is_some());
    assert!(abandoned(&out).is_some());
}

#[test]
fn touches_and_forwarded_requests() {
    let mut l = established(&[1, 2, 3], &[1]);
    let ping = pkd(
        PING,
        2 << 32,
        [
            0x0100000ae42b0000i64.to_be_bytes().to_vec(),
            30000i32.to_be_bytes().to_vec(),
        ]
        .concat(),
    );
    l.receive(1, ping);
    l.receive(1, pkd(REVALIDATE, -1, vec![0; 12]));
    let o = l.take_outputs();
    assert_eq!(
        o[0],
        Output::Touches {
            conn: 1,
            sid: 1,
            touches: vec![(0x0100000ae42b0000, 30000)]
        }
    );
    assert!(matches!(
        o[1],
        Output::Forwarded {
            conn: 1,
            sid: 1,
            ..
        }
    ));
    l.receive(1, pkd(PING, 0, vec![1, 2, 3]));
    assert!(
        closed(&l.take_outputs(), 1).is_some(),
        "ragged touches close"
    );
}

#[test]
fn forwarded_syncs_wait_for_outstanding_in_order() {
    let mut l = established(&[1, 2, 3], &[1]);
    l.sync(1);
    assert_bytes(
        &packets(&l.take_outputs(), 1)[0],
        "00000007 0000000000000000 ffffffff ffffffff",
    );
    let a = l.propose(txn(1)).unwrap();
    l.sync(1);
    let b = l.propose(txn(2)).unwrap();
    l.sync(1);
    l.take_outputs();
    l.persisted(b);
    l.receive(1, pk(ACK, a));
    let o = l.take_outputs();
    assert_eq!(sent(&o, 1), vec![(COMMIT, a), (SYNC, 0)]);
    l.receive(1, pk(ACK, b));
    assert_eq!(sent(&l.take_outputs(), 1), vec![(COMMIT, b), (SYNC, 0)]);
}

#[test]
fn bad_first_packets_close_not_panic() {
    let mut l = Leader::new(cfg(3, &[1, 2, 3])).unwrap();
    l.connected(1);
    l.receive(1, pk(ACK, 0));
    assert!(closed(&l.take_outputs(), 1).is_some());
    l.connected(2);
    l.receive(2, pkd(FOLLOWERINFO, 0, vec![1, 2]));
    assert!(closed(&l.take_outputs(), 2).is_some());
    l.connected(3);
    let mut li = learner_info(1);
    li[19] = 5; // configVersion 5
    l.receive(3, pkd(FOLLOWERINFO, 0, li));
    assert!(closed(&l.take_outputs(), 3)
        .unwrap()
        .contains("later activated"));
    l.connected(4);
    l.receive(4, info(FOLLOWERINFO, 1, 0));
    l.connected(5);
    l.receive(5, info(FOLLOWERINFO, 2, 0));
    l.take_outputs();
    l.receive(4, pkd(ACKEPOCH, 0, vec![]));
    assert!(closed(&l.take_outputs(), 4).is_some());
}
