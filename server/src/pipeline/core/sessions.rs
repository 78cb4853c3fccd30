//! Sessions and their connections: the ConnectRequest (new session or
//! reconnect), the reply that establishes it, closing, expiry on the clock,
//! and the container / TTL reaper that runs on the same tick.

use super::*;

impl Core {
    pub(super) fn on_connect(
        &mut self,
        conn: ConnId,
        req: ConnectRequest,
        remote: SocketAddr,
        tx: ConnTx,
    ) {
        if !self.serving || (self.mode == Mode::Leader && !self.leader_serves) {
            // ZooKeeper drops the ConnectRequest of a server that is not
            // running by closing the socket, with no response (and a leader
            // with leaderServes=no takes no clients).
            debug!("refusing connection from {remote}: not serving (no quorum)");
            tx.close();
            return;
        }
        let read_only_byte = req.read_only.is_some();
        if self.is_read_only() && req.read_only != Some(true) {
            debug!("closing connection from {remote}: read-only server, client is not read-only");
            tx.close();
            return;
        }
        if self.is_read_only() && req.session_id == 0 {
            // No global session can be created without a quorum: a bare
            // ReplyHeader with NOTREADONLY instead of a ConnectResponse, as
            // 3.8 answers (quorum-wire.md §1 item 21).
            let f = frame(
                0,
                self.tree.last_processed_zxid,
                ErrorCode::NotReadOnly.code(),
                None,
            );
            tx.send(f);
            tx.close();
            return;
        }
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
        let password_ok = req.passwd.as_deref() == Some(&session::password(sid)[..]);
        if password_ok && self.is_learner() {
            // Only the leader knows whether a session is still alive (it
            // may have been created a moment ago, or expired): ask it
            // (REVALIDATE), and answer the client when it replies.
            c.session_id = sid;
            self.conns.insert(conn, c);
            self.revalidate(sid, timeout, conn);
            return;
        }
        let valid = password_ok && self.sessions.get(sid).is_some_and(|s| !s.closing);
        if !valid {
            info!("session 0x{sid:x} from {remote} is invalid or expired");
            refuse_session(&c);
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
    pub(super) fn establish(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.established = true;
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out: c.timeout_ms,
            session_id: c.session_id,
            passwd: Some(session::password(c.session_id)),
            read_only: c.read_only_byte.then_some(self.is_read_only()),
        };
        let mut w = Writer::framed();
        resp.write(&mut w);
        let f = w.finish_frame();
        self.send(conn, f);
        self.drain(conn);
    }

    pub(super) fn on_closed(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            self.watches.remove_connection(conn);
            if self.session_conn.get(&c.session_id) == Some(&conn) {
                self.session_conn.remove(&c.session_id);
            }
            debug!("connection {conn} from {} closed", c.remote);
        }
    }

    pub(super) fn on_tick(&mut self) {
        if let Some(m) = self.member.as_mut() {
            if self.mode != Mode::Leader {
                // Learners never expire sessions: they report the ones
                // with traffic since the last report, and the leader decides.
                let touched = std::mem::take(&mut m.touched);
                if self.serving && !touched.is_empty() {
                    let _ = m.peer.send(PeerMsg::Touches(touched.into_iter().collect()));
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
    pub(super) fn close_session(&mut self, sid: i64, origin: Option<Origin>) {
        if self.is_learner() {
            if let Some(o) = origin {
                let cxid = o.xid;
                self.forward(sid, cxid, op::CLOSE_SESSION, Vec::new(), Vec::new(), o);
            }
            return;
        }
        let cxid = origin.as_ref().map_or(0, |o| o.xid);
        self.submit_close(sid, cxid, origin);
    }

    /// Deletes empty containers that have had children and expired TTL nodes
    /// (ZooKeeper's `ContainerManager`), through deleteContainer txns.
    pub(super) fn check_containers(&mut self) {
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
}

/// The ConnectResponse of an invalid or expired session (timeout 0, id 0),
/// then the connection is closed, as ZooKeeper answers.
pub(super) fn refuse_session(c: &Conn) {
    let resp = ConnectResponse {
        protocol_version: 0,
        time_out: 0,
        session_id: 0,
        passwd: Some(vec![0; 16]),
        read_only: c.read_only_byte.then_some(false),
    };
    let mut w = Writer::framed();
    resp.write(&mut w);
    c.tx.send(w.finish_frame());
    c.tx.close();
}
