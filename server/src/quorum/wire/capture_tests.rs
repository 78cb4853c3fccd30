//! Tests against bytes captured from a real Apache ZooKeeper 3.8 ensemble
//! (quorum-wire.md §2.2–§2.5 and quorum-wire-data/b_decoded.json).

use rand::{Rng, SeedableRng};
use zkproto::jute::DEFAULT_MAX_FIELD;
use zkproto::records::Id;
use zkproto::txn::{Txn, TxnEntry};

use super::payload::*;
use super::*;
use crate::quorum::types::{make_zxid, packet as pt, QuorumPacket};

/// Hex to bytes, ignoring whitespace and `|` separators. Test input only.
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| b.is_ascii_hexdigit())
        .map(|b| (b as char).to_digit(16).unwrap_or(0) as u8)
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd hex: {s}");
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

const CONFIG_132: &str = "server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant\nserver.3=127.0.0.1:2890:3890:participant\nversion=0";

/// Decodes one whole packet, checks it re-encodes to the same bytes.
fn packet(h: &str) -> QuorumPacket {
    let b = hex(h);
    let (p, n) = decode_packet(&b, DEFAULT_MAX_FIELD)
        .unwrap_or_else(|e| panic!("{h}: {e}"))
        .unwrap_or_else(|| panic!("{h}: incomplete"));
    assert_eq!(n, b.len(), "{h}: consumed");
    assert_eq!(encode_packet(&p), b, "{h}: re-encoded");
    p
}

fn data(p: &QuorumPacket) -> Option<&[u8]> {
    p.data.as_deref()
}

fn ip_auth() -> Option<Vec<Id>> {
    Some(vec![Id {
        scheme: "ip".into(),
        id: "127.0.0.1".into(),
    }])
}

/// quorum-wire §2.3: discovery and sync packets.
#[test]
fn discovery_and_sync_dumps() {
    let p = packet(
        "0000000b 0000000000000000 00000014 0000000000000001 00010000 0000000000000000 ffffffff",
    );
    assert_eq!(
        (p.kind, p.zxid, p.auth.clone()),
        (pt::FOLLOWERINFO, 0, None)
    );
    let li = decode_learner_info(data(&p));
    assert_eq!(
        (li.sid, li.protocol_version, li.config_version),
        (Some(1), 0x10000, Some(0))
    );
    assert_eq!(
        LearnerInfo::new(1).encode(),
        p.data.clone().unwrap_or_default()
    );

    let p = packet("00000011 0000000100000000 00000004 00010000 ffffffff");
    assert_eq!((p.kind, p.zxid), (pt::LEADERINFO, make_zxid(1, 0)));
    assert_eq!(decode_leader_info(data(&p)), Ok(0x10000));
    assert_eq!(
        p,
        QuorumPacket::with_data(pt::LEADERINFO, 1 << 32, leader_info_data(0x10000))
    );

    let p = packet("00000012 0000000000000000 00000004 00000000 ffffffff");
    assert_eq!((p.kind, decode_ack_epoch(data(&p))), (pt::ACKEPOCH, Ok(0)));
    let p = packet("00000012 0000000100000009 00000004 00000001 ffffffff");
    assert_eq!(
        (p.zxid, decode_ack_epoch(data(&p))),
        (make_zxid(1, 9), Ok(1))
    );
    assert_eq!(p.data, Some(ack_epoch_data(1)));

    for (h, kind, zxid) in [
        ("0000000d 0000000000000000 ffffffff ffffffff", pt::DIFF, 0),
        (
            "0000000d 0000000200000003 ffffffff ffffffff",
            pt::DIFF,
            make_zxid(2, 3),
        ),
        (
            "0000000e 0000000200000008 ffffffff ffffffff",
            pt::TRUNC,
            make_zxid(2, 8),
        ),
        (
            "0000000f 0000000200000008 ffffffff ffffffff",
            pt::SNAP,
            make_zxid(2, 8),
        ),
        (
            "0000000c ffffffffffffffff ffffffff ffffffff",
            pt::UPTODATE,
            -1,
        ),
        (
            "00000003 0000000100000000 ffffffff ffffffff",
            pt::ACK,
            1 << 32,
        ),
        (
            "00000003 0000000100000002 ffffffff ffffffff",
            pt::ACK,
            make_zxid(1, 2),
        ),
        (
            "00000004 0000000100000002 ffffffff ffffffff",
            pt::COMMIT,
            make_zxid(1, 2),
        ),
        (
            "00000005 0000000100000004 ffffffff ffffffff",
            pt::PING,
            make_zxid(1, 4),
        ),
        ("00000007 0000000000000000 ffffffff ffffffff", pt::SYNC, 0),
    ] {
        assert_eq!(packet(h), QuorumPacket::bare(kind, zxid), "{h}");
    }

    let mut nl = hex("0000000a 0000000100000000 00000084");
    nl.extend_from_slice(CONFIG_132.as_bytes());
    nl.extend(hex("ffffffff"));
    let (p, n) = decode_packet(&nl, DEFAULT_MAX_FIELD).unwrap().unwrap();
    assert_eq!((n, p.kind, p.zxid), (nl.len(), pt::NEWLEADER, 1 << 32));
    assert_eq!(encode_packet(&p), nl);
    let cfg = newleader_config(data(&p)).unwrap();
    assert_eq!(cfg, CONFIG_132.as_bytes());
    let parsed = parse_config_text(cfg).unwrap();
    assert_eq!(
        config_text(parsed.servers.values(), parsed.version),
        CONFIG_132
    );
}

/// quorum-wire §2.3: broadcast-phase packets with payloads.
#[test]
fn broadcast_dumps() {
    let p = packet("00000005 0000000100000004 0000000c 0100000ae42b0000 00007530 ffffffff");
    assert_eq!(
        decode_touches(data(&p)),
        Ok(vec![(0x0100000ae42b0000, 30000)])
    );
    assert_eq!(p.data, Some(encode_touches(&[(0x0100000ae42b0000, 30000)])));
    let p = packet("00000005 0000000100000009 00000000 ffffffff");
    assert_eq!(
        (decode_touches(data(&p)), p.data.clone()),
        (Ok(vec![]), Some(vec![]))
    );

    let p = packet("00000006 ffffffffffffffff 0000000c 0100000ae42b0000 00007530 ffffffff");
    assert_eq!(
        decode_revalidate_request(data(&p)),
        Ok((0x0100000ae42b0000, 30000))
    );
    assert_eq!(
        p.data,
        Some(revalidate_request_data(0x0100000ae42b0000, 30000))
    );
    let p = packet("00000006 ffffffffffffffff 00000009 0100000ae42b0000 01 ffffffff");
    assert_eq!(
        decode_revalidate_reply(data(&p)),
        Ok((0x0100000ae42b0000, true))
    );
    assert_eq!(
        p.data,
        Some(revalidate_reply_data(0x0100000ae42b0000, true))
    );

    // createSession forwarded with null authinfo and a 4-byte body.
    let p = packet("00000001 ffffffffffffffff 00000014 | 0100000ae42b0000 00000000 fffffff6 00007530 | ffffffff");
    let r = decode_forwarded_request(data(&p)).unwrap();
    assert_eq!(
        (r.session_id, r.cxid, r.op, r.body.clone()),
        (0x0100000ae42b0000, 0, -10, hex("00007530"))
    );
    assert_eq!((p.auth.clone(), Some(r.encode())), (None, p.data.clone()));

    // create /a "hello" with authinfo [ip:127.0.0.1].
    let p = packet(
        "00000001 ffffffffffffffff 0000003e | 0100000ae42b0000 00000001 00000001 |
         000000022f61 0000000568656c6c6f 00000001 0000001f 00000005776f726c64 00000006616e796f6e65 00000000
         | 00000001 00000002 6970 00000009 3132372e302e302e31",
    );
    assert_eq!(p.auth, ip_auth());
    let r = decode_forwarded_request(data(&p)).unwrap();
    assert_eq!((r.cxid, r.op, r.body.len()), (1, 1, 46));
    assert_eq!(Some(r.encode()), p.data);
}

/// quorum-wire §2.4: txn bytes in PROPOSAL/INFORM, as captured in full.
#[test]
fn txn_dumps() {
    let cases: &[(&str, i32, Option<i64>)] = &[
        // createSession: digest of the fresh tree
        ("0100000ae42b0000 00000000 0000000100000001 000001a2377bdbb6 fffffff6 | 00007530 | 00000002 0000000051c6d660", -10, Some(1371985504)),
        // create /a "hello", parentCVersion 1
        ("0100000ae42b0000 00000001 0000000100000002 000001a2377bdbc6 00000001 | 000000022f61 0000000568656c6c6f
          00000001 0000001f 00000005776f726c64 00000006616e796f6e65 00 00000001 | 00000002 00000001b6641bd8", 1, Some(7354981336)),
        // create /e ephemeral
        ("0100000ae42b0000 00000002 0000000100000003 000001a2377bdbd2 00000001 | 000000022f65 00000003657068
          00000001 0000001f 00000005776f726c64 00000006616e796f6e65 01 00000002 | 00000002 000000023590f79d", 1, Some(9488627613)),
        // setData /a "world", new version 1
        ("0100000ae42b0000 00000003 0000000100000004 000001a2377bdbd8 00000005 | 000000022f61 00000005776f726c64
          00000001 | 00000002 00000002acbb04d0", 5, Some(11487872208)),
        // closeSession deleting /e
        ("0100000ae42b0000 00000002 0000000100000006 000001a2377beba1 fffffff5 | 00000001 000000022f65 |
          00000002 00000002c430e152", -11, Some(11881472338)),
        // closeSession, no ephemerals
        ("0300000ae4540000 00000002 0000000100000009 000001a2377bebb7 fffffff5 | 00000000 | 00000002 00000002d9700e71", -11, Some(12237934193)),
        // error MARSHALLINGERROR, no digest
        ("040000000a0b0c0d 00000001 0000000200000005 000001a2377d0c73 ffffffff | fffffffb", -1, None),
        // error NODEEXISTS, no digest
        ("0100000b0a990000 00000002 000000020000000b 000001a2377d7fcc ffffffff | ffffff92", -1, None),
    ];
    for &(h, ty, digest) in cases {
        let b = hex(h);
        let e = decode_proposal_data(Some(&b)).unwrap_or_else(|e| panic!("{h}: {e}"));
        assert_eq!(e.header.op_type, ty, "{h}");
        assert_eq!(
            e.digest.as_ref().map(|d| (d.version, d.tree_digest)),
            digest.map(|d| (2, d)),
            "{h}"
        );
        assert_eq!(proposal_data(&e), b, "{h}");
        let p = QuorumPacket::with_data(pt::PROPOSAL, e.header.zxid, proposal_data(&e));
        assert_eq!(
            decode_packet(&encode_packet(&p), DEFAULT_MAX_FIELD)
                .unwrap()
                .map(|x| x.0),
            Some(p)
        );
    }
    let e = decode_proposal_data(Some(&hex(cases[6].0))).unwrap();
    assert!(matches!(e.txn, Txn::Error(ref t) if t.err == -5));
    // An error txn never carries a digest on the wire, whatever the entry says.
    let with_digest = TxnEntry {
        digest: decode_proposal_data(Some(&hex(cases[0].0))).unwrap().digest,
        ..e.clone()
    };
    assert_eq!(proposal_data(&with_digest), proposal_data(&e));
    // COMMITANDACTIVATE / INFORMANDACTIVATE wrap the same bytes.
    assert_eq!(
        decode_commit_and_activate(Some(&commit_and_activate_data(3))),
        Ok(3)
    );
    let ia = inform_and_activate_data(2, &e);
    assert_eq!(decode_inform_and_activate(Some(&ia)), Ok((2, e)));
    assert!(decode_proposal_data(Some(&hex(
        "0000000000000000 00000000 0000000000000000 0000000000000000 00000063"
    )))
    .is_err());
}

/// Every distinct packet shape on the captured quorum ports decodes and
/// re-encodes byte for byte, and its data decodes by its type.
#[test]
fn captured_packets_round_trip() {
    for h in CAPTURED_PACKETS {
        let p = packet(h);
        let d = data(&p);
        match p.kind {
            pt::PROPOSAL | pt::INFORM => {
                let e = decode_proposal_data(d).unwrap_or_else(|e| panic!("{h}: {e}"));
                assert_eq!(e.header.zxid, p.zxid, "{h}");
                assert_eq!(Some(proposal_data(&e)), p.data, "{h}");
                assert_eq!(e.digest.is_none(), matches!(e.txn, Txn::Error(_)), "{h}");
            }
            pt::REQUEST => {
                let r = decode_forwarded_request(d).unwrap();
                assert_eq!(Some(r.encode()), p.data, "{h}");
            }
            pt::FOLLOWERINFO | pt::OBSERVERINFO => {
                let li = decode_learner_info(d);
                let sid = li.sid.unwrap_or_default();
                assert_eq!(Some(LearnerInfo::new(sid).encode()), p.data, "{h}");
            }
            pt::LEADERINFO => assert_eq!(decode_leader_info(d), Ok(0x10000)),
            pt::ACKEPOCH => assert!(decode_ack_epoch(d).is_ok()),
            pt::PING if d.is_some() => assert!(decode_touches(d).is_ok()),
            pt::NEWLEADER => {
                assert_eq!(newleader_config(d), Some(CONFIG_132.as_bytes()));
            }
            _ => {}
        }
    }
}

/// The leader→learner stream of a SNAP sync (fake peer at 0x10000000a,
/// quorum-wire §2.5): LEADERINFO, SNAP, the 899-byte body, NEWLEADER,
/// UPTODATE. The packet decoder and `snapshot::SnapshotReader` share it.
#[test]
fn captured_snap_stream() {
    use crate::storage::snapshot::{SnapshotReader, QUORUM_SNAP_SIGNATURE};
    let s = hex(CAPTURED_SNAP_STREAM);
    assert_eq!(s.len(), 1115);
    let (p, mut at) = decode_packet(&s, DEFAULT_MAX_FIELD).unwrap().unwrap();
    assert_eq!(p.kind, pt::LEADERINFO);
    let (p, n) = decode_packet(&s[at..], DEFAULT_MAX_FIELD).unwrap().unwrap();
    assert_eq!(p, QuorumPacket::bare(pt::SNAP, make_zxid(2, 8)));
    at += n;
    let body_start = at;
    let mut cur = std::io::Cursor::new(&s[at..]);
    let mut r = SnapshotReader::from_body_stream(&mut cur);
    assert_eq!(r.sessions().unwrap(), vec![]);
    let acls = r.acls().unwrap();
    assert_eq!(acls.iter().map(|a| a.0).collect::<Vec<_>>(), vec![1, 2]);
    let mut paths = vec![];
    while let Some(node) = r.next_node().unwrap() {
        if node.path.is_empty() {
            assert_eq!(
                (node.data, node.stat.cversion, node.stat.pzxid),
                (Some(vec![]), 6, make_zxid(2, 8))
            );
        }
        paths.push(node.path);
    }
    r.finish().unwrap();
    assert_eq!(paths.len(), 8, "{paths:?}");
    assert!(paths.iter().any(|p| p == "/zookeeper/config"));
    at += cur.position() as usize;
    let sig = decode_sig(&s[at..]);
    assert_eq!(sig, QUORUM_SNAP_SIGNATURE);
    at += 4 + sig.len();
    assert_eq!(at - body_start, 899);
    let (p, n) = decode_packet(&s[at..], DEFAULT_MAX_FIELD).unwrap().unwrap();
    assert_eq!(
        (p.kind, p.data.as_deref()),
        (pt::NEWLEADER, Some(CONFIG_132.as_bytes()))
    );
    at += n;
    let (p, n) = decode_packet(&s[at..], DEFAULT_MAX_FIELD).unwrap().unwrap();
    assert_eq!(p, QuorumPacket::bare(pt::UPTODATE, -1));
    assert_eq!(at + n, s.len());
}

fn decode_sig(b: &[u8]) -> String {
    let n = i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    String::from_utf8(b[4..4 + n].to_vec()).unwrap()
}

/// Every distinct notification frame on the captured election ports (all
/// carry the same 132-byte config; the frame heads differ), decoded and
/// re-encoded byte for byte, and their config text rebuilt exactly.
#[test]
fn captured_notifications_round_trip() {
    for head in CAPTURED_NOTIFICATION_HEADS {
        let mut frame = hex(head);
        frame.extend_from_slice(CONFIG_132.as_bytes());
        let (payload, n) = split_election_frame(&frame).unwrap().unwrap();
        assert_eq!(n, frame.len());
        let note = decode_notification(payload).unwrap_or_else(|e| panic!("{head}: {e}"));
        assert_eq!(note.version, 2);
        assert_eq!(encode_election_frame(&note).unwrap(), frame, "{head}");
        let cfg = parse_config_text(&note.config).unwrap();
        assert_eq!(config_text(cfg.servers.values(), cfg.version), CONFIG_132);
    }
}

/// The 44-byte heads (frame length through configLength) of the distinct
/// notifications in b_decoded.json.
const CAPTURED_NOTIFICATION_HEADS: &[&str] = &[
    "000000b00000000000000000000000030000000000000000000000000000000100000000000000000000000200000084",
    "000000b00000000000000000000000010000000000000000000000000000000100000000000000000000000200000084",
    "000000b00000000000000000000000020000000000000000000000000000000100000000000000000000000200000084",
    "000000b00000000100000000000000030000000000000000000000000000000100000000000000010000000200000084",
    "000000b00000000000000000000000020000000100000009000000000000000200000000000000010000000200000084",
    "000000b00000000000000000000000010000000100000009000000000000000200000000000000010000000200000084",
    "000000b00000000000000000000000030000000100000009000000000000000200000000000000010000000200000084",
    "000000b00000000200000000000000020000000100000009000000000000000200000000000000020000000200000084",
    "000000b00000000000000000000000030000000100000009000000000000000100000000000000010000000200000084",
    "000000b00000000100000000000000020000000100000009000000000000000200000000000000020000000200000084",
    "000000b00000000000000000000000040000000000000000000000000000000100000000000000000000000200000084",
];

/// Random bytes, truncations and mutations of valid inputs never panic any
/// decoder, and a packet decode that succeeds re-encodes to its input.
#[test]
fn decoders_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut seeds: Vec<Vec<u8>> = CAPTURED_PACKETS.iter().map(|h| hex(h)).collect();
    seeds.push(hex(CAPTURED_SNAP_STREAM));
    let mut notif = hex("00000000 0000000000000003 0000000000000000 0000000000000001 0000000000000000 00000002 00000084");
    notif.extend_from_slice(CONFIG_132.as_bytes());
    seeds.push(notif);
    seeds.push(CONFIG_132.as_bytes().to_vec());
    for i in 0..20_000 {
        let mut b = if i % 4 == 0 {
            let n = rng.gen_range(0..64);
            (0..n).map(|_| rng.gen()).collect::<Vec<u8>>()
        } else {
            seeds[rng.gen_range(0..seeds.len())].clone()
        };
        if !b.is_empty() && i % 4 != 1 {
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..b.len());
                b[at] = if rng.gen_bool(0.3) { 0xff } else { rng.gen() };
            }
        }
        let cut = rng.gen_range(0..=b.len());
        let b = &b[..cut];
        for lim in [DEFAULT_MAX_FIELD, 16] {
            if let Ok(Some((p, n))) = decode_packet(b, lim) {
                assert_eq!(encode_packet(&p), &b[..n]);
            }
        }
        let _ = decode_notification(b);
        let _ = split_election_frame(b);
        let _ = parse_config_text(b);
        let d = Some(b);
        let _ = decode_learner_info(d);
        let _ = decode_leader_info(d);
        let _ = decode_ack_epoch(d);
        let _ = decode_touches(d);
        let _ = decode_revalidate_request(d);
        let _ = decode_revalidate_reply(d);
        let _ = decode_forwarded_request(d);
        let _ = decode_proposal_data(d);
        let _ = decode_commit_and_activate(d);
        let _ = decode_inform_and_activate(d);
    }
}

/// One sample of each distinct packet shape on the captured quorum ports
/// (b_decoded.json: type, data length, authinfo, txn type, request op).
const CAPTURED_PACKETS: &[&str] = &[
    // 11(FOLLOWERINFO)
    "0000000b0000000000000000000000140000000000000001000100000000000000000000ffffffff",
    // 18(ACKEPOCH)
    "0000001200000000000000000000000400000000ffffffff",
    // 3(ACK)
    "000000030000000100000000ffffffffffffffff",
    // 1(REQUEST) -10(createSession)
    "00000001ffffffffffffffff000000140100000ae42b000000000000fffffff600007530ffffffff",
    // 1(REQUEST) 1(create)
    concat!(
        "00000001ffffffffffffffff0000003e0100000ae42b00000000000100000001000000022f610000000568656c6c6f00",
        "0000010000001f00000005776f726c6400000006616e796f6e650000000000000001000000026970000000093132372e",
        "302e302e31",
    ),
    // 1(REQUEST) 1(create)
    concat!(
        "00000001ffffffffffffffff0000003c0100000ae42b00000000000200000001000000022f6500000003657068000000",
        "010000001f00000005776f726c6400000006616e796f6e650000000100000001000000026970000000093132372e302e",
        "302e31",
    ),
    // 1(REQUEST) 5(setData)
    concat!(
        "00000001ffffffffffffffff000000230100000ae42b00000000000300000005000000022f6100000005776f726c64ff",
        "ffffff00000001000000026970000000093132372e302e302e31",
    ),
    // 1(REQUEST) 9(sync)
    concat!(
        "00000001ffffffffffffffff000000150100000ae42b00000000000400000009000000012f0000000100000002697000",
        "0000093132372e302e302e31",
    ),
    // 5(PING)
    "0000000500000001000000040000000c0100000ae42b000000007530ffffffff",
    // 5(PING)
    "00000005000000010000000900000000ffffffff",
    // 17(LEADERINFO)
    "0000001100000001000000000000000400010000ffffffff",
    // 13(DIFF)
    "0000000d0000000000000000ffffffffffffffff",
    // 10(NEWLEADER)
    concat!(
        "0000000a0000000100000000000000847365727665722e313d3132372e302e302e313a323838383a333838383a706172",
        "7469636970616e740a7365727665722e323d3132372e302e302e313a323838393a333838393a7061727469636970616e",
        "740a7365727665722e333d3132372e302e302e313a323839303a333839303a7061727469636970616e740a7665727369",
        "6f6e3d30ffffffff",
    ),
    // 12(UPTODATE)
    "0000000cffffffffffffffffffffffffffffffff",
    // 2(PROPOSAL) -10(createSession)
    concat!(
        "000000020000000100000001000000300100000ae42b0000000000000000000100000001000001a2377bdbb6fffffff6",
        "00007530000000020000000051c6d660ffffffff",
    ),
    // 4(COMMIT)
    "000000040000000100000001ffffffffffffffff",
    // 2(PROPOSAL) 1(create)
    concat!(
        "0000000200000001000000020000005b0100000ae42b0000000000010000000100000002000001a2377bdbc600000001",
        "000000022f610000000568656c6c6f000000010000001f00000005776f726c6400000006616e796f6e65000000000100",
        "00000200000001b6641bd8ffffffff",
    ),
    // 2(PROPOSAL) 1(create)
    concat!(
        "000000020000000100000003000000590100000ae42b0000000000020000000100000003000001a2377bdbd200000001",
        "000000022f6500000003657068000000010000001f00000005776f726c6400000006616e796f6e650100000002000000",
        "02000000023590f79dffffffff",
    ),
    // 2(PROPOSAL) 5(setData)
    concat!(
        "0000000200000001000000040000003f0100000ae42b0000000000030000000100000004000001a2377bdbd800000005",
        "000000022f6100000005776f726c64000000010000000200000002acbb04d0ffffffff",
    ),
    // 7(SYNC)
    "000000070000000000000000ffffffffffffffff",
    // 5(PING)
    "000000050000000100000004ffffffffffffffff",
    // 2(PROPOSAL) 1(create)
    concat!(
        "000000020000000100000005000000560100000ae42b0000000000010000000100000005000001a2377beb9800000001",
        "000000022f6200000000000000010000001f00000005776f726c6400000006616e796f6e650000000003000000020000",
        "000332873b08ffffffff",
    ),
    // 2(PROPOSAL) -11(closeSession)
    concat!(
        "000000020000000100000006000000360100000ae42b0000000000020000000100000006000001a2377beba1fffffff5",
        "00000001000000022f650000000200000002c430e152ffffffff",
    ),
    // 2(PROPOSAL) 1(create)
    concat!(
        "000000020000000100000008000000570300000ae4540000000000010000000100000008000001a2377bebb100000001",
        "000000022f6c000000014c000000010000001f00000005776f726c6400000006616e796f6e6500000000040000000200",
        "000002d9700e71ffffffff",
    ),
    // 2(PROPOSAL) -11(closeSession)
    concat!(
        "000000020000000100000009000000300300000ae4540000000000020000000100000009000001a2377bebb7fffffff5",
        "000000000000000200000002d9700e71ffffffff",
    ),
    // 6(REVALIDATE)
    "00000006ffffffffffffffff0000000c0100000ae42b000000007530ffffffff",
    // 1(REQUEST) 1(create)
    concat!(
        "00000001ffffffffffffffff000000390100000ae42b00000000000100000001000000022f6200000000000000010000",
        "001f00000005776f726c6400000006616e796f6e650000000000000001000000026970000000093132372e302e302e31",
    ),
    // 1(REQUEST) -11(closeSession)
    concat!(
        "00000001ffffffffffffffff000000100100000ae42b000000000002fffffff500000001000000026970000000093132",
        "372e302e302e31",
    ),
    // 6(REVALIDATE)
    "00000006ffffffffffffffff000000090100000ae42b000001ffffffff",
    // 2(PROPOSAL) -1(error)
    concat!(
        "00000002000000020000000500000024040000000a0b0c0d000000010000000200000005000001a2377d0c73ffffffff",
        "fffffffbffffffff",
    ),
    // 2(PROPOSAL) 5(setData)
    concat!(
        "00000002000000020000000700000040040000000a0b0c0d000000040000000200000007000001a2377d200000000005",
        "000000062f66616b65320000000276320000000100000002000000029d7b48c5ffffffff",
    ),
    // 2(PROPOSAL) -11(closeSession)
    concat!(
        "0000000200000002000000080000003a040000000a0b0c0d000000050000000200000008000001a2377d23e8fffffff5",
        "00000001000000062f66616b65320000000200000002f3444edbffffffff",
    ),
    // 1(REQUEST) -10(createSession)
    "00000001ffffffffffffffff00000014040000000a0b0c0d00000000fffffff60000753000000000",
    // 1(REQUEST) 1(create)
    concat!(
        "00000001ffffffffffffffff0000003e040000000a0b0c0d0000000100000001000000062f66616b6531000000017800",
        "0000010000001f00000005776f726c6400000006616e796f6e6500000001ffffffff",
    ),
    // 1(REQUEST) 5(setData)
    concat!(
        "00000001ffffffffffffffff00000024040000000a0b0c0d0000000400000005000000062f66616b6532000000027632",
        "ffffffff00000001000000026970000000093132372e302e302e31",
    ),
    // 14(TRUNC)
    "0000000e0000000200000008ffffffffffffffff",
    // 16(OBSERVERINFO)
    "000000100000000200000000000000140000000000000009000100000000000000000000ffffffff",
    // 8(INFORM) -10(createSession)
    concat!(
        "000000080000000200000009000000300100000b0a990000000000000000000200000009000001a2377d7fbbfffffff6",
        "000075300000000200000002f3444edbffffffff",
    ),
    // 8(INFORM) 1(create)
    concat!(
        "00000008000000020000000a000000590100000b0a99000000000001000000020000000a000001a2377d7fc500000001",
        "000000042f6f6273000000016f000000010000001f00000005776f726c6400000006616e796f6e650000000007000000",
        "02000000039ace4170ffffffff",
    ),
    // 8(INFORM) -1(error)
    concat!(
        "00000008000000020000000b000000240100000b0a99000000000002000000020000000b000001a2377d7fccffffffff",
        "ffffff92ffffffff",
    ),
    // 8(INFORM) -11(closeSession)
    concat!(
        "00000008000000020000000c000000300100000b0a99000000000003000000020000000c000001a2377d7fd4fffffff5",
        "0000000000000002000000039ace4170ffffffff",
    ),
];

/// The captured leader→learner stream of a SNAP sync (1115 bytes).
const CAPTURED_SNAP_STREAM: &str = concat!(
    "0000001100000002000000000000000400010000ffffffff0000000f0000000200000008ffffffffffffffff00000000",
    "000000020000000000000001000000010000000100000005776f726c6400000006616e796f6e65000000000000000200",
    "0000010000001f00000005776f726c6400000006616e796f6e650000000000000000ffffffffffffffff000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000060000000000000000000000000000",
    "000200000008000000022f6100000005776f726c64000000000000000200000001000000020000000100000004000001",
    "a2377bdbc6000001a2377bdbd800000001000000000000000000000000000000000000000100000002000000022f6200",
    "000000000000000000000200000001000000050000000100000005000001a2377beb98000001a2377beb980000000000",
    "0000000000000000000000000000000000000100000005000000062f6166746572000000017800000000000000020000",
    "0002000000020000000200000002000001a2377c029f000001a2377c029f000000000000000000000000000000000000",
    "000000000002000000020000000a2f7a6f6f6b656570657200000000ffffffffffffffff000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000112f7a6f6f6b65657065722f636f6e666967000000847365727665722e313d3132372e302e302e313a32383838",
    "3a333838383a7061727469636970616e740a7365727665722e323d3132372e302e302e313a323838393a333838393a70",
    "61727469636970616e740a7365727665722e333d3132372e302e302e313a323839303a333839303a7061727469636970",
    "616e740a76657273696f6e3d300000000000000001000000000000000000000000000000000000000000000000000001",
    "a2377bda31ffffffff00000000ffffffff00000000000000000000000000000000000000102f7a6f6f6b65657065722f",
    "71756f746100000000ffffffffffffffff00000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000022f6c000000014c0000000000000002",
    "00000001000000080000000100000008000001a2377bebb1000001a2377bebb100000000000000000000000000000000",
    "000000000000000100000008000000012f0000000a42656e576173486572650000000a00000002000000000000008473",
    "65727665722e313d3132372e302e302e313a323838383a333838383a7061727469636970616e740a7365727665722e32",
    "3d3132372e302e302e313a323838393a333838393a7061727469636970616e740a7365727665722e333d3132372e302e",
    "302e313a323839303a333839303a7061727469636970616e740a76657273696f6e3d30ffffffff0000000cffffffffff",
    "ffffffffffffffffffffff",
);
