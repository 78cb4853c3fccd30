//! The `data` field of each quorum packet type (quorum-wire §2.3 table).
//!
//! These are not jute records but raw `DataOutputStream`/`ByteBuffer`
//! layouts, so each decoder mirrors how its Java reader treats short, long
//! or null data: `ByteBuffer.getInt` past the end and `DataInputStream` EOF
//! throw (connection dropped), extra bytes after the fields read are
//! ignored, and `ByteBuffer.wrap(null)` throws NullPointerException.

use zkproto::txn::{Txn, TxnEntry};

use super::WireError;
use crate::quorum::types::{Sid, ZAB_PROTOCOL_VERSION};

fn need<'a>(what: &'static str, data: Option<&'a [u8]>, n: usize) -> Result<&'a [u8], WireError> {
    let d = data.ok_or(WireError::NullData { what })?;
    if d.len() < n {
        return Err(WireError::ShortData {
            what,
            len: d.len(),
            needed: n,
        });
    }
    Ok(d)
}

fn i32_at(d: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    if let Some(s) = d.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    i32::from_be_bytes(a)
}

fn i64_at(d: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    if let Some(s) = d.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    i64::from_be_bytes(a)
}

/// FOLLOWERINFO/OBSERVERINFO data (`LearnerInfo` in zookeeper.jute), as a
/// 3.8 learner sends it (`Learner.registerWithLeader`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearnerInfo {
    pub sid: Sid,
    /// [`ZAB_PROTOCOL_VERSION`]; lower puts a Java leader on the pre-1.0 path.
    pub protocol_version: i32,
    /// The learner's quorum config version; a Java leader closes the
    /// connection if it is above its own.
    pub config_version: i64,
}

impl LearnerInfo {
    /// What a 3.8 learner with a static config sends.
    pub fn new(sid: Sid) -> LearnerInfo {
        LearnerInfo {
            sid,
            protocol_version: ZAB_PROTOCOL_VERSION,
            config_version: 0,
        }
    }

    /// The 20-byte data field.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(20);
        b.extend_from_slice(&self.sid.to_be_bytes());
        b.extend_from_slice(&self.protocol_version.to_be_bytes());
        b.extend_from_slice(&self.config_version.to_be_bytes());
        b
    }
}

/// A LearnerInfo as a leader reads it: any length is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedLearnerInfo {
    /// `None` if the data had fewer than 8 bytes. Java then keeps
    /// `LearnerHandler.sid`'s initial 0 for non-null data, or assigns a
    /// negative id from `followerCounter` for null data.
    pub sid: Option<Sid>,
    /// 0x1 (`LearnerHandler.version`'s initial value) below 12 bytes.
    pub protocol_version: i32,
    /// `None` below 20 bytes: the config-version check is skipped.
    pub config_version: Option<i64>,
}

/// Decodes FOLLOWERINFO/OBSERVERINFO data like `LearnerHandler.run`: sid
/// only if ≥ 8 bytes, protocolVersion only if ≥ 12, configVersion only if
/// ≥ 20; never fails.
pub fn decode_learner_info(data: Option<&[u8]>) -> ReceivedLearnerInfo {
    let d = data.unwrap_or_default();
    ReceivedLearnerInfo {
        sid: (d.len() >= 8).then(|| i64_at(d, 0)),
        protocol_version: if d.len() >= 12 { i32_at(d, 8) } else { 0x1 },
        config_version: (d.len() >= 20).then(|| i64_at(d, 12)),
    }
}

/// LEADERINFO data: the leader's protocol version (`LearnerHandler.run`).
pub fn leader_info_data(protocol_version: i32) -> Vec<u8> {
    protocol_version.to_be_bytes().to_vec()
}

/// LEADERINFO data as `Learner.registerWithLeader` reads it (`getInt`).
pub fn decode_leader_info(data: Option<&[u8]>) -> Result<i32, WireError> {
    Ok(i32_at(need("LEADERINFO", data, 4)?, 0))
}

/// The ACKEPOCH epoch that means "newEpoch == my acceptedEpoch".
pub const ACKEPOCH_ALREADY_ACCEPTED: i64 = -1;

/// ACKEPOCH data: the learner's currentEpoch as an int, or -1. Java writes
/// `(int) currentEpoch` (`Learner.registerWithLeader`), so we truncate too.
pub fn ack_epoch_data(current_epoch: i64) -> Vec<u8> {
    (current_epoch as i32).to_be_bytes().to_vec()
}

/// ACKEPOCH data as `LearnerHandler.run` reads it: an int widened to long.
pub fn decode_ack_epoch(data: Option<&[u8]>) -> Result<i64, WireError> {
    Ok(i32_at(need("ACKEPOCH", data, 4)?, 0) as i64)
}

/// PING reply data: `sessionId:long, timeout:int` per touched session
/// (`Learner.ping`). No touches gives an empty buffer, which Java sends.
pub fn encode_touches(touches: &[(i64, i32)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(12 * touches.len());
    for (sid, to) in touches {
        b.extend_from_slice(&sid.to_be_bytes());
        b.extend_from_slice(&to.to_be_bytes());
    }
    b
}

/// PING reply data as `LearnerHandler.run` reads it (`while
/// (dis.available() > 0)` readLong, readInt). Null data is accepted as no
/// touches (Java would NPE; quorum-wire §8.17 asks us to be lenient). A
/// trailing partial record is an error, as Java's EOFException is.
pub fn decode_touches(data: Option<&[u8]>) -> Result<Vec<(i64, i32)>, WireError> {
    let d = data.unwrap_or_default();
    let chunks = d.chunks_exact(12);
    let extra = chunks.remainder().len();
    if extra != 0 {
        return Err(WireError::TrailingBytes {
            what: "PING touches",
            extra,
        });
    }
    Ok(chunks.map(|c| (i64_at(c, 0), i32_at(c, 8))).collect())
}

/// REVALIDATE request data (`Learner.validateSession`).
pub fn revalidate_request_data(session_id: i64, timeout: i32) -> Vec<u8> {
    encode_touches(&[(session_id, timeout)])
}

/// REVALIDATE request as `Leader.revalidateSession` reads it.
pub fn decode_revalidate_request(data: Option<&[u8]>) -> Result<(i64, i32), WireError> {
    let d = need("REVALIDATE request", data, 12)?;
    Ok((i64_at(d, 0), i32_at(d, 8)))
}

/// REVALIDATE reply data: `sessionId:long, valid:boolean` (9 bytes,
/// `Leader.revalidateSession`; the packet keeps zxid -1).
pub fn revalidate_reply_data(session_id: i64, valid: bool) -> Vec<u8> {
    let mut b = session_id.to_be_bytes().to_vec();
    b.push(valid as u8);
    b
}

/// REVALIDATE reply as `Learner.revalidate` reads it (`readBoolean`: any
/// non-zero byte is true).
pub fn decode_revalidate_reply(data: Option<&[u8]>) -> Result<(i64, bool), WireError> {
    let d = need("REVALIDATE reply", data, 9)?;
    Ok((i64_at(d, 0), d.get(8).is_some_and(|&v| v != 0)))
}

/// REQUEST data: a client request forwarded by a learner (`Learner.request`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardedRequest {
    pub session_id: i64,
    pub cxid: i32,
    /// The client op code (`OpCode`), e.g. -10 createSession.
    pub op: i32,
    /// The client's request record exactly as it arrived: `int timeout` for
    /// createSession, empty for closeSession.
    pub body: Vec<u8>,
}

impl ForwardedRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(16 + self.body.len());
        b.extend_from_slice(&self.session_id.to_be_bytes());
        b.extend_from_slice(&self.cxid.to_be_bytes());
        b.extend_from_slice(&self.op.to_be_bytes());
        b.extend_from_slice(&self.body);
        b
    }
}

/// REQUEST data as `LearnerHandler.run` reads it: 16 header bytes, the rest
/// is the body (`bb.slice()`).
pub fn decode_forwarded_request(data: Option<&[u8]>) -> Result<ForwardedRequest, WireError> {
    let d = need("REQUEST", data, 16)?;
    Ok(ForwardedRequest {
        session_id: i64_at(d, 0),
        cxid: i32_at(d, 8),
        op: i32_at(d, 12),
        body: d.get(16..).unwrap_or_default().to_vec(),
    })
}

/// PROPOSAL/INFORM data: `TxnHeader ‖ record ‖ [TxnDigest]`, the bytes
/// `SerializeUtils.serializeRequest` writes, which are the txn log's entry
/// bytes ([`TxnEntry::encode`], also used by `txnlog`). An error txn (type
/// -1) is written without a digest even if `entry` has one: Java never
/// attaches one (the digest is set only at the end of a successful
/// `PrepRequestProcessor.pRequest2Txn`; quorum-wire §1 item 13).
pub fn proposal_data(entry: &TxnEntry) -> Vec<u8> {
    if matches!(entry.txn, Txn::Error(_)) && entry.digest.is_some() {
        let mut e = entry.clone();
        e.digest = None;
        return e.encode();
    }
    entry.encode()
}

/// PROPOSAL/INFORM data as `SerializeUtils.deserializeTxn` reads it:
/// unknown txn types fail, an empty closeSession body and a create cut at
/// parentCVersion are accepted, and the digest is read only if 12 bytes
/// remain (EOF there means "no digest").
pub fn decode_proposal_data(data: Option<&[u8]>) -> Result<TxnEntry, WireError> {
    let d = data.ok_or(WireError::NullData { what: "txn" })?;
    TxnEntry::decode(d).map_err(|e| WireError::Txn(e.to_string()))
}

/// COMMITANDACTIVATE data: the designated leader's sid (`Leader.commitAndActivate`).
pub fn commit_and_activate_data(designated_leader: Sid) -> Vec<u8> {
    designated_leader.to_be_bytes().to_vec()
}

/// COMMITANDACTIVATE data as `Follower.processPacket` reads it (`getLong`).
pub fn decode_commit_and_activate(data: Option<&[u8]>) -> Result<Sid, WireError> {
    Ok(i64_at(need("COMMITANDACTIVATE", data, 8)?, 0))
}

/// INFORMANDACTIVATE data: the designated leader's sid, then the txn bytes
/// (`Leader.informAndActivate`).
pub fn inform_and_activate_data(designated_leader: Sid, entry: &TxnEntry) -> Vec<u8> {
    let mut b = designated_leader.to_be_bytes().to_vec();
    b.extend_from_slice(&proposal_data(entry));
    b
}

/// INFORMANDACTIVATE data as `Observer.processPacket` reads it.
pub fn decode_inform_and_activate(data: Option<&[u8]>) -> Result<(Sid, TxnEntry), WireError> {
    let d = need("INFORMANDACTIVATE", data, 8)?;
    let entry = decode_proposal_data(d.get(8..))?;
    Ok((i64_at(d, 0), entry))
}

/// The config text in NEWLEADER data, if a learner would read one:
/// `Learner.syncWithLeader` parses it only if the data is non-null and
/// longer than 1 byte.
pub fn newleader_config(data: Option<&[u8]>) -> Option<&[u8]> {
    data.filter(|d| d.len() > 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learner_info_short_forms() {
        let full = LearnerInfo::new(8).encode();
        assert_eq!(full.len(), 20);
        let r = decode_learner_info(Some(&full));
        assert_eq!(
            r,
            ReceivedLearnerInfo {
                sid: Some(8),
                protocol_version: 0x10000,
                config_version: Some(0)
            }
        );
        let r = decode_learner_info(Some(&full[..12]));
        assert_eq!(
            (r.sid, r.protocol_version, r.config_version),
            (Some(8), 0x10000, None)
        );
        let r = decode_learner_info(Some(&full[..8]));
        assert_eq!((r.sid, r.protocol_version), (Some(8), 1));
        let r = decode_learner_info(Some(&full[..19]));
        assert_eq!(r.config_version, None);
        assert_eq!(decode_learner_info(Some(&full[..7])).sid, None);
        assert_eq!(decode_learner_info(None).sid, None);
    }

    #[test]
    fn fixed_fields_reject_short_and_null() {
        assert_eq!(
            decode_leader_info(Some(&[0, 1, 0])),
            Err(WireError::ShortData {
                what: "LEADERINFO",
                len: 3,
                needed: 4
            })
        );
        assert_eq!(
            decode_ack_epoch(None),
            Err(WireError::NullData { what: "ACKEPOCH" })
        );
        assert_eq!(decode_ack_epoch(Some(&ack_epoch_data(-1))), Ok(-1));
        assert_eq!(decode_ack_epoch(Some(&[0, 0, 0, 7, 9])), Ok(7));
        assert!(decode_revalidate_request(Some(&[0; 11])).is_err());
        assert!(decode_revalidate_reply(Some(&[0; 8])).is_err());
        assert_eq!(
            decode_revalidate_reply(Some(&revalidate_reply_data(5, false))),
            Ok((5, false))
        );
        assert_eq!(
            decode_revalidate_reply(Some(&[0, 0, 0, 0, 0, 0, 0, 5, 7])),
            Ok((5, true))
        );
        assert!(decode_forwarded_request(Some(&[0; 15])).is_err());
        assert!(decode_commit_and_activate(Some(&[0; 7])).is_err());
        assert!(decode_inform_and_activate(Some(&[0; 8])).is_err());
        assert!(decode_proposal_data(None).is_err());
        assert_eq!(newleader_config(Some(b"x")), None);
        assert_eq!(newleader_config(None), None);
        assert_eq!(newleader_config(Some(b"xy")), Some(&b"xy"[..]));
    }

    #[test]
    fn touches() {
        assert_eq!(decode_touches(None), Ok(vec![]));
        assert_eq!(decode_touches(Some(&[])), Ok(vec![]));
        let t = [(1, 2), (-3, 30000)];
        assert_eq!(decode_touches(Some(&encode_touches(&t))), Ok(t.to_vec()));
        let mut b = encode_touches(&t);
        b.pop();
        assert_eq!(
            decode_touches(Some(&b)),
            Err(WireError::TrailingBytes {
                what: "PING touches",
                extra: 11
            })
        );
    }
}
