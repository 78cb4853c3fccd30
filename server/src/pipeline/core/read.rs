//! The read path: requests answered from the applied tree (get, exists,
//! children, ACLs, watches, multiRead, whoami, ...).

use super::*;

impl Core {
    pub(super) fn check_read(
        &self,
        auth: &[Id],
        node_acl: &[Acl],
        perm: i32,
    ) -> Result<(), ErrorCode> {
        if acl::check(node_acl, perm, auth, self.cfg.skip_acl) {
            Ok(())
        } else {
            Err(ErrorCode::NoAuth)
        }
    }

    pub(super) fn read(&mut self, conn: ConnId, sid: i64, q: &Queued) {
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
    pub(super) fn set_watches(&mut self, conn: ConnId, sw: SetWatches2) {
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
