//! Client-side watch registry, modelled on the Java client's `ZKWatchManager`.
//!
//! The server keeps watches per connection and sends one notification per
//! (event, path); the client must know which watches it holds so that it can
//! re-register them after a reconnect (SetWatches), drop one-shot watches when
//! they fire, filter notifications it did not ask for, and answer
//! removeWatches/checkWatches locally. This client has a single watcher (the
//! event channel), so each table is just a set of paths.
//!
//! Paths are stored as *server* paths (chroot included). That keeps the
//! `getConfig` watch on `/zookeeper/config` (never chrooted) distinct from a
//! `/zookeeper/config` node under the chroot, and lets SetWatches send the
//! tables as they are.

use std::collections::BTreeSet;

use zkproto::consts::{event, watcher_type};

/// Which table a successful request adds its path to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchKind {
    /// getData / exists on an existing node.
    Data,
    /// exists on a missing node (fires on creation).
    Exist,
    /// getChildren.
    Child,
    /// addWatch mode 0.
    Persistent,
    /// addWatch mode 1.
    PersistentRecursive,
}

/// Snapshot of the registered watches, as client paths (chroot removed),
/// each list sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watches {
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    pub persistent: Vec<String>,
    pub persistent_recursive: Vec<String>,
}

/// What a local removal took away, one flag per `*WatchRemoved` event type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub child: bool,
    pub data: bool,
    pub persistent: bool,
}

impl Removed {
    pub fn any(self) -> bool {
        self.child || self.data || self.persistent
    }

    /// The local events to deliver, in the order zkCli prints them
    /// (`removewatches path -a`: DataWatchRemoved, then ChildWatchRemoved).
    pub fn event_types(self) -> Vec<i32> {
        let mut v = Vec::new();
        if self.data {
            v.push(event::DATA_WATCH_REMOVED);
        }
        if self.child {
            v.push(event::CHILD_WATCH_REMOVED);
        }
        if self.persistent {
            v.push(event::PERSISTENT_WATCH_REMOVED);
        }
        v
    }
}

/// The five watch tables of one session.
#[derive(Clone, Debug, Default)]
pub struct WatchRegistry {
    pub data: BTreeSet<String>,
    pub exist: BTreeSet<String>,
    pub child: BTreeSet<String>,
    pub persistent: BTreeSet<String>,
    pub persistent_recursive: BTreeSet<String>,
}

impl WatchRegistry {
    fn table_mut(&mut self, kind: WatchKind) -> &mut BTreeSet<String> {
        match kind {
            WatchKind::Data => &mut self.data,
            WatchKind::Exist => &mut self.exist,
            WatchKind::Child => &mut self.child,
            WatchKind::Persistent => &mut self.persistent,
            WatchKind::PersistentRecursive => &mut self.persistent_recursive,
        }
    }

    pub fn add(&mut self, kind: WatchKind, server_path: &str) {
        self.table_mut(kind).insert(server_path.to_string());
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.persistent_recursive.is_empty()
    }

    /// Applies a server notification (`materialize` in Java): removes the
    /// one-shot watches it consumes and returns whether any watch matched,
    /// i.e. whether the event is to be delivered. Persistent watches stay;
    /// recursive ones match the path and all its ancestors, except for
    /// NodeChildrenChanged, which recursive watches never report.
    pub fn trigger(&mut self, event_type: i32, server_path: &str) -> bool {
        let mut hit = false;
        match event_type {
            event::NODE_CREATED | event::NODE_DATA_CHANGED => {
                hit |= self.data.remove(server_path);
                hit |= self.exist.remove(server_path);
            }
            event::NODE_CHILDREN_CHANGED => {
                hit |= self.child.remove(server_path);
            }
            event::NODE_DELETED => {
                hit |= self.data.remove(server_path);
                hit |= self.exist.remove(server_path);
                hit |= self.child.remove(server_path);
            }
            _ => return false,
        }
        hit |= self.persistent.contains(server_path);
        if event_type != event::NODE_CHILDREN_CHANGED {
            hit |= ancestors_and_self(server_path).any(|p| self.persistent_recursive.contains(p));
        }
        hit
    }

    /// Whether a watch of `wtype` (a `WatcherType` code) is held on the path.
    pub fn contains(&self, server_path: &str, wtype: i32) -> bool {
        let p = server_path;
        match wtype {
            watcher_type::CHILDREN => self.child.contains(p),
            watcher_type::DATA => self.data.contains(p) || self.exist.contains(p),
            watcher_type::PERSISTENT => self.persistent.contains(p),
            watcher_type::PERSISTENT_RECURSIVE => self.persistent_recursive.contains(p),
            watcher_type::ANY => {
                self.child.contains(p)
                    || self.data.contains(p)
                    || self.exist.contains(p)
                    || self.persistent.contains(p)
                    || self.persistent_recursive.contains(p)
            }
            _ => false,
        }
    }

    /// Removes the watches of `wtype` on the path.
    pub fn remove(&mut self, server_path: &str, wtype: i32) -> Removed {
        let p = server_path;
        let mut r = Removed::default();
        let any = wtype == watcher_type::ANY;
        if any || wtype == watcher_type::CHILDREN {
            r.child |= self.child.remove(p);
        }
        if any || wtype == watcher_type::DATA {
            r.data |= self.data.remove(p);
            r.data |= self.exist.remove(p);
        }
        if any || wtype == watcher_type::PERSISTENT {
            r.persistent |= self.persistent.remove(p);
        }
        if any || wtype == watcher_type::PERSISTENT_RECURSIVE {
            r.persistent |= self.persistent_recursive.remove(p);
        }
        r
    }

    /// Snapshot with client paths.
    pub fn snapshot(&self, strip: impl Fn(&str) -> String) -> Watches {
        let conv = |s: &BTreeSet<String>| {
            let mut v: Vec<String> = s.iter().map(|p| strip(p)).collect();
            v.sort();
            v
        };
        Watches {
            data: conv(&self.data),
            exist: conv(&self.exist),
            child: conv(&self.child),
            persistent: conv(&self.persistent),
            persistent_recursive: conv(&self.persistent_recursive),
        }
    }
}

/// `path`, its parent, ..., `/` (Java's `PathParentIterator.forAll`).
fn ancestors_and_self(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let cur = next?;
        next = match cur.rfind('/') {
            _ if cur == "/" || cur.is_empty() => None,
            Some(0) => Some("/"),
            Some(i) => Some(&cur[..i]),
            None => None,
        };
        Some(cur)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors() {
        let v: Vec<_> = ancestors_and_self("/a/b/c").collect();
        assert_eq!(v, ["/a/b/c", "/a/b", "/a", "/"]);
        assert_eq!(ancestors_and_self("/").collect::<Vec<_>>(), ["/"]);
    }

    #[test]
    fn one_shot_and_persistent() {
        let mut r = WatchRegistry::default();
        r.add(WatchKind::Data, "/a");
        r.add(WatchKind::Child, "/a");
        assert!(r.trigger(event::NODE_DATA_CHANGED, "/a"));
        assert!(!r.data.contains("/a"));
        assert!(r.child.contains("/a"));
        assert!(!r.trigger(event::NODE_DATA_CHANGED, "/a"));
        assert!(r.trigger(event::NODE_DELETED, "/a"));
        assert!(r.is_empty());

        r.add(WatchKind::PersistentRecursive, "/r");
        assert!(r.trigger(event::NODE_CREATED, "/r/x/y"));
        assert!(!r.trigger(event::NODE_CHILDREN_CHANGED, "/r"));
        assert!(!r.trigger(event::NODE_CREATED, "/rx"));
        r.add(WatchKind::Persistent, "/p");
        assert!(r.trigger(event::NODE_CHILDREN_CHANGED, "/p"));
        assert!(r.persistent.contains("/p"));
    }

    #[test]
    fn removal() {
        let mut r = WatchRegistry::default();
        r.add(WatchKind::Exist, "/a");
        r.add(WatchKind::Child, "/a");
        assert!(r.contains("/a", watcher_type::DATA));
        assert!(!r.contains("/a", watcher_type::PERSISTENT));
        let rem = r.remove("/a", watcher_type::ANY);
        assert_eq!(
            rem.event_types(),
            [event::DATA_WATCH_REMOVED, event::CHILD_WATCH_REMOVED]
        );
        assert!(r.is_empty());
    }
}
