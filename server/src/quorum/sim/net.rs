//! The simulated network: election-port links (FIFO per ordered pair, lost
//! while cut or down, last message re-sent on reconnection), quorum-port
//! connections (one per learner role, FIFO both ways), partitions and the
//! chaos schedule.

use std::collections::{BTreeSet, VecDeque};

use rand::Rng;

use super::member::Role;
use super::{pair, Sim, CHAOS_MS};
use crate::quorum::types::{Notification, QuorumPacket, Zxid};
use crate::quorum::zab::{ConnId, Txn};

pub(super) enum Msg {
    Pkt(QuorumPacket),
    /// SNAP plus the inline stream (the leader's applied txns).
    Snap(Vec<(Zxid, Txn)>, QuorumPacket),
}

/// One quorum-port connection from `learner` to `leader`'s port.
pub(super) struct Conn {
    pub leader: usize,
    pub learner: usize,
    pub alive: bool,
    /// Taken by a leading core (`Leader::connected`); until then it waits in
    /// the accept queue of a LOOKING member (the driver's `early`).
    pub adopted: bool,
    pub opened_at: u64,
    pub to_learner: VecDeque<(u64, Msg)>,
    pub to_leader: VecDeque<(u64, QuorumPacket)>,
}

impl Sim {
    fn election_delay(&mut self) -> u64 {
        if !self.calm() && self.rng.gen_bool(0.1) {
            self.rng.gen_range(50..=400)
        } else {
            self.rng.gen_range(1..=30)
        }
    }

    fn quorum_delay(&mut self) -> u64 {
        if self.calm() {
            self.rng.gen_range(1..10)
        } else if self.rng.gen_bool(0.02) {
            self.rng.gen_range(60..300)
        } else {
            self.rng.gen_range(1..60)
        }
    }

    // ----- election port -----

    pub(super) fn transmit(&mut self, from: usize, to: usize, n: Notification) {
        self.last_sent.insert((from, to), n.clone());
        if !self.connected(from, to) {
            return; // queued in Java; goes out (as last_sent) on reconnection
        }
        let d = self.election_delay();
        let now = self.now;
        let q = self.elinks.entry((from, to)).or_default();
        let at = q.back().map_or(now + d, |b| b.0.max(now + d));
        q.push_back((at, n));
    }

    /// The election connection between `a` and `b` dies: in flight is lost.
    pub(super) fn break_link(&mut self, a: usize, b: usize) {
        self.elinks.remove(&(a, b));
        self.elinks.remove(&(b, a));
    }

    /// The connection comes back: each side re-sends its last message.
    pub(super) fn reconnect(&mut self, a: usize, b: usize) {
        for (x, y) in [(a, b), (b, a)] {
            if let Some(n) = self.last_sent.get(&(x, y)).cloned() {
                self.transmit(x, y, n);
            }
        }
    }

    pub(super) fn deliver_election(&mut self) {
        let keys: Vec<(usize, usize)> = self.elinks.keys().copied().collect();
        for (from, to) in keys {
            loop {
                let now = self.now;
                let Some(q) = self.elinks.get_mut(&(from, to)) else {
                    break;
                };
                if q.front().is_none_or(|e| e.0 > now) {
                    break;
                }
                let Some((_, n)) = q.pop_front() else { break };
                if !self.connected(from, to) {
                    continue;
                }
                let sid = self.members[from].sid;
                if self.held_back && matches!(self.members[to].role, Role::Connecting { .. }) {
                    self.members[to].held.push((sid, n));
                    continue;
                }
                let outs = self.members[to].election.receive(now, sid, n);
                self.exec_election(to, outs);
            }
        }
        self.elinks.retain(|_, q| !q.is_empty());
    }

    // ----- quorum port -----

    pub(super) fn open_conn(&mut self, learner: usize, leader: usize) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn {
                leader,
                learner,
                alive: true,
                adopted: false,
                opened_at: self.now,
                to_learner: VecDeque::new(),
                to_leader: VecDeque::new(),
            },
        );
        id
    }

    pub(super) fn send_from(&mut self, m: usize, to: ConnId, msg: Msg) {
        let d = self.quorum_delay();
        let now = self.now;
        let Some(c) = self.conns.get_mut(&to) else {
            return;
        };
        if !c.alive {
            return;
        }
        if c.leader == m {
            let at = c.to_learner.back().map_or(now + d, |b| b.0.max(now + d));
            c.to_learner.push_back((at, msg));
        } else if let Msg::Pkt(p) = msg {
            let at = c.to_leader.back().map_or(now + d, |b| b.0.max(now + d));
            c.to_leader.push_back((at, p));
        }
    }

    pub(super) fn deliver_quorum(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            loop {
                let now = self.now;
                let Some(c) = self.conns.get_mut(&id) else {
                    break;
                };
                if !c.alive {
                    break;
                }
                let (l, f) = (c.leader, c.learner);
                if c.to_learner.front().is_some_and(|e| e.0 <= now) {
                    let Some((_, msg)) = c.to_learner.pop_front() else {
                        break;
                    };
                    self.deliver_to_learner(f, id, msg);
                } else if c.adopted && c.to_leader.front().is_some_and(|e| e.0 <= now) {
                    let Some((_, p)) = c.to_leader.pop_front() else {
                        break;
                    };
                    if let Role::Leading(ld) = &mut self.members[l].role {
                        ld.receive(id, p);
                        let o = ld.take_outputs();
                        self.run(l, o);
                    }
                } else {
                    break;
                }
            }
        }
        self.conns.retain(|_, c| c.alive);
    }

    fn deliver_to_learner(&mut self, f: usize, id: ConnId, msg: Msg) {
        if !matches!(self.members[f].role, Role::Following(_, c) if c == id) {
            return;
        }
        let pkt = match msg {
            Msg::Pkt(p) => p,
            Msg::Snap(seq, p) => {
                let want: Vec<(Zxid, Txn)> = self
                    .global
                    .range(..=p.zxid)
                    .map(|(z, t)| (*z, t.clone()))
                    .collect();
                if seq != want {
                    self.fail("SNAP is not a prefix of the committed history".into());
                }
                let mem = &mut self.members[f];
                mem.applied = seq;
                mem.log.clear();
                mem.unsynced.clear();
                mem.pending_sync = None;
                p
            }
        };
        if let Role::Following(lr, _) = &mut self.members[f].role {
            lr.receive(pkt);
            let o = lr.take_outputs();
            self.run(f, o);
        }
    }

    /// A quorum connection dies: both cores hear of it.
    pub(super) fn kill_conn(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if !c.alive {
            return;
        }
        c.alive = false;
        let (l, f, adopted) = (c.leader, c.learner, c.adopted);
        if adopted {
            if let Role::Leading(ld) = &mut self.members[l].role {
                ld.disconnected(id);
                let o = ld.take_outputs();
                self.run(l, o);
            }
        }
        if let Role::Following(lr, c) = &mut self.members[f].role {
            if *c == id {
                lr.disconnected();
                let o = lr.take_outputs();
                self.run(f, o);
            }
        }
    }

    /// Kills every live connection `pred` selects.
    pub(super) fn kill_conns(&mut self, pred: impl Fn(&Conn) -> bool) {
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.alive && pred(c))
            .map(|(i, _)| *i)
            .collect();
        for i in ids {
            self.kill_conn(i);
        }
    }

    // ----- partitions and chaos -----

    pub(super) fn set_cut(&mut self, cut: BTreeSet<(usize, usize)>) {
        let old = std::mem::replace(&mut self.cut, cut);
        for &(a, b) in old.difference(&self.cut.clone()) {
            if self.connected(a, b) {
                self.reconnect(a, b);
            }
        }
        for &(a, b) in self.cut.clone().difference(&old) {
            self.break_link(a, b);
            self.kill_conns(|c| pair(c.leader, c.learner) == (a, b));
        }
    }

    pub(super) fn chaos(&mut self) {
        let n = self.members.len();
        match self.rng.gen_range(0..10) {
            0..=2 => {
                let i = self.rng.gen_range(0..n);
                if self.alive(i) {
                    self.crash(i);
                }
            }
            3 => {
                let ls = self.established_leaders();
                if let Some(&l) = ls.first() {
                    self.crash(l);
                }
            }
            4..=5 => {
                self.stats.partitions += 1;
                let side: Vec<bool> = (0..n).map(|_| self.rng.gen_bool(0.5)).collect();
                let mut cut = BTreeSet::new();
                for a in 0..n {
                    for b in a + 1..n {
                        if side[a] != side[b] {
                            cut.insert((a, b));
                        }
                    }
                }
                self.log_net(|| format!("partition {side:?}"));
                self.set_cut(cut);
                self.heal_at = Some(self.now + self.rng.gen_range(200..=5000));
            }
            6 => {
                let a = self.rng.gen_range(0..n);
                let b = self.rng.gen_range(0..n);
                if a != b {
                    self.stats.partitions += 1;
                    self.log(a, || format!("link to sid {} cut", self.members[b].sid));
                    let mut cut = self.cut.clone();
                    cut.insert(pair(a, b));
                    self.set_cut(cut);
                    self.heal_at = Some(self.now + self.rng.gen_range(200..=5000));
                }
            }
            _ => {}
        }
        self.next_chaos = (self.now + self.rng.gen_range(300..=3000)).min(CHAOS_MS + 1);
    }
}
