//! The pipeline's replicated side: what changes when a quorum peer loop
//! drives it (see `role.rs` for the seam).
//!
//! * A learner forwards writes, `sync`, createSession and closeSession to
//!   the leader and answers them when the matching COMMIT (or SYNC) comes
//!   back; reads stay local.
//! * A leader prepares everything (its own clients' requests and the ones
//!   learners forward) and hands each txn to the ZAB leader core.
//! * Every member applies commits in zxid order, logs what its ZAB core asks
//!   it to, and keeps the newest committed txns for DIFF.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tracing::{debug, info, warn};
use zkproto::consts::op;
use zkproto::records::{Id, SyncResponse};
use zkproto::txn::{Txn, TxnEntry, TxnHeader};

use super::{decode_write, now_ms, record_frame, Core, InFlight, Member, Origin};
use super::{ConnId, QuorumPacket, COMMITTED_LOG_COUNT};
use crate::db::session::SessionTracker;
use crate::pipeline::role::{MemberState, Mode, PeerEvent, PeerMsg, PeerTx};
use crate::quorum::types::packet;
use crate::quorum::wire::payload::{decode_forwarded_request, ForwardedRequest};
use crate::storage::logstage::LogCmd;
use crate::storage::{write_snapshot, SnapshotData};

impl Core {
    /// Makes this pipeline a replicated member driven by a peer loop. It
    /// serves nothing until the peer says so.
    pub fn attach_peer(
        &mut self,
        peer: PeerTx,
        leader_serves: bool,
        conf: String,
        config_text: Vec<u8>,
    ) {
        self.leader_serves = leader_serves;
        self.member_conf = Some(conf);
        self.tree.set_config_node(&config_text, now_ms());
        self.config_text = Some(config_text);
        self.member = Some(Member {
            peer,
            forwarded: HashMap::new(),
            syncs: VecDeque::new(),
            committed_log: VecDeque::new(),
            revalidating: HashMap::new(),
            tail: Default::default(),
            touched: HashMap::new(),
        });
        self.serving = false;
        self.mode = Mode::Follower;
    }

    /// Whether writes go to a leader elsewhere.
    pub(super) fn is_learner(&self) -> bool {
        self.member.is_some() && matches!(self.mode, Mode::Follower | Mode::Observer)
    }

    /// Whether this member serves read-only clients without a quorum.
    pub fn is_read_only(&self) -> bool {
        self.serving && self.mode == Mode::ReadOnly
    }

    /// Sends a client request to the leader as REQUEST and remembers whom
    /// to answer when its COMMIT arrives.
    pub(super) fn forward(
        &mut self,
        session_id: i64,
        cxid: i32,
        opc: i32,
        body: Vec<u8>,
        auth: Vec<Id>,
        origin: Origin,
    ) {
        let Some(m) = self.member.as_mut() else {
            return;
        };
        m.forwarded.insert((session_id, cxid), origin);
        let _ = m.peer.send(PeerMsg::Forward(request_packet(
            session_id, cxid, opc, body, auth,
        )));
    }

    /// Asks the leader whether session `sid` is alive before connection
    /// `conn` may take it over (`Learner.validateSession`).
    pub(super) fn revalidate(&mut self, sid: i64, timeout: i32, conn: ConnId) {
        let Some(m) = self.member.as_mut() else {
            return;
        };
        m.revalidating.insert(sid, (conn, timeout));
        let pkt = QuorumPacket::with_data(
            packet::REVALIDATE,
            -1,
            crate::quorum::wire::payload::revalidate_request_data(sid, timeout),
        );
        let _ = m.peer.send(PeerMsg::Forward(pkt));
    }

    /// The leader's answer to [`Core::revalidate`].
    fn on_revalidated(&mut self, sid: i64, valid: bool) {
        let Some((conn, timeout)) = self
            .member
            .as_mut()
            .and_then(|m| m.revalidating.remove(&sid))
        else {
            return;
        };
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let remote = c.remote;
        if !valid {
            info!("session 0x{sid:x} from {remote} is expired (the leader says)");
            super::sessions::refuse_session(c);
            self.on_closed(conn);
            return;
        }
        if let Some(old) = self.session_conn.insert(sid, conn) {
            if old != conn {
                self.close_conn(old);
            }
        }
        if self.sessions.get(sid).is_none() {
            // Created on another member an instant ago: its txn is on its way.
            self.sessions.add(sid, timeout);
        }
        self.sessions.set_timeout(sid, timeout);
        info!("session 0x{sid:x} reconnected from {remote}, timeout {timeout} ms");
        self.establish(conn);
    }

    /// Forwards a client `sync`; the leader answers with SYNC once every
    /// txn it had proposed when the sync arrived is committed here too.
    pub(super) fn forward_sync(
        &mut self,
        session_id: i64,
        cxid: i32,
        body: Vec<u8>,
        auth: Vec<Id>,
        origin: Origin,
        path: String,
    ) {
        let Some(m) = self.member.as_mut() else {
            return;
        };
        m.syncs.push_back((origin, path));
        let pkt = request_packet(session_id, cxid, op::SYNC, body, auth);
        let _ = m.peer.send(PeerMsg::Forward(pkt));
    }

    pub(super) fn on_peer(&mut self, ev: PeerEvent) {
        match ev {
            PeerEvent::NotServing => self.stop_serving(),
            PeerEvent::ReadOnly => {
                self.stop_serving();
                self.mode = Mode::ReadOnly;
                self.serving = true;
                info!(
                    "no quorum: serving read-only clients at zxid 0x{:x}",
                    self.tree.last_processed_zxid
                );
            }
            PeerEvent::Stats(q) => self.quorum = Some(q),
            PeerEvent::Elected { ms } => self.elections.record(ms),
            PeerEvent::Serving { mode, epoch } => {
                self.mode = mode;
                self.serving = true;
                if mode == Mode::Leader {
                    // Proposals of this epoch count from epoch << 32, and the
                    // established leader's state *is* epoch << 32 (Java's
                    // lastProcessedZxid after NEWLEADER: what `srvr` shows and
                    // what a SNAP sent before the first write carries).
                    self.last_zxid = make_zxid_at(epoch);
                    if self.tree.last_processed_zxid < self.last_zxid {
                        self.tree.last_processed_zxid = self.last_zxid;
                    }
                    // The election's time must not expire anyone: every
                    // session gets a full timeout from now.
                    let ids: Vec<i64> = self.sessions.iter().map(|s| s.id).collect();
                    for id in ids {
                        self.sessions.touch(id);
                    }
                }
                info!(
                    "serving clients as {} (epoch {epoch}, zxid 0x{:x})",
                    mode.name(),
                    self.tree.last_processed_zxid
                );
            }
            PeerEvent::Persist { zxid, txn } => {
                if let Some(m) = self.member.as_mut() {
                    if zxid > self.tree.last_processed_zxid {
                        m.tail.insert(zxid, txn.clone());
                    }
                }
                if self.log_tx.send(LogCmd::AppendRaw { zxid, txn }).is_err() {
                    self.log_error = Some("the log writer has stopped".into());
                    self.fail_peer("the transaction log writer has stopped");
                }
            }
            PeerEvent::Truncate(zxid) => {
                if let Some(m) = self.member.as_mut() {
                    m.tail.retain(|z, _| *z <= zxid);
                }
                let _ = self.log_tx.send(LogCmd::Truncate(zxid));
            }
            PeerEvent::Commit { zxid, txn } => self.on_commit(zxid, txn),
            PeerEvent::LogBarrier { done } => {
                if let Err(e) = self.log_tx.send(LogCmd::Barrier(done)) {
                    // The log thread is gone: answer so the peer does not hang.
                    if let LogCmd::Barrier(d) = e.0 {
                        let _ = d.send(());
                    }
                }
            }
            PeerEvent::Reload { done } => {
                let r = match crate::storage::load_state(&self.cfg) {
                    Ok((tree, sessions, _)) => {
                        let zxid = tree.last_processed_zxid;
                        let mut tracker =
                            SessionTracker::new(self.cfg.server_id as i64, self.cfg.tick_time);
                        for (id, to) in &sessions {
                            tracker.add(*id, *to);
                        }
                        self.tree = tree;
                        if let Some(t) = self.config_text.clone() {
                            self.tree.set_config_node(&t, now_ms());
                        }
                        self.sessions = tracker;
                        self.outstanding = Default::default();
                        self.in_flight.clear();
                        self.last_zxid = zxid;
                        if let Some(m) = self.member.as_mut() {
                            m.committed_log.clear();
                            m.tail.clear();
                        }
                        info!("reloaded the dataDir after truncation: zxid 0x{zxid:x}");
                        Ok(zxid)
                    }
                    Err(e) => Err(format!("{e:#}")),
                };
                let _ = done.send(r);
            }
            PeerEvent::InstallSnapshot {
                tree,
                sessions,
                done,
            } => {
                let r = self.install_snapshot(*tree, sessions);
                let _ = done.send(r);
            }
            PeerEvent::TakeSnapshot { done } => {
                let _ = done.send(self.snapshot_now());
            }
            PeerEvent::SnapshotBody { zxid, reply } => {
                let _ = reply.send(self.snapshot_body(zxid));
            }
            PeerEvent::State { reply } => {
                let committed_log = self
                    .member
                    .as_ref()
                    .map(|m| m.committed_log.iter().cloned().collect())
                    .unwrap_or_default();
                let applied = self.tree.last_processed_zxid;
                let tail = self
                    .member
                    .as_mut()
                    .map(|m| {
                        m.tail.retain(|z, _| *z > applied);
                        m.tail.iter().map(|(z, t)| (*z, t.clone())).collect()
                    })
                    .unwrap_or_default();
                let _ = reply.send(MemberState {
                    last_zxid: applied,
                    committed_log,
                    tail,
                });
            }
            PeerEvent::Forwarded(pkt) => self.on_forwarded(pkt),
            PeerEvent::SessionValid { session, reply } => {
                let alive = self.sessions.get(session).is_some_and(|s| !s.closing);
                if alive {
                    self.sessions.touch(session);
                }
                let _ = reply.send(alive);
            }
            PeerEvent::Touches(t) => {
                for (sid, _) in t {
                    self.sessions.touch(sid);
                }
            }
            PeerEvent::Revalidated { session, valid } => self.on_revalidated(session, valid),
            PeerEvent::SyncDone => {
                let Some((o, path)) = self.member.as_mut().and_then(|m| m.syncs.pop_front()) else {
                    return;
                };
                if let Some(c) = self.conns.get_mut(&o.conn) {
                    c.pending_writes = c.pending_writes.saturating_sub(1);
                }
                let fr = record_frame(o.xid, self.tree.last_processed_zxid, &SyncResponse { path });
                self.send(o.conn, fr);
                self.drain(o.conn);
            }
        }
    }

    fn fail_peer(&mut self, why: &str) {
        if let Some(m) = &self.member {
            let _ = m.peer.send(PeerMsg::Fail(why.to_string()));
        }
    }

    /// LOOKING or a role ended: every client goes, nothing in flight will
    /// be answered by this member.
    fn stop_serving(&mut self) {
        if self.serving {
            info!("not serving clients: no quorum");
        }
        self.serving = false;
        let conns: Vec<_> = self.conns.keys().copied().collect();
        for c in conns {
            self.close_conn(c);
        }
        // Proposals not committed are forgotten (a new leader decides
        // their fate); so are the prepared changes they carried.
        self.in_flight.clear();
        self.outstanding = Default::default();
        if let Some(m) = self.member.as_mut() {
            m.forwarded.clear();
            m.syncs.clear();
            m.revalidating.clear();
        }
    }

    /// Applies a txn the ZAB core committed.
    fn on_commit(&mut self, zxid: i64, txn: Arc<[u8]>) {
        if zxid <= self.tree.last_processed_zxid {
            debug!("commit 0x{zxid:x} already applied");
            return;
        }
        if let Some(m) = self.member.as_mut() {
            m.tail.remove(&zxid);
            m.committed_log.push_back((zxid, txn.clone()));
            while m.committed_log.len() > COMMITTED_LOG_COUNT {
                m.committed_log.pop_front();
            }
        }
        // The leader's own proposals are in flight with their origins.
        if self
            .in_flight
            .front()
            .is_some_and(|f| f.entry.header.zxid == zxid)
        {
            if let Some(f) = self.in_flight.pop_front() {
                self.apply(f);
            }
            return;
        }
        let entry = match TxnEntry::decode(&txn) {
            Ok(e) => e,
            Err(e) => {
                warn!("committed txn 0x{zxid:x} does not decode ({e}); leaving the role");
                self.fail_peer("a committed txn does not decode");
                return;
            }
        };
        let key = (entry.header.client_id, entry.header.cxid);
        let mut origin = self.member.as_mut().and_then(|m| m.forwarded.remove(&key));
        if let (Some(o), Txn::Multi(txns)) = (origin.as_mut(), &entry.txn) {
            o.sub_ops = txns.iter().map(|t| t.op_type()).collect();
        }
        if let Some(o) = &origin {
            // An error txn answers the op that was asked, not `error`.
            debug!(
                "commit 0x{zxid:x} answers connection {} xid {}",
                o.conn, o.xid
            );
        }
        self.apply(InFlight {
            entry: Arc::new(entry),
            origin,
        });
    }

    /// Leader: a request a learner forwarded, prepared like a local one.
    fn on_forwarded(&mut self, pkt: QuorumPacket) {
        if self.mode != Mode::Leader || !self.serving {
            return;
        }
        let req = match decode_forwarded_request(pkt.data.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                info!("ignoring a malformed forwarded request: {e}");
                return;
            }
        };
        let auth = pkt.auth.unwrap_or_default();
        let sid = req.session_id;
        let time = now_ms();
        match req.op {
            op::CREATE_SESSION => {
                let Some(timeout) = req
                    .body
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(i32::from_be_bytes)
                else {
                    info!("ignoring a forwarded createSession without a timeout");
                    return;
                };
                self.sessions.add(sid, timeout);
                let hdr = TxnHeader {
                    client_id: sid,
                    cxid: req.cxid,
                    zxid: 0,
                    time,
                    op_type: op::CREATE_SESSION,
                };
                self.submit(
                    hdr,
                    Txn::CreateSession(zkproto::txn::CreateSessionTxn { time_out: timeout }),
                    None,
                );
            }
            op::CLOSE_SESSION => {
                if self.sessions.get(sid).is_some() {
                    self.submit_close(sid, req.cxid, None);
                }
            }
            opc => {
                self.sessions.touch(sid);
                match decode_write(opc, &req.body) {
                    Some(w) => self.prepare_and_submit(sid, req.cxid, &w, &auth, None),
                    None => info!("ignoring forwarded op {opc}: not a write"),
                }
            }
        }
    }

    /// SNAP: the leader's tree replaces ours, durably, before anything
    /// after it is logged (the log is restarted after the snapshot so no
    /// older history is ever replayed on top of it).
    fn install_snapshot(
        &mut self,
        tree: crate::db::tree::DataTree,
        sessions: Vec<(i64, i32)>,
    ) -> Result<(), String> {
        let zxid = tree.last_processed_zxid;
        let mut tracker = SessionTracker::new(self.cfg.server_id as i64, self.cfg.tick_time);
        for (id, to) in &sessions {
            tracker.add(*id, *to);
        }
        self.tree = tree;
        self.sessions = tracker;
        self.outstanding = Default::default();
        self.in_flight.clear();
        self.last_zxid = zxid;
        if let Some(m) = self.member.as_mut() {
            m.committed_log.clear();
            m.tail.clear();
        }
        // The leader's config node is replaced by our own view.
        if let Some(t) = self.config_text.clone() {
            self.tree.set_config_node(&t, now_ms());
        }
        self.snapshot_now()?;
        let _ = self.log_tx.send(LogCmd::Restart(zxid));
        info!("installed the leader's snapshot at zxid 0x{zxid:x}");
        Ok(())
    }

    /// Writes a snapshot of the applied tree synchronously (sync points of
    /// the quorum protocol; the periodic snapshots stay incremental).
    fn snapshot_now(&mut self) -> Result<(), String> {
        if self.cfg.data_dir.as_os_str().is_empty() {
            return Ok(());
        }
        let sessions: HashMap<i64, i32> =
            self.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
        let data = SnapshotData::of(&self.tree, &sessions);
        let dir = crate::storage::datadir::version_dir(&self.cfg.data_dir);
        write_snapshot(&dir, &data)
            .map(|_| ())
            .map_err(|e| format!("writing a snapshot in {}: {e}", dir.display()))
    }

    /// The tree as a SNAP body, exactly at `zxid`.
    fn snapshot_body(&self, zxid: i64) -> Result<Vec<u8>, String> {
        if self.tree.last_processed_zxid != zxid {
            return Err(format!(
                "SNAP at 0x{zxid:x} asked while the tree is at 0x{:x}",
                self.tree.last_processed_zxid
            ));
        }
        let sessions: HashMap<i64, i32> =
            self.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
        let data = SnapshotData::of(&self.tree, &sessions);
        crate::storage::snap_body(&data).map_err(|e| format!("serializing the tree: {e}"))
    }
}

fn make_zxid_at(epoch: i64) -> i64 {
    super::make_zxid(epoch, 0)
}

/// A client request as a learner forwards it (REQUEST, `Learner.request`):
/// the session, cxid, op and the request body as it arrived, with the
/// client's auth ids.
fn request_packet(
    session_id: i64,
    cxid: i32,
    opc: i32,
    body: Vec<u8>,
    auth: Vec<Id>,
) -> QuorumPacket {
    let req = ForwardedRequest {
        session_id,
        cxid,
        op: opc,
        body,
    };
    QuorumPacket {
        kind: packet::REQUEST,
        zxid: -1,
        data: Some(req.encode()),
        auth: Some(auth),
    }
}
