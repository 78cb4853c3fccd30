//! The quorum port's sockets: one reader thread and one writer thread per
//! connection, turning a bare stream of jute `QuorumPacket`s (no length
//! prefix; SNAP followed inline by the tree, quorum-wire.md §2.3 and §2.5)
//! into events for the role loop, and its outputs back into bytes.
//!
//! Blocking threads keep the SNAP stream simple (the snapshot reader is a
//! plain `io::Read`) and cost nothing at ensemble sizes. Each connection has
//! a single writer: everything the ZAB core emits for it goes through one
//! queue, so ordering on the wire is output order (quorum-wire.md §8.20).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::debug;
use zkproto::jute::DEFAULT_MAX_FIELD;

use crate::db::tree::DataTree;
use crate::quorum::types::{packet, QuorumPacket, Zxid};
use crate::quorum::wire::packet::{decode_packet, encode_packet};
use crate::quorum::zab::ConnId;

/// A SNAP's tree and session table.
pub type LoadedSnap = (DataTree, Vec<(i64, i32)>);

/// What a connection's reader reports.
pub enum LinkEvent {
    Packet(ConnId, QuorumPacket),
    /// SNAP with the tree it carried, already decoded.
    Snap {
        conn: ConnId,
        pkt: QuorumPacket,
        loaded: Box<Result<LoadedSnap, String>>,
    },
    Closed(ConnId, String),
}

/// One quorum connection's sending half. Dropping it ends the writer
/// thread; [`Link::close`] also shuts the socket so the reader ends.
pub struct Link {
    pub id: ConnId,
    tx: std_mpsc::Sender<Vec<u8>>,
    stream: TcpStream,
}

impl Link {
    /// Starts the reader and writer threads of `stream`. `read_snap` says
    /// whether a SNAP packet is followed by a tree (learner side).
    pub fn start(
        id: ConnId,
        stream: TcpStream,
        events: mpsc::UnboundedSender<LinkEvent>,
        read_snap: bool,
        extended_types: bool,
        read_timeout: Duration,
    ) -> io::Result<Link> {
        let _ = stream.set_nodelay(true);
        stream.set_read_timeout(Some(read_timeout))?;
        let rd = stream.try_clone()?;
        let wr = stream.try_clone()?;
        let (tx, rx) = std_mpsc::channel::<Vec<u8>>();
        let ev = events.clone();
        std::thread::Builder::new()
            .name(format!("quorum-rd-{id}"))
            .spawn(move || {
                let mut r = PacketReader::new(rd);
                loop {
                    match r.next_packet() {
                        Ok(pkt) if read_snap && pkt.kind == packet::SNAP => {
                            let loaded = Box::new(
                                crate::storage::read_snap_body(&mut r, pkt.zxid, extended_types)
                                    .map_err(|e| e.to_string()),
                            );
                            let failed = loaded.is_err();
                            if ev
                                .send(LinkEvent::Snap {
                                    conn: id,
                                    pkt,
                                    loaded,
                                })
                                .is_err()
                                || failed
                            {
                                return;
                            }
                        }
                        Ok(pkt) => {
                            if ev.send(LinkEvent::Packet(id, pkt)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = ev.send(LinkEvent::Closed(id, e.to_string()));
                            return;
                        }
                    }
                }
            })?;
        std::thread::Builder::new()
            .name(format!("quorum-wr-{id}"))
            .spawn(move || {
                let mut w = io::BufWriter::with_capacity(64 * 1024, wr);
                while let Ok(first) = rx.recv() {
                    let mut res = w.write_all(&first);
                    // Batch what is queued into one flush.
                    while res.is_ok() {
                        match rx.try_recv() {
                            Ok(b) => res = w.write_all(&b),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = res.and_then(|_| w.flush()) {
                        debug!("quorum connection {id}: write failed: {e}");
                        let _ = w.get_ref().shutdown(Shutdown::Both);
                        return;
                    }
                }
            })?;
        Ok(Link { id, tx, stream })
    }

    /// Queues a packet.
    pub fn send(&self, pkt: &QuorumPacket) {
        let _ = self.tx.send(encode_packet(pkt));
    }

    /// Queues raw bytes (a SNAP body follows its packet this way).
    pub fn send_raw(&self, b: Vec<u8>) {
        let _ = self.tx.send(b);
    }

    /// Shuts the socket: both threads end.
    pub fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.close();
    }
}

/// Reads `QuorumPacket`s off a stream with no length prefix: bytes are
/// buffered until the decoder has a whole packet. Hostile lengths fail as
/// soon as they are read (the decoder's field limit).
struct PacketReader {
    s: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl PacketReader {
    fn new(s: TcpStream) -> PacketReader {
        PacketReader {
            s,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 64 * 1024];
        let n = self.s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed the connection",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    fn next_packet(&mut self) -> io::Result<QuorumPacket> {
        loop {
            match decode_packet(&self.buf[self.pos..], DEFAULT_MAX_FIELD) {
                Ok(Some((p, n))) => {
                    self.pos += n;
                    return Ok(p);
                }
                Ok(None) => {
                    if let Some(why) = crate::quorum::wire::foreign_handshake(&self.buf[self.pos..])
                    {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
                    }
                    self.fill()?
                }
                Err(e) => {
                    let rest = &self.buf[self.pos..];
                    let why = match crate::quorum::wire::foreign_handshake(rest) {
                        Some(why) => why.to_string(),
                        None => format!("malformed quorum packet: {e}"),
                    };
                    return Err(io::Error::new(io::ErrorKind::InvalidData, why));
                }
            }
        }
    }
}

/// The SNAP body is read through the same buffer, so nothing read ahead
/// is lost between the packet and the tree.
impl Read for PacketReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.buf.len() {
            let n = out.len().min(self.buf.len() - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.s.read(out)
    }
}

/// Streams PROPOSAL+COMMIT pairs for the committed txns in `(after, upto]`
/// from the on-disk log (on-disk DIFF). Returns how many were sent.
pub fn send_committed_range(
    link: &Link,
    log_dir: &std::path::Path,
    after: Zxid,
    upto: Zxid,
) -> io::Result<usize> {
    let mut n = 0;
    for t in crate::storage::txnlog::read_log(log_dir, after)? {
        let t = t?;
        let z = t.entry.header.zxid;
        if z <= after {
            continue;
        }
        if z > upto {
            break;
        }
        link.send(&QuorumPacket {
            kind: packet::PROPOSAL,
            zxid: z,
            // The bytes exactly as logged, which is what PROPOSAL carries.
            data: Some(t.raw),
            auth: None,
        });
        link.send(&QuorumPacket::bare(packet::COMMIT, z));
        n += 1;
    }
    Ok(n)
}

/// What a new leader learns from its txn log: the on-disk index it offers
/// for DIFF, the newest committed txns (its committed log, as
/// `ZKDatabase.loadDataBase` fills it), and the size limit above which SNAP
/// is cheaper.
pub struct DiskHistory {
    /// (zxid, size) of every txn in the log up to the applied zxid.
    pub index: Vec<(Zxid, u64)>,
    /// The newest `keep` of them with their bytes.
    pub recent: Vec<(Zxid, std::sync::Arc<[u8]>)>,
    /// `ZKDatabase.calculateTxnLogSizeLimit`: a third of the newest
    /// snapshot's size (`zookeeper.snapshotSizeFactor` 0.33).
    pub size_limit: Option<u64>,
}

/// Reads [`DiskHistory`] for txns up to `upto` (everything replayed at
/// start is committed; a logged tail after it is not).
pub fn disk_history(
    snap_dir: &std::path::Path,
    log_dir: &std::path::Path,
    upto: Zxid,
    keep: usize,
) -> io::Result<DiskHistory> {
    let mut index = Vec::new();
    let mut recent = std::collections::VecDeque::new();
    for t in crate::storage::txnlog::read_log(log_dir, -1)? {
        let t = t?;
        let z = t.entry.header.zxid;
        if z > upto {
            break;
        }
        if index.last().is_none_or(|l: &(Zxid, u64)| l.0 < z) {
            index.push((z, t.raw.len() as u64));
            recent.push_back((z, std::sync::Arc::from(t.raw)));
            if recent.len() > keep {
                recent.pop_front();
            }
        }
    }
    Ok(DiskHistory {
        index,
        recent: recent.into_iter().collect(),
        size_limit: disk_size_limit(snap_dir),
    })
}

/// `ZKDatabase.calculateTxnLogSizeLimit`: a third of the newest snapshot's
/// size (`zookeeper.snapshotSizeFactor` 0.33); `None` without a snapshot.
pub fn disk_size_limit(snap_dir: &std::path::Path) -> Option<u64> {
    crate::storage::datadir::list_snapshots(snap_dir)
        .ok()?
        .last()
        .and_then(|f| std::fs::metadata(&f.path).ok())
        .map(|m| m.len() / 3)
}
