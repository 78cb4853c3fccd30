//! The periodic snapshot: the tree is walked a slice at a time between
//! requests and the copies streamed to the snapshot writer thread.

use super::*;
use crate::storage::snapshot::EncodedNodes;

impl Core {
    /// Starts a snapshot of the applied tree as of its last zxid. The walk
    /// runs in slices between requests ([`Core::snapshot_step`]).
    pub(super) fn take_snapshot(&mut self) {
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
    pub(super) fn snapshot_step(&mut self) -> bool {
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
        let mut chunk = EncodedNodes::with_capacity(SNAPSHOT_SLICE * 160);
        if job.root_pending {
            job.root_pending = false;
            if let Some(root) = tree.node_by_id(DataTree::ROOT_ID) {
                chunk.push("", "", root.data(), acl_of(root), &root.stat.persisted());
                job.stack.push(SnapFrame {
                    path: Arc::from("/"),
                    id: DataTree::ROOT_ID,
                    after: None,
                });
            }
        }
        while (chunk.len() as usize) < SNAPSHOT_SLICE {
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
                if chunk.len() as usize >= SNAPSHOT_SLICE {
                    finished = false;
                    break;
                }
                last = Some(name);
                // Children created after the snapshot's zxid are replayed.
                let Some(c) = tree.node_by_id(cid).filter(|c| c.stat.czxid <= job.zxid) else {
                    continue;
                };
                chunk.push(&top.path, name, c.data(), acl_of(c), &c.stat.persisted());
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
}
