//! The simulated transport and its faults: delays, FIFO per ordered pair,
//! lost messages, re-sends on reconnection, crashes, restarts, partitions.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use rand::Rng;

use super::{pair, Role, Sim};
use crate::quorum::election::{Election, ElectionConfig, Timing};
use crate::quorum::types::{LearnerType, Notification};

impl Sim {
    pub(super) fn delay(&mut self) -> u64 {
        if self.calm_seed {
            self.rng.gen_range(1..=50)
        } else if self.rng.gen_bool(0.1) {
            self.rng.gen_range(50..=400)
        } else {
            self.rng.gen_range(1..=30)
        }
    }

    pub(super) fn transmit(&mut self, from: usize, to: usize, n: Notification) {
        self.last_sent.insert((from, to), n.clone());
        if !self.connected(from, to) {
            return; // queued in Java; goes out (as last_sent) on reconnection
        }
        let d = self.delay();
        let fifo = self.fifo.entry((from, to)).or_insert(0);
        let at = (self.now + d).max(*fifo);
        *fifo = at;
        let g = *self.gen.get(&(from, to)).unwrap_or(&0);
        self.seq += 1;
        self.payloads.insert(self.seq, n);
        self.events.push(Reverse((at, self.seq, from, to, g)));
    }

    /// The connection between `a` and `b` dies: messages in flight are lost.
    pub(super) fn break_link(&mut self, a: usize, b: usize) {
        for k in [(a, b), (b, a)] {
            *self.gen.entry(k).or_insert(0) += 1;
        }
    }

    /// The connection comes back: each side re-sends its last message.
    pub(super) fn reconnect(&mut self, a: usize, b: usize) {
        for (x, y) in [(a, b), (b, a)] {
            if let Some(n) = self.last_sent.get(&(x, y)).cloned() {
                self.transmit(x, y, n);
            }
        }
    }

    pub(super) fn crash(&mut self, i: usize) {
        self.log(format!("{} crashes", self.members[i].sid));
        self.stats.crashes += 1;
        for j in 0..self.members.len() {
            if j != i {
                self.break_link(i, j);
                self.last_sent.remove(&(i, j));
            }
        }
        let m = &mut self.members[i];
        m.role = Role::Down;
        m.bad_since = None;
        m.core = Election::new(ElectionConfig {
            my_sid: m.sid,
            learner_type: if m.observer {
                LearnerType::Observer
            } else {
                LearnerType::Participant
            },
            voters: self.voters.clone(),
            config: self.config.clone(),
            timing: Timing::default(),
        });
        m.restart_at = Some(self.now + self.rng.gen_range(100..=3000));
    }

    pub(super) fn restart(&mut self, i: usize) {
        self.log(format!("{} starts", self.members[i].sid));
        self.members[i].restart_at = None;
        self.members[i].role = Role::Looking;
        for j in 0..self.members.len() {
            if j != i && self.connected(i, j) {
                self.reconnect(i, j);
            }
        }
        self.start(i);
    }

    pub(super) fn set_cut(&mut self, cut: BTreeSet<(usize, usize)>) {
        let old = std::mem::replace(&mut self.cut, cut);
        for &(a, b) in old.difference(&self.cut.clone()) {
            if self.connected(a, b) {
                self.reconnect(a, b);
            }
        }
        for &(a, b) in self.cut.clone().difference(&old) {
            self.break_link(a, b);
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
            3..=4 => {
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
                self.log(format!("partition {side:?}"));
                self.set_cut(cut);
                self.heal_at = Some(self.now + self.rng.gen_range(200..=5000));
            }
            5 => {
                let a = self.rng.gen_range(0..n);
                let b = self.rng.gen_range(0..n);
                if a != b {
                    let mut cut = self.cut.clone();
                    cut.insert(pair(a, b));
                    self.set_cut(cut);
                    self.heal_at = Some(self.now + self.rng.gen_range(200..=5000));
                }
            }
            _ => self.write(),
        }
        self.next_chaos = self.now + self.rng.gen_range(100..=2000);
    }
}
