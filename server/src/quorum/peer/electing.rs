//! Election driver (stub while the FLE core lands).
use tokio::sync::mpsc;

use super::Ctx;
use crate::quorum::peer_config::QuorumConfig;
use crate::quorum::types::{PeerState, Sid};

pub struct Electing {}

pub(crate) struct Decision {
    pub state: PeerState,
    pub leader: Sid,
}

impl Electing {
    pub fn start(
        _q: &QuorumConfig,
        _l: tokio::net::TcpListener,
    ) -> (Electing, mpsc::Receiver<(Sid, Vec<u8>)>) {
        let (_tx, rx) = mpsc::channel(1);
        (Electing {}, rx)
    }
    pub fn receive(&mut self, _from: Sid, _b: &[u8]) {}
    pub fn tick(&mut self) {}
    pub fn update_peer_epoch(&mut self, _e: i64) {}
    pub fn shutdown(&self) {}
}

pub(crate) async fn look(_ctx: &mut Ctx, _z: i64, _e: i64) -> Option<Decision> {
    None
}
