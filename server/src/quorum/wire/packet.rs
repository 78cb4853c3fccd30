//! `QuorumPacket` records on the quorum port.
//!
//! The port carries a bare stream of jute records
//! (`QuorumPacket{int type; long zxid; buffer data; vector<Id> authinfo}`)
//! with no length prefix (`Learner.writePacket`, `LearnerHandler.sendPackets`
//! write `oa.writeRecord(pp, "packet")`). So the reader cannot skip a packet
//! it does not like: any malformed length loses the stream, and Java closes
//! the connection on the `IOException` from `BinaryInputArchive`. The one
//! irregular thing on the stream is SNAP, whose packet is followed inline by
//! the snapshot body; the caller hands those bytes to the snapshot reader.

use zkproto::jute::Writer;
use zkproto::records::Id;

use super::WireError;
use crate::quorum::types::QuorumPacket;

/// The smallest packet: type, zxid, null data, null authinfo.
pub const MIN_PACKET_LEN: usize = 20;

/// Smallest encoded `Id` (two empty ustrings): bounds a credible authinfo
/// count without trusting it.
const MIN_ID_LEN: usize = 8;

/// Encodes one packet exactly as `BinaryOutputArchive` writes it: `None`
/// data or authinfo is the -1 null marker, distinct from empty.
pub fn encode_packet(p: &QuorumPacket) -> Vec<u8> {
    let mut w = Writer::with_capacity(MIN_PACKET_LEN + p.data.as_ref().map_or(0, Vec::len));
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

/// Why decoding stopped: more input needed, or the input is bad.
enum Stop {
    More,
    Bad(WireError),
}

impl From<WireError> for Stop {
    fn from(e: WireError) -> Stop {
        Stop::Bad(e)
    }
}

struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
    max_field: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        let end = self.pos.checked_add(n).ok_or(Stop::More)?;
        let s = self.b.get(self.pos..end).ok_or(Stop::More)?;
        self.pos = end;
        Ok(s)
    }

    fn i32(&mut self) -> Result<i32, Stop> {
        let s = self.take(4)?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn i64(&mut self) -> Result<i64, Stop> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(i64::from_be_bytes(a))
    }

    /// A length prefix checked like `BinaryInputArchive.checkLength`
    /// (`len < 0 || len > maxBuffer + extraMaxBuffer`), -1 meaning null.
    fn len(&mut self, field: &'static str) -> Result<Option<usize>, Stop> {
        let n = self.i32()?;
        if n == -1 {
            return Ok(None);
        }
        if n < 0 {
            return Err(WireError::NegativeLength { field, len: n }.into());
        }
        let n = n as usize;
        if n > self.max_field {
            return Err(WireError::LengthOverLimit {
                field,
                len: n,
                max: self.max_field,
            }
            .into());
        }
        Ok(Some(n))
    }

    /// A jute `buffer`; the bytes are copied only once they are all present.
    fn buffer(&mut self, field: &'static str) -> Result<Option<Vec<u8>>, Stop> {
        match self.len(field)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?.to_vec())),
        }
    }

    /// A jute `ustring` that must be present and valid UTF-8.
    fn string(&mut self, field: &'static str) -> Result<String, Stop> {
        let n = self.len(field)?.ok_or(WireError::NullString { field })?;
        let b = self.take(n)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(WireError::BadUtf8 { field }.into()),
        }
    }

    /// `vector<Id>`: -1 is null. Java's `BinaryIndex` would treat other
    /// negative counts as empty and impose no upper bound; we reject both, a
    /// count that could not fit in a stream of `max_field`-bounded records
    /// being a sure sign of a corrupt stream.
    fn authinfo(&mut self) -> Result<Option<Vec<Id>>, Stop> {
        let field = "authinfo count";
        let n = self.i32()?;
        if n == -1 {
            return Ok(None);
        }
        if n < 0 {
            return Err(WireError::NegativeLength { field, len: n }.into());
        }
        let n = n as usize;
        if n > self.max_field / MIN_ID_LEN {
            return Err(WireError::AbsurdCount { field, count: n }.into());
        }
        let room = self.b.len().saturating_sub(self.pos) / MIN_ID_LEN;
        let mut ids = Vec::with_capacity(n.min(room));
        for _ in 0..n {
            let scheme = self.string("authinfo scheme")?;
            let id = self.string("authinfo id")?;
            ids.push(Id { scheme, id });
        }
        Ok(Some(ids))
    }
}

/// Decodes the packet at the start of `buf`.
///
/// Returns `Ok(Some((packet, consumed)))`, `Ok(None)` if `buf` holds only a
/// prefix of a valid packet (read more and call again with the same start),
/// or `Err` if no continuation could make it valid. `max_field` is the
/// per-buffer/string limit (`zkproto::jute::DEFAULT_MAX_FIELD` mirrors
/// Java's default jute.maxbuffer + extrasize). Length checks happen as soon
/// as a length is read, so a hostile length fails without waiting for, or
/// allocating, the bytes it claims. The packet type is not checked: Java's
/// reader accepts any, and the handlers decide (`LearnerHandler.run` logs
/// "unexpected quorum packet", a learner ignores or fails per state).
pub fn decode_packet(
    buf: &[u8],
    max_field: usize,
) -> Result<Option<(QuorumPacket, usize)>, WireError> {
    let mut c = Cur {
        b: buf,
        pos: 0,
        max_field,
    };
    let step = |c: &mut Cur<'_>| -> Result<QuorumPacket, Stop> {
        let kind = c.i32()?;
        let zxid = c.i64()?;
        let data = c.buffer("data")?;
        let auth = c.authinfo()?;
        Ok(QuorumPacket {
            kind,
            zxid,
            data,
            auth,
        })
    };
    match step(&mut c) {
        Ok(p) => Ok(Some((p, c.pos))),
        Err(Stop::More) => Ok(None),
        Err(Stop::Bad(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::types::packet as pt;
    use crate::quorum::wire::capture_tests::hex;
    use zkproto::jute::DEFAULT_MAX_FIELD;

    fn round_trip(h: &str) -> QuorumPacket {
        let b = hex(h);
        let (p, n) = decode_packet(&b, DEFAULT_MAX_FIELD).unwrap().unwrap();
        assert_eq!(n, b.len(), "{h}");
        assert_eq!(encode_packet(&p), b, "{h}");
        // Every proper prefix asks for more bytes.
        for cut in 0..b.len() {
            assert_eq!(decode_packet(&b[..cut], DEFAULT_MAX_FIELD), Ok(None));
        }
        p
    }

    #[test]
    fn minimal_packets_and_null_vs_empty() {
        let p = round_trip("0000000c ffffffffffffffff ffffffff ffffffff");
        assert_eq!(p, QuorumPacket::bare(pt::UPTODATE, -1));
        let p = round_trip("00000005 0000000100000009 00000000 ffffffff");
        assert_eq!(p.data, Some(vec![]));
        let p = round_trip("00000005 0000000100000009 00000000 00000000");
        assert_eq!(p.auth, Some(vec![]));
    }

    #[test]
    fn stream_of_two() {
        let mut b = hex("00000004 0000000100000002 ffffffff ffffffff");
        b.extend(hex("00000003 0000000100000002 ffffffff ffffffff 00"));
        let (p1, n1) = decode_packet(&b, DEFAULT_MAX_FIELD).unwrap().unwrap();
        let (p2, n2) = decode_packet(&b[n1..], DEFAULT_MAX_FIELD).unwrap().unwrap();
        assert_eq!((p1.kind, p2.kind, n1 + n2), (pt::COMMIT, pt::ACK, 40));
    }

    #[test]
    fn bad_lengths() {
        let lim = 1000;
        let e = decode_packet(&hex("00000001 0000000000000000 fffffffe"), lim);
        assert_eq!(
            e,
            Err(WireError::NegativeLength {
                field: "data",
                len: -2
            })
        );
        let e = decode_packet(&hex("00000001 0000000000000000 000003e9"), lim);
        assert!(matches!(
            e,
            Err(WireError::LengthOverLimit { len: 1001, .. })
        ));
        assert!(decode_packet(
            &hex("00000001 0000000000000000 7fffffff"),
            DEFAULT_MAX_FIELD
        )
        .is_err());
        let e = decode_packet(&hex("00000001 0000000000000000 ffffffff 80000000"), lim);
        assert!(matches!(e, Err(WireError::NegativeLength { .. })));
        let e = decode_packet(&hex("00000001 0000000000000000 ffffffff 00000080"), lim);
        assert!(matches!(e, Err(WireError::AbsurdCount { count: 128, .. })));
        // A credible count waits for its Ids.
        let e = decode_packet(&hex("00000001 0000000000000000 ffffffff 0000007d"), lim);
        assert_eq!(e, Ok(None));
        let e = decode_packet(
            &hex("00000001 0000000000000000 ffffffff 00000001 00000002 c328"),
            lim,
        );
        assert!(matches!(e, Err(WireError::BadUtf8 { .. })));
        let e = decode_packet(
            &hex("00000001 0000000000000000 ffffffff 00000001 ffffffff"),
            lim,
        );
        assert!(matches!(e, Err(WireError::NullString { .. })));
        let e = decode_packet(
            &hex("00000001 0000000000000000 ffffffff 00000001 00000000 fffffff0"),
            lim,
        );
        assert!(matches!(e, Err(WireError::NegativeLength { .. })));
    }
}
