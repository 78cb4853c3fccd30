//! Watches (ZooKeeper's `WatchManager`), one table for data/exist watches and
//! one for child watches, keyed by path, holding the connections that watch.
//!
//! Watches belong to connections, not sessions: they vanish with the
//! connection and the client re-registers them with setWatches.

use std::collections::{BTreeMap, HashMap};

use zkproto::consts::event;
use zkproto::path;

pub type ConnId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One-shot: removed when it fires.
    Standard,
    /// addWatch PERSISTENT: stays, fires for the path itself.
    Persistent,
    /// addWatch PERSISTENT_RECURSIVE: stays, fires for the subtree (never
    /// NodeChildrenChanged).
    Recursive,
}

#[derive(Default)]
struct Table {
    by_path: HashMap<String, HashMap<ConnId, Mode>>,
}

impl Table {
    fn add(&mut self, p: &str, conn: ConnId, mode: Mode) {
        self.by_path
            .entry(p.to_string())
            .or_default()
            .insert(conn, mode);
    }

    /// ZooKeeper 3.8 keeps one mode per (connection, path) across both
    /// tables: the latest registration wins everywhere.
    fn set_mode_if_present(&mut self, p: &str, conn: ConnId, mode: Mode) {
        if let Some(m) = self.by_path.get_mut(p).and_then(|e| e.get_mut(&conn)) {
            *m = mode;
        }
    }

    fn remove(&mut self, p: &str, conn: ConnId, filter: impl Fn(Mode) -> bool) -> bool {
        let Some(e) = self.by_path.get_mut(p) else {
            return false;
        };
        let hit = e.get(&conn).is_some_and(|m| filter(*m));
        if hit {
            e.remove(&conn);
            if e.is_empty() {
                self.by_path.remove(p);
            }
        }
        hit
    }

    fn has(&self, p: &str, conn: ConnId, filter: impl Fn(Mode) -> bool) -> bool {
        self.by_path
            .get(p)
            .and_then(|e| e.get(&conn))
            .is_some_and(|m| filter(*m))
    }

    /// Connections to notify for an event on `p`; one-shot watches on `p` are
    /// consumed. Ancestors are visited only when recursive watches exist.
    fn trigger(&mut self, p: &str, event_type: i32, recursive: bool, out: &mut Vec<ConnId>) {
        if let Some(e) = self.by_path.get_mut(p) {
            e.retain(|conn, mode| {
                // A recursive watch never reports NodeChildrenChanged, even
                // from the child table (its mode is shared across tables).
                if *mode != Mode::Recursive || event_type != event::NODE_CHILDREN_CHANGED {
                    out.push(*conn);
                }
                *mode != Mode::Standard
            });
            if e.is_empty() {
                self.by_path.remove(p);
            }
        }
        if recursive && event_type != event::NODE_CHILDREN_CHANGED {
            let mut cur = p;
            while let Some(parent) = path::parent(cur) {
                if let Some(e) = self.by_path.get(parent) {
                    out.extend(
                        e.iter()
                            .filter(|(_, m)| **m == Mode::Recursive)
                            .map(|(c, _)| *c),
                    );
                }
                cur = parent;
            }
        }
    }
}

/// Which table(s) a removeWatches/checkWatches request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Children,
    Data,
    Any,
    Persistent,
    PersistentRecursive,
}

impl Kind {
    pub fn from_i32(v: i32) -> Option<Kind> {
        Some(match v {
            1 => Kind::Children,
            2 => Kind::Data,
            3 => Kind::Any,
            4 => Kind::Persistent,
            5 => Kind::PersistentRecursive,
            _ => return None,
        })
    }
}

#[derive(Default)]
pub struct WatchManager {
    data: Table,
    child: Table,
}

impl WatchManager {
    pub fn add_data_watch(&mut self, p: &str, conn: ConnId) {
        self.data.add(p, conn, Mode::Standard);
        self.child.set_mode_if_present(p, conn, Mode::Standard);
    }

    pub fn add_child_watch(&mut self, p: &str, conn: ConnId) {
        self.child.add(p, conn, Mode::Standard);
        self.data.set_mode_if_present(p, conn, Mode::Standard);
    }

    pub fn add_persistent(&mut self, p: &str, conn: ConnId, recursive: bool) {
        if recursive {
            self.data.add(p, conn, Mode::Recursive);
            self.child.set_mode_if_present(p, conn, Mode::Recursive);
        } else {
            self.data.add(p, conn, Mode::Persistent);
            self.child.add(p, conn, Mode::Persistent);
        }
    }

    /// Connections to notify of `event_type` on `p`, each once.
    pub fn trigger(&mut self, p: &str, event_type: i32) -> Vec<ConnId> {
        let mut out = Vec::new();
        let rec = true;
        match event_type {
            event::NODE_CREATED | event::NODE_DATA_CHANGED => {
                self.data.trigger(p, event_type, rec, &mut out)
            }
            event::NODE_DELETED => {
                self.data.trigger(p, event_type, rec, &mut out);
                self.child.trigger(p, event_type, false, &mut out);
            }
            event::NODE_CHILDREN_CHANGED => self.child.trigger(p, event_type, false, &mut out),
            _ => {}
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// removeWatches: true if something was removed.
    pub fn remove(&mut self, p: &str, conn: ConnId, kind: Kind) -> bool {
        match kind {
            Kind::Children => self.child.remove(p, conn, |m| m != Mode::Recursive),
            Kind::Data => self.data.remove(p, conn, |_| true),
            Kind::Any => {
                let a = self.child.remove(p, conn, |_| true);
                let b = self.data.remove(p, conn, |_| true);
                a || b
            }
            Kind::Persistent => {
                let a = self.child.remove(p, conn, |m| m == Mode::Persistent);
                let b = self.data.remove(p, conn, |m| m == Mode::Persistent);
                a || b
            }
            Kind::PersistentRecursive => self.data.remove(p, conn, |m| m == Mode::Recursive),
        }
    }

    /// checkWatches: whether `conn` has a watch of `kind` on `p`.
    pub fn contains(&self, p: &str, conn: ConnId, kind: Kind) -> bool {
        match kind {
            Kind::Children => self.child.has(p, conn, |_| true),
            Kind::Data => self.data.has(p, conn, |_| true),
            Kind::Any => self.child.has(p, conn, |_| true) || self.data.has(p, conn, |_| true),
            Kind::Persistent => self.data.has(p, conn, |m| m == Mode::Persistent),
            Kind::PersistentRecursive => self.data.has(p, conn, |m| m == Mode::Recursive),
        }
    }

    /// Drops every watch of a closed connection.
    pub fn remove_connection(&mut self, conn: ConnId) {
        for t in [&mut self.data, &mut self.child] {
            t.by_path.retain(|_, e| {
                e.remove(&conn);
                !e.is_empty()
            });
        }
    }

    /// Data watches by path → connections (for `wchp`, `wchs`, `wchc`,
    /// which in ZooKeeper 3.8 list the data-watch table only).
    pub fn by_path(&self) -> BTreeMap<String, Vec<ConnId>> {
        let mut out: BTreeMap<String, Vec<ConnId>> = BTreeMap::new();
        for t in [&self.data] {
            for (p, e) in &t.by_path {
                let v = out.entry(p.clone()).or_default();
                for c in e.keys() {
                    if !v.contains(c) {
                        v.push(*c);
                    }
                }
            }
        }
        for v in out.values_mut() {
            v.sort_unstable();
        }
        out
    }

    /// Registrations in both tables (`mntr`'s zk_watch_count).
    pub fn total_all(&self) -> usize {
        self.total() + self.child.by_path.values().map(|e| e.len()).sum::<usize>()
    }

    /// Number of (path, connection) data-watch registrations (`wchs`).
    pub fn total(&self) -> usize {
        self.data.by_path.values().map(|e| e.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_and_persistent() {
        let mut w = WatchManager::default();
        w.add_data_watch("/a", 1);
        w.add_persistent("/a", 2, false);
        w.add_persistent("/", 3, true);
        assert_eq!(w.trigger("/a", event::NODE_DATA_CHANGED), vec![1, 2, 3]);
        assert_eq!(w.trigger("/a", event::NODE_DATA_CHANGED), vec![2, 3]);
        assert_eq!(
            w.trigger("/", event::NODE_CHILDREN_CHANGED),
            Vec::<ConnId>::new()
        );
        assert_eq!(w.trigger("/a", event::NODE_CHILDREN_CHANGED), vec![2]);
        w.add_child_watch("/b", 4);
        w.add_data_watch("/b", 4);
        assert_eq!(w.trigger("/b", event::NODE_DELETED), vec![3, 4]);
        assert!(!w.remove("/b", 4, Kind::Any));
        assert!(w.remove("/", 3, Kind::PersistentRecursive));
        assert_eq!(w.trigger("/x", event::NODE_CREATED), Vec::<ConnId>::new());
    }
}
