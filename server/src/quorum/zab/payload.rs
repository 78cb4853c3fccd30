//! The few small packet payloads the ZAB cores build and read, with
//! zkproto's jute reader and writer. Private stand-in for the shared codecs in
//! `quorum::wire`, to be replaced by them at merge.

use zkproto::jute::{Reader, Writer};

use super::super::types::{Sid, ZAB_PROTOCOL_VERSION};

/// `LearnerInfo{serverid, protocolVersion = 0x10000, configVersion = 0}`, the
/// 20 bytes of FOLLOWERINFO/OBSERVERINFO (`Learner.registerWithLeader`).
pub fn learner_info(sid: Sid) -> Vec<u8> {
    let mut w = Writer::new();
    w.write_i64(sid);
    w.write_i32(ZAB_PROTOCOL_VERSION);
    w.write_i64(0);
    w.into_inner()
}

/// What the leader reads from LearnerInfo: fields are read only if present
/// (`LearnerHandler.run`: sid if ≥ 8 bytes, version if ≥ 12, config if ≥ 20).
#[derive(Debug, PartialEq, Eq)]
pub struct LearnerInfo {
    pub sid: Sid,
    pub protocol_version: i32,
    pub config_version: i64,
}

/// `None` if the data is absent or shorter than a sid (Java would assign a
/// negative id from followerCounter; we refuse such learners instead).
pub fn parse_learner_info(data: Option<&[u8]>) -> Option<LearnerInfo> {
    let data = data?;
    let mut r = Reader::new(data);
    let sid = r.read_i64().ok()?;
    let protocol_version = if data.len() >= 12 {
        r.read_i32().ok()?
    } else {
        0
    };
    let config_version = if data.len() >= 20 {
        r.read_i64().ok()?
    } else {
        0
    };
    Some(LearnerInfo {
        sid,
        protocol_version,
        config_version,
    })
}

/// A 4-byte big-endian int (LEADERINFO, ACKEPOCH data).
pub fn int(v: i32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// Reads a payload that must be exactly one int (`ByteBuffer.getInt` reads
/// the first four; we also accept longer data, as Java does).
pub fn parse_int(data: Option<&[u8]>) -> Option<i32> {
    let d = data?;
    Reader::new(d).read_i32().ok()
}

/// Touches of a PING reply: repeated `sessionId:long, timeout:int`; null and
/// empty are both "none" (quorum-wire.md §8.17). `None` on a ragged length.
pub fn parse_touches(data: Option<&[u8]>) -> Option<Vec<(i64, i32)>> {
    let d = match data {
        None => return Some(Vec::new()),
        Some(d) => d,
    };
    if d.len() % 12 != 0 {
        return None;
    }
    let mut r = Reader::new(d);
    let mut out = Vec::with_capacity(d.len() / 12);
    while r.remaining() > 0 {
        let s = r.read_i64().ok()?;
        let t = r.read_i32().ok()?;
        out.push((s, t));
    }
    Some(out)
}

/// Test-only: a QuorumPacket's bytes on the wire, to compare with captures.
#[cfg(test)]
pub fn encode_packet(p: &super::super::types::QuorumPacket) -> Vec<u8> {
    let mut w = Writer::new();
    w.write_i32(p.kind);
    w.write_i64(p.zxid);
    w.write_buffer(p.data.as_deref());
    match &p.auth {
        None => w.write_i32(-1),
        Some(ids) => {
            w.write_i32(ids.len() as i32);
            for id in ids {
                w.write_string(&id.scheme);
                w.write_string(&id.id);
            }
        }
    }
    w.into_inner()
}
