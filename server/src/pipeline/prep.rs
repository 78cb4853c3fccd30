//! The prepare stage (ZooKeeper's `PrepRequestProcessor`): validates a write,
//! checks ACLs and turns it into a [`Txn`] — or into an `ErrorTxn` carrying
//! the error code, which is logged and answered like any transaction.
//!
//! Writes are prepared before earlier ones are applied (they are waiting for
//! fsync, later for a quorum), so validation looks at the tree *plus* the
//! changes of transactions still in flight: the "outstanding changes".

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use zkproto::consts::{
    op, perms, CreateMode, ErrorCode, CONTAINER_EPHEMERAL_OWNER, MAX_TTL,
    TTL_EPHEMERAL_OWNER_PREFIX,
};
use zkproto::multi::MultiOp;
use zkproto::path;
use zkproto::records::{Acl, Id, StatPersisted};
use zkproto::txn::*;

use crate::db::acl;
use crate::db::tree::{self, node_kind, DataTree, NodeKind};

/// What prep needs to know of a node (ZooKeeper's `ChangeRecord`).
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    pub zxid: i64,
    /// `None` when the node is deleted by an in-flight transaction.
    pub stat: Option<StatPersisted>,
    pub child_count: i32,
    pub acl: std::sync::Arc<[Acl]>,
}

/// In-flight changes by path, newest wins.
#[derive(Default)]
pub struct Outstanding {
    by_path: HashMap<Arc<str>, ChangeRecord>,
    order: VecDeque<(i64, Arc<str>)>,
}

impl Outstanding {
    fn add(&mut self, p: &str, rec: ChangeRecord) {
        // One allocation shared by the index and the queue.
        let key: Arc<str> = Arc::from(p);
        self.order.push_back((rec.zxid, key.clone()));
        self.by_path.insert(key, rec);
    }

    /// Forgets the changes of transactions up to `zxid`, now in the tree.
    pub fn applied(&mut self, zxid: i64) {
        while let Some((z, _)) = self.order.front() {
            if *z > zxid {
                break;
            }
            let Some((z, p)) = self.order.pop_front() else {
                break;
            };
            if self.by_path.get(&*p).is_some_and(|r| r.zxid == z) {
                self.by_path.remove(&*p);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Paths currently being created/deleted with their records, for closeSession.
    fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &ChangeRecord)> {
        self.by_path.iter()
    }
}

/// Who is asking: the session and the identities of its connection.
pub struct Caller<'a> {
    pub session_id: i64,
    pub auth: &'a [Id],
}

/// Prepares transactions against the tree and the outstanding changes.
pub struct Prep<'a> {
    pub tree: &'a DataTree,
    pub out: &'a mut Outstanding,
    pub skip_acl: bool,
    pub reconfig_enabled: bool,
    pub zxid: i64,
    pub time: i64,
}

type PResult<T> = Result<T, ErrorCode>;

impl Prep<'_> {
    fn record(&self, p: &str) -> PResult<ChangeRecord> {
        if let Some(r) = self.out.by_path.get(p) {
            return if r.stat.is_some() {
                Ok(r.clone())
            } else {
                Err(ErrorCode::NoNode)
            };
        }
        let n = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
        Ok(ChangeRecord {
            zxid: n.stat.mzxid,
            stat: Some(n.stat.persisted()),
            child_count: n.num_children() as i32,
            acl: self.tree.acls.get_arc(n.acl_id()),
        })
    }

    fn check_acl(&self, acl: &[Acl], perm: i32, caller: &Caller) -> PResult<()> {
        if acl::check(acl, perm, caller.auth, self.skip_acl) {
            Ok(())
        } else {
            Err(ErrorCode::NoAuth)
        }
    }

    fn stat_of(rec: &ChangeRecord) -> PResult<&StatPersisted> {
        rec.stat.as_ref().ok_or(ErrorCode::NoNode)
    }

    /// `checkAndIncVersion`.
    fn inc_version(current: i32, expected: i32) -> PResult<i32> {
        if expected != -1 && expected != current {
            return Err(ErrorCode::BadVersion);
        }
        Ok(current.wrapping_add(1))
    }

    /// Prepares one write; an error becomes an ErrorTxn in [`Prep::prepare`].
    fn prep_op(&mut self, op_type: i32, o: &MultiOp, caller: &Caller) -> PResult<Txn> {
        match o {
            MultiOp::Create { req, .. } => self.prep_create(op_type, req, caller),
            MultiOp::Delete(d) => self.prep_delete(op_type, &d.path, d.version, caller),
            MultiOp::SetData(s) => {
                path::validate_path(&s.path).map_err(|_| ErrorCode::BadArguments)?;
                let rec = self.record(&s.path)?;
                self.check_acl(&rec.acl, perms::WRITE, caller)?;
                let st = Self::stat_of(&rec)?;
                let version = Self::inc_version(st.version, s.version)?;
                let mut new = rec.clone();
                new.zxid = self.zxid;
                if let Some(st) = new.stat.as_mut() {
                    st.version = version;
                    st.mzxid = self.zxid;
                    st.mtime = self.time;
                }
                self.out.add(&s.path, new);
                Ok(Txn::SetData {
                    op_type: op::SET_DATA,
                    txn: SetDataTxn {
                        path: s.path.clone(),
                        data: s.data.clone(),
                        version,
                    },
                })
            }
            MultiOp::Check(c) => {
                path::validate_path(&c.path).map_err(|_| ErrorCode::BadArguments)?;
                let rec = self.record(&c.path)?;
                self.check_acl(&rec.acl, perms::READ, caller)?;
                let version = Self::inc_version(Self::stat_of(&rec)?.version, c.version)?;
                Ok(Txn::Check(CheckVersionTxn {
                    path: c.path.clone(),
                    version,
                }))
            }
            MultiOp::GetData(_) | MultiOp::GetChildren(_) => Err(ErrorCode::MarshallingError),
        }
    }

    fn prep_create(
        &mut self,
        op_type: i32,
        req: &zkproto::records::CreateTtlRequest,
        caller: &Caller,
    ) -> PResult<Txn> {
        let mode = CreateMode::from_flags(req.flags).ok_or(ErrorCode::BadArguments)?;
        let ttl = if op_type == op::CREATE_TTL {
            req.ttl
        } else {
            -1
        };
        if mode.is_ttl() && !self.tree.extended_types {
            return Err(ErrorCode::Unimplemented);
        }
        if mode.is_ttl() {
            if ttl <= 0 || ttl > MAX_TTL {
                return Err(ErrorCode::BadArguments);
            }
        } else if ttl >= 0 {
            return Err(ErrorCode::BadArguments);
        }
        // As in ZooKeeper, the opcode decides the kind of node: a create or
        // create2 with the container flag makes a plain persistent node, a
        // createContainer always a container (a multi maps the flag to the
        // opcode before this, see `multi_op_type`).
        let p = &req.path;
        let last_slash = p.rfind('/').ok_or(ErrorCode::BadArguments)?;
        if p.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = if last_slash == 0 {
            "/"
        } else {
            &p[..last_slash]
        };
        let acl = acl::fixup_acl(&req.acl, caller.auth)?;
        let parent = self.record(parent_path)?;
        self.check_acl(&parent.acl, perms::CREATE, caller)?;
        let pstat = Self::stat_of(&parent)?.clone();
        let full = if mode.is_sequential() {
            format!("{p}{:010}", pstat.cversion)
        } else {
            p.clone()
        };
        path::validate_path(&full).map_err(|_| ErrorCode::BadArguments)?;
        if self.record(&full).is_ok() {
            return Err(ErrorCode::NodeExists);
        }
        if matches!(
            node_kind(pstat.ephemeral_owner, self.tree.extended_types),
            NodeKind::Ephemeral(_)
        ) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let new_cversion = pstat.cversion.wrapping_add(1);
        let owner = if op_type == op::CREATE_CONTAINER {
            CONTAINER_EPHEMERAL_OWNER
        } else if op_type == op::CREATE_TTL {
            TTL_EPHEMERAL_OWNER_PREFIX | ttl
        } else if mode.is_ephemeral() {
            caller.session_id
        } else {
            0
        };
        let mut new_parent = parent.clone();
        new_parent.zxid = self.zxid;
        new_parent.child_count += 1;
        if let Some(st) = new_parent.stat.as_mut() {
            st.cversion = new_cversion;
            st.pzxid = self.zxid;
        }
        self.out.add(parent_path, new_parent);
        self.out.add(
            &full,
            ChangeRecord {
                zxid: self.zxid,
                stat: Some(StatPersisted {
                    czxid: self.zxid,
                    mzxid: self.zxid,
                    ctime: self.time,
                    mtime: self.time,
                    ephemeral_owner: owner,
                    pzxid: self.zxid,
                    ..Default::default()
                }),
                child_count: 0,
                acl: crate::db::acl_cache::AclCache::shared(&acl),
            },
        );
        let data = req.data.clone();
        Ok(match op_type {
            op::CREATE_CONTAINER => Txn::CreateContainer(CreateContainerTxn {
                path: full,
                data,
                acl,
                parent_cversion: new_cversion,
            }),
            op::CREATE_TTL => Txn::CreateTtl(CreateTtlTxn {
                path: full,
                data,
                acl,
                parent_cversion: new_cversion,
                ttl,
            }),
            _ => Txn::Create {
                op_type,
                txn: CreateTxn {
                    path: full,
                    data,
                    acl,
                    ephemeral: mode.is_ephemeral(),
                    parent_cversion: new_cversion,
                },
            },
        })
    }

    fn prep_delete(
        &mut self,
        op_type: i32,
        p: &str,
        version: i32,
        caller: &Caller,
    ) -> PResult<Txn> {
        let last_slash = p.rfind('/').ok_or(ErrorCode::BadArguments)?;
        if p.contains('\0') || matches!(p, "/" | tree::ZOOKEEPER | tree::QUOTA | tree::CONFIG) {
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = if last_slash == 0 {
            "/"
        } else {
            &p[..last_slash]
        };
        let parent = self.record(parent_path)?;
        let node = self.record(p)?;
        let nstat = Self::stat_of(&node)?;
        if op_type == op::DELETE_CONTAINER {
            // Only the server deletes containers and expired TTL nodes.
            if node.child_count > 0 {
                return Err(ErrorCode::NotEmpty);
            }
            if matches!(
                node_kind(nstat.ephemeral_owner, self.tree.extended_types),
                NodeKind::Ephemeral(_) | NodeKind::Persistent
            ) {
                return Err(ErrorCode::BadVersion);
            }
        } else {
            self.check_acl(&parent.acl, perms::DELETE, caller)?;
            Self::inc_version(nstat.version, version)?;
            if node.child_count > 0 {
                return Err(ErrorCode::NotEmpty);
            }
        }
        self.record_delete(p, parent);
        Ok(Txn::Delete {
            op_type,
            txn: DeleteTxn {
                path: p.to_string(),
            },
        })
    }

    fn record_delete(&mut self, p: &str, parent: ChangeRecord) {
        let mut new_parent = parent;
        new_parent.zxid = self.zxid;
        new_parent.child_count -= 1;
        if let Some(st) = new_parent.stat.as_mut() {
            st.pzxid = self.zxid;
        }
        if let Some(pp) = path::parent(p) {
            self.out.add(pp, new_parent);
        }
        self.out.add(
            p,
            ChangeRecord {
                zxid: self.zxid,
                stat: None,
                child_count: 0,
                acl: std::sync::Arc::from(Vec::new()),
            },
        );
    }

    fn prep_set_acl(
        &mut self,
        p: &str,
        acl: &[Acl],
        version: i32,
        caller: &Caller,
    ) -> PResult<Txn> {
        path::validate_path(p).map_err(|_| ErrorCode::BadArguments)?;
        let acl = acl::fixup_acl(acl, caller.auth)?;
        let rec = self.record(p)?;
        self.check_acl(&rec.acl, perms::ADMIN, caller)?;
        let version = Self::inc_version(Self::stat_of(&rec)?.aversion, version)?;
        let mut new = rec.clone();
        new.zxid = self.zxid;
        new.acl = std::sync::Arc::from(acl.as_slice());
        if let Some(st) = new.stat.as_mut() {
            st.aversion = version;
        }
        self.out.add(p, new);
        Ok(Txn::SetAcl(SetAclTxn {
            path: p.to_string(),
            acl,
            version,
        }))
    }

    /// closeSession: deletes the session's ephemerals, including those still
    /// being created, minus those already being deleted.
    pub fn prep_close_session(&mut self, session_id: i64) -> Txn {
        let mut es: std::collections::BTreeSet<String> =
            self.tree.ephemerals_of(session_id).into_iter().collect();
        for (p, rec) in self.out.iter() {
            match &rec.stat {
                None => {
                    es.remove(&**p);
                }
                Some(st) if st.ephemeral_owner == session_id => {
                    es.insert(p.to_string());
                }
                Some(_) => {}
            }
        }
        for p in &es {
            if let Some(parent) = path::parent(p).and_then(|pp| self.record(pp).ok()) {
                self.record_delete(p, parent);
            }
        }
        Txn::CloseSession(Some(CloseSessionTxn {
            paths_to_delete: es.into_iter().collect(),
        }))
    }

    /// Prepares a write request; failures become `ErrorTxn`s, as in ZooKeeper.
    pub fn prepare(&mut self, req: &WriteRequest, caller: &Caller) -> Txn {
        let r = match req {
            WriteRequest::Single(op_type, o) => self.prep_op(*op_type, o, caller),
            WriteRequest::SetAcl { path, acl, version } => {
                self.prep_set_acl(path, acl, *version, caller)
            }
            WriteRequest::Multi(ops) => return self.prep_multi(ops, caller),
            WriteRequest::Reconfig => Err(if self.reconfig_enabled {
                ErrorCode::Unimplemented
            } else {
                ErrorCode::ReconfigDisabled
            }),
            WriteRequest::Malformed => Err(ErrorCode::MarshallingError),
        };
        r.unwrap_or_else(|e| Txn::Error(ErrorTxn { err: e.code() }))
    }

    fn prep_multi(&mut self, ops: &[MultiOp], caller: &Caller) -> Txn {
        let saved: Vec<(String, Option<ChangeRecord>)> = Vec::new();
        let mut saved = saved;
        for o in ops {
            let p = o.path().to_string();
            if !saved.iter().any(|(s, _)| *s == p) {
                saved.push((p.clone(), self.out.by_path.get(&*p).cloned()));
            }
            if let Some(pp) = path::parent(&p) {
                if !saved.iter().any(|(s, _)| s == pp) {
                    saved.push((pp.to_string(), self.out.by_path.get(pp).cloned()));
                }
            }
        }
        let order_len = self.out.order.len();
        let mut failed = false;
        let mut txns = Vec::with_capacity(ops.len());
        for o in ops {
            if failed {
                txns.push(Txn::Error(ErrorTxn {
                    err: ErrorCode::RuntimeInconsistency.code(),
                }));
                continue;
            }
            match self.prep_op(multi_op_type(o), o, caller) {
                Ok(t) => txns.push(t),
                Err(e) => {
                    failed = true;
                    txns.push(Txn::Error(ErrorTxn { err: e.code() }));
                    // Roll back this multi's outstanding changes.
                    self.out.order.truncate(order_len);
                    for (p, rec) in &saved {
                        match rec {
                            Some(r) => {
                                self.out.by_path.insert(Arc::from(p.as_str()), r.clone());
                            }
                            None => {
                                self.out.by_path.remove(p.as_str());
                            }
                        }
                    }
                    // Sequential creates may have touched other paths.
                    let z = self.zxid;
                    self.out.by_path.retain(|_, r| r.zxid != z);
                }
            }
        }
        Txn::Multi(txns)
    }
}

/// The opcode ZooKeeper gives an op inside a multi: its `Op.create` derives
/// it from the flags (container flag → createContainer), and create2 ops are
/// logged as plain creates — ZooKeeper 3.8's replay only accepts those.
fn multi_op_type(o: &MultiOp) -> i32 {
    match o {
        MultiOp::Create { op_type, req } => {
            if CreateMode::from_flags(req.flags).is_some_and(|m| m.is_container()) {
                op::CREATE_CONTAINER
            } else if *op_type == op::CREATE_TTL {
                op::CREATE_TTL
            } else {
                op::CREATE
            }
        }
        _ => o.op_type(),
    }
}

/// A decoded write request.
pub enum WriteRequest {
    /// create*/delete/setData/deleteContainer with its opcode.
    Single(i32, MultiOp),
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Multi(Vec<MultiOp>),
    Reconfig,
    /// The body could not be decoded: answered with MARSHALLINGERROR.
    Malformed,
}
