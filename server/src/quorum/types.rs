//! The quorum's shared vocabulary, as ZooKeeper 3.8 names it.
//!
//! Field types follow the wire (Java longs and ints), so a value read from a
//! Java peer round-trips unchanged: a sid is an `i64` because Java's is a
//! `long` and a non-voter votes `Long.MIN_VALUE`.

use zkproto::records::Id;

/// A server id (`myid`, the `N` of `server.N`).
pub type Sid = i64;

/// A transaction id: `epoch << 32 | counter`.
pub type Zxid = i64;

/// The epoch half of a zxid.
pub fn epoch_of(zxid: Zxid) -> i64 {
    zxid >> 32
}

/// The counter half of a zxid.
pub fn counter_of(zxid: Zxid) -> i64 {
    zxid & 0xffff_ffff
}

/// Builds a zxid from its halves.
pub fn make_zxid(epoch: i64, counter: i64) -> Zxid {
    (epoch << 32) | (counter & 0xffff_ffff)
}

/// A quorum member's state in election notifications (`QuorumPeer.ServerState`,
/// wire values of `FastLeaderElection.buildMsg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
    Observing,
}

impl PeerState {
    pub fn wire(self) -> i32 {
        match self {
            PeerState::Looking => 0,
            PeerState::Following => 1,
            PeerState::Leading => 2,
            PeerState::Observing => 3,
        }
    }

    /// `None` for a value Java would drop.
    pub fn from_wire(v: i32) -> Option<PeerState> {
        Some(match v {
            0 => PeerState::Looking,
            1 => PeerState::Following,
            2 => PeerState::Leading,
            3 => PeerState::Observing,
            _ => return None,
        })
    }

    /// The lower-case name 3.8 prints in `zk_peer_state` and logs.
    pub fn name(self) -> &'static str {
        match self {
            PeerState::Looking => "looking",
            PeerState::Following => "following",
            PeerState::Leading => "leading",
            PeerState::Observing => "observing",
        }
    }
}

/// Whether a member votes (`LearnerType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LearnerType {
    Participant,
    Observer,
}

/// A vote: who should lead, and why (`Vote`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Vote {
    /// The proposed leader's sid.
    pub leader: Sid,
    /// The proposed leader's last logged zxid.
    pub zxid: Zxid,
    /// The logical clock of the election round the vote belongs to.
    pub election_epoch: i64,
    /// The proposed leader's currentEpoch.
    pub peer_epoch: i64,
}

/// The election config version a static (non-reconfig) ensemble carries.
pub const STATIC_CONFIG_VERSION: i64 = 0;

/// The notification version 3.8 sends (`FastLeaderElection.Notification.CURRENTVERSION`).
pub const NOTIFICATION_VERSION: i32 = 2;

/// One election notification as it travels between members
/// (`FastLeaderElection.ToSend` / `Notification`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The sender's state.
    pub state: PeerState,
    /// The sender's vote.
    pub vote: Vote,
    /// Layout version: 2 on 3.8; older peers send shorter frames.
    pub version: i32,
    /// The sender's view of the ensemble: `QuorumMaj.toString()` text (UTF-8),
    /// empty when the frame had none.
    pub config: Vec<u8>,
}

/// Quorum packet types (`Leader.java` constants).
pub mod packet {
    pub const REQUEST: i32 = 1;
    pub const PROPOSAL: i32 = 2;
    pub const ACK: i32 = 3;
    pub const COMMIT: i32 = 4;
    pub const PING: i32 = 5;
    pub const REVALIDATE: i32 = 6;
    pub const SYNC: i32 = 7;
    pub const INFORM: i32 = 8;
    pub const COMMITANDACTIVATE: i32 = 9;
    pub const NEWLEADER: i32 = 10;
    pub const FOLLOWERINFO: i32 = 11;
    pub const UPTODATE: i32 = 12;
    pub const DIFF: i32 = 13;
    pub const TRUNC: i32 = 14;
    pub const SNAP: i32 = 15;
    pub const OBSERVERINFO: i32 = 16;
    pub const LEADERINFO: i32 = 17;
    pub const ACKEPOCH: i32 = 18;
    pub const INFORMANDACTIVATE: i32 = 19;

    /// The name ZooKeeper's logs use for a packet type.
    pub fn name(t: i32) -> &'static str {
        match t {
            REQUEST => "REQUEST",
            PROPOSAL => "PROPOSAL",
            ACK => "ACK",
            COMMIT => "COMMIT",
            PING => "PING",
            REVALIDATE => "REVALIDATE",
            SYNC => "SYNC",
            INFORM => "INFORM",
            COMMITANDACTIVATE => "COMMITANDACTIVATE",
            NEWLEADER => "NEWLEADER",
            FOLLOWERINFO => "FOLLOWERINFO",
            UPTODATE => "UPTODATE",
            DIFF => "DIFF",
            TRUNC => "TRUNC",
            SNAP => "SNAP",
            OBSERVERINFO => "OBSERVERINFO",
            LEADERINFO => "LEADERINFO",
            ACKEPOCH => "ACKEPOCH",
            INFORMANDACTIVATE => "INFORMANDACTIVATE",
            _ => "UNKNOWN",
        }
    }
}

/// The Zab protocol version 3.8 announces in LEADERINFO and LearnerInfo.
pub const ZAB_PROTOCOL_VERSION: i32 = 0x10000;

/// One packet on the quorum port (`QuorumPacket` in zookeeper.jute).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumPacket {
    pub kind: i32,
    pub zxid: Zxid,
    /// `None` is jute's null buffer (length -1), distinct from an empty one.
    pub data: Option<Vec<u8>>,
    /// `None` is jute's null vector (count -1).
    pub auth: Option<Vec<Id>>,
}

impl QuorumPacket {
    /// A packet with no data and no authinfo.
    pub fn bare(kind: i32, zxid: Zxid) -> QuorumPacket {
        QuorumPacket {
            kind,
            zxid,
            data: None,
            auth: None,
        }
    }

    /// A packet carrying `data` and no authinfo.
    pub fn with_data(kind: i32, zxid: Zxid, data: Vec<u8>) -> QuorumPacket {
        QuorumPacket {
            kind,
            zxid,
            data: Some(data),
            auth: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_halves() {
        let z = make_zxid(2, 8);
        assert_eq!(z, 0x2_0000_0008);
        assert_eq!(epoch_of(z), 2);
        assert_eq!(counter_of(z), 8);
        assert_eq!(counter_of(make_zxid(1, 0xffff_ffff)), 0xffff_ffff);
    }

    #[test]
    fn states_round_trip() {
        for s in [
            PeerState::Looking,
            PeerState::Following,
            PeerState::Leading,
            PeerState::Observing,
        ] {
            assert_eq!(PeerState::from_wire(s.wire()), Some(s));
        }
        assert_eq!(PeerState::from_wire(4), None);
    }
}
