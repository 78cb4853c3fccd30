//! Ensembles of real processes on 127.0.0.1.
//!
//! Every scenario is written once against [`Kind`] and runs on Apache
//! ZooKeeper 3.8 members (the oracle: it shows the test itself is right) and,
//! as the replicated `zkserver` lands, on ours. Apache ZooKeeper comes from
//! Debian's package (scripts/install-deps.sh); when it is missing the Apache
//! runs print a loud SKIPPING line, unless CI=true, where they fail.

mod common;

use std::time::Duration;

use common::ensemble::Ensemble;
use common::*;

fn apache_or_skip(test: &str) -> bool {
    if apache_available() {
        return true;
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{test}: java or {ZK_JAR} is missing and CI=true");
    }
    eprintln!("!!!! SKIPPING {test}: Apache ZooKeeper is not installed (scripts/install-deps.sh)");
    false
}

/// A fresh ensemble elects the highest id; a write through a follower is
/// seen on every member; kill -9 of the leader elects another member, which
/// keeps the write; the killed member restarts as a follower and catches up.
fn elect_write_fail_over(kind: Kind) {
    let mut e = Ensemble::start(&[kind, kind, kind], &[]);
    assert_eq!(
        e.leader(),
        Some(3),
        "a fresh ensemble elects the highest myid\n{}",
        e.logs()
    );
    let mut c = Client::connect(e.member(1).client_port).expect("session on follower 1");
    c.create("/via-follower", b"v1", 0)
        .expect("create through a follower");
    c.close();
    for id in 1..=3 {
        let mut r = Client::connect(e.member(id).client_port).expect("session");
        // A read after sync sees every write committed before it.
        r.request(zkproto::consts::op::SYNC, &{
            let mut w = zkproto::jute::Writer::new();
            w.write_string("/");
            w.into_inner()
        })
        .expect("sync");
        let (data, _) = r
            .get_data("/via-follower", false)
            .expect("the write is on every member");
        assert_eq!(data, b"v1", "member {id}");
        r.close();
    }
    e.kill(3);
    e.wait_mode(2, "leader", Duration::from_secs(30));
    e.wait_mode(1, "follower", Duration::from_secs(30));
    let mut c = Client::connect(e.member(1).client_port).expect("session after fail-over");
    let (data, _) = c
        .get_data("/via-follower", false)
        .expect("the write survived the leader");
    assert_eq!(data, b"v1");
    c.create("/after-failover", b"v2", 0)
        .expect("writes go on under the new leader");
    c.close();
    e.start_member(3);
    e.wait_mode(3, "follower", Duration::from_secs(60));
    let mut r = Client::connect(e.member(3).client_port).expect("session on the restarted member");
    let (data, _) = r
        .get_data("/after-failover", false)
        .expect("the restarted member caught up");
    assert_eq!(data, b"v2");
    r.close();
}

#[test]
fn apache_ensemble_elects_writes_and_fails_over() {
    if apache_or_skip("apache_ensemble_elects_writes_and_fails_over") {
        elect_write_fail_over(Kind::Apache);
    }
}
