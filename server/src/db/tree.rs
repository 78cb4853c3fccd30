//! The znode tree (ZooKeeper's `DataTree`).
//!
//! The tree changes in exactly one way: [`DataTree::apply`] with a committed
//! transaction, in zxid order. Everything else here is read-only lookups. The
//! same `apply` replays the transaction log at start-up, so it tolerates the
//! effects of a fuzzy snapshot (a create of a node that exists, a delete of a
//! node that is gone) the way ZooKeeper does.

use std::collections::{BTreeSet, HashMap, HashSet};

use compact_str::CompactString;

use zkproto::consts::{
    event, op, ErrorCode, CONTAINER_EPHEMERAL_OWNER, TTL_EPHEMERAL_OWNER_PREFIX,
};
use zkproto::path;
use zkproto::records::{Acl, Stat, StatPersisted};
use zkproto::txn::{Txn, TxnHeader};

use crate::db::acl_cache::AclCache;
use crate::db::quota;

pub const ZOOKEEPER: &str = "/zookeeper";
pub const QUOTA: &str = "/zookeeper/quota";
pub const CONFIG: &str = "/zookeeper/config";

/// What kind of node the stored `ephemeralOwner` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Persistent,
    Ephemeral(i64),
    Container,
    Ttl(i64),
}

/// Decodes a stored `ephemeralOwner` (container and TTL markers included).
/// `extended` says whether TTL markers are interpreted (extendedTypesEnabled).
pub fn node_kind(owner: i64, extended: bool) -> NodeKind {
    if owner == 0 {
        NodeKind::Persistent
    } else if owner == CONTAINER_EPHEMERAL_OWNER {
        NodeKind::Container
    } else if extended && (owner & TTL_EPHEMERAL_OWNER_PREFIX) == TTL_EPHEMERAL_OWNER_PREFIX {
        NodeKind::Ttl(owner & zkproto::consts::MAX_TTL)
    } else {
        NodeKind::Ephemeral(owner)
    }
}

/// A child index: names in order (getChildren lists them sorted) to the
/// child's slot in the arena (see [`crate::db::children`]).
use crate::db::children::Children;

/// One znode. Its path is not stored: the tree is a real tree of names, so
/// a million znodes cost a million names, not a million paths (memory per
/// znode is one of the things users choose a coordination service on).
/// A node's stored Stat (ZooKeeper's `StatPersisted`) with its ACL id in
/// what would otherwise be padding: 64 bytes instead of 72.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub ephemeral_owner: i64,
    pub pzxid: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    /// ACL ids are small (1, 2, ... and -1 for the open ACL).
    acl_id: i32,
}

impl NodeStat {
    fn new(s: &StatPersisted, acl_id: i64) -> NodeStat {
        NodeStat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            ephemeral_owner: s.ephemeral_owner,
            pzxid: s.pzxid,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            acl_id: acl_id as i32,
        }
    }

    /// The record snapshots and the prepare stage use.
    pub fn persisted(&self) -> StatPersisted {
        StatPersisted {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: self.ephemeral_owner,
            pzxid: self.pzxid,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub stat: NodeStat,
    data: Option<Box<[u8]>>,
    /// `None` for a leaf (most nodes), so leaves carry no map at all.
    children: Option<Box<Children>>,
}

impl Node {
    fn new(data: Option<Vec<u8>>, acl_id: i64, stat: StatPersisted) -> Node {
        Node {
            data: data.map(Vec::into_boxed_slice),
            stat: NodeStat::new(&stat, acl_id),
            children: None,
        }
    }

    pub fn acl_id(&self) -> i64 {
        i64::from(self.stat.acl_id)
    }

    fn set_acl_id(&mut self, id: i64) {
        self.stat.acl_id = id as i32;
    }

    /// A free arena slot.
    fn vacant() -> Node {
        Node {
            data: None,
            stat: NodeStat {
                acl_id: i32::MIN,
                ..NodeStat::default()
            },
            children: None,
        }
    }

    /// The data; `None` is ZooKeeper's null (distinct from empty).
    pub fn data(&self) -> Option<&[u8]> {
        self.data.as_deref()
    }

    /// A copy of the data, as replies and snapshots carry it.
    pub fn data_vec(&self) -> Option<Vec<u8>> {
        self.data.as_ref().map(|d| d.to_vec())
    }

    fn data_len(&self) -> i64 {
        self.data.as_ref().map_or(0, |d| d.len() as i64)
    }

    /// Child names, in order.
    pub fn children(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.children.iter().flat_map(|c| c.iter().map(|(n, _)| n))
    }

    /// Child names with their arena ids, in order, starting after `after`
    /// (for walks that resume between slices: one search per resume).
    pub fn children_after<'a>(
        &'a self,
        after: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a str, u32)> + 'a {
        self.children.iter().flat_map(move |c| c.iter_after(after))
    }

    fn is_vacant(&self) -> bool {
        self.stat.acl_id == i32::MIN
    }

    pub fn num_children(&self) -> usize {
        self.children.as_ref().map_or(0, |c| c.len())
    }

    fn child(&self, name: &str) -> Option<u32> {
        self.children.as_ref().and_then(|c| c.get(name))
    }

    /// The client-visible Stat (`DataNode.copyStat`): dataLength and
    /// numChildren are derived, cversion is `2 × creates − children`, and the
    /// container/TTL markers show as 0.
    pub fn client_stat(&self, extended: bool) -> Stat {
        let s = &self.stat;
        let n = self.num_children() as i32;
        let owner = match node_kind(s.ephemeral_owner, extended) {
            NodeKind::Ephemeral(o) => o,
            NodeKind::Persistent | NodeKind::Container | NodeKind::Ttl(_) => 0,
        };
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(n),
            aversion: s.aversion,
            ephemeral_owner: owner,
            data_length: self.data_len() as i32,
            num_children: n,
            pzxid: s.pzxid,
        }
    }
}

/// Slots for nodes, in fixed-size chunks (so growth never copies the whole
/// tree nor leaves half of a doubled vector unused), with a free list.
#[derive(Default)]
struct Arena {
    chunks: Vec<Vec<Node>>,
    free: Vec<u32>,
}

const CHUNK: usize = 4096;

impl Arena {
    fn alloc(&mut self, n: Node) -> u32 {
        if let Some(i) = self.free.pop() {
            *self.get_mut(i) = n;
            return i;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let ci = self.chunks.len() - 1;
        let chunk = &mut self.chunks[ci];
        chunk.push(n);
        (ci * CHUNK + chunk.len() - 1) as u32
    }

    fn get(&self, i: u32) -> &Node {
        &self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    fn try_get(&self, i: u32) -> Option<&Node> {
        self.chunks
            .get(i as usize / CHUNK)
            .and_then(|c| c.get(i as usize % CHUNK))
    }

    fn get_mut(&mut self, i: u32) -> &mut Node {
        &mut self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    fn release(&mut self, i: u32) -> Node {
        self.free.push(i);
        std::mem::replace(self.get_mut(i), Node::vacant())
    }
}

const ROOT: u32 = 0;

/// A watch to fire because of a change: (path, event type).
pub type Trigger = (String, i32);

/// The result of applying one transaction, for the reply and the watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnResult {
    Created(String, Stat),
    Deleted,
    SetData(Stat),
    SetAcl(Stat),
    Checked,
    Multi(Vec<TxnResult>),
    SessionCreated,
    SessionClosed,
    Error(ErrorCode),
}

/// The znode tree plus the indexes ZooKeeper keeps beside it.
pub struct DataTree {
    arena: Arena,
    count: usize,
    pub acls: AclCache,
    /// Ephemeral paths by owning session.
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: HashSet<String>,
    ttls: HashSet<String>,
    /// Paths with a quota (`/zookeeper/quota/<path>/zookeeper_limits` exists).
    quota_paths: BTreeSet<String>,
    pub last_processed_zxid: i64,
    pub extended_types: bool,
    approximate_data_size: i64,
}

impl DataTree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota`, `/zookeeper/config`.
    pub fn new(extended_types: bool) -> DataTree {
        let mut t = DataTree::empty(extended_types);
        let open = AclCache::OPEN_ACL_UNSAFE_ID;
        t.arena
            .alloc(Node::new(Some(Vec::new()), open, StatPersisted::default()));
        t.count = 1;
        t.insert_system(ZOOKEEPER, open);
        t.insert_system(QUOTA, open);
        let read_only = t.acls.intern(&Acl::read_unsafe());
        t.insert_system(CONFIG, read_only);
        // ZooKeeper counts the system paths (and its second root key) in its
        // approximate data size.
        t.approximate_data_size = (ZOOKEEPER.len() + QUOTA.len() + CONFIG.len() + 1) as i64;
        // ZooKeeper creates /zookeeper/config with aclVersion -1.
        if let Some(i) = t.find(CONFIG) {
            t.arena.get_mut(i).stat.aversion = -1;
        }
        t
    }

    /// An ensemble member's `/zookeeper/config`: the membership text with
    /// dataVersion -1 and mtime `now_ms`, as `ZKDatabase.initConfigInZKDatabase`
    /// writes it at start and after every SNAP (quorum-wire.md §2.5).
    pub fn set_config_node(&mut self, text: &[u8], now_ms: i64) {
        let Some(i) = self.find(CONFIG) else { return };
        let node = self.arena.get_mut(i);
        let old_len = node.data_len();
        node.data = Some(Box::from(text));
        node.stat.version = -1;
        node.stat.mtime = now_ms;
        self.approximate_data_size += text.len() as i64 - old_len;
    }

    /// A tree with no nodes at all, to be filled from a snapshot.
    pub fn empty(extended_types: bool) -> DataTree {
        DataTree {
            arena: Arena::default(),
            count: 0,
            acls: AclCache::default(),
            ephemerals: HashMap::new(),
            containers: HashSet::new(),
            ttls: HashSet::new(),
            quota_paths: BTreeSet::new(),
            last_processed_zxid: 0,
            extended_types,
            approximate_data_size: 0,
        }
    }

    fn insert_system(&mut self, p: &str, acl_id: i64) {
        self.link(
            p,
            Node::new(Some(Vec::new()), acl_id, StatPersisted::default()),
        );
    }

    /// Puts a new node into the arena and its name into its parent; `None`
    /// if the parent is missing or the name is taken.
    fn link(&mut self, p: &str, node: Node) -> Option<u32> {
        let parent = self.find(path::parent(p)?)?;
        let name = CompactString::from(path::basename(p));
        if self.arena.get(parent).child(&name).is_some() {
            return None;
        }
        let i = self.arena.alloc(node);
        self.arena
            .get_mut(parent)
            .children
            .get_or_insert_with(Default::default)
            .insert(name, i);
        self.count += 1;
        Some(i)
    }

    /// Inserts a node read from a snapshot (parents come before children;
    /// a node whose parent is missing is dropped with a warning).
    pub fn insert_from_snapshot(
        &mut self,
        p: &str,
        data: Option<Vec<u8>>,
        acl_id: i64,
        stat: StatPersisted,
    ) {
        let p = if p.is_empty() { "/" } else { p };
        let acl_id = if i32::try_from(acl_id).is_ok() {
            self.acls.add_ref(acl_id);
            acl_id
        } else {
            // An id beyond 32 bits (a very long-lived ZooKeeper): give the
            // same list a small id of ours (`intern` takes the reference).
            let list = self.acls.get(acl_id).to_vec();
            self.acls.intern(&list)
        };
        let len = data.as_ref().map_or(0, |d| d.len() as i64);
        let owner = stat.ephemeral_owner;
        let node = Node::new(data, acl_id, stat);
        if p == "/" {
            if self.count == 0 {
                self.arena.alloc(node);
                self.count = 1;
            } else {
                *self.arena.get_mut(ROOT) = node;
            }
        } else if self.link(p, node).is_none() {
            tracing::warn!("snapshot node {p} has no parent (or is a duplicate); skipped");
            return;
        }
        self.index_node(p, owner);
        self.approximate_data_size += p.len() as i64 + len;
        if p.starts_with(QUOTA) && path::basename(p) == quota::LIMITS_NODE {
            if let Some(qp) = quota::quota_path_of_limits(p) {
                self.quota_paths.insert(qp);
            }
        }
    }

    fn index_node(&mut self, p: &str, owner: i64) {
        match node_kind(owner, self.extended_types) {
            NodeKind::Ephemeral(s) => {
                self.ephemerals.entry(s).or_default().insert(p.to_string());
            }
            NodeKind::Container => {
                self.containers.insert(p.to_string());
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(p.to_string());
            }
            NodeKind::Persistent => {}
        }
    }

    fn unindex_node(&mut self, p: &str, owner: i64) {
        match node_kind(owner, self.extended_types) {
            NodeKind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(p);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            NodeKind::Container => {
                self.containers.remove(p);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(p);
            }
            NodeKind::Persistent => {}
        }
    }

    /// The arena slot of `p`, walking from the root one name at a time.
    fn find(&self, p: &str) -> Option<u32> {
        if self.count == 0 || !p.starts_with('/') {
            return None;
        }
        if p == "/" {
            return Some(ROOT);
        }
        let mut cur = ROOT;
        for name in p[1..].split('/') {
            cur = self.arena.get(cur).child(name)?;
        }
        Some(cur)
    }

    pub fn get(&self, p: &str) -> Option<&Node> {
        self.find(p).map(|i| self.arena.get(i))
    }

    /// The node in arena slot `id`, or `None` if that slot is free. A slot
    /// freed by a delete may be reused by a later create, so a caller that
    /// kept an id across changes must check the node's czxid.
    pub fn node_by_id(&self, id: u32) -> Option<&Node> {
        self.arena.try_get(id).filter(|n| !n.is_vacant())
    }

    /// The arena id of the root.
    pub const ROOT_ID: u32 = ROOT;

    /// The child `name` of `node` (a node of this tree).
    pub fn child_of(&self, node: &Node, name: &str) -> Option<&Node> {
        node.child(name).map(|i| self.arena.get(i))
    }

    fn get_mut(&mut self, p: &str) -> Option<&mut Node> {
        self.find(p).map(|i| self.arena.get_mut(i))
    }

    /// Number of znodes (ZooKeeper's count adds one: it keys the root twice).
    pub fn node_count(&self) -> usize {
        self.count
    }

    pub fn approximate_data_size(&self) -> i64 {
        self.approximate_data_size
    }

    pub fn acl_of(&self, node: &Node) -> &[Acl] {
        self.acls.get(node.acl_id())
    }

    pub fn ephemerals_of(&self, session: i64) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn all_ephemerals(&self) -> &HashMap<i64, BTreeSet<String>> {
        &self.ephemerals
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    pub fn containers(&self) -> impl Iterator<Item = &String> {
        self.containers.iter()
    }

    pub fn ttls(&self) -> impl Iterator<Item = &String> {
        self.ttls.iter()
    }

    /// Number of all descendants of `p` (not counting `p`).
    pub fn count_descendants(&self, p: &str) -> usize {
        let Some(i) = self.find(p) else { return 0 };
        let mut n = 0;
        let mut stack = vec![i];
        while let Some(cur) = stack.pop() {
            if let Some(c) = &self.arena.get(cur).children {
                n += c.len();
                stack.extend(c.values());
            }
        }
        n
    }

    /// Pre-order walk (parents before children), as snapshots need.
    pub fn walk(&self, mut f: impl FnMut(&str, &Node)) {
        if self.count == 0 {
            return;
        }
        let mut stack = vec![("/".to_string(), ROOT)];
        while let Some((p, i)) = stack.pop() {
            let node = self.arena.get(i);
            f(&p, node);
            if let Some(c) = &node.children {
                for (name, ci) in c.iter().rev() {
                    stack.push((path::join(&p, name), ci));
                }
            }
        }
    }

    /// Applies a committed transaction and returns its result and the watches
    /// it fires. This is the only place the tree changes.
    pub fn apply(&mut self, hdr: &TxnHeader, txn: &Txn) -> (TxnResult, Vec<Trigger>) {
        let mut triggers = Vec::new();
        let res = self.apply_inner(hdr, txn, &mut triggers);
        if hdr.zxid > self.last_processed_zxid {
            self.last_processed_zxid = hdr.zxid;
        }
        (res, triggers)
    }

    fn apply_inner(&mut self, hdr: &TxnHeader, txn: &Txn, trig: &mut Vec<Trigger>) -> TxnResult {
        match txn {
            Txn::Create { txn: c, .. } => {
                let owner = if c.ephemeral { hdr.client_id } else { 0 };
                self.create_node(
                    hdr,
                    &c.path,
                    c.data.clone(),
                    &c.acl,
                    owner,
                    c.parent_cversion,
                    trig,
                )
            }
            Txn::CreateContainer(c) => self.create_node(
                hdr,
                &c.path,
                c.data.clone(),
                &c.acl,
                CONTAINER_EPHEMERAL_OWNER,
                c.parent_cversion,
                trig,
            ),
            Txn::CreateTtl(c) => self.create_node(
                hdr,
                &c.path,
                c.data.clone(),
                &c.acl,
                TTL_EPHEMERAL_OWNER_PREFIX | (c.ttl & zkproto::consts::MAX_TTL),
                c.parent_cversion,
                trig,
            ),
            Txn::Delete { txn: d, .. } => self.delete_node(hdr.zxid, &d.path, trig),
            Txn::SetData { txn: s, .. } => {
                let extended = self.extended_types;
                let Some(node) = self.get_mut(&s.path) else {
                    return TxnResult::Error(ErrorCode::NoNode);
                };
                let old_len = node.data_len();
                let new_len = s.data.as_ref().map_or(0, |d| d.len() as i64);
                node.data = s.data.as_deref().map(Box::from);
                node.stat.version = s.version;
                node.stat.mzxid = hdr.zxid;
                node.stat.mtime = hdr.time;
                let stat = node.client_stat(extended);
                self.approximate_data_size += new_len - old_len;
                self.update_quota(&s.path, 0, new_len - old_len);
                trig.push((s.path.clone(), event::NODE_DATA_CHANGED));
                TxnResult::SetData(stat)
            }
            Txn::SetAcl(s) => {
                let Some(old) = self.get(&s.path).map(|n| n.acl_id()) else {
                    return TxnResult::Error(ErrorCode::NoNode);
                };
                let id = self.acls.intern(&s.acl);
                self.acls.release(old);
                let extended = self.extended_types;
                let Some(node) = self.get_mut(&s.path) else {
                    return TxnResult::Error(ErrorCode::NoNode);
                };
                node.set_acl_id(id);
                node.stat.aversion = s.version;
                TxnResult::SetAcl(node.client_stat(extended))
            }
            Txn::Check(_) => TxnResult::Checked,
            Txn::Multi(txns) => {
                // A multi is logged either all successful or all ErrorTxn.
                let failed = txns.iter().any(|t| matches!(t, Txn::Error(_)));
                if failed {
                    return TxnResult::Multi(
                        txns.iter()
                            .map(|t| match t {
                                Txn::Error(e) => TxnResult::Error(
                                    ErrorCode::from_i32(e.err).unwrap_or(ErrorCode::SystemError),
                                ),
                                _ => TxnResult::Error(ErrorCode::Ok),
                            })
                            .collect(),
                    );
                }
                TxnResult::Multi(
                    txns.iter()
                        .map(|t| self.apply_inner(hdr, t, trig))
                        .collect(),
                )
            }
            Txn::CreateSession(_) => TxnResult::SessionCreated,
            Txn::CloseSession(_) => {
                for p in self.ephemerals_of(hdr.client_id).into_iter().rev() {
                    self.delete_node(hdr.zxid, &p, trig);
                }
                TxnResult::SessionClosed
            }
            Txn::Error(e) => {
                TxnResult::Error(ErrorCode::from_i32(e.err).unwrap_or(ErrorCode::SystemError))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        hdr: &TxnHeader,
        p: &str,
        data: Option<Vec<u8>>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        trig: &mut Vec<Trigger>,
    ) -> TxnResult {
        let Some(parent_path) = path::parent(p) else {
            return TxnResult::Error(ErrorCode::NodeExists);
        };
        let extended = self.extended_types;
        let Some(parent_idx) = self.find(parent_path) else {
            return TxnResult::Error(ErrorCode::NoNode);
        };
        let parent = self.arena.get_mut(parent_idx);
        // Replay of a fuzzy snapshot: the node may already be there; ZooKeeper
        // still brings the parent's cversion/pzxid forward.
        let cv = if parent_cversion == -1 {
            parent.stat.cversion + 1
        } else {
            parent_cversion
        };
        if cv > parent.stat.cversion {
            parent.stat.cversion = cv;
            parent.stat.pzxid = hdr.zxid;
        }
        if parent.child(path::basename(p)).is_some() {
            return TxnResult::Error(ErrorCode::NodeExists);
        }
        let stat = StatPersisted {
            czxid: hdr.zxid,
            mzxid: hdr.zxid,
            ctime: hdr.time,
            mtime: hdr.time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: hdr.zxid,
        };
        let len = data.as_ref().map_or(0, |d| d.len() as i64);
        let acl_id = self.acls.intern(acl);
        let node = Node::new(data, acl_id, stat);
        let client_stat = node.client_stat(extended);
        if self.link(p, node).is_none() {
            self.acls.release(acl_id);
            return TxnResult::Error(ErrorCode::NodeExists);
        }
        self.index_node(p, owner);
        self.approximate_data_size += p.len() as i64 + len;
        if p.starts_with(QUOTA) {
            self.on_quota_node_created(p);
        }
        self.update_quota(p, 1, len);
        trig.push((p.to_string(), event::NODE_CREATED));
        trig.push((parent_path.to_string(), event::NODE_CHILDREN_CHANGED));
        TxnResult::Created(p.to_string(), client_stat)
    }

    fn delete_node(&mut self, zxid: i64, p: &str, trig: &mut Vec<Trigger>) -> TxnResult {
        let Some(parent_path) = path::parent(p) else {
            return TxnResult::Error(ErrorCode::BadArguments);
        };
        let Some(parent_idx) = self.find(parent_path) else {
            return TxnResult::Error(ErrorCode::NoNode);
        };
        let parent = self.arena.get_mut(parent_idx);
        // As ZooKeeper's deleteNode: the parent's pzxid moves forward before
        // the child is looked up. On replay over a fuzzy snapshot that copied
        // the parent before the child was deleted (and skipped the child),
        // the delete finds nothing but must still bring the pzxid forward.
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
        let Some(children) = parent.children.as_mut() else {
            return TxnResult::Error(ErrorCode::NoNode);
        };
        let Some(idx) = children.remove(path::basename(p)) else {
            return TxnResult::Error(ErrorCode::NoNode);
        };
        if children.is_empty() {
            parent.children = None;
        }
        let node = self.arena.release(idx);
        self.count -= 1;
        self.acls.release(node.acl_id());
        self.unindex_node(p, node.stat.ephemeral_owner);
        let len = node.data_len();
        self.approximate_data_size -= p.len() as i64 + len;
        trig.push((p.to_string(), event::NODE_DELETED));
        trig.push((parent_path.to_string(), event::NODE_CHILDREN_CHANGED));
        if p.starts_with(QUOTA) && path::basename(p) == quota::LIMITS_NODE {
            if let Some(qp) = quota::quota_path_of_limits(p) {
                self.quota_paths.remove(&qp);
            }
        }
        self.update_quota(p, -1, -len);
        TxnResult::Deleted
    }

    /// Keeps `zookeeper_stats` up to date as ZooKeeper's `updateCountBytes`
    /// does: the change is applied to the nearest quota'd ancestor's stats
    /// node, in memory only (no version change), exactly like ZooKeeper.
    fn update_quota(&mut self, p: &str, count: i64, bytes: i64) {
        if self.quota_paths.is_empty() || p.starts_with(QUOTA) {
            return;
        }
        let Some(qp) = self
            .quota_paths
            .iter()
            .filter(|q| quota::is_ancestor_or_self(q, p))
            .max_by_key(|q| q.len())
            .cloned()
        else {
            return;
        };
        let stats_path = quota::stats_node(&qp);
        if let Some(node) = self.get_mut(&stats_path) {
            let mut st = quota::StatsTrack::parse(node.data().unwrap_or_default());
            st.count += count;
            st.bytes += bytes;
            node.data = Some(st.to_string().into_bytes().into_boxed_slice());
        }
    }

    /// A limits node makes its path quota'd; a stats node gets the current
    /// usage of the subtree, as `DataTree.updateQuotaForPath`.
    fn on_quota_node_created(&mut self, p: &str) {
        let name = path::basename(p);
        if name == quota::LIMITS_NODE {
            if let Some(qp) = quota::quota_path_of_limits(p) {
                self.quota_paths.insert(qp);
            }
        } else if name == quota::STATS_NODE {
            if let Some(qp) = quota::quota_path_of_stats(p) {
                let (count, bytes) = self.usage(&qp);
                if let Some(node) = self.get_mut(p) {
                    let mut st = quota::StatsTrack::parse(node.data().unwrap_or_default());
                    st.count = count;
                    st.bytes = bytes;
                    node.data = Some(st.to_string().into_bytes().into_boxed_slice());
                }
            }
        }
    }

    fn usage(&self, p: &str) -> (i64, i64) {
        let Some(i) = self.find(p) else { return (0, 0) };
        let mut count = 0;
        let mut bytes = 0;
        let mut stack = vec![i];
        while let Some(cur) = stack.pop() {
            let node = self.arena.get(cur);
            count += 1;
            bytes += node.data_len();
            if let Some(c) = &node.children {
                stack.extend(c.values());
            }
        }
        (count, bytes)
    }

    /// Recomputes quota usage for every quota'd path (after loading a snapshot).
    pub fn refresh_quotas(&mut self) {
        let paths: Vec<String> = self.quota_paths.iter().cloned().collect();
        for qp in paths {
            let sp = quota::stats_node(&qp);
            if self.find(&sp).is_some() {
                self.on_quota_node_created(&sp);
            }
        }
    }
}

/// Opcodes of transactions that change the tree (used by the prep stage).
pub fn is_write(op_type: i32) -> bool {
    matches!(
        op_type,
        op::CREATE
            | op::CREATE2
            | op::CREATE_CONTAINER
            | op::CREATE_TTL
            | op::DELETE
            | op::DELETE_CONTAINER
            | op::SET_DATA
            | op::SET_ACL
            | op::MULTI
            | op::RECONFIG
            | op::CLOSE_SESSION
            | op::CREATE_SESSION
    )
}
