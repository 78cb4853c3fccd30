//! The write path after prepare: numbering and logging (or proposing) a
//! txn, applying it in zxid order once durable or committed, and the reply.

use super::*;

impl Core {
    /// The prepare stage as configured, numbering the next txn.
    fn prep_stage(&mut self, time: i64) -> Prep<'_> {
        Prep {
            tree: &self.tree,
            out: &mut self.outstanding,
            skip_acl: self.cfg.skip_acl,
            reconfig_enabled: self.cfg.reconfig_enabled,
            zxid: self.last_zxid + 1,
            time,
        }
    }

    /// The prepare stage for one write of session `sid` (a local client's,
    /// or one a learner forwarded): the txn, its header, then [`submit`].
    /// A failed prepare is an error txn, logged and answered like any other.
    ///
    /// [`submit`]: Core::submit
    pub(super) fn prepare_and_submit(
        &mut self,
        sid: i64,
        cxid: i32,
        req: &WriteRequest,
        auth: &[Id],
        mut origin: Option<Origin>,
    ) {
        let time = now_ms();
        let mut prep = self.prep_stage(time);
        let txn = prep.prepare(
            req,
            &Caller {
                session_id: sid,
                auth,
            },
        );
        // A multi's per-op results follow the logged sub-transactions.
        if let (Some(o), Txn::Multi(txns)) = (origin.as_mut(), &txn) {
            o.sub_ops = txns.iter().map(|t| t.op_type()).collect();
        }
        let op_type = match &txn {
            Txn::Error(_) => op::ERROR,
            t => t.op_type(),
        };
        let hdr = TxnHeader {
            client_id: sid,
            cxid,
            zxid: 0,
            time,
            op_type,
        };
        self.submit(hdr, txn, origin);
    }

    /// A closeSession txn for `sid`: its ephemerals go with it.
    pub(super) fn submit_close(&mut self, sid: i64, cxid: i32, origin: Option<Origin>) {
        self.sessions.mark_closing(sid);
        let time = now_ms();
        let mut prep = self.prep_stage(time);
        let txn = prep.prep_close_session(sid);
        let hdr = TxnHeader {
            client_id: sid,
            cxid,
            zxid: 0,
            time,
            op_type: op::CLOSE_SESSION,
        };
        self.submit(hdr, txn, origin);
    }

    /// Gives a prepared txn its zxid and hands it to the log.
    pub(super) fn submit(&mut self, mut hdr: TxnHeader, txn: Txn, origin: Option<Origin>) {
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

    pub(super) fn fail_in_flight(&mut self) {
        while let Some(f) = self.in_flight.pop_front() {
            if let Some(o) = f.origin {
                self.refuse(o);
            }
        }
    }

    /// Answers a write that cannot be logged: SYSTEMERROR and close; a new
    /// session gets no ConnectResponse, its connection is just closed.
    pub(super) fn refuse(&mut self, o: Origin) {
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

    pub(super) fn on_logged(&mut self, upto: i64) {
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
    pub(super) fn apply(&mut self, f: InFlight) {
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

    pub(super) fn write_reply(&self, o: &Origin, zxid: i64, result: TxnResult) -> Vec<u8> {
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
}
