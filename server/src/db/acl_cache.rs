//! Interning of ACL lists (ZooKeeper's `ReferenceCountedACLCache`).
//!
//! Every node stores a `long` id; snapshots store the id → list map. Id -1 is
//! the built-in `OPEN_ACL_UNSAFE` used by `/`, `/zookeeper` and
//! `/zookeeper/quota`; it is never written to the map. Ids given out start at 1.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use zkproto::records::Acl;

/// `world:anyone:cdrwa`, shared.
static OPEN: LazyLock<Arc<[Acl]>> = LazyLock::new(|| Arc::from(Acl::open_unsafe()));

/// Lists are shared (`Arc`), so checking a request against a node's ACL or
/// carrying it through the prepare stage copies nothing.
#[derive(Default)]
pub struct AclCache {
    by_id: HashMap<i64, Arc<[Acl]>>,
    by_list: HashMap<Vec<Acl>, i64>,
    refs: HashMap<i64, u64>,
    next_id: i64,
}

impl AclCache {
    pub const OPEN_ACL_UNSAFE_ID: i64 = -1;

    /// The id for `acl`, allocating one if the list is new; takes a reference.
    pub fn intern(&mut self, acl: &[Acl]) -> i64 {
        if let Some(&id) = self.by_list.get(acl) {
            *self.refs.entry(id).or_insert(0) += 1;
            return id;
        }
        self.next_id += 1;
        let id = self.next_id;
        self.by_id.insert(id, Arc::from(acl));
        self.by_list.insert(acl.to_vec(), id);
        self.refs.insert(id, 1);
        id
    }

    /// Loads an entry from a snapshot (references are added per node).
    pub fn insert_loaded(&mut self, id: i64, acl: Vec<Acl>) {
        // Nodes keep ids in 32 bits; larger ids from a foreign snapshot are
        // remapped when their nodes are inserted (see `DataTree`).
        if id > self.next_id && id <= i64::from(i32::MAX) {
            self.next_id = id;
        }
        self.by_list.insert(acl.clone(), id);
        self.by_id.insert(id, Arc::from(acl));
        self.refs.entry(id).or_insert(0);
    }

    pub fn add_ref(&mut self, id: i64) {
        if id != Self::OPEN_ACL_UNSAFE_ID {
            *self.refs.entry(id).or_insert(0) += 1;
        }
    }

    /// Drops a reference; the entry goes when no node uses it.
    pub fn release(&mut self, id: i64) {
        if id == Self::OPEN_ACL_UNSAFE_ID {
            return;
        }
        if let Some(r) = self.refs.get_mut(&id) {
            *r = r.saturating_sub(1);
            if *r == 0 {
                self.refs.remove(&id);
                if let Some(list) = self.by_id.remove(&id) {
                    self.by_list.remove(&*list);
                }
            }
        }
    }

    /// The list of `id` (empty if unknown, which ZooKeeper treats as open).
    pub fn get(&self, id: i64) -> &[Acl] {
        if id == Self::OPEN_ACL_UNSAFE_ID {
            return &OPEN;
        }
        self.by_id.get(&id).map_or(&[], |a| a)
    }

    /// A shared handle on `acl`: the static one for the open ACL (most
    /// creates), a new one otherwise.
    pub fn shared(acl: &[Acl]) -> Arc<[Acl]> {
        if acl == &OPEN[..] {
            OPEN.clone()
        } else {
            Arc::from(acl)
        }
    }

    /// A shared handle on the list of `id`.
    pub fn get_arc(&self, id: i64) -> Arc<[Acl]> {
        if id == Self::OPEN_ACL_UNSAFE_ID {
            return OPEN.clone();
        }
        self.by_id
            .get(&id)
            .cloned()
            .unwrap_or_else(|| Arc::from(Vec::new()))
    }

    /// Entries for a snapshot, in id order.
    pub fn entries(&self) -> Vec<(i64, Vec<Acl>)> {
        let mut v: Vec<_> = self.by_id.iter().map(|(k, v)| (*k, v.to_vec())).collect();
        v.sort_by_key(|e| e.0);
        v
    }
}
