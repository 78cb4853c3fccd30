//! The messages between the pipeline and the parts around it: the client
//! port's connection tasks, the log thread and the quorum peer. A leaf
//! module: it imports none of them, so each of them imports it without
//! import cycles (architecture.md, item 1).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use zkproto::records::ConnectRequest;

use crate::db::watch::ConnId;
use crate::pipeline::role::PeerEvent;

/// What a connection task sends to its socket writer.
#[derive(Debug)]
pub enum Outgoing {
    Frame(Vec<u8>),
    /// Flush what is queued, then close.
    Close,
}

/// The pipeline's handle on a connection's socket writer. It counts the
/// bytes queued but not yet written, so a client that stops reading its
/// replies is disconnected instead of growing the server's memory.
#[derive(Clone, Debug)]
pub struct ConnTx {
    tx: mpsc::UnboundedSender<Outgoing>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
}

/// Bytes of replies a connection may leave unread before it is closed.
pub const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

impl ConnTx {
    pub fn new() -> (
        ConnTx,
        mpsc::UnboundedReceiver<Outgoing>,
        Arc<std::sync::atomic::AtomicUsize>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        (
            ConnTx {
                tx,
                queued: queued.clone(),
            },
            rx,
            queued,
        )
    }

    /// Queues a frame; false when the client is too far behind (the caller
    /// then closes the connection).
    pub fn send(&self, f: Vec<u8>) -> bool {
        let n = self
            .queued
            .fetch_add(f.len(), std::sync::atomic::Ordering::Relaxed)
            + f.len();
        let _ = self.tx.send(Outgoing::Frame(f));
        n <= MAX_QUEUED_BYTES
    }

    pub fn close(&self) {
        let _ = self.tx.send(Outgoing::Close);
    }
}

/// Messages into the pipeline.
pub enum CoreMsg {
    Connect {
        conn: ConnId,
        req: ConnectRequest,
        remote: SocketAddr,
        tx: ConnTx,
    },
    Request {
        conn: ConnId,
        xid: i32,
        op: i32,
        body: Vec<u8>,
    },
    Closed {
        conn: ConnId,
    },
    /// The log has made every entry up to this zxid durable; `snapshot` asks
    /// for a snapshot once they are applied.
    Logged {
        zxid: i64,
        snapshot: bool,
    },
    /// The log failed: stop acknowledging writes.
    LogFailed(String),
    FourLetter {
        cmd: String,
        remote: SocketAddr,
        reply: oneshot::Sender<String>,
    },
    Tick,
    /// From the quorum peer loop (replicated members only).
    Peer(PeerEvent),
    Shutdown,
}
