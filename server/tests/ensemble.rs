//! Ensembles of real processes on 127.0.0.1.
//!
//! Every scenario is written once against [`Kind`] and runs on Apache
//! ZooKeeper 3.8 members (the oracle: it shows the test itself is right) and,
//! as the replicated `zkserver` lands, on ours. Apache ZooKeeper comes from
//! Debian's package (scripts/install-deps.sh); when it is missing the Apache
//! runs print a loud SKIPPING line, unless CI=true, where they fail.

mod common;

use std::time::{Duration, Instant};

use common::ensemble::Ensemble;
use common::*;

/// A fresh ensemble elects the highest id; a write through a follower is
/// seen on every member; kill -9 of the leader elects another member, which
/// keeps the write; the killed member restarts as a follower and catches up.
fn elect_write_fail_over(kinds: [Kind; 3]) {
    let mut e = Ensemble::start(&kinds, &[]);
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
    // Both count elections in mntr (ZooKeeper's election_time summary): the
    // first one and the one after the kill.
    let mntr = four_letter(e.member(2).client_port, "mntr").unwrap_or_default();
    let count = mntr
        .lines()
        .find_map(|l| l.strip_prefix("zk_cnt_election_time\t"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(
        count.is_some_and(|c| c >= 2),
        "mntr of the new leader:\n{mntr}"
    );
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
        elect_write_fail_over([Kind::Apache; 3]);
    }
}

#[test]
fn our_ensemble_elects_writes_and_fails_over() {
    elect_write_fail_over([Kind::Ours; 3]);
}

/// The same story in a mixed ensemble: our member 3 leads two Apache
/// ZooKeeper followers, then an Apache member takes over when it is killed
/// and ours rejoins as its follower. Only works if both sides speak 3.8's
/// election and quorum protocols byte for byte.
#[test]
fn mixed_ensemble_ours_leads_then_apache_takes_over() {
    if apache_or_skip("mixed_ensemble_ours_leads_then_apache_takes_over") {
        elect_write_fail_over([Kind::Apache, Kind::Apache, Kind::Ours]);
    }
}

fn sync_root(c: &mut Client) {
    let mut w = zkproto::jute::Writer::new();
    w.write_string("/");
    c.request(zkproto::consts::op::SYNC, &w.into_inner())
        .expect("sync");
}

/// The seed's story: five servers started one after another; none serves
/// until three are up, then server 3 leads and 1, 2 follow; 4 and 5 follow
/// 3 when they start.
fn sequential_start(kind: Kind) {
    let mut e = Ensemble::configure(&[kind; 5], &[], "");
    e.start_member(1);
    e.start_member(2);
    // Two of five are no quorum: give them time to elect, and see they don't.
    std::thread::sleep(Duration::from_secs(4));
    for id in [1, 2] {
        let mode = e.member(id).mode();
        assert!(
            mode == "not serving" || mode == "down",
            "member {id} serves without a quorum: {mode}\n{}",
            e.logs()
        );
    }
    e.start_member(3);
    e.wait_mode(3, "leader", Duration::from_secs(60));
    e.wait_mode(1, "follower", Duration::from_secs(30));
    e.wait_mode(2, "follower", Duration::from_secs(30));
    let mut c = Client::connect(e.member(1).client_port).expect("session on 1");
    c.create("/story", b"three", 0)
        .expect("write with a quorum of 3");
    c.close();
    e.start_member(4);
    e.start_member(5);
    e.wait_mode(4, "follower", Duration::from_secs(60));
    e.wait_mode(5, "follower", Duration::from_secs(60));
    assert_eq!(e.leader(), Some(3), "the late members joined the leader");
    let mut r = Client::connect(e.member(5).client_port).expect("session on 5");
    sync_root(&mut r);
    let (d, _) = r.get_data("/story", false).expect("5 caught up");
    assert_eq!(d, b"three");
    r.close();
}

#[test]
fn apache_five_servers_started_one_by_one() {
    if apache_or_skip("apache_five_servers_started_one_by_one") {
        sequential_start(Kind::Apache);
    }
}

#[test]
fn our_five_servers_started_one_by_one() {
    sequential_start(Kind::Ours);
}

/// An observer serves reads and forwards writes; it does not vote (a
/// 3-voter ensemble with one voter down still has a quorum of 2, and the
/// observer keeps serving through it).
fn observer_reads_and_forwards(kind: Kind) {
    let e = Ensemble::start(&[kind; 4], &[4]);
    e.wait_mode(4, "observer", Duration::from_secs(30));
    let mut o = Client::connect(e.member(4).client_port).expect("session on the observer");
    o.create("/from-observer", b"o", 0)
        .expect("a write through the observer");
    let (d, _) = o
        .get_data("/from-observer", false)
        .expect("read your own write on the observer");
    assert_eq!(d, b"o");
    o.close();
    let mut f = Client::connect(e.member(1).client_port).expect("session on 1");
    sync_root(&mut f);
    assert_eq!(f.get_data("/from-observer", false).expect("on 1").0, b"o");
    f.close();
}

#[test]
fn apache_observer_reads_and_forwards() {
    if apache_or_skip("apache_observer_reads_and_forwards") {
        observer_reads_and_forwards(Kind::Apache);
    }
}

#[test]
fn our_observer_reads_and_forwards() {
    observer_reads_and_forwards(Kind::Ours);
}

/// A member cut off from the quorum stops serving: four-letter words say
/// so and client connections are closed without a session.
fn minority_refuses_clients(kind: Kind) {
    let mut e = Ensemble::start(&[kind; 3], &[]);
    let survivor = 1;
    e.kill(3);
    e.kill(2);
    e.wait_mode(survivor, "not serving", Duration::from_secs(60));
    let srvr = four_letter(e.member(survivor).client_port, "srvr").unwrap_or_default();
    assert_eq!(
        srvr, "This ZooKeeper instance is not currently serving requests\n",
        "srvr on a member without a quorum"
    );
    assert_eq!(
        four_letter(e.member(survivor).client_port, "ruok").unwrap_or_default(),
        "imok"
    );
    assert!(
        Client::connect(e.member(survivor).client_port).is_err(),
        "a member without a quorum gives no session"
    );
    // Quorum back: it serves again.
    e.start_member(2);
    e.wait_all_serving(Duration::from_secs(60));
    let mut c = Client::connect(e.member(survivor).client_port).expect("session again");
    c.create("/back", b"", 0)
        .expect("write with the quorum back");
    c.close();
}

#[test]
fn apache_minority_refuses_clients() {
    if apache_or_skip("apache_minority_refuses_clients") {
        minority_refuses_clients(Kind::Apache);
    }
}

#[test]
fn our_minority_refuses_clients() {
    minority_refuses_clients(Kind::Ours);
}

/// Catching up a member that was down: a few txns behind (DIFF), and with
/// its dataDir wiped (SNAP); either way it ends with every write.
fn catch_up_after_downtime(kind: Kind) {
    // Frequent snapshots of a tree with one big node: a snapshot is then
    // large next to a few hundred small txns, which is when a leader
    // streams them from its txn log rather than sending SNAP
    // (`calculateTxnLogSizeLimit`: a third of the newest snapshot).
    let mut e = Ensemble::configure(&[kind; 3], &[], "snapCount=100\n");
    for id in 1..=3 {
        e.start_member(id);
    }
    e.wait_all_serving(Duration::from_secs(60));
    let leader = e.leader().expect("a leader");
    let lagger = if leader == 1 { 2 } else { 1 };
    let writer_id = (1..=3).find(|i| *i != lagger).unwrap_or(3);
    let mut c = Client::connect(e.member(writer_id).client_port).expect("session");
    c.create("/big", &vec![b'b'; 600 * 1024], 0)
        .expect("a big node");
    for i in 0..120 {
        c.create(&format!("/fill{i}"), b"f", 0)
            .expect("writes until a snapshot");
    }
    e.kill(lagger);
    for i in 0..5 {
        c.create(&format!("/diff{i}"), b"d", 0)
            .expect("write while one is down");
    }
    e.start_member(lagger);
    e.wait_mode(lagger, "follower", Duration::from_secs(60));
    let mut r = Client::connect(e.member(lagger).client_port).expect("session on the lagger");
    sync_root(&mut r);
    for i in 0..5 {
        r.get_data(&format!("/diff{i}"), false)
            .unwrap_or_else(|err| panic!("/diff{i} on the restarted member: {err}\n{}", e.logs()));
    }
    r.close();
    // Further behind than the leader's in-memory committed log (500 txns):
    // the leader streams the rest from its txn log (on-disk DIFF).
    e.kill(lagger);
    for i in 0..600 {
        c.create(&format!("/far{i}"), b"f", 0)
            .expect("write while one is down");
    }
    e.start_member(lagger);
    e.wait_mode(lagger, "follower", Duration::from_secs(60));
    let mut r = Client::connect(e.member(lagger).client_port).expect("session on the lagger");
    sync_root(&mut r);
    for i in [0, 299, 599] {
        r.get_data(&format!("/far{i}"), false)
            .unwrap_or_else(|err| panic!("/far{i} on the restarted member: {err}\n{}", e.logs()));
    }
    r.close();
    if kind == Kind::Ours {
        let log = e.member(leader).log();
        assert!(
            log.contains("txns from the log"),
            "the leader sent an on-disk DIFF:\n{log}"
        );
    }
    // Wiped: it gets the whole tree.
    e.kill(lagger);
    let data = e.member(lagger).data_dir();
    for entry in std::fs::read_dir(&data).expect("data dir").flatten() {
        if entry.file_name() != "myid" {
            let p = entry.path();
            let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
        }
    }
    c.create("/after-wipe", b"w", 0)
        .expect("write while it is wiped");
    c.close();
    e.start_member(lagger);
    e.wait_mode(lagger, "follower", Duration::from_secs(60));
    let mut r = Client::connect(e.member(lagger).client_port).expect("session after wipe");
    sync_root(&mut r);
    for p in ["/diff0", "/diff4", "/after-wipe"] {
        r.get_data(p, false)
            .unwrap_or_else(|err| panic!("{p} on the wiped member: {err}\n{}", e.logs()));
    }
    r.close();
}

#[test]
fn apache_catch_up_after_downtime() {
    if apache_or_skip("apache_catch_up_after_downtime") {
        catch_up_after_downtime(Kind::Apache);
    }
}

#[test]
fn our_catch_up_after_downtime() {
    catch_up_after_downtime(Kind::Ours);
}

/// kill -9 of the leader while a client writes through a follower: a new
/// leader is elected, every acknowledged write is on every member, a
/// session that reconnects to another member within its timeout keeps its
/// id and its ephemeral node, and the killed member restarts and catches up.
/// A create whose failure (an error code or a dropped connection) is a
/// value, not a panic.
fn try_create(c: &mut Client, path: &str) -> Result<(), String> {
    use zkproto::jute::Jute;
    let body = zkproto::records::CreateRequest {
        path: path.into(),
        data: Some(b"x".to_vec()),
        acl: zkproto::records::Acl::open_unsafe(),
        flags: 0,
    }
    .to_bytes();
    match c.request(zkproto::consts::op::CREATE, &body) {
        Ok((h, _)) if h.err == 0 => Ok(()),
        Ok((h, _)) => Err(format!("error {}", h.err)),
        Err(e) => Err(e.to_string()),
    }
}

fn leader_killed_during_writes(kind: Kind) {
    use std::time::Instant;
    let mut e = Ensemble::start(&[kind; 3], &[]);
    let leader = e.leader().expect("a leader");
    let others: Vec<u64> = (1..=3).filter(|i| *i != leader).collect();
    let (fa, fb) = (others[0], others[1]);
    let mut holder = Client::connect(e.member(fa).client_port).expect("ephemeral holder");
    holder
        .create("/eph", b"mine", 1)
        .expect("an ephemeral node");
    let (sid, passwd) = (holder.session_id, holder.passwd.clone());
    let mut acked = Vec::new();
    let mut w = Client::connect(e.member(fb).client_port).expect("writer");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 0;
    let mut killed = false;
    // Bounded: 150 acknowledged writes, or the deadline.
    while acked.len() < 150 && Instant::now() < deadline {
        if acked.len() == 50 && !killed {
            e.kill(leader);
            killed = true;
        }
        let p = format!("/w{i:04}");
        i += 1;
        match try_create(&mut w, &p) {
            Ok(()) => acked.push(p),
            Err(_) => {
                // Connection loss (or not serving yet): reconnect and go on.
                // An unacknowledged write may or may not have happened.
                std::thread::sleep(Duration::from_millis(200));
                for id in &others {
                    if let Ok(c) = Client::connect(e.member(*id).client_port) {
                        w = c;
                        break;
                    }
                }
            }
        }
    }
    assert!(
        killed && acked.len() == 150,
        "only {} writes acknowledged\n{}",
        acked.len(),
        e.logs()
    );
    w.close();
    let new_leader = e.leader().expect("a new leader");
    assert_ne!(new_leader, leader);
    // The session moves to the other follower, keeping its ephemeral.
    drop(holder);
    let mut req = new_session_request(30_000);
    req.session_id = sid;
    req.passwd = Some(passwd);
    let mut back = Client::connect_with(e.member(fb).client_port, req)
        .unwrap_or_else(|err| panic!("session 0x{sid:x} after fail-over: {err}\n{}", e.logs()));
    assert_eq!(back.session_id, sid);
    let st = back
        .exists("/eph", false)
        .expect("the ephemeral survived the leader");
    assert_eq!(st.ephemeral_owner, sid);
    back.close();
    e.start_member(leader);
    e.wait_mode(leader, "follower", Duration::from_secs(60));
    for id in 1..=3 {
        let mut r = Client::connect(e.member(id).client_port).expect("reader");
        sync_root(&mut r);
        for p in &acked {
            r.exists(p, false).unwrap_or_else(|err| {
                panic!(
                    "acknowledged {p} missing on member {id}: {err}\n{}",
                    e.logs()
                )
            });
        }
        r.close();
    }
}

#[test]
fn apache_leader_killed_during_writes() {
    if apache_or_skip("apache_leader_killed_during_writes") {
        leader_killed_during_writes(Kind::Apache);
    }
}

#[test]
fn our_leader_killed_during_writes() {
    leader_killed_during_writes(Kind::Ours);
}

/// Bad input on the quorum and election ports (garbage, truncated packets,
/// hostile lengths, an unknown sid, a peer that connects and says nothing)
/// costs that connection only: the members keep their roles and serve.
#[test]
fn our_members_survive_garbage_on_their_ports() {
    use std::io::Write;
    use std::net::TcpStream;
    let mut e = Ensemble::start(&[Kind::Ours; 3], &[]);
    let leader = e.leader().expect("a leader");
    let q = e.member(leader).quorum_port;
    let el = e.member(1).election_port;
    let send = |port: u16, bytes: &[u8]| {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(bytes);
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // A peer that connects and goes silent, held open throughout.
    let _silent_q = TcpStream::connect(("127.0.0.1", q)).expect("quorum port");
    let _silent_e = TcpStream::connect(("127.0.0.1", el)).expect("election port");
    send(q, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    send(q, &[0, 0, 0, 11, 0, 0]); // a truncated FOLLOWERINFO
                                   // PROPOSAL claiming a 2 GiB data buffer.
    send(
        q,
        &[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff],
    );
    // FOLLOWERINFO from sid 99, which no server line names.
    let mut fi = vec![0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20];
    fi.extend_from_slice(&99i64.to_be_bytes());
    fi.extend_from_slice(&0x10000i32.to_be_bytes());
    fi.extend_from_slice(&0i64.to_be_bytes());
    fi.extend_from_slice(&(-1i32).to_be_bytes());
    send(q, &fi);
    // The election port: garbage, a hostile initial message, a huge frame.
    send(el, b"\xff\xff\xff\xff\xff\xff\xff\xffgarbage");
    send(
        el,
        &[
            0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0x7f, 0xff, 0xff, 0xff,
        ],
    );
    let logs = e.logs();
    for m in e.members.iter_mut() {
        assert!(m.running(), "member {} died\n{logs}", m.id);
    }
    assert_eq!(
        e.leader(),
        Some(leader),
        "the leader kept its role\n{}",
        e.logs()
    );
    let mut c = Client::connect(e.member(1).client_port).expect("session after the garbage");
    c.create("/still-serving", b"", 0)
        .expect("a write still commits");
    c.close();
    let log = e.member(leader).log();
    assert!(
        log.contains("malformed quorum packet") || log.contains("went away"),
        "the leader logged the bad connections:\n{log}"
    );
}

/// A 3.8 member configured for quorum SASL (`quorum.auth.learnerRequireSasl`)
/// or quorum TLS (`sslQuorum`) opens its connections with a QuorumAuthPacket
/// or a TLS ClientHello: our members say so in one line, drop that
/// connection only, and keep serving.
#[test]
fn our_members_name_quorum_sasl_and_tls_peers() {
    use std::io::Write;
    use std::net::TcpStream;
    let e = Ensemble::start(&[Kind::Ours; 3], &[]);
    let leader = e.leader().expect("a leader");
    let q = e.member(leader).quorum_port;
    let el = e.member(1).election_port;
    let send = |port: u16, bytes: &[u8]| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(bytes).expect("write");
        std::thread::sleep(Duration::from_millis(300));
    };
    // QuorumAuthPacket { magic, status IN_PROGRESS, token of 4 bytes }, as
    // SaslQuorumAuthLearner.send writes it (no length prefix).
    let mut auth = vec![0x5f, 0x24, 0x35, 0x01, 0x35, 0x01, 0xed, 0xcc];
    auth.extend_from_slice(&0i32.to_be_bytes());
    auth.extend_from_slice(&4i32.to_be_bytes());
    auth.extend_from_slice(b"tokn");
    let tls_hello = [
        0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03,
    ];
    let mark_l = e.member(leader).log().len();
    let mark_1 = e.member(1).log().len();
    send(q, &auth);
    send(q, &tls_hello);
    send(el, &tls_hello);
    // On the election port the auth packet follows a valid initial message
    // (QuorumCnxManager.startConnection authenticates after sending it).
    let mut init = (-65536i64).to_be_bytes().to_vec();
    init.extend_from_slice(&9i64.to_be_bytes());
    let addr = b"127.0.0.1:1";
    init.extend_from_slice(&(addr.len() as i32).to_be_bytes());
    init.extend_from_slice(addr);
    init.extend_from_slice(&auth);
    send(el, &init);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ll = e.member(leader).log()[mark_l..].to_string();
        let l1 = e.member(1).log()[mark_1..].to_string();
        let sasl_q = ll.contains("quorum SASL is not supported");
        let tls_q = ll.contains("quorum TLS is not supported");
        let tls_e = l1.contains("quorum TLS is not supported");
        let sasl_e = l1.contains("election port") && l1.contains("quorum SASL is not supported");
        if sasl_q && tls_q && tls_e && sasl_e {
            for l in ll.lines().chain(l1.lines()) {
                if l.contains("not supported") {
                    eprintln!("{l}");
                }
            }
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "quorum port SASL {sasl_q}, TLS {tls_q}; election port TLS {tls_e}, SASL {sasl_e}\n\
             leader:\n{ll}\nmember 1:\n{l1}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(e.leader(), Some(leader), "the leader kept its role");
    let mut c = Client::connect(e.member(1).client_port).expect("session");
    c.create("/after-foreign-peers", b"", 0)
        .expect("a write still commits");
    c.close();
}

/// `readonlymode.enabled` (a JVM property in ZooKeeper, also a zoo.cfg key
/// here): a member cut off from the quorum serves read-only clients after
/// max(2 s, tickTime) of LOOKING, as 3.8's ReadOnlyZooKeeperServer does.
#[test]
fn our_read_only_member_serves_reads_without_a_quorum() {
    use zkproto::jute::Jute;
    let mut e = Ensemble::configure(&[Kind::Ours; 3], &[], "readonlymode.enabled=true\n");
    for id in 1..=3 {
        e.start_member(id);
    }
    e.wait_all_serving(Duration::from_secs(60));
    let port = e.member(1).client_port;
    let mut ro_req = new_session_request(30_000);
    ro_req.read_only = Some(true);
    let mut c = Client::connect_with(port, ro_req.clone()).expect("a read-only capable session");
    c.create("/ro-data", b"kept", 0)
        .expect("write with a quorum");
    let (sid, passwd) = (c.session_id, c.passwd.clone());
    drop(c);
    e.kill(3);
    e.kill(2);
    e.wait_mode(1, "read-only", Duration::from_secs(60));
    assert_eq!(four_letter(port, "isro").unwrap_or_default(), "ro");
    let srvr = four_letter(port, "srvr").unwrap_or_default();
    assert!(
        srvr.lines().nth(1) == Some("READ-ONLY mode; serving only read-only clients"),
        "{srvr}"
    );
    // A new session cannot be created without a quorum: a bare ReplyHeader
    // with NOTREADONLY (-119) instead of a ConnectResponse.
    let mut s = connect_raw(port);
    let mut w = zkproto::jute::Writer::framed();
    ro_req.write(&mut w);
    std::io::Write::write_all(&mut s, &w.finish_frame()).unwrap();
    let f = read_frame(&mut s).expect("read").expect("a frame");
    assert_eq!(f.len(), 16, "a ReplyHeader, not a ConnectResponse: {f:?}");
    assert_eq!(i32::from_be_bytes(f[12..16].try_into().unwrap()), -119);
    // A client that is not read-only is closed.
    assert!(Client::connect(port).is_err());
    // The existing session reconnects read-only, reads, and cannot write.
    let mut req = ro_req.clone();
    req.session_id = sid;
    req.passwd = Some(passwd);
    let mut back = Client::connect_with(port, req).expect("the session reconnects read-only");
    let (d, _) = back.get_data("/ro-data", false).expect("reads are served");
    assert_eq!(d, b"kept");
    assert_eq!(
        back.create("/nope", b"", 0),
        Err(-119),
        "writes get NOTREADONLY"
    );
    drop(back);
    // The quorum comes back: a normal member again.
    e.start_member(2);
    e.wait_mode(1, "follower", Duration::from_secs(60));
    assert_eq!(four_letter(port, "isro").unwrap_or_default(), "rw");
}

/// Sessions are global and the leader alone expires them: a session on a
/// follower that only pings stays alive well past its timeout (the follower
/// reports it in its PING replies), and one that goes silent is expired by
/// the leader and its ephemeral node disappears on every member.
fn follower_sessions_live_and_expire(kind: Kind) {
    use std::io::Write;
    let e = Ensemble::start(&[kind; 3], &[]);
    let leader = e.leader().expect("a leader");
    let f = (1..=3).find(|i| *i != leader).unwrap_or(1);
    let mut live = Client::connect_with(e.member(f).client_port, new_session_request(4_000))
        .expect("session on a follower");
    live.create("/live-eph", b"", 1).expect("ephemeral");
    let mut silent = Client::connect_with(e.member(f).client_port, new_session_request(4_000))
        .expect("second session");
    silent.create("/silent-eph", b"", 1).expect("ephemeral");
    // Ten seconds of pings only (2.5 timeouts) from one; nothing from the other.
    for _ in 0..20 {
        live.s
            .write_all(&request_frame(
                zkproto::consts::xid::PING,
                zkproto::consts::op::PING,
                &[],
            ))
            .expect("ping");
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut r = Client::connect(e.member(leader).client_port).expect("reader on the leader");
    sync_root(&mut r);
    assert!(
        r.exists("/live-eph", false).is_ok(),
        "a pinging session on a follower expired\n{}",
        e.logs()
    );
    assert!(
        r.exists("/silent-eph", false).is_err(),
        "a silent session was not expired by the leader\n{}",
        e.logs()
    );
    r.close();
    drop(silent);
    live.close();
}

#[test]
fn apache_follower_sessions_live_and_expire() {
    if apache_or_skip("apache_follower_sessions_live_and_expire") {
        follower_sessions_live_and_expire(Kind::Apache);
    }
}

#[test]
fn our_follower_sessions_live_and_expire() {
    follower_sessions_live_and_expire(Kind::Ours);
}

/// The shell on the full connect string: it works through whichever member
/// it lands on, and after the leader is killed it still does (a dead member
/// refuses and the client moves on).
#[test]
fn zkcli_on_the_full_connect_string() {
    let zkcli = std::path::Path::new(zkserver_bin()).with_file_name("zkcli");
    if !zkcli.exists() {
        if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
            panic!("{} is missing and CI=true", zkcli.display());
        }
        eprintln!(
            "!!!! SKIPPING zkcli_on_the_full_connect_string: build zkcli (cargo build --workspace)"
        );
        return;
    }
    let run = |cs: &str, script: &str| {
        let mut child = std::process::Command::new(&zkcli)
            .args(["-server", cs])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn zkcli");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("zkcli output");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let mut e = Ensemble::start(&[Kind::Ours; 3], &[]);
    let cs = e.connect_string();
    let (code, out, err) = run(&cs, "create /cs v1\nget /cs\n");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        (out.contains("Created /cs") || err.contains("Created /cs")) && out.contains("v1"),
        "{out}{err}"
    );
    let leader = e.leader().expect("a leader");
    e.kill(leader);
    let next = (1..=3).find(|i| *i != leader).unwrap_or(1);
    e.wait_all_serving(Duration::from_secs(60));
    assert_ne!(e.leader(), Some(leader));
    assert!(matches!(
        e.member(next).mode().as_str(),
        "leader" | "follower"
    ));
    let (code, out, err) = run(&cs, "set /cs v2\nget /cs\n");
    assert_eq!(code, Some(0), "after the leader's death: {out}{err}");
    assert!(out.contains("v2"), "{out}{err}");
}

/// The shell's session on the full connect string when the member it is
/// connected to is killed: zkCli's `Disconnected`, then `SyncConnected`
/// from another member with the same session (its ephemeral stays), its
/// data and child watches re-registered, each firing exactly once for a
/// change made after the failover.
fn zkcli_moves_with_its_session(kind: Kind) {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let zkcli = std::path::Path::new(zkserver_bin()).with_file_name("zkcli");
    if !zkcli.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} missing",
            zkcli.display()
        );
        eprintln!("!!!! SKIPPING: build zkcli (cargo build --workspace)");
        return;
    }
    let mut e = Ensemble::start(&[kind; 3], &[]);
    let mut c = Client::connect(e.member(1).client_port).expect("session");
    c.create("/fo", b"v0", 0).expect("create");
    c.close();
    let mut child = std::process::Command::new(&zkcli)
        .args(["-server", &e.connect_string(), "-timeout", "30000"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn zkcli");
    let collect = |mut r: Box<dyn Read + Send>| {
        let buf = Arc::new(Mutex::new(String::new()));
        let b = buf.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                b.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        buf
    };
    let out = collect(Box::new(child.stdout.take().unwrap()));
    let err = collect(Box::new(child.stderr.take().unwrap()));
    let mut input = child.stdin.take().unwrap();
    let wait_for = |buf: &Arc<Mutex<String>>, what: &dyn Fn(&str) -> bool, why: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !what(&buf.lock().unwrap()) {
            assert!(
                Instant::now() < deadline,
                "{why}\nstdout:\n{}\nstderr:\n{}",
                out.lock().unwrap(),
                err.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    writeln!(input, "create -e /fo-eph\nget -w /fo\nls -w /fo").unwrap();
    wait_for(&out, &|o| o.contains("v0\n[]"), "the watches were set");
    let (owner, on) = {
        let mut r = Client::connect(e.member(2).client_port).expect("session");
        let owner = r
            .exists("/fo-eph", false)
            .expect("the shell's ephemeral")
            .ephemeral_owner;
        r.close();
        let needle = format!("sid=0x{owner:x}");
        let on = (1..=3)
            .find(|i| {
                four_letter(e.member(*i).client_port, "cons").is_ok_and(|s| s.contains(&needle))
            })
            .expect("the member the shell is connected to");
        (owner, on)
    };
    eprintln!("the shell's session 0x{owner:x} is on member {on}: killing it");
    e.kill(on);
    wait_for(
        &err,
        &|s| s.matches("state:SyncConnected").count() >= 2 && s.contains("state:Disconnected"),
        "Disconnected, then SyncConnected on another member",
    );
    let other = (1..=3).find(|i| *i != on).unwrap_or(1);
    let mut w = Client::connect(e.member(other).client_port).expect("session");
    w.set_data("/fo", b"v1").expect("set");
    w.create("/fo/kid", b"", 0).expect("create");
    w.close();
    wait_for(
        &out,
        &|o| o.contains("NodeDataChanged path:/fo") && o.contains("NodeChildrenChanged path:/fo"),
        "the re-registered watches fired",
    );
    writeln!(input, "stat /fo-eph\nget /fo").unwrap();
    drop(input);
    let status = child.wait().expect("zkcli exits");
    std::thread::sleep(Duration::from_millis(200));
    let o = out.lock().unwrap().clone();
    let er = err.lock().unwrap().clone();
    assert_eq!(status.code(), Some(0), "{o}{er}");
    assert_eq!(o.matches("NodeDataChanged path:/fo").count(), 1, "{o}");
    assert_eq!(o.matches("NodeChildrenChanged path:/fo").count(), 1, "{o}");
    assert!(
        o.contains(&format!("ephemeralOwner = 0x{owner:x}")),
        "same session: {o}"
    );
    assert!(o.trim_end().ends_with("v1"), "{o}");
    assert_eq!(
        er.matches("state:Disconnected").count(),
        1,
        "one Disconnected: {er}"
    );
    // `cluster`: every member's mode, the dead one unreachable (a failure),
    // `*` on the one this shell's session is on.
    let o = std::process::Command::new(&zkcli)
        .args(["-server", &e.connect_string(), "cluster"])
        .output()
        .expect("zkcli cluster");
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{table}");
    let row = |id: u64| {
        let port = format!("127.0.0.1:{} ", e.member(id).client_port);
        table
            .lines()
            .find(|l| l.contains(&port))
            .unwrap_or_default()
            .to_string()
    };
    assert!(row(on).contains("unreachable"), "{table}");
    let live: Vec<String> = (1..=3).filter(|i| *i != on).map(row).collect();
    assert!(
        live.iter()
            .all(|r| r.contains("leader") || r.contains("follower")),
        "{table}"
    );
    assert_eq!(
        live.iter().filter(|r| r.contains('*')).count(),
        1,
        "{table}"
    );
}

#[test]
fn zkcli_moves_with_its_session_on_our_ensemble() {
    zkcli_moves_with_its_session(Kind::Ours);
}

#[test]
fn zkcli_moves_with_its_session_on_an_apache_ensemble() {
    if apache_or_skip("zkcli_moves_with_its_session_on_an_apache_ensemble") {
        zkcli_moves_with_its_session(Kind::Apache);
    }
}

/// Our election port against Apache ZooKeeper members: a probe with a sid
/// above every member keeps the connection it dials; one with a sid below
/// every member is closed and dialled back at the address it announced.
/// Either way each member answers a LOOKING notification from a non-voter
/// with its own vote for the established leader (quorum-wire.md §4,
/// WorkerReceiver rule 1), which only happens if our initial message and
/// frames are exactly what 3.8 expects.
#[test]
fn our_election_port_talks_to_apache_members() {
    use std::collections::HashMap;
    use zkserver::quorum::cnxmanager::{CnxConfig, CnxManager};

    if !apache_or_skip("our_election_port_talks_to_apache_members") {
        return;
    }
    let e = Ensemble::start(&[Kind::Apache, Kind::Apache, Kind::Apache], &[]);
    let config_text: String = e
        .members
        .iter()
        .map(|m| {
            format!(
                "server.{}=127.0.0.1:{}:{}:participant\n",
                m.id, m.quorum_port, m.election_port
            )
        })
        .collect::<String>()
        + "version=0";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for probe_sid in [9i64, 0] {
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let my_address = listener.local_addr().unwrap().to_string();
            let peers: HashMap<i64, String> = e
                .members
                .iter()
                .map(|m| (m.id as i64, format!("127.0.0.1:{}", m.election_port)))
                .collect();
            let (cnx, mut rx) = CnxManager::start(
                CnxConfig {
                    my_sid: probe_sid,
                    my_address,
                    bind_ip: Some("127.0.0.1".parse().unwrap()),
                    peers,
                    connect_timeout: Duration::from_secs(5),
                    initial_timeout: Duration::from_secs(5),
                },
                listener,
            );
            // A 3.8 LOOKING notification (quorum-wire.md §2.2) voting for ourselves.
            let mut n = Vec::new();
            n.extend_from_slice(&0i32.to_be_bytes()); // LOOKING
            n.extend_from_slice(&probe_sid.to_be_bytes()); // leader
            n.extend_from_slice(&0i64.to_be_bytes()); // zxid
            n.extend_from_slice(&1i64.to_be_bytes()); // electionEpoch
            n.extend_from_slice(&0i64.to_be_bytes()); // peerEpoch
            n.extend_from_slice(&2i32.to_be_bytes()); // version
            n.extend_from_slice(&(config_text.len() as i32).to_be_bytes());
            n.extend_from_slice(config_text.as_bytes());
            for id in 1..=3 {
                cnx.send(id, n.clone());
            }
            let mut answered = HashMap::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
            while answered.len() < 3 {
                let (from, payload) = tokio::time::timeout_at(deadline, rx.recv())
                    .await
                    .unwrap_or_else(|_| panic!("probe {probe_sid}: answers only from {answered:?}"))
                    .expect("channel");
                assert!(
                    payload.len() >= 44,
                    "a 3.8 notification has 44 header bytes"
                );
                let state = i32::from_be_bytes(payload[0..4].try_into().unwrap());
                let leader = i64::from_be_bytes(payload[4..12].try_into().unwrap());
                let version = i32::from_be_bytes(payload[36..40].try_into().unwrap());
                assert_eq!(version, 2);
                if state == 0 {
                    // That member is itself LOOKING (on a loaded machine a
                    // member can drop out for a moment): ask again once it
                    // has settled, rather than judge its passing vote.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    cnx.send(from, n.clone());
                    continue;
                }
                assert_eq!(
                    leader, 3,
                    "member {from} (state {state}) votes for the established leader"
                );
                let want = if from == 3 { 2 } else { 1 }; // LEADING / FOLLOWING
                assert_eq!(state, want, "member {from}'s state");
                let clen = i32::from_be_bytes(payload[40..44].try_into().unwrap()) as usize;
                assert_eq!(&payload[44..44 + clen], config_text.as_bytes());
                answered.insert(from, state);
            }
            cnx.shutdown();
        });
    }
    for m in &e.members {
        let log = m.log();
        assert!(
            !log.contains("Initial message parsing error"),
            "member {} rejected our initial message:\n{log}",
            m.id
        );
    }
}

/// A member whose disk fills up must not go on serving a tree its disk
/// lacks (it would rejoin with a gap in its log): it exits with status 4
/// while the other two go on committing. With the space back it restarts,
/// catches up and holds everything the others acknowledged.
#[test]
fn our_member_exits_on_a_full_disk_and_rejoins() {
    const TEST: &str = "our_member_exits_on_a_full_disk_and_rejoins";
    let mut e = Ensemble::configure(&[Kind::Ours; 3], &[], "");
    let victim = 1;
    let data = e.member(victim).data_dir();
    let Some(_disk) = Mount::tmpfs(&data, "64m", TEST) else {
        return;
    };
    std::fs::write(data.join("myid"), "1\n").expect("myid on the tmpfs");
    for id in 1..=3 {
        e.start_member(id);
    }
    e.wait_all_serving(Duration::from_secs(60));
    let mut c = Client::connect(e.member(2).client_port).expect("session on member 2");
    for i in 0..100 {
        c.create(&format!("/a{i}"), b"a", 0).expect("a write");
    }
    // Fill member 1's disk to ENOSPC.
    let filler = data.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![7u8; 1 << 20];
        while f.write_all(&chunk).is_ok() {}
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut acked = 0;
    while e.member_mut(victim).running() && Instant::now() < deadline {
        c.create(&format!("/b{acked}"), b"b", 0)
            .unwrap_or_else(|err| panic!("write {acked} with one disk full: {err}\n{}", e.logs()));
        acked += 1;
    }
    let status = e.member_mut(victim).exit_status();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(4),
        "member 1 on a full disk must exit with status 4, got {status:?}\n{}",
        e.member(victim).log()
    );
    let log = e.member(victim).log();
    assert!(
        log.contains("No space left on device") && log.contains("exiting (status 4)"),
        "member 1 says why it stopped:\n{log}"
    );
    std::fs::remove_file(&filler).expect("free the space");
    for i in 0..20 {
        c.create(&format!("/c{i}"), b"c", 0)
            .expect("a write with member 1 down");
    }
    e.start_member(victim);
    e.wait_mode(victim, "follower", Duration::from_secs(60));
    let mut r = Client::connect(e.member(victim).client_port).expect("session on member 1");
    sync_root(&mut r);
    for p in ["/a0", "/a99", "/c0", "/c19"]
        .map(String::from)
        .into_iter()
        .chain((0..acked).map(|i| format!("/b{i}")))
    {
        r.get_data(&p, false)
            .unwrap_or_else(|err| panic!("{p} on member 1 after its disk was freed: {err}"));
    }
    r.close();
    c.close();
    e.assert_trees_identical("after member 1's disk was freed");
    e.kill(victim);
}
