//! Byte-exact codecs for Apache ZooKeeper 3.8's election and quorum ports.
//!
//! Pure functions only: no sockets, no async, no clocks. Transports feed them
//! bytes and write what they return. Everything a peer sends is untrusted:
//! decoders never panic and never allocate by a length read from the wire
//! before checking it against the bytes present and the configured limit.
//!
//! - [`notification`]: the election frame payload (`FastLeaderElection`),
//!   plus the frame-length rule of `QuorumCnxManager.RecvWorker`.
//! - [`config_text`]: the `QuorumMaj.toString()` text carried in
//!   notifications and NEWLEADER, and a validating parser for a peer's text.
//! - [`packet`]: jute `QuorumPacket` records on the quorum port (a bare
//!   stream, no length prefix), with an incremental decoder.
//! - [`payload`]: the `data` field of each packet type (LearnerInfo, epochs,
//!   PING touches, REVALIDATE, REQUEST, txn bytes, ...).

pub mod config_text;
pub mod notification;
pub mod packet;
pub mod payload;

#[cfg(test)]
mod capture_tests;

/// `QuorumAuth.QUORUM_AUTH_MAGIC_NUMBER` (-0xa0dbcafecafe1234L, as Java
/// reads that literal), the first field of a `QuorumAuthPacket`.
pub const QUORUM_AUTH_MAGIC: [u8; 8] = [0x5f, 0x24, 0x35, 0x01, 0x35, 0x01, 0xed, 0xcc];

/// What a 3.8 member sends first when it is configured for something this
/// server does not speak, recognised from the first bytes of a connection
/// or of a frame, so that the log says why instead of "malformed packet":
/// a `QuorumAuthPacket` (quorum SASL with `quorum.auth.learnerRequireSasl`
/// on the dialling member; with SASL optional a Java member sends nothing)
/// or a TLS ClientHello (`sslQuorum=true`). `None` when `first` is neither
/// or too short to tell.
pub fn foreign_handshake(first: &[u8]) -> Option<&'static str> {
    if first.len() >= 8 && first[..8] == QUORUM_AUTH_MAGIC {
        return Some(
            "it sent a quorum SASL authentication packet (quorum.auth.learnerRequireSasl=true \
             on that member): quorum SASL is not supported",
        );
    }
    if first.len() >= 3 && first[0] == 0x16 && first[1] == 0x03 && first[2] <= 0x04 {
        return Some(
            "it opened a TLS handshake (sslQuorum=true on that member): quorum TLS is not \
             supported",
        );
    }
    None
}

#[cfg(test)]
mod foreign_tests {
    use super::*;

    #[test]
    fn sasl_and_tls_openings_are_named() {
        let mut auth = QUORUM_AUTH_MAGIC.to_vec();
        auth.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(foreign_handshake(&auth).unwrap().contains("SASL"));
        let hello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];
        assert!(foreign_handshake(&hello).unwrap().contains("TLS"));
        // A V1 initial message and a FOLLOWERINFO are neither.
        assert!(foreign_handshake(&[0xff, 0xff, 0, 0, 0, 0, 0, 0]).is_none());
        assert!(foreign_handshake(&[0, 0, 0, 11, 0, 0, 0, 0]).is_none());
        assert!(foreign_handshake(&[0x5f, 0x24]).is_none());
    }
}

use std::fmt;

pub use config_text::{config_text, java_member_order, parse_config_text, ParsedConfig};
pub use notification::{
    check_election_frame_len, decode_notification, encode_election_frame, encode_notification,
    split_election_frame, MAX_ELECTION_FRAME,
};
pub use packet::{decode_packet, encode_packet, MIN_PACKET_LEN};

/// Why bytes from a peer were rejected. Each variant names what was wrong so
/// a transport can log it and drop the message or the connection the way the
/// Java peer would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// An election frame length outside `1..=MAX_ELECTION_FRAME`
    /// (`QuorumCnxManager.RecvWorker` throws and both workers die).
    ElectionFrameLength(i64),
    /// A notification shorter than 28 bytes (`WorkerReceiver` drops it).
    ShortNotification(usize),
    /// A notification whose length lets Java read past its end
    /// (BufferUnderflowException: dropped).
    PartialNotification { len: usize, needed: usize },
    /// A notification config length that is negative or larger than the
    /// bytes that follow it ("Invalid configLength": dropped).
    NotificationConfigLength { config_len: i32, remaining: usize },
    /// A state value other than 0..=3 (`WorkerReceiver` skips it for voters).
    UnknownState(i32),
    /// A jute length or count that is negative but not the -1 null marker.
    NegativeLength { field: &'static str, len: i32 },
    /// A jute length over the limit (`BinaryInputArchive.checkLength`:
    /// jute.maxbuffer + extrasize).
    LengthOverLimit {
        field: &'static str,
        len: usize,
        max: usize,
    },
    /// A vector count no stream within the limits could hold.
    AbsurdCount { field: &'static str, count: usize },
    /// A string that is not UTF-8 (Java would substitute U+FFFD; we reject
    /// because the substitute could not be re-encoded to the same bytes).
    BadUtf8 { field: &'static str },
    /// A null (-1) string where a value is required.
    NullString { field: &'static str },
    /// A packet's data was null where the receiver dereferences it (Java
    /// throws NullPointerException and drops the connection).
    NullData { what: &'static str },
    /// A fixed-layout data field shorter than the receiver reads.
    ShortData {
        what: &'static str,
        len: usize,
        needed: usize,
    },
    /// A data field with bytes left over where the receiver loops over
    /// whole records (e.g. PING touches: `DataInputStream` hits EOF).
    TrailingBytes { what: &'static str, extra: usize },
    /// Txn bytes that `SerializeUtils.deserializeTxn` would reject.
    Txn(String),
    /// Election config text Java would not accept; see [`config_text`].
    Config(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::ElectionFrameLength(n) => {
                write!(
                    f,
                    "election frame length {n} outside 1..={MAX_ELECTION_FRAME}"
                )
            }
            WireError::ShortNotification(n) => {
                write!(f, "notification of {n} bytes is shorter than 28")
            }
            WireError::PartialNotification { len, needed } => {
                write!(
                    f,
                    "notification of {len} bytes ends early: fields need {needed}"
                )
            }
            WireError::NotificationConfigLength {
                config_len,
                remaining,
            } => write!(
                f,
                "notification config length {config_len} but {remaining} bytes follow"
            ),
            WireError::UnknownState(s) => write!(f, "unknown peer state {s} in notification"),
            WireError::NegativeLength { field, len } => {
                write!(f, "{field}: negative length {len}")
            }
            WireError::LengthOverLimit { field, len, max } => {
                write!(f, "{field}: length {len} exceeds the limit {max}")
            }
            WireError::AbsurdCount { field, count } => {
                write!(f, "{field}: count {count} is impossible within the limits")
            }
            WireError::BadUtf8 { field } => write!(f, "{field}: string is not valid UTF-8"),
            WireError::NullString { field } => write!(f, "{field}: null string"),
            WireError::NullData { what } => write!(f, "{what}: data is null"),
            WireError::ShortData { what, len, needed } => {
                write!(f, "{what}: data has {len} bytes, needs {needed}")
            }
            WireError::TrailingBytes { what, extra } => {
                write!(
                    f,
                    "{what}: {extra} bytes left over after the last whole record"
                )
            }
            WireError::Txn(e) => write!(f, "txn bytes: {e}"),
            WireError::Config(e) => write!(f, "election config text: {e}"),
        }
    }
}

impl std::error::Error for WireError {}
