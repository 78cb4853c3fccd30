//! Election notifications and their frames on the election port.
//!
//! Layout (`FastLeaderElection.buildMsg`, 3.8): `state:int, leader:long,
//! zxid:long, electionEpoch:long, peerEpoch:long, version:int = 2,
//! configLength:int, config bytes`. Older peers send shorter payloads, and
//! `FastLeaderElection.WorkerReceiver.run` decides what a payload holds by its
//! length alone; [`decode_notification`] follows those rules exactly.

use super::WireError;
use crate::quorum::types::{epoch_of, Notification, PeerState, Vote, NOTIFICATION_VERSION};

/// Largest election frame payload (`QuorumCnxManager.PACKETMAXSIZE`, 512 KiB).
/// `RecvWorker.run` throws on a length of 0 or above this and both workers
/// for that peer die, so a sender must never exceed it either.
pub const MAX_ELECTION_FRAME: usize = 1024 * 512;

/// The fixed part of a version-2 notification, before the config text.
pub const NOTIFICATION_HEADER_LEN: usize = 44;

/// Checks a received frame length the way `QuorumCnxManager.RecvWorker.run`
/// does (`length <= 0 || length > PACKETMAXSIZE` is fatal to the connection).
pub fn check_election_frame_len(len: i32) -> Result<usize, WireError> {
    if len <= 0 || len as usize > MAX_ELECTION_FRAME {
        return Err(WireError::ElectionFrameLength(len as i64));
    }
    Ok(len as usize)
}

/// Splits one frame off the front of `buf`: `Ok(Some((payload, consumed)))`,
/// or `Ok(None)` if the frame is not complete yet. The length is checked
/// before waiting for the payload, so a hostile length fails at once.
pub fn split_election_frame(buf: &[u8]) -> Result<Option<(&[u8], usize)>, WireError> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let len = check_election_frame_len(i32::from_be_bytes([head[0], head[1], head[2], head[3]]))?;
    Ok(buf.get(4..4 + len).map(|p| (p, 4 + len)))
}

/// Encodes a notification payload as 3.8 sends it: the 44-byte header with
/// version [`NOTIFICATION_VERSION`], then the config text. `n.version` is
/// ignored: it records what a *received* frame held, while 3.8 always sends
/// `Notification.CURRENTVERSION` (`buildMsg`). The payload goes into a frame
/// without its 4-byte length; see [`encode_election_frame`].
pub fn encode_notification(n: &Notification) -> Vec<u8> {
    let mut b = Vec::with_capacity(NOTIFICATION_HEADER_LEN + n.config.len());
    b.extend_from_slice(&n.state.wire().to_be_bytes());
    b.extend_from_slice(&n.vote.leader.to_be_bytes());
    b.extend_from_slice(&n.vote.zxid.to_be_bytes());
    b.extend_from_slice(&n.vote.election_epoch.to_be_bytes());
    b.extend_from_slice(&n.vote.peer_epoch.to_be_bytes());
    b.extend_from_slice(&NOTIFICATION_VERSION.to_be_bytes());
    b.extend_from_slice(&(n.config.len() as i32).to_be_bytes());
    b.extend_from_slice(&n.config);
    b
}

/// A whole election frame: 4-byte length, then [`encode_notification`].
/// Fails if the config is so large the frame would exceed
/// [`MAX_ELECTION_FRAME`], which the Java receiver treats as fatal.
pub fn encode_election_frame(n: &Notification) -> Result<Vec<u8>, WireError> {
    let payload = encode_notification(n);
    if payload.len() > MAX_ELECTION_FRAME {
        return Err(WireError::ElectionFrameLength(payload.len() as i64));
    }
    let mut b = Vec::with_capacity(4 + payload.len());
    b.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    b.extend_from_slice(&payload);
    Ok(b)
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    let s = b.get(at..at + 4)?;
    Some(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(i64::from_be_bytes(a))
}

/// Decodes a notification payload (the frame without its length) by the
/// receiver's rules in `FastLeaderElection.WorkerReceiver.run`:
///
/// - fewer than 28 bytes: dropped ("Got a short response");
/// - exactly 28 bytes (before ZOOKEEPER-107): no peerEpoch, which is taken
///   from the epoch half of the zxid; version 0;
/// - exactly 40 bytes (before 3.4.6): peerEpoch but no version field; the
///   last 4 bytes are not read; version 0;
/// - otherwise peerEpoch and version are read (29..=39 bytes underflow and
///   are dropped), and if version > 1 a config length follows, which must
///   be within `0..=remaining` (Java checks `0..=capacity`, then underflows
///   past the end; both drop the message). Bytes after the config are
///   ignored, as the Java buffer reads ignore them;
/// - a state outside 0..=3 is rejected last, as Java checks it after
///   parsing. (Java skips such a message from a voter but still answers a
///   non-voter with its current vote; the caller knows the sender's sid and
///   can do the same on [`WireError::UnknownState`].)
///
/// The config text is returned raw; [`super::parse_config_text`] checks it.
pub fn decode_notification(p: &[u8]) -> Result<Notification, WireError> {
    let len = p.len();
    if len < 28 {
        return Err(WireError::ShortNotification(len));
    }
    let partial = |needed| WireError::PartialNotification { len, needed };
    let state = be_i32(p, 0).ok_or(partial(4))?;
    let leader = be_i64(p, 4).ok_or(partial(12))?;
    let zxid = be_i64(p, 12).ok_or(partial(20))?;
    let election_epoch = be_i64(p, 20).ok_or(partial(28))?;
    let mut version = 0;
    let mut config = Vec::new();
    let peer_epoch = if len == 28 {
        epoch_of(zxid)
    } else {
        let pe = be_i64(p, 28).ok_or(partial(36))?;
        if len != 40 {
            version = be_i32(p, 36).ok_or(partial(40))?;
            if version > 1 {
                let config_len = be_i32(p, 40).ok_or(partial(44))?;
                let remaining = len - NOTIFICATION_HEADER_LEN;
                if config_len < 0 || config_len as usize > remaining {
                    return Err(WireError::NotificationConfigLength {
                        config_len,
                        remaining,
                    });
                }
                let end = NOTIFICATION_HEADER_LEN + config_len as usize;
                config = p
                    .get(NOTIFICATION_HEADER_LEN..end)
                    .unwrap_or_default()
                    .to_vec();
            }
        }
        pe
    };
    let state = PeerState::from_wire(state).ok_or(WireError::UnknownState(state))?;
    Ok(Notification {
        state,
        vote: Vote {
            leader,
            zxid,
            election_epoch,
            peer_epoch,
        },
        version,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::types::make_zxid;

    pub(crate) const CONFIG_132: &[u8] = b"server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant\nserver.3=127.0.0.1:2890:3890:participant\nversion=0";

    fn hex(s: &str) -> Vec<u8> {
        crate::quorum::wire::capture_tests::hex(s)
    }

    fn with_config(head: &str) -> Vec<u8> {
        let mut b = hex(head);
        b.extend_from_slice(CONFIG_132);
        b
    }

    /// quorum-wire §2.2: sid 3's first-round LOOKING notification.
    #[test]
    fn captured_looking_from_sid3() {
        let frame = with_config(
            "000000b0 00000000 0000000000000003 0000000000000000 0000000000000001
             0000000000000000 00000002 00000084",
        );
        assert_eq!(CONFIG_132.len(), 132);
        let (payload, used) = split_election_frame(&frame).unwrap().unwrap();
        assert_eq!(used, 180);
        let n = decode_notification(payload).unwrap();
        assert_eq!(n.state, PeerState::Looking);
        assert_eq!(
            n.vote,
            Vote {
                leader: 3,
                zxid: 0,
                election_epoch: 1,
                peer_epoch: 0
            }
        );
        assert_eq!(n.version, 2);
        assert_eq!(n.config, CONFIG_132);
        assert_eq!(encode_notification(&n), payload);
        assert_eq!(encode_election_frame(&n).unwrap(), frame);
    }

    /// quorum-wire §2.2: the leader's LEADING reply after epoch 2.
    #[test]
    fn captured_leading_reply() {
        let frame = with_config(
            "000000b0 00000002 0000000000000002 0000000100000009 0000000000000002
             0000000000000002 00000002 00000084",
        );
        let (payload, _) = split_election_frame(&frame).unwrap().unwrap();
        let n = decode_notification(payload).unwrap();
        assert_eq!(n.state, PeerState::Leading);
        assert_eq!(n.vote.leader, 2);
        assert_eq!(n.vote.zxid, make_zxid(1, 9));
        assert_eq!((n.vote.election_epoch, n.vote.peer_epoch), (2, 2));
        assert_eq!(encode_election_frame(&n).unwrap(), frame);
    }

    #[test]
    fn legacy_lengths() {
        let mut p = hex("00000001 0000000000000005 0000000300000007 0000000000000004");
        let n = decode_notification(&p).unwrap();
        assert_eq!(n.vote.peer_epoch, 3, "28 bytes: peerEpoch from the zxid");
        assert_eq!((n.version, n.config.len()), (0, 0));
        assert_eq!(n.state, PeerState::Following);

        p.extend_from_slice(&hex("0000000000000009"));
        assert_eq!(p.len(), 36);
        for cut in 29..36 {
            assert!(matches!(
                decode_notification(&p[..cut]),
                Err(WireError::PartialNotification { needed: 36, .. })
            ));
        }
        assert!(matches!(
            decode_notification(&p),
            Err(WireError::PartialNotification { needed: 40, .. })
        ));
        p.extend_from_slice(&hex("00000002")); // 40 bytes: not read as a version
        let n = decode_notification(&p).unwrap();
        assert_eq!((n.vote.peer_epoch, n.version), (9, 0));

        // 41..43 bytes with version 2: the config length underflows.
        let mut q = p.clone();
        q.push(0);
        assert_eq!(
            decode_notification(&q),
            Err(WireError::PartialNotification {
                len: 41,
                needed: 44
            })
        );
        // Version 1 with extra bytes: no config read.
        q[39] = 1;
        assert_eq!(decode_notification(&q).unwrap().version, 1);
    }

    #[test]
    fn rejections() {
        assert_eq!(
            decode_notification(&[0; 27]),
            Err(WireError::ShortNotification(27))
        );
        let n = Notification {
            state: PeerState::Looking,
            vote: Vote {
                leader: 1,
                zxid: 2,
                election_epoch: 3,
                peer_epoch: 4,
            },
            version: 2,
            config: b"version=0".to_vec(),
        };
        let mut p = encode_notification(&n);
        p[3] = 4;
        assert_eq!(decode_notification(&p), Err(WireError::UnknownState(4)));
        p[3] = 0;
        p[40..44].copy_from_slice(&10i32.to_be_bytes());
        assert!(matches!(
            decode_notification(&p),
            Err(WireError::NotificationConfigLength { config_len: 10, .. })
        ));
        p[40..44].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(decode_notification(&p).is_err());
        // Trailing bytes after the config are ignored.
        p[40..44].copy_from_slice(&5i32.to_be_bytes());
        assert_eq!(decode_notification(&p).unwrap().config, b"versi");
    }

    #[test]
    fn frame_limits() {
        assert!(check_election_frame_len(0).is_err());
        assert!(check_election_frame_len(-1).is_err());
        assert_eq!(check_election_frame_len(524288), Ok(524288));
        assert!(check_election_frame_len(524289).is_err());
        assert_eq!(split_election_frame(&[0, 0, 0]), Ok(None));
        assert_eq!(split_election_frame(&[0, 0, 0, 2, 9]), Ok(None));
        assert_eq!(
            split_election_frame(&[0, 0, 0, 1, 9, 8]),
            Ok(Some((&[9u8][..], 5)))
        );
        assert!(split_election_frame(&[0x7f, 0, 0, 0]).is_err());
        let huge = Notification {
            state: PeerState::Looking,
            vote: Vote {
                leader: 1,
                zxid: 0,
                election_epoch: 1,
                peer_epoch: 0,
            },
            version: 2,
            config: vec![b'x'; MAX_ELECTION_FRAME],
        };
        assert!(encode_election_frame(&huge).is_err());
    }
}
