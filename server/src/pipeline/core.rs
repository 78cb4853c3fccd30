//! The request pipeline: one task owns the tree, the sessions, the watches and
//! the connections' protocol state, and runs ZooKeeper's processors in order:
//!
//! ```text
//! decode (connection task) → prepare (prep.rs: validate, ACLs, txn + zxid)
//!   → log (log task: persist, group commit; later: replicate)
//!   → apply (tree.rs, in zxid order: fire watches, reply)
//! ```
//!
//! Reads are answered at once from the applied tree, except that a read from
//! a connection with writes in flight waits behind them, so each connection
//! sees its replies in request order and its own writes.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};
use zkproto::consts::{event, op, perms, state, xid, ErrorCode};
use zkproto::jute::{Jute, Reader, Writer};
use zkproto::multi::{MultiOp, MultiRequest, MultiResponse, MultiResult};
use zkproto::records::*;
use zkproto::txn::{Txn, TxnEntry, TxnHeader};

use crate::client_port::stats::{ConnStats, ServerStats};
use crate::config::Config;
use crate::db::acl;
use crate::db::session::{self, SessionTracker};
use crate::db::tree::{DataTree, TxnResult};
use crate::db::watch::{ConnId, Kind, WatchManager};
use crate::pipeline::prep::{Caller, Outstanding, Prep, WriteRequest};
use crate::pipeline::role::{Mode, PeerEvent, PeerMsg, PeerTx};
use crate::quorum::types::{make_zxid, QuorumPacket};
use crate::storage::logstage::LogCmd;
use crate::storage::{NodeCopy, SnapshotStream, Snapshotter};

mod member;

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

/// How many committed txns a member keeps in memory for DIFF
/// (`zookeeper.commitLogCount`).
const COMMITTED_LOG_COUNT: usize = 500;

/// The replicated side of the pipeline: where writes go and what is pending
/// on other members. `None` in [`Core::member`] is standalone.
struct Member {
    peer: PeerTx,
    /// Writes this member forwarded to the leader, by (session, cxid): the
    /// COMMIT carrying that pair answers the client.
    forwarded: HashMap<(i64, i32), Origin>,
    /// Forwarded `sync`s, oldest first, with their paths.
    syncs: VecDeque<(Origin, String)>,
    /// The newest committed txns (the DIFF source of a future leader).
    committed_log: VecDeque<(i64, Arc<[u8]>)>,
    /// Logged, not yet committed (a role that ends leaves them on disk).
    tail: std::collections::BTreeMap<i64, Arc<[u8]>>,
}

/// A request waiting for its turn on a connection.
struct Queued {
    xid: i32,
    op: i32,
    body: Vec<u8>,
    received: Instant,
}

/// Protocol state of one client connection.
pub struct Conn {
    pub id: ConnId,
    pub tx: ConnTx,
    pub remote: SocketAddr,
    pub session_id: i64,
    /// Set when the ConnectResponse has been sent.
    pub established: bool,
    /// Whether the client sent the readOnly byte (answered in kind).
    pub read_only_byte: bool,
    pub auth: Vec<Id>,
    /// Writes (and the createSession) of this connection not yet applied.
    pending_writes: usize,
    queue: VecDeque<Queued>,
    pub stats: ConnStats,
    pub timeout_ms: i32,
}

/// A snapshot in progress: the tree is walked a slice at a time between
/// requests and the copies streamed to the snapshot thread.
struct SnapJob {
    zxid: i64,
    /// Whether the root itself is still to be copied.
    root_pending: bool,
    /// The nodes whose children are being copied, depth first (ZooKeeper's
    /// order: a node, then each child's subtree): parents always precede
    /// their children in the file.
    stack: Vec<SnapFrame>,
    /// ACL ids in the map written at the start.
    acl_ids: std::collections::HashSet<i64>,
    stream: SnapshotStream,
    /// A slice the writer had no room for yet.
    pending: Option<Vec<NodeCopy>>,
}

/// A node whose children a snapshot walk is going through. It holds the
/// node's arena id and the last child copied rather than a list of names,
/// so a directory of a million children costs one search per slice, not a
/// million queued names.
struct SnapFrame {
    /// The node's path, shared by its children's copies.
    path: Arc<str>,
    id: u32,
    /// The last child copied; the walk resumes after it.
    after: Option<compact_str::CompactString>,
}

/// Nodes copied per slice of a snapshot walk.
const SNAPSHOT_SLICE: usize = 2048;

/// Where a transaction came from, to answer it once applied.
struct Origin {
    conn: ConnId,
    xid: i32,
    op: i32,
    /// Sub-op types of a multi (create vs create2 results differ).
    sub_ops: Vec<i32>,
    received: Instant,
}

struct InFlight {
    /// Shared with the log thread, which only reads it: no copy of the
    /// transaction's path, data and ACL per write.
    entry: Arc<TxnEntry>,
    origin: Option<Origin>,
}

pub struct Core {
    pub cfg: Arc<Config>,
    pub tree: DataTree,
    pub sessions: SessionTracker,
    pub watches: WatchManager,
    pub conns: HashMap<ConnId, Conn>,
    session_conn: HashMap<i64, ConnId>,
    outstanding: Outstanding,
    last_zxid: i64,
    in_flight: VecDeque<InFlight>,
    log_tx: mpsc::UnboundedSender<LogCmd>,
    pub stats: ServerStats,
    /// The role; standalone unless a peer loop drives this pipeline.
    pub mode: Mode,
    /// False while a replicated member is LOOKING or syncing: clients are
    /// refused and four-letter words say so.
    pub serving: bool,
    /// What the peer loop last reported (members only).
    pub quorum: Option<crate::pipeline::role::QuorumStats>,
    /// `leaderServes`: whether a leader takes client connections.
    leader_serves: bool,
    member: Option<Member>,
    snapshotter: Snapshotter,
    snap_job: Option<SnapJob>,
    /// Set when the log failed; no write is acknowledged after that.
    pub log_error: Option<String>,
    last_container_check: Instant,
    pub started: Instant,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Encodes `ReplyHeader ‖ body` as a frame.
fn frame(xid: i32, zxid: i64, err: i32, body: Option<&dyn Fn(&mut Writer)>) -> Vec<u8> {
    let mut w = Writer::framed();
    ReplyHeader { xid, zxid, err }.write(&mut w);
    if let Some(b) = body {
        b(&mut w);
    }
    w.finish_frame()
}

fn record_frame<R: Jute>(xid: i32, zxid: i64, r: &R) -> Vec<u8> {
    frame(xid, zxid, 0, Some(&|w: &mut Writer| r.write(w)))
}

/// A write request decoded from its opcode and body.
fn decode_write(opc: i32, body: &[u8]) -> Option<WriteRequest> {
    let mut r = Reader::new(body);
    Some(match opc {
        op::CREATE
        | op::CREATE2
        | op::CREATE_CONTAINER
        | op::CREATE_TTL
        | op::DELETE
        | op::DELETE_CONTAINER
        | op::SET_DATA => match MultiOp::decode(opc, &mut r) {
            Ok(o) => WriteRequest::Single(opc, o),
            Err(_) => WriteRequest::Malformed,
        },
        op::SET_ACL => match SetAclRequest::read(&mut r) {
            Ok(s) => WriteRequest::SetAcl {
                path: s.path,
                acl: s.acl,
                version: s.version,
            },
            Err(_) => WriteRequest::Malformed,
        },
        op::MULTI => match MultiRequest::read(&mut r) {
            Ok(m) if m.ops.iter().all(|o| !o.is_read()) => WriteRequest::Multi(m.ops),
            _ => WriteRequest::Malformed,
        },
        op::RECONFIG => WriteRequest::Reconfig,
        _ => return None,
    })
}

fn is_write_op(opc: i32) -> bool {
    matches!(
        opc,
        op::CREATE
            | op::CREATE2
            | op::CREATE_CONTAINER
            | op::CREATE_TTL
            | op::DELETE
            | op::SET_DATA
            | op::SET_ACL
            | op::MULTI
            | op::RECONFIG
            | op::CLOSE_SESSION
    )
}

/// Opcodes answered from the tree (or the connection) without a transaction.
fn is_read_op(opc: i32) -> bool {
    matches!(
        opc,
        op::EXISTS
            | op::GET_DATA
            | op::GET_ACL
            | op::GET_CHILDREN
            | op::GET_CHILDREN2
            | op::SYNC
            | op::PING
            | op::CHECK_WATCHES
            | op::REMOVE_WATCHES
            | op::MULTI_READ
            | op::SET_WATCHES
            | op::SET_WATCHES2
            | op::GET_EPHEMERALS
            | op::GET_ALL_CHILDREN_NUMBER
            | op::ADD_WATCH
            | op::WHO_AM_I
            | op::SASL
    )
}

impl Core {
    pub fn new(
        cfg: Arc<Config>,
        tree: DataTree,
        sessions: SessionTracker,
        log_tx: mpsc::UnboundedSender<LogCmd>,
    ) -> Core {
        let last_zxid = tree.last_processed_zxid;
        Core {
            cfg,
            tree,
            sessions,
            watches: WatchManager::default(),
            conns: HashMap::new(),
            session_conn: HashMap::new(),
            outstanding: Outstanding::default(),
            last_zxid,
            in_flight: VecDeque::new(),
            log_tx,
            stats: ServerStats::default(),
            mode: Mode::Standalone,
            serving: true,
            quorum: None,
            leader_serves: true,
            member: None,
            snapshotter: Snapshotter::default(),
            snap_job: None,
            log_error: None,
            last_container_check: Instant::now(),
            started: Instant::now(),
        }
    }

    /// Runs until a Shutdown message (or every sender is gone).
    pub async fn run(mut self, mut rx: mpsc::Receiver<CoreMsg>) {
        use tokio::sync::mpsc::error::TryRecvError;
        loop {
            if self.snap_job.is_some() {
                // Interleave a slice of the snapshot walk with requests.
                let mut handled = 0;
                for _ in 0..1024 {
                    match rx.try_recv() {
                        Ok(CoreMsg::Shutdown) | Err(TryRecvError::Disconnected) => return,
                        Ok(msg) => {
                            self.handle(msg);
                            handled += 1;
                        }
                        Err(TryRecvError::Empty) => break,
                    }
                }
                let progressed = self.snapshot_step();
                if handled == 0 && !progressed {
                    // The snapshot writer is behind and nothing is queued:
                    // wait for a request or a moment instead of spinning.
                    tokio::select! {
                        msg = rx.recv() => match msg {
                            None | Some(CoreMsg::Shutdown) => return,
                            Some(msg) => self.handle(msg),
                        },
                        _ = tokio::time::sleep(Duration::from_millis(1)) => {}
                    }
                } else {
                    tokio::task::yield_now().await;
                }
                continue;
            }
            let Some(msg) = rx.recv().await else { return };
            if matches!(msg, CoreMsg::Shutdown) {
                return;
            }
            self.handle(msg);
            // Drain what is already queued before yielding, so replies of a
            // burst go out together.
            while let Ok(msg) = rx.try_recv() {
                if matches!(msg, CoreMsg::Shutdown) {
                    return;
                }
                self.handle(msg);
            }
        }
    }

    pub fn handle(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Connect {
                conn,
                req,
                remote,
                tx,
            } => self.on_connect(conn, req, remote, tx),
            CoreMsg::Request {
                conn,
                xid,
                op,
                body,
            } => self.on_request(conn, xid, op, body),
            CoreMsg::Closed { conn } => self.on_closed(conn),
            CoreMsg::Logged { zxid, snapshot } => {
                match &self.member {
                    // A member's commits come from ZAB; durability is the
                    // ZAB core's input (it ACKs / counts its own vote).
                    Some(m) => {
                        let _ = m.peer.send(PeerMsg::Persisted(zxid));
                    }
                    None => self.on_logged(zxid),
                }
                if snapshot {
                    self.take_snapshot();
                }
            }
            CoreMsg::LogFailed(e) => {
                warn!("transaction log failed, no more writes will be acknowledged: {e}");
                self.log_error = Some(e);
                self.fail_in_flight();
            }
            CoreMsg::FourLetter { cmd, remote, reply } => {
                // ZooKeeper counts the command as a packet in and one out.
                self.stats.packets_received += 1;
                let out = crate::client_port::fourlw::run(self, &cmd, remote);
                self.stats.packets_sent += 1;
                let _ = reply.send(out);
            }
            CoreMsg::Tick => self.on_tick(),
            CoreMsg::Peer(ev) => self.on_peer(ev),
            CoreMsg::Shutdown => {}
        }
    }

    pub fn last_zxid(&self) -> i64 {
        self.tree.last_processed_zxid
    }

    pub fn outstanding_requests(&self) -> usize {
        self.in_flight.len() + self.conns.values().map(|c| c.queue.len()).sum::<usize>()
    }

    fn send(&mut self, conn: ConnId, f: Vec<u8>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.stats.packets_sent += 1;
        self.stats.packets_sent += 1;
        if !c.tx.send(f) {
            info!(
                "closing connection from {}: more than {} MiB of replies unread",
                c.remote,
                MAX_QUEUED_BYTES >> 20
            );
            self.close_conn(conn);
        }
    }

    fn close_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            c.tx.close();
        }
        self.on_closed(conn);
    }

    // ---- sessions -------------------------------------------------------

    fn on_connect(&mut self, conn: ConnId, req: ConnectRequest, remote: SocketAddr, tx: ConnTx) {
        if !self.serving || (self.mode == Mode::Leader && !self.leader_serves) {
            // ZooKeeper drops the ConnectRequest of a server that is not
            // running by closing the socket, with no response (and a leader
            // with leaderServes=no takes no clients).
            debug!("refusing connection from {remote}: not serving (no quorum)");
            tx.close();
            return;
        }
        let read_only_byte = req.read_only.is_some();
        let mut c = Conn {
            id: conn,
            tx,
            remote,
            session_id: 0,
            established: false,
            read_only_byte,
            auth: vec![Id {
                scheme: "ip".into(),
                id: remote.ip().to_string(),
            }],
            pending_writes: 0,
            queue: VecDeque::new(),
            stats: ConnStats::new(),
            timeout_ms: 0,
        };
        self.stats.packets_received += 1;
        c.stats.packets_received += 1;
        if req.last_zxid_seen > self.tree.last_processed_zxid {
            info!(
                "refusing connection from {remote}: client has seen zxid 0x{:x}, our last zxid is 0x{:x}",
                req.last_zxid_seen, self.tree.last_processed_zxid
            );
            c.tx.close();
            return;
        }
        let timeout = req
            .time_out
            .clamp(self.cfg.min_session_timeout, self.cfg.max_session_timeout);
        c.timeout_ms = timeout;
        if req.session_id == 0 {
            let sid = self.sessions.next_session_id();
            c.session_id = sid;
            c.pending_writes = 1;
            self.conns.insert(conn, c);
            self.session_conn.insert(sid, conn);
            // The session is tracked from now on, so it expires if the
            // client vanishes before the txn is applied.
            self.sessions.add(sid, timeout);
            let origin = Origin {
                conn,
                xid: 0,
                op: op::CREATE_SESSION,
                sub_ops: Vec::new(),
                received: Instant::now(),
            };
            if self.is_learner() {
                // The id is ours (high byte = myid); the leader logs it.
                self.forward(
                    sid,
                    0,
                    op::CREATE_SESSION,
                    timeout.to_be_bytes().to_vec(),
                    Vec::new(),
                    origin,
                );
                return;
            }
            let hdr = TxnHeader {
                client_id: sid,
                cxid: 0,
                zxid: 0,
                time: now_ms(),
                op_type: op::CREATE_SESSION,
            };
            self.submit(
                hdr,
                Txn::CreateSession(zkproto::txn::CreateSessionTxn { time_out: timeout }),
                Some(origin),
            );
            return;
        }
        let sid = req.session_id;
        // ZooKeeper closes the connection that holds the session before it
        // checks the password, so even a failed takeover disconnects it.
        if let Some(old) = self.session_conn.remove(&sid) {
            if old != conn {
                debug!("session 0x{sid:x} is reconnecting from {remote}, closing its previous connection");
                self.close_conn(old);
            }
        }
        let valid = req.passwd.as_deref() == Some(&session::password(sid)[..])
            && self.sessions.get(sid).is_some_and(|s| !s.closing);
        if !valid {
            info!("session 0x{sid:x} from {remote} is invalid or expired");
            let resp = ConnectResponse {
                protocol_version: 0,
                time_out: 0,
                session_id: 0,
                passwd: Some(vec![0; 16]),
                read_only: read_only_byte.then_some(false),
            };
            let mut w = Writer::framed();
            resp.write(&mut w);
            c.tx.send(w.finish_frame());
            c.tx.close();
            return;
        }
        self.session_conn.insert(sid, conn);
        c.session_id = sid;
        self.sessions.set_timeout(sid, timeout);
        self.conns.insert(conn, c);
        info!("session 0x{sid:x} reconnected from {remote}, timeout {timeout} ms");
        self.establish(conn);
    }

    /// Sends the ConnectResponse and starts serving queued requests.
    fn establish(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.established = true;
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out: c.timeout_ms,
            session_id: c.session_id,
            passwd: Some(session::password(c.session_id)),
            read_only: c.read_only_byte.then_some(false),
        };
        let mut w = Writer::framed();
        resp.write(&mut w);
        let f = w.finish_frame();
        self.send(conn, f);
        self.drain(conn);
    }

    fn on_closed(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            self.watches.remove_connection(conn);
            if self.session_conn.get(&c.session_id) == Some(&conn) {
                self.session_conn.remove(&c.session_id);
            }
            debug!("connection {conn} from {} closed", c.remote);
        }
    }

    /// Starts a snapshot of the applied tree as of its last zxid. The walk
    /// runs in slices between requests ([`Core::snapshot_step`]).
    fn take_snapshot(&mut self) {
        if self.snap_job.is_some() {
            warn!("too busy to snap, skipping");
            return;
        }
        let zxid = self.tree.last_processed_zxid;
        let mut sessions: Vec<(i64, i32)> =
            self.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
        sessions.sort_unstable();
        let acls = self.tree.acls.entries();
        let acl_ids = acls.iter().map(|(id, _)| *id).collect();
        let dir = crate::storage::datadir::version_dir(&self.cfg.data_dir);
        if let Some(stream) = self.snapshotter.begin(dir, zxid, sessions, acls) {
            self.snap_job = Some(SnapJob {
                zxid,
                root_pending: true,
                stack: Vec::new(),
                acl_ids,
                stream,
                pending: None,
            });
        }
    }

    /// Copies the next slice of the tree into the snapshot. Nodes created
    /// after the snapshot's zxid are left out (their creates are replayed);
    /// a node whose ACL was replaced after it gets the open ACL id, which the
    /// replayed setACL corrects.
    /// Returns whether it got anywhere (false: the writer had no room).
    fn snapshot_step(&mut self) -> bool {
        let Some(job) = self.snap_job.as_mut() else {
            return false;
        };
        if let Some(chunk) = job.pending.take() {
            if let Err(c) = job.stream.try_send(chunk) {
                if job.stream.failed() {
                    self.snap_job = None;
                    return true;
                }
                job.pending = Some(c);
                return false;
            }
        }
        let tree = &self.tree;
        let open = crate::db::acl_cache::AclCache::OPEN_ACL_UNSAFE_ID;
        // A node whose ACL was replaced after the snapshot's zxid may point
        // at an id the written map lacks: it gets the open ACL until the
        // replayed setACL.
        let acl_of = |n: &crate::db::tree::Node| {
            if n.acl_id() == open || job.acl_ids.contains(&n.acl_id()) {
                n.acl_id()
            } else {
                open
            }
        };
        let mut chunk = Vec::with_capacity(SNAPSHOT_SLICE);
        if job.root_pending {
            job.root_pending = false;
            if let Some(root) = tree.node_by_id(DataTree::ROOT_ID) {
                let empty: Arc<str> = Arc::from("");
                chunk.push((
                    empty,
                    compact_str::CompactString::default(),
                    root.data_vec(),
                    acl_of(root),
                    root.stat.persisted(),
                ));
                job.stack.push(SnapFrame {
                    path: Arc::from("/"),
                    id: DataTree::ROOT_ID,
                    after: None,
                });
            }
        }
        while chunk.len() < SNAPSHOT_SLICE {
            let Some(top) = job.stack.last_mut() else {
                break;
            };
            // The node may have been deleted since (its slot freed, or reused
            // by a node newer than the snapshot): its subtree is replayed.
            let Some(n) = tree.node_by_id(top.id).filter(|n| n.stat.czxid <= job.zxid) else {
                job.stack.pop();
                continue;
            };
            let mut descend = None;
            let mut last = None;
            let mut finished = true;
            for (name, cid) in n.children_after(top.after.as_deref()) {
                if chunk.len() >= SNAPSHOT_SLICE {
                    finished = false;
                    break;
                }
                last = Some(name);
                // Children created after the snapshot's zxid are replayed.
                let Some(c) = tree.node_by_id(cid).filter(|c| c.stat.czxid <= job.zxid) else {
                    continue;
                };
                chunk.push((
                    top.path.clone(),
                    compact_str::CompactString::from(name),
                    c.data_vec(),
                    acl_of(c),
                    c.stat.persisted(),
                ));
                if c.num_children() > 0 {
                    descend = Some(SnapFrame {
                        path: Arc::from(zkproto::path::join(&top.path, name)),
                        id: cid,
                        after: None,
                    });
                    finished = false;
                    break;
                }
            }
            if let Some(l) = last {
                top.after = Some(compact_str::CompactString::from(l));
            }
            if let Some(f) = descend {
                job.stack.push(f);
            } else if finished {
                job.stack.pop();
            }
        }
        if !chunk.is_empty() {
            if let Err(c) = job.stream.try_send(chunk) {
                if job.stream.failed() {
                    self.snap_job = None;
                    return true;
                }
                job.pending = Some(c);
            }
        }
        if !job.root_pending && job.stack.is_empty() && job.pending.is_none() {
            if let Some(job) = self.snap_job.take() {
                job.stream.finish(self.tree.last_processed_zxid);
            }
        }
        true
    }

    fn on_tick(&mut self) {
        if let Some(m) = &self.member {
            if self.mode != Mode::Leader {
                // Learners never expire sessions: they report the ones
                // their clients keep alive to the leader, which decides.
                if self.serving {
                    let touches: Vec<(i64, i32)> = self
                        .session_conn
                        .keys()
                        .filter_map(|sid| self.sessions.get(*sid).map(|s| (*sid, s.timeout_ms)))
                        .collect();
                    if !touches.is_empty() {
                        let _ = m.peer.send(PeerMsg::Touches(touches));
                    }
                }
                return;
            }
            if !self.serving {
                return;
            }
        }
        let now = Instant::now();
        for sid in self.sessions.expired(now) {
            info!("session 0x{sid:x} expired");
            self.close_session(sid, None);
        }
        let interval = Duration::from_millis(self.cfg.container_check_interval_ms);
        if now.duration_since(self.last_container_check) >= interval {
            self.last_container_check = now;
            self.check_containers();
        }
    }

    /// Submits a closeSession txn (expiry, or the client's request).
    fn close_session(&mut self, sid: i64, origin: Option<Origin>) {
        if self.is_learner() {
            if let Some(o) = origin {
                let cxid = o.xid;
                self.forward(sid, cxid, op::CLOSE_SESSION, Vec::new(), Vec::new(), o);
            }
            return;
        }
        self.sessions.mark_closing(sid);
        let time = now_ms();
        let mut prep = Prep {
            tree: &self.tree,
            out: &mut self.outstanding,
            skip_acl: self.cfg.skip_acl,
            reconfig_enabled: self.cfg.reconfig_enabled,
            zxid: self.last_zxid + 1,
            time,
        };
        let txn = prep.prep_close_session(sid);
        let hdr = TxnHeader {
            client_id: sid,
            cxid: origin.as_ref().map_or(0, |o| o.xid),
            zxid: 0,
            time,
            op_type: op::CLOSE_SESSION,
        };
        self.submit(hdr, txn, origin);
    }

    /// Deletes empty containers that have had children and expired TTL nodes
    /// (ZooKeeper's `ContainerManager`), through deleteContainer txns.
    fn check_containers(&mut self) {
        let now = now_ms();
        let mut victims = Vec::new();
        for p in self.tree.containers() {
            if let Some(n) = self.tree.get(p) {
                if n.num_children() == 0 && n.stat.cversion > 0 {
                    victims.push(p.clone());
                }
            }
        }
        for p in self.tree.ttls() {
            if let Some(n) = self.tree.get(p) {
                let ttl = n.stat.ephemeral_owner & zkproto::consts::MAX_TTL;
                if n.num_children() == 0 && now - n.stat.mtime > ttl {
                    victims.push(p.clone());
                }
            }
        }
        for p in victims.into_iter().take(10_000) {
            let req = WriteRequest::Single(
                op::DELETE_CONTAINER,
                MultiOp::Delete(DeleteRequest {
                    path: p,
                    version: -1,
                }),
            );
            let time = now_ms();
            let mut prep = Prep {
                tree: &self.tree,
                out: &mut self.outstanding,
                skip_acl: true,
                reconfig_enabled: false,
                zxid: self.last_zxid + 1,
                time,
            };
            let txn = prep.prepare(
                &req,
                &Caller {
                    session_id: 0,
                    auth: &[],
                },
            );
            if matches!(txn, Txn::Error(_)) {
                continue;
            }
            let hdr = TxnHeader {
                client_id: 0,
                cxid: 0,
                zxid: 0,
                time,
                op_type: op::DELETE_CONTAINER,
            };
            self.submit(hdr, txn, None);
        }
    }

    // ---- requests -------------------------------------------------------

    fn on_request(&mut self, conn: ConnId, xid: i32, opc: i32, body: Vec<u8>) {
        self.stats.packets_received += 1;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.stats.packets_received += 1;
        let sid = c.session_id;
        // Any traffic keeps the session alive.
        if c.established && !self.sessions.touch(sid) {
            // Expired or closing: ZooKeeper answers SESSIONEXPIRED and closes.
            let f = frame(
                xid,
                self.tree.last_processed_zxid,
                ErrorCode::SessionExpired.code(),
                None,
            );
            self.send(conn, f);
            self.close_conn(conn);
            return;
        }
        // Auth is handled on arrival, as ZooKeeper's processPacket does.
        if opc == op::AUTH {
            self.on_auth(conn, &body);
            return;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let q = Queued {
            xid,
            op: opc,
            body,
            received: Instant::now(),
        };
        if !c.established || !c.queue.is_empty() || (c.pending_writes > 0 && !is_write_op(opc)) {
            c.queue.push_back(q);
            return;
        }
        self.process(conn, q);
    }

    /// Serves queued requests until one has to wait for a write.
    fn drain(&mut self, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if !c.established {
                return;
            }
            let Some(front) = c.queue.front() else { return };
            if c.pending_writes > 0 && !is_write_op(front.op) {
                return;
            }
            let Some(q) = c.queue.pop_front() else { return };
            self.process(conn, q);
        }
    }

    fn on_auth(&mut self, conn: ConnId, body: &[u8]) {
        let zxid = self.tree.last_processed_zxid;
        let pkt = match AuthPacket::from_bytes(body) {
            Ok(p) => p,
            Err(_) => {
                let f = frame(xid::AUTH, zxid, ErrorCode::AuthFailed.code(), None);
                self.send(conn, f);
                self.close_conn(conn);
                return;
            }
        };
        // A null auth buffer fails (ZooKeeper's providers throw on it).
        let res = match &pkt.auth {
            Some(auth) => acl::authenticate(&pkt.scheme, auth, self.cfg.super_digest.as_deref()),
            None => Err(ErrorCode::AuthFailed),
        };
        match res {
            Ok(ids) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    for id in ids {
                        if !c.auth.contains(&id) {
                            c.auth.push(id);
                        }
                    }
                    acl::java_hash_set_order(&mut c.auth);
                }
                let f = frame(xid::AUTH, zxid, 0, None);
                self.send(conn, f);
            }
            Err(e) => {
                info!("authentication with scheme '{}' failed", pkt.scheme);
                let f = frame(xid::AUTH, zxid, e.code(), None);
                self.send(conn, f);
                self.close_conn(conn);
            }
        }
    }

    fn process(&mut self, conn: ConnId, q: Queued) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let sid = c.session_id;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.last_op = q.op;
            c.stats.last_cxid = q.xid;
        }
        if q.op == op::CLOSE_SESSION {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.pending_writes += 1;
            }
            let origin = Origin {
                conn,
                xid: q.xid,
                op: q.op,
                sub_ops: Vec::new(),
                received: q.received,
            };
            self.close_session(sid, Some(origin));
            return;
        }
        if self.is_learner() && (q.op == op::SYNC || decode_write(q.op, &q.body).is_some()) {
            // Learners do not prepare writes: the leader does, against the
            // tree every member will have applied by then.
            let auth = self
                .conns
                .get(&conn)
                .map(|c| c.auth.clone())
                .unwrap_or_default();
            let origin = Origin {
                conn,
                xid: q.xid,
                op: q.op,
                sub_ops: Vec::new(),
                received: q.received,
            };
            if let Some(c) = self.conns.get_mut(&conn) {
                c.pending_writes += 1;
            }
            if q.op == op::SYNC {
                let path = PathRequest::from_bytes(&q.body)
                    .map(|r| r.path)
                    .unwrap_or_default();
                let body = q.body.clone();
                self.forward_sync(sid, q.xid, body, auth, origin, path);
            } else {
                self.forward(sid, q.xid, q.op, q.body, auth, origin);
            }
            return;
        }
        if let Some(req) = decode_write(q.op, &q.body) {
            if let Some(e) = &self.log_error {
                debug!("refusing write: {e}");
                let f = frame(
                    q.xid,
                    self.tree.last_processed_zxid,
                    ErrorCode::SystemError.code(),
                    None,
                );
                self.send(conn, f);
                return;
            }
            let time = now_ms();
            // Borrowed out of the connection for the prepare stage (and put
            // back below) rather than copied per request.
            let auth = self
                .conns
                .get_mut(&conn)
                .map(|c| std::mem::take(&mut c.auth))
                .unwrap_or_default();
            let mut prep = Prep {
                tree: &self.tree,
                out: &mut self.outstanding,
                skip_acl: self.cfg.skip_acl,
                reconfig_enabled: self.cfg.reconfig_enabled,
                zxid: self.last_zxid + 1,
                time,
            };
            let txn = prep.prepare(
                &req,
                &Caller {
                    session_id: sid,
                    auth: &auth,
                },
            );
            if let Some(c) = self.conns.get_mut(&conn) {
                c.auth = auth;
            }
            // A multi's per-op results follow the logged sub-transactions.
            let sub_ops = match &txn {
                Txn::Multi(txns) => txns.iter().map(|t| t.op_type()).collect(),
                _ => Vec::new(),
            };
            let op_type = match &txn {
                Txn::Error(_) => op::ERROR,
                t => t.op_type(),
            };
            let hdr = TxnHeader {
                client_id: sid,
                cxid: q.xid,
                zxid: 0,
                time,
                op_type,
            };
            if let Some(c) = self.conns.get_mut(&conn) {
                c.pending_writes += 1;
            }
            self.submit(
                hdr,
                txn,
                Some(Origin {
                    conn,
                    xid: q.xid,
                    op: q.op,
                    sub_ops,
                    received: q.received,
                }),
            );
            return;
        }
        if is_read_op(q.op) {
            self.read(conn, sid, &q);
            return;
        }
        // Unknown opcode, top-level check, notification: UNIMPLEMENTED, close.
        info!(
            "unimplemented opcode {} from connection {conn}, closing it",
            q.op
        );
        let f = frame(
            q.xid,
            self.tree.last_processed_zxid,
            ErrorCode::Unimplemented.code(),
            None,
        );
        self.send(conn, f);
        self.close_conn(conn);
    }

    /// Gives a prepared txn its zxid and hands it to the log.
    fn submit(&mut self, mut hdr: TxnHeader, txn: Txn, origin: Option<Origin>) {
        if self.log_error.is_some() {
            // Nothing can be logged any more: answer now instead of queueing
            // for a log thread that has stopped.
            if let Some(o) = origin {
                self.refuse(o);
            }
            return;
        }
        if self.member.is_some() && (self.mode != Mode::Leader || !self.serving) {
            // Not leading (any more): nothing may be numbered or logged.
            if let Some(o) = origin {
                self.refuse(o);
            }
            return;
        }
        self.last_zxid += 1;
        hdr.zxid = self.last_zxid;
        let entry = Arc::new(TxnEntry {
            header: hdr,
            txn,
            digest: None,
        });
        match &self.member {
            // The leader core logs it (through PeerEvent::Persist) and
            // proposes it; it commits once a quorum has it on disk.
            Some(m) => {
                let txn: Arc<[u8]> = Arc::from(crate::quorum::wire::payload::proposal_data(&entry));
                let _ = m.peer.send(PeerMsg::Propose {
                    zxid: entry.header.zxid,
                    txn,
                });
            }
            None => {
                if self.log_tx.send(LogCmd::Append(entry.clone())).is_err() {
                    self.log_error = Some("the log writer has stopped".into());
                }
            }
        }
        self.in_flight.push_back(InFlight { entry, origin });
    }

    fn fail_in_flight(&mut self) {
        while let Some(f) = self.in_flight.pop_front() {
            if let Some(o) = f.origin {
                self.refuse(o);
            }
        }
    }

    /// Answers a write that cannot be logged: SYSTEMERROR and close; a new
    /// session gets no ConnectResponse, its connection is just closed.
    fn refuse(&mut self, o: Origin) {
        if o.op == op::CREATE_SESSION {
            if let Some(c) = self.conns.get(&o.conn) {
                let sid = c.session_id;
                self.sessions.remove(sid);
            }
            info!("refusing a new session: the transaction log has failed");
        } else {
            let fr = frame(
                o.xid,
                self.tree.last_processed_zxid,
                ErrorCode::SystemError.code(),
                None,
            );
            self.send(o.conn, fr);
        }
        self.close_conn(o.conn);
    }

    fn on_logged(&mut self, upto: i64) {
        while self
            .in_flight
            .front()
            .is_some_and(|f| f.entry.header.zxid <= upto)
        {
            let Some(f) = self.in_flight.pop_front() else {
                break;
            };
            self.apply(f);
        }
    }

    /// Applies a durable txn: the tree changes, watches fire, the origin is
    /// answered. The only path by which state changes.
    fn apply(&mut self, f: InFlight) {
        let hdr = &f.entry.header;
        let (result, triggers) = self.tree.apply(hdr, &f.entry.txn);
        self.outstanding.applied(hdr.zxid);
        match &f.entry.txn {
            Txn::CreateSession(t) => {
                self.sessions.add(hdr.client_id, t.time_out);
                info!(
                    "session 0x{:x} established, timeout {} ms",
                    hdr.client_id, t.time_out
                );
            }
            Txn::CloseSession(_) => {
                self.sessions.remove(hdr.client_id);
                info!("session 0x{:x} closed", hdr.client_id);
            }
            _ => {}
        }
        let zxid = hdr.zxid;
        for (p, ev) in triggers {
            let conns = self.watches.trigger(&p, ev);
            if conns.is_empty() {
                continue;
            }
            let we = WatcherEvent {
                event_type: ev,
                state: state::SYNC_CONNECTED,
                path: p,
            };
            // ZooKeeper up to 3.8 sends -1 as the notification's zxid.
            let fr = record_frame(xid::NOTIFICATION, -1, &we);
            for c in conns {
                self.send(c, fr.clone());
            }
        }
        let Some(o) = f.origin else {
            if let Txn::CloseSession(_) = f.entry.txn {
                if let Some(c) = self.session_conn.remove(&f.entry.header.client_id) {
                    self.close_conn(c);
                }
            }
            return;
        };
        if let Some(c) = self.conns.get_mut(&o.conn) {
            c.pending_writes = c.pending_writes.saturating_sub(1);
            c.stats.last_zxid = zxid;
        }
        let latency = o.received.elapsed();
        self.stats.record_latency(latency);
        if let Some(c) = self.conns.get_mut(&o.conn) {
            c.stats.record_latency(latency);
        }
        match o.op {
            op::CREATE_SESSION => {
                self.establish(o.conn);
                return;
            }
            op::CLOSE_SESSION => {
                let fr = frame(o.xid, zxid, 0, None);
                self.send(o.conn, fr);
                self.session_conn.remove(&f.entry.header.client_id);
                self.close_conn(o.conn);
                return;
            }
            _ => {}
        }
        let fr = self.write_reply(&o, zxid, result);
        self.send(o.conn, fr);
        self.drain(o.conn);
    }

    fn write_reply(&self, o: &Origin, zxid: i64, result: TxnResult) -> Vec<u8> {
        match result {
            TxnResult::Error(e) => frame(o.xid, zxid, e.code(), None),
            TxnResult::Created(p, stat) => {
                if o.op == op::CREATE {
                    record_frame(o.xid, zxid, &CreateResponse { path: p })
                } else {
                    record_frame(o.xid, zxid, &Create2Response { path: p, stat })
                }
            }
            TxnResult::SetData(stat) | TxnResult::SetAcl(stat) => {
                record_frame(o.xid, zxid, &StatResponse { stat })
            }
            TxnResult::Multi(results) => {
                let results = results
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| match r {
                        TxnResult::Created(p, s) => {
                            // ZooKeeper 3.8 answers create and create2 sub-ops
                            // (logged as creates) with a plain create result;
                            // containers and TTL nodes with create2 results.
                            if o.sub_ops.get(i) == Some(&op::CREATE) {
                                MultiResult::Create(p)
                            } else {
                                MultiResult::Create2(p, s)
                            }
                        }
                        TxnResult::Deleted => MultiResult::Delete,
                        TxnResult::SetData(s) => MultiResult::SetData(s),
                        TxnResult::Checked => MultiResult::Check,
                        TxnResult::Error(e) => MultiResult::Error(e.code()),
                        _ => MultiResult::Error(ErrorCode::RuntimeInconsistency.code()),
                    })
                    .collect();
                record_frame(o.xid, zxid, &MultiResponse { results })
            }
            _ => frame(o.xid, zxid, 0, None),
        }
    }

    // ---- reads ----------------------------------------------------------

    fn check_read(&self, auth: &[Id], node_acl: &[Acl], perm: i32) -> Result<(), ErrorCode> {
        if acl::check(node_acl, perm, auth, self.cfg.skip_acl) {
            Ok(())
        } else {
            Err(ErrorCode::NoAuth)
        }
    }

    fn read(&mut self, conn: ConnId, sid: i64, q: &Queued) {
        let zxid = self.tree.last_processed_zxid;
        // Taken out of the connection for the read and put back after it.
        let auth = self
            .conns
            .get_mut(&conn)
            .map(|c| std::mem::take(&mut c.auth))
            .unwrap_or_default();
        let mut r = Reader::new(&q.body);
        let res: Result<Option<Vec<u8>>, ErrorCode> = (|| {
            let bad = |_| ErrorCode::MarshallingError;
            match q.op {
                op::PING => Ok(None),
                op::GET_DATA => {
                    let req = PathAndWatch::read(&mut r).map_err(bad)?;
                    let n = self.tree.get(&req.path).ok_or(ErrorCode::NoNode)?;
                    self.check_read(&auth, self.tree.acl_of(n), perms::READ)?;
                    let resp = GetDataResponse {
                        data: n.data_vec(),
                        stat: n.client_stat(self.tree.extended_types),
                    };
                    if req.watch {
                        self.watches.add_data_watch(&req.path, conn);
                    }
                    Ok(Some(resp.to_bytes()))
                }
                op::EXISTS => {
                    let req = PathAndWatch::read(&mut r).map_err(bad)?;
                    if req.path.contains('\0') {
                        return Err(ErrorCode::BadArguments);
                    }
                    // exists needs no permission in ZooKeeper 3.8.0.
                    if req.watch {
                        self.watches.add_data_watch(&req.path, conn);
                    }
                    let n = self.tree.get(&req.path).ok_or(ErrorCode::NoNode)?;
                    Ok(Some(
                        StatResponse {
                            stat: n.client_stat(self.tree.extended_types),
                        }
                        .to_bytes(),
                    ))
                }
                op::GET_CHILDREN | op::GET_CHILDREN2 => {
                    let req = PathAndWatch::read(&mut r).map_err(bad)?;
                    let n = self.tree.get(&req.path).ok_or(ErrorCode::NoNode)?;
                    self.check_read(&auth, self.tree.acl_of(n), perms::READ)?;
                    let children: Vec<String> = n.children().map(String::from).collect();
                    let stat = n.client_stat(self.tree.extended_types);
                    if req.watch {
                        self.watches.add_child_watch(&req.path, conn);
                    }
                    Ok(Some(if q.op == op::GET_CHILDREN {
                        GetChildrenResponse { children }.to_bytes()
                    } else {
                        GetChildren2Response { children, stat }.to_bytes()
                    }))
                }
                op::GET_ACL => {
                    let req = PathRequest::read(&mut r).map_err(bad)?;
                    let n = self.tree.get(&req.path).ok_or(ErrorCode::NoNode)?;
                    let node_acl = self.tree.acl_of(n);
                    self.check_read(&auth, node_acl, perms::READ | perms::ADMIN)?;
                    let acl = if self.check_read(&auth, node_acl, perms::ADMIN).is_ok() {
                        node_acl.to_vec()
                    } else {
                        acl::mask_digests(node_acl)
                    };
                    Ok(Some(
                        GetAclResponse {
                            acl,
                            stat: n.client_stat(self.tree.extended_types),
                        }
                        .to_bytes(),
                    ))
                }
                op::GET_ALL_CHILDREN_NUMBER => {
                    let req = PathRequest::read(&mut r).map_err(bad)?;
                    let n = self.tree.get(&req.path).ok_or(ErrorCode::NoNode)?;
                    self.check_read(&auth, self.tree.acl_of(n), perms::READ)?;
                    let total = self.tree.count_descendants(&req.path) as i32;
                    Ok(Some(
                        GetAllChildrenNumberResponse {
                            total_number: total,
                        }
                        .to_bytes(),
                    ))
                }
                op::GET_EPHEMERALS => {
                    let req = PathRequest::read(&mut r).map_err(bad)?;
                    let prefix = req.path;
                    let all = prefix.is_empty() || prefix.trim() == "/";
                    let ephemerals = self
                        .tree
                        .ephemerals_of(sid)
                        .into_iter()
                        .filter(|p| all || p.starts_with(&prefix))
                        .collect();
                    Ok(Some(GetEphemeralsResponse { ephemerals }.to_bytes()))
                }
                op::SYNC => {
                    let req = PathRequest::read(&mut r).map_err(bad)?;
                    Ok(Some(req.to_bytes()))
                }
                op::WHO_AM_I => {
                    let client_info = auth
                        .iter()
                        .map(|id| ClientInfo {
                            auth_scheme: id.scheme.clone(),
                            user: match id.scheme.as_str() {
                                "digest" => id.id.split(':').next().unwrap_or_default().to_string(),
                                _ => id.id.clone(),
                            },
                        })
                        .collect();
                    Ok(Some(WhoAmIResponse { client_info }.to_bytes()))
                }
                op::ADD_WATCH => {
                    let req = AddWatchRequest::read(&mut r).map_err(bad)?;
                    let recursive = match req.mode {
                        0 => false,
                        1 => true,
                        _ => return Err(ErrorCode::BadArguments),
                    };
                    self.watches.add_persistent(&req.path, conn, recursive);
                    Ok(Some(ErrorResponse { err: 0 }.to_bytes()))
                }
                op::REMOVE_WATCHES | op::CHECK_WATCHES => {
                    let req = WatchesRequest::read(&mut r).map_err(bad)?;
                    let kind = Kind::from_i32(req.watcher_type).ok_or(ErrorCode::BadArguments)?;
                    let ok = if q.op == op::REMOVE_WATCHES {
                        self.watches.remove(&req.path, conn, kind)
                    } else {
                        self.watches.contains(&req.path, conn, kind)
                    };
                    if ok {
                        Ok(None)
                    } else {
                        Err(ErrorCode::NoWatcher)
                    }
                }
                op::SET_WATCHES | op::SET_WATCHES2 => {
                    let sw = if q.op == op::SET_WATCHES {
                        let s = SetWatches::read(&mut r).map_err(bad)?;
                        SetWatches2 {
                            relative_zxid: s.relative_zxid,
                            data_watches: s.data_watches,
                            exist_watches: s.exist_watches,
                            child_watches: s.child_watches,
                            ..Default::default()
                        }
                    } else {
                        SetWatches2::read(&mut r).map_err(bad)?
                    };
                    self.set_watches(conn, sw);
                    Ok(None)
                }
                op::MULTI_READ => {
                    let m = MultiRequest::read(&mut r).map_err(bad)?;
                    if m.ops.iter().any(|o| !o.is_read()) {
                        return Err(ErrorCode::MarshallingError);
                    }
                    let results = m
                        .ops
                        .iter()
                        .map(|o| {
                            let Some(n) = self.tree.get(o.path()) else {
                                return MultiResult::Error(ErrorCode::NoNode.code());
                            };
                            if self
                                .check_read(&auth, self.tree.acl_of(n), perms::READ)
                                .is_err()
                            {
                                return MultiResult::Error(ErrorCode::NoAuth.code());
                            }
                            match o {
                                MultiOp::GetData(_) => MultiResult::GetData(
                                    n.data_vec(),
                                    n.client_stat(self.tree.extended_types),
                                ),
                                _ => MultiResult::GetChildren(
                                    n.children().map(String::from).collect(),
                                ),
                            }
                        })
                        .collect();
                    Ok(Some(MultiResponse { results }.to_bytes()))
                }
                op::SASL => Err(ErrorCode::AuthFailed),
                _ => Err(ErrorCode::Unimplemented),
            }
        })();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.auth = auth;
        }
        let latency = q.received.elapsed();
        self.stats.record_latency(latency);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.record_latency(latency);
        }
        let fr = match res {
            Ok(None) => frame(q.xid, zxid, 0, None),
            Ok(Some(body)) => frame(q.xid, zxid, 0, Some(&|w: &mut Writer| w.write_raw(&body))),
            Err(e) => frame(q.xid, zxid, e.code(), None),
        };
        self.send(conn, fr);
    }

    /// Re-registers a reconnecting client's watches; fires the events it
    /// missed while away (ZooKeeper's `DataTree.setWatches`).
    fn set_watches(&mut self, conn: ConnId, sw: SetWatches2) {
        let rel = sw.relative_zxid;
        let mut events = Vec::new();
        for p in sw.data_watches {
            match self.tree.get(&p) {
                None => events.push((event::NODE_DELETED, p)),
                Some(n) if n.stat.mzxid > rel => events.push((event::NODE_DATA_CHANGED, p)),
                Some(_) => self.watches.add_data_watch(&p, conn),
            }
        }
        for p in sw.exist_watches {
            if self.tree.get(&p).is_some() {
                events.push((event::NODE_CREATED, p));
            } else {
                self.watches.add_data_watch(&p, conn);
            }
        }
        for p in sw.child_watches {
            match self.tree.get(&p) {
                None => events.push((event::NODE_DELETED, p)),
                Some(n) if n.stat.pzxid > rel => events.push((event::NODE_CHILDREN_CHANGED, p)),
                Some(_) => self.watches.add_child_watch(&p, conn),
            }
        }
        for p in sw.persistent_watches {
            self.watches.add_persistent(&p, conn, false);
        }
        for p in sw.persistent_recursive_watches {
            self.watches.add_persistent(&p, conn, true);
        }
        for (ev, p) in events {
            let we = WatcherEvent {
                event_type: ev,
                state: state::SYNC_CONNECTED,
                path: p,
            };
            let fr = record_frame(xid::NOTIFICATION, -1, &we);
            self.send(conn, fr);
        }
    }
}
