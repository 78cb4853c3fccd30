//! Scripted-peer tests in the style of ZooKeeper's `Zab1_0Test`: the test
//! plays the other side of a real socket, packet by packet, against a real
//! `zkserver` process: a learner joining our leader, and a leader (plus the
//! election votes that make it one) that our member follows. Byte layouts
//! are checked against quorum-wire.md's captures.

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::ensemble::Ensemble;
use common::*;
use zkproto::jute::DEFAULT_MAX_FIELD;
use zkproto::records::Acl;
use zkproto::txn::{CreateTxn, Txn, TxnEntry, TxnHeader};
use zkserver::quorum::types::{packet, QuorumPacket};
use zkserver::quorum::wire::packet::{decode_packet, encode_packet};

/// A quorum-port stream: packets with no length prefix, SNAP bodies inline.
struct Peer {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    fn new(s: TcpStream) -> Peer {
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let _ = s.set_nodelay(true);
        Peer { s, buf: Vec::new() }
    }

    fn send(&mut self, p: &QuorumPacket) {
        self.s.write_all(&encode_packet(p)).expect("send");
    }

    /// The next packet, with the exact bytes it came in.
    fn next_raw(&mut self) -> (QuorumPacket, Vec<u8>) {
        loop {
            if let Some((p, n)) = decode_packet(&self.buf, DEFAULT_MAX_FIELD).expect("well-formed")
            {
                let raw: Vec<u8> = self.buf.drain(..n).collect();
                return (p, raw);
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).expect("read a packet");
            assert!(n > 0, "the server closed the quorum connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next packet that is not a PING (PINGs are answered).
    fn next(&mut self) -> QuorumPacket {
        loop {
            let (p, _) = self.next_raw();
            if p.kind == packet::PING {
                self.send(&QuorumPacket::with_data(packet::PING, p.zxid, Vec::new()));
                continue;
            }
            return p;
        }
    }
}

impl Read for Peer {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.buf.is_empty() {
            let n = out.len().min(self.buf.len());
            out[..n].copy_from_slice(&self.buf[..n]);
            self.buf.drain(..n);
            return Ok(n);
        }
        self.s.read(out)
    }
}

fn int(v: i32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

fn learner_info(sid: i64) -> Vec<u8> {
    let mut d = sid.to_be_bytes().to_vec();
    d.extend_from_slice(&0x10000i32.to_be_bytes());
    d.extend_from_slice(&0i64.to_be_bytes());
    d
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A learner (observer sid 4, never started) joins our leader: OBSERVERINFO,
/// LEADERINFO, ACKEPOCH, the sync (SNAP or DIFF), NEWLEADER, ACK, UPTODATE,
/// ACK, then live INFORMs of new writes and PINGs.
#[test]
fn a_scripted_observer_joins_our_leader() {
    let mut e = Ensemble::configure(&[Kind::Ours; 4], &[4], "");
    for id in 1..=3 {
        e.start_member(id);
    }
    e.wait_all_serving(Duration::from_secs(60));
    let leader = e.leader().expect("a leader");
    let mut c = Client::connect(e.member(1).client_port).expect("session");
    c.create("/before", b"b", 0)
        .expect("write before the learner joins");

    let mut p = Peer::new(
        TcpStream::connect(("127.0.0.1", e.member(leader).quorum_port)).expect("quorum port"),
    );
    p.send(&QuorumPacket::with_data(
        packet::OBSERVERINFO,
        0,
        learner_info(4),
    ));
    let (li, raw) = p.next_raw();
    assert_eq!(li.kind, packet::LEADERINFO, "{li:?}");
    let epoch = li.zxid >> 32;
    assert!(epoch >= 1 && li.zxid & 0xffff_ffff == 0, "{li:?}");
    // 00000011 <epoch<<32> 00000004 00010000 ffffffff (quorum-wire.md §2.3)
    assert_eq!(
        hex(&raw),
        format!("00000011{:016x}0000000400010000ffffffff", li.zxid)
    );
    p.send(&QuorumPacket::with_data(packet::ACKEPOCH, 0, int(0)));
    let sync = p.next();
    let mut saw_before = false;
    match sync.kind {
        packet::SNAP => {
            let (tree, _sessions) =
                zkserver::storage::read_snap_body(&mut p, sync.zxid, true).expect("a SNAP body");
            saw_before = tree.get("/before").is_some();
        }
        packet::DIFF => {}
        k => panic!("unexpected sync packet {}", packet::name(k)),
    }
    let newleader = loop {
        let q = p.next();
        match q.kind {
            packet::PROPOSAL | packet::INFORM => {
                let t = TxnEntry::decode(q.data.as_deref().unwrap_or_default()).expect("txn");
                if let Txn::Create { txn, .. } = &t.txn {
                    saw_before |= txn.path == "/before";
                }
            }
            packet::COMMIT => {}
            packet::NEWLEADER => break q,
            k => panic!("unexpected {} during sync", packet::name(k)),
        }
    };
    assert!(saw_before, "the sync carried /before");
    assert_eq!(newleader.zxid, epoch << 32);
    let text = String::from_utf8(newleader.data.clone().unwrap_or_default()).unwrap();
    assert!(
        text.starts_with("server.1=127.0.0.1:") && text.ends_with("version=0"),
        "NEWLEADER carries the config text: {text}"
    );
    p.send(&QuorumPacket::bare(packet::ACK, epoch << 32));
    let up = p.next();
    assert_eq!((up.kind, up.zxid), (packet::UPTODATE, -1), "{up:?}");
    p.send(&QuorumPacket::bare(packet::ACK, epoch << 32));
    // Live: an observer gets INFORM (txn bytes, committed) for each write.
    c.create("/after", b"a", 0)
        .expect("write after the learner joined");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "no INFORM for /after");
        let q = p.next();
        assert_ne!(q.kind, packet::PROPOSAL, "observers get no PROPOSAL");
        if q.kind == packet::INFORM {
            let t = TxnEntry::decode(q.data.as_deref().unwrap_or_default()).expect("txn");
            if matches!(&t.txn, Txn::Create { txn, .. } if txn.path == "/after") {
                assert_eq!(t.header.zxid, q.zxid);
                break;
            }
        }
    }
    let mntr = four_letter(e.member(leader).client_port, "mntr").unwrap_or_default();
    assert!(mntr.contains("zk_synced_observers\t1"), "{mntr}");
    c.close();
}

fn create_txn(zxid: i64, path: &str) -> Vec<u8> {
    TxnEntry {
        header: TxnHeader {
            client_id: 0,
            cxid: 0,
            zxid,
            time: 1_700_000_000_000,
            op_type: zkproto::consts::op::CREATE,
        },
        txn: Txn::Create {
            op_type: zkproto::consts::op::CREATE,
            txn: CreateTxn {
                path: path.into(),
                data: Some(b"s".to_vec()),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_cversion: 1,
            },
        },
        digest: None,
    }
    .encode()
}

fn read_epoch(dir: &std::path::Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join("version-2").join(name)).ok()
}

/// One election-port identity the test plays: its state, its connection
/// manager and the frames it receives.
type Fake = (
    zkserver::quorum::types::PeerState,
    zkserver::quorum::cnxmanager::CnxManager,
    tokio::sync::mpsc::Receiver<(i64, Vec<u8>)>,
);

/// The test plays sids 2 and 3 of a 3-member ensemble whose only real
/// member is our member 1: 3 claims LEADING and 2 FOLLOWING 3 on the
/// election port (a quorum for 3), and 3's quorum port is the test's.
struct ScriptedLeader {
    e: Ensemble,
    quorum: TcpListener,
    rt: tokio::runtime::Runtime,
    fakes: Vec<Fake>,
    config: String,
}

impl ScriptedLeader {
    fn start() -> ScriptedLeader {
        use std::collections::HashMap;
        use zkserver::quorum::cnxmanager::{CnxConfig, CnxManager};
        use zkserver::quorum::types::PeerState;
        let mut e = Ensemble::configure(&[Kind::Ours; 3], &[], "");
        // The fake leader's quorum port, bound before member 1 looks for it.
        let quorum =
            TcpListener::bind(("127.0.0.1", e.member(3).quorum_port)).expect("bind quorum");
        quorum.set_nonblocking(true).unwrap();
        let config: String = e
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
        e.start_member(1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let peers: HashMap<i64, String> = e
            .members
            .iter()
            .map(|m| (m.id as i64, format!("127.0.0.1:{}", m.election_port)))
            .collect();
        let fakes = rt.block_on(async {
            let mut v = Vec::new();
            for (sid, state) in [(2i64, PeerState::Following), (3, PeerState::Leading)] {
                let port = e.member(sid as u64).election_port;
                let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
                    .await
                    .unwrap();
                let (cnx, rx) = CnxManager::start(
                    CnxConfig {
                        my_sid: sid,
                        my_address: format!("127.0.0.1:{port}"),
                        bind_ip: Some("127.0.0.1".parse().unwrap()),
                        peers: peers.clone(),
                        connect_timeout: Duration::from_secs(5),
                        initial_timeout: Duration::from_secs(5),
                    },
                    l,
                );
                v.push((state, cnx, rx));
            }
            v
        });
        ScriptedLeader {
            e,
            quorum,
            rt,
            fakes,
            config,
        }
    }

    /// Answers member 1's LOOKING votes (leader 3 at `peer_epoch`) until it
    /// dials 3's quorum port; returns that connection.
    fn wait_for_follower(&mut self, peer_epoch: i64) -> Peer {
        use zkserver::quorum::types::{Notification, Vote};
        use zkserver::quorum::wire::notification::encode_notification;
        let config = self.config.clone();
        let deadline = Instant::now() + Duration::from_secs(30);
        let quorum = &self.quorum;
        let fakes = &mut self.fakes;
        let e = &self.e;
        let stream = self.rt.block_on(async {
            loop {
                assert!(
                    Instant::now() < deadline,
                    "member 1 never dialled the leader\n{}",
                    e.logs()
                );
                if let Ok((s, _)) = quorum.accept() {
                    return s;
                }
                for (state, cnx, rx) in fakes.iter_mut() {
                    while let Ok((from, payload)) = rx.try_recv() {
                        if from == 1 && payload.len() >= 28 {
                            let ee = i64::from_be_bytes(payload[20..28].try_into().unwrap());
                            cnx.send(
                                1,
                                encode_notification(&Notification {
                                    state: *state,
                                    vote: Vote {
                                        leader: 3,
                                        zxid: 0,
                                        election_epoch: ee,
                                        peer_epoch,
                                    },
                                    version: 2,
                                    config: config.clone().into_bytes(),
                                }),
                            );
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        stream.set_nonblocking(false).unwrap();
        Peer::new(stream)
    }

    fn srvr(&self) -> String {
        four_letter(self.e.member(1).client_port, "srvr").unwrap_or_default()
    }

    fn logged(&self) -> Vec<i64> {
        zkserver::storage::txnlog::read_log(&self.e.member(1).data_dir().join("version-2"), 0)
            .expect("the txn log")
            .map(|t| t.expect("entry").entry.header.zxid)
            .collect()
    }

    /// Discovery up to the ACKEPOCH, which is returned.
    fn discovery(&mut self, p: &mut Peer, epoch: i64) -> QuorumPacket {
        let fi = p.next();
        assert_eq!(fi.kind, packet::FOLLOWERINFO, "{fi:?}");
        p.send(&QuorumPacket::with_data(
            packet::LEADERINFO,
            epoch << 32,
            int(0x10000),
        ));
        let ack_epoch = p.next();
        assert_eq!(ack_epoch.kind, packet::ACKEPOCH, "{ack_epoch:?}");
        let data = self.e.member(1).data_dir();
        assert_eq!(
            read_epoch(&data, "acceptedEpoch").as_deref(),
            Some(epoch.to_string().as_str()),
            "acceptedEpoch is on disk before ACKEPOCH (no newline)"
        );
        ack_epoch
    }

    /// NEWLEADER / ACK (after currentEpoch is on disk) / UPTODATE / ACK.
    fn finish_sync(&mut self, p: &mut Peer, epoch: i64) {
        p.send(&QuorumPacket::with_data(
            packet::NEWLEADER,
            epoch << 32,
            self.config.clone().into_bytes(),
        ));
        let ack = p.next();
        assert_eq!((ack.kind, ack.zxid), (packet::ACK, epoch << 32), "{ack:?}");
        assert_eq!(
            read_epoch(&self.e.member(1).data_dir(), "currentEpoch").as_deref(),
            Some(epoch.to_string().as_str()),
            "currentEpoch is on disk before the NEWLEADER ACK"
        );
        p.send(&QuorumPacket::bare(packet::UPTODATE, -1));
        let ack = p.next();
        assert_eq!((ack.kind, ack.zxid), (packet::ACK, epoch << 32), "{ack:?}");
        self.e.wait_mode(1, "follower", Duration::from_secs(20));
    }
}

impl Drop for ScriptedLeader {
    fn drop(&mut self) {
        for (_, cnx, _) in &self.fakes {
            cnx.shutdown();
        }
    }
}

/// The test is the leader (sid 3, with sid 2's FOLLOWING vote to make a
/// quorum) and our member 1 follows it: FOLLOWERINFO, LEADERINFO, ACKEPOCH
/// after acceptedEpoch is on disk, DIFF with a txn, NEWLEADER, ACK only
/// after currentEpoch is on disk, UPTODATE, then live PROPOSAL / ACK /
/// COMMIT. Then the leader "dies" with a proposal that never committed and
/// comes back in epoch 2 with TRUNC: the follower cuts its log and the
/// txn never appears.
#[test]
fn our_follower_follows_a_scripted_leader_then_truncates() {
    let mut l = ScriptedLeader::start();
    let mut p = l.wait_for_follower(1);
    // FOLLOWERINFO exactly as the capture shows it (sid 1, protocol 0x10000).
    let (fi, raw) = p.next_raw();
    assert_eq!(fi.kind, packet::FOLLOWERINFO);
    assert_eq!(
        hex(&raw),
        [
            "0000000b",
            "0000000000000000",
            "00000014",
            "0000000000000001",
            "00010000",
            "0000000000000000",
            "ffffffff"
        ]
        .concat()
    );
    p.send(&QuorumPacket::with_data(
        packet::LEADERINFO,
        1 << 32,
        int(0x10000),
    ));
    let ack_epoch = p.next();
    assert_eq!(ack_epoch.kind, packet::ACKEPOCH);
    assert_eq!(ack_epoch.zxid, 0, "the follower's last logged zxid");
    assert_eq!(
        ack_epoch.data.as_deref(),
        Some(&int(0)[..]),
        "its currentEpoch"
    );
    assert_eq!(
        read_epoch(&l.e.member(1).data_dir(), "acceptedEpoch").as_deref(),
        Some("1"),
        "acceptedEpoch is on disk before ACKEPOCH (no newline)"
    );
    let z1 = (1i64 << 32) | 1;
    p.send(&QuorumPacket::bare(packet::DIFF, z1));
    p.send(&QuorumPacket::with_data(
        packet::PROPOSAL,
        z1,
        create_txn(z1, "/scripted"),
    ));
    p.send(&QuorumPacket::bare(packet::COMMIT, z1));
    l.finish_sync(&mut p, 1);
    let s = l.srvr();
    assert!(
        s.contains(&format!("Zxid: 0x{z1:x}")) && s.contains("Node count: 6"),
        "the DIFF txn was applied: {s}"
    );
    // Live broadcast: ACK only after the fsync, applied only at COMMIT.
    let z2 = z1 + 1;
    p.send(&QuorumPacket::with_data(
        packet::PROPOSAL,
        z2,
        create_txn(z2, "/live"),
    ));
    // The sync's txn is acked too once logged (Java's SendAckRequestProcessor
    // acks every logged txn; the leader ignores acks of committed ones).
    let ack = loop {
        let q = p.next();
        assert_eq!(q.kind, packet::ACK, "{q:?}");
        if q.zxid != z1 {
            break q;
        }
    };
    assert_eq!(ack.zxid, z2, "{ack:?}");
    assert!(
        l.srvr().contains("Node count: 6"),
        "not applied before COMMIT"
    );
    p.send(&QuorumPacket::bare(packet::COMMIT, z2));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !l.srvr().contains("Node count: 7") {
        assert!(
            Instant::now() < deadline,
            "COMMIT was not applied: {}",
            l.srvr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(l.logged(), vec![z1, z2], "both txns are in the log");
    // A proposal that never commits, then the leader goes away.
    let z3 = z2 + 1;
    p.send(&QuorumPacket::with_data(
        packet::PROPOSAL,
        z3,
        create_txn(z3, "/never"),
    ));
    let ack = p.next();
    assert_eq!((ack.kind, ack.zxid), (packet::ACK, z3), "{ack:?}");
    assert_eq!(l.logged(), vec![z1, z2, z3], "acked means logged");
    drop(p);
    l.e.wait_mode(1, "not serving", Duration::from_secs(20));
    // Epoch 2's leader never had z3: TRUNC to z2.
    let mut p = l.wait_for_follower(1);
    let ack_epoch = l.discovery(&mut p, 2);
    assert_eq!(
        ack_epoch.zxid, z3,
        "ACKEPOCH carries the last *logged* zxid"
    );
    assert_eq!(
        ack_epoch.data.as_deref(),
        Some(&int(1)[..]),
        "currentEpoch 1"
    );
    p.send(&QuorumPacket::bare(packet::TRUNC, z2));
    l.finish_sync(&mut p, 2);
    assert_eq!(l.logged(), vec![z1, z2], "the log was truncated to z2");
    let s = l.srvr();
    assert!(s.contains("Node count: 7"), "/never was not applied: {s}");
}
