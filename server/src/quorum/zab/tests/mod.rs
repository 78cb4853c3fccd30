//! Packet-by-packet tests in the style of ZooKeeper's Zab1_0Test: the test
//! plays the other side of each core.

mod leader;
mod learner;

use super::payload::{encode_packet, int, learner_info};
use super::{Limits, Output, Txn};
use crate::quorum::types::{packet, QuorumPacket, Zxid};

pub(super) const LIMITS: Limits = Limits {
    init_limit: 10,
    sync_limit: 5,
};

pub(super) fn pk(kind: i32, zxid: Zxid) -> QuorumPacket {
    QuorumPacket::bare(kind, zxid)
}

pub(super) fn pkd(kind: i32, zxid: Zxid, data: Vec<u8>) -> QuorumPacket {
    QuorumPacket::with_data(kind, zxid, data)
}

pub(super) fn txn(z: Zxid) -> Txn {
    format!("txn-{z:x}").into_bytes().into()
}

pub(super) fn info(kind: i32, sid: i64, accepted: i64) -> QuorumPacket {
    pkd(kind, accepted << 32, learner_info(sid))
}

pub(super) fn ackepoch(last: Zxid, epoch: i32) -> QuorumPacket {
    pkd(packet::ACKEPOCH, last, int(epoch))
}

/// The (kind, zxid) of every packet sent to `to`, in order.
pub(super) fn sent(outs: &[Output], to: u64) -> Vec<(i32, Zxid)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { to: t, pkt } if *t == to => Some((pkt.kind, pkt.zxid)),
            _ => None,
        })
        .collect()
}

pub(super) fn packets(outs: &[Output], to: u64) -> Vec<QuorumPacket> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { to: t, pkt } if *t == to => Some(pkt.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares a packet's bytes with a capture from quorum-wire.md §2.3
/// (spaces ignored).
pub(super) fn assert_bytes(p: &QuorumPacket, capture: &str) {
    let want: String = capture.split_whitespace().collect();
    assert_eq!(hex(&encode_packet(p)), want, "{p:?}");
}

pub(super) fn commits(outs: &[Output]) -> Vec<Zxid> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Commit { zxid, .. } => Some(*zxid),
            _ => None,
        })
        .collect()
}

pub(super) fn abandoned(outs: &[Output]) -> Option<String> {
    outs.iter().find_map(|o| match o {
        Output::Abandon { reason } => Some(reason.clone()),
        _ => None,
    })
}

pub(super) fn closed(outs: &[Output], conn: u64) -> Option<String> {
    outs.iter().find_map(|o| match o {
        Output::Close { conn: c, reason } if *c == conn => Some(reason.clone()),
        _ => None,
    })
}
