//! The request pipeline: one task owns the tree, the sessions, the watches and
//! the connections' protocol state, and runs ZooKeeper's processors in order:
//!
//! ```text
//! decode (connection task) → prepare (prep.rs: validate, ACLs, txn + zxid)
//!   → log (standalone: the log task) or propose (leader: ZAB) or forward
//!     (learner: to the leader)
//!   → apply (tree.rs, in zxid order once durable or committed: fire
//!     watches, reply)
//! ```
//!
//! Reads are answered at once from the applied tree, except that a read from
//! a connection with writes in flight waits behind them, so each connection
//! sees its replies in request order and its own writes.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};
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
use crate::pipeline::role::{Mode, PeerMsg, PeerTx};
use crate::quorum::types::{make_zxid, QuorumPacket};
use crate::storage::logstage::LogCmd;
use crate::storage::{SnapshotStream, Snapshotter};

pub use super::msg::{ConnTx, CoreMsg, Outgoing, MAX_QUEUED_BYTES};

mod apply;
mod member;
mod read;
mod sessions;
mod snapjob;

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
    /// Reconnecting sessions waiting for the leader's REVALIDATE answer:
    /// the connection and the timeout asked for.
    revalidating: HashMap<i64, (ConnId, i32)>,
    /// Forwarded `sync`s, oldest first, with their paths.
    syncs: VecDeque<(Origin, String)>,
    /// The newest committed txns (the DIFF source of a future leader).
    committed_log: VecDeque<(i64, Arc<[u8]>)>,
    /// Logged, not yet committed (a role that ends leaves them on disk).
    tail: std::collections::BTreeMap<i64, Arc<[u8]>>,
    /// Sessions with traffic since the last report to the leader.
    touched: HashMap<i64, i32>,
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
    pending: Option<crate::storage::snapshot::EncodedNodes>,
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
    pub elections: crate::pipeline::role::ElectionStats,
    /// `leaderServes`: whether a leader takes client connections.
    leader_serves: bool,
    /// What `conf` prints after `serverId` on an ensemble member.
    pub member_conf: Option<String>,
    /// An ensemble member's membership text (`/zookeeper/config`).
    config_text: Option<Vec<u8>>,
    member: Option<Member>,
    snapshotter: Snapshotter,
    /// The log thread's and snapshot thread's timings (mntr).
    pub storage_metrics: Arc<crate::storage::metrics::StorageMetrics>,
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
    /// Shares `metrics` with the log thread (which got it at its start) so
    /// that `mntr` reports its fsync times and this core's snapshot times.
    pub fn use_storage_metrics(&mut self, metrics: Arc<crate::storage::metrics::StorageMetrics>) {
        self.snapshotter = Snapshotter::with_metrics(metrics.clone());
        self.storage_metrics = metrics;
    }

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
            elections: Default::default(),
            leader_serves: true,
            member_conf: None,
            config_text: None,
            member: None,
            snapshotter: Snapshotter::default(),
            storage_metrics: Default::default(),
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
                if self.member.is_some() {
                    // An ensemble member must not stay up: its tree may hold
                    // committed txns its disk lacks, and rejoining from that
                    // tree would leave a gap in its log. ZooKeeper exits here
                    // too; recovery from disk on restart is the only safe way.
                    error!(
                        "transaction log failed: {e}; exiting (status {}) so that a restart \
                         recovers from what is on disk and resyncs from the leader",
                        crate::EXIT_LOG_FAILED
                    );
                    std::process::exit(crate::EXIT_LOG_FAILED);
                }
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

    // ---- requests -------------------------------------------------------

    fn on_request(&mut self, conn: ConnId, xid: i32, opc: i32, body: Vec<u8>) {
        self.stats.packets_received += 1;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.stats.packets_received += 1;
        let sid = c.session_id;
        let timeout = c.timeout_ms;
        // A learner reports the sessions that showed life to the leader in
        // its next PING reply (LearnerSessionTracker's touch table).
        if c.established {
            if let Some(m) = self.member.as_mut() {
                m.touched.insert(sid, timeout);
            }
        }
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
        if self.is_read_only()
            && (q.op == op::SYNC
                || q.op == op::CLOSE_SESSION
                || decode_write(q.op, &q.body).is_some())
        {
            // ReadOnlyRequestProcessor: no write, sync or session change
            // without a quorum. A closeSession just drops the connection;
            // the session lives on (the next leader expires it).
            if q.op == op::CLOSE_SESSION {
                let f = frame(q.xid, self.tree.last_processed_zxid, 0, None);
                self.send(conn, f);
                self.close_conn(conn);
                return;
            }
            let f = frame(
                q.xid,
                self.tree.last_processed_zxid,
                ErrorCode::NotReadOnly.code(),
                None,
            );
            self.send(conn, f);
            return;
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
            // Borrowed out of the connection for the prepare stage (and put
            // back below) rather than copied per request.
            let auth = self
                .conns
                .get_mut(&conn)
                .map(|c| std::mem::take(&mut c.auth))
                .unwrap_or_default();
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
            self.prepare_and_submit(sid, q.xid, &req, &auth, Some(origin));
            if let Some(c) = self.conns.get_mut(&conn) {
                c.auth = auth;
            }
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

    // ---- reads ----------------------------------------------------------
}
