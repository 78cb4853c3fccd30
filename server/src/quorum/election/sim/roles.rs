//! A stand-in for ZAB, just strong enough to end roles the way Java does:
//! establishment, syncing followers, writes, and giving up.

use super::{Role, Sim, FOLLOW_GRACE_MS, LEAD_GRACE_MS};
use crate::quorum::types::{epoch_of, make_zxid};

impl Sim {
    /// An established leader commits a txn on itself and its synced
    /// followers, so later elections see different zxids.
    pub(super) fn write(&mut self) {
        for l in 0..self.members.len() {
            let Role::Leading {
                established: Some(e),
                ..
            } = self.members[l].role
            else {
                continue;
            };
            let old = self.members[l].zxid;
            let z = if epoch_of(old) == e {
                old + 1
            } else {
                make_zxid(e, 1)
            };
            let sid = self.members[l].sid;
            for j in 0..self.members.len() {
                let follows = matches!(self.members[j].role, Role::Following { leader, synced: true, .. } if leader == sid);
                if (j == l || follows) && self.connected(l, j) {
                    self.members[j].zxid = z;
                }
            }
        }
    }

    /// Roles: what each needs, establishment, syncing, and giving up.
    pub(super) fn roles(&mut self) {
        for i in 0..self.members.len() {
            let sid = self.members[i].sid;
            let ok = match self.members[i].role {
                Role::Down | Role::Looking => continue,
                Role::Leading { established, term } => {
                    let sup: Vec<usize> = (0..self.members.len())
                        .filter(|&j| {
                            !self.members[j].observer
                                && self.connected(i, j)
                                && (j == i
                                    || matches!(self.members[j].role, Role::Following { leader, .. } if leader == sid))
                        })
                        .collect();
                    let ok = self.is_quorum(sup.len());
                    if ok && established.is_none() {
                        let e = sup
                            .iter()
                            .map(|&j| self.members[j].epoch)
                            .max()
                            .unwrap_or(0)
                            + 1;
                        self.log(format!("{sid} establishes epoch {e}"));
                        self.stats.established += 1;
                        self.members[i].role = Role::Leading {
                            established: Some(e),
                            term,
                        };
                        self.members[i].epoch = e;
                        self.members[i].core.update_vote_peer_epoch(e);
                    }
                    ok
                }
                Role::Following {
                    leader,
                    synced,
                    term,
                } => match self.idx(leader) {
                    Some(l) if self.connected(i, l) => match self.members[l].role {
                        Role::Leading {
                            term: t,
                            established,
                        } if term.is_none_or(|mine| mine == t) => {
                            self.members[i].role = Role::Following {
                                leader,
                                synced,
                                term: Some(t),
                            };
                            if let (Some(e), false) = (established, synced) {
                                let z = self.members[l].zxid;
                                let m = &mut self.members[i];
                                m.epoch = e;
                                m.zxid = z;
                                m.core.update_vote_peer_epoch(e);
                                m.role = Role::Following {
                                    leader,
                                    synced: true,
                                    term: Some(t),
                                };
                            }
                            true
                        }
                        _ => {
                            if term.is_some() {
                                self.lost_leader(i);
                                continue;
                            }
                            false
                        }
                    },
                    _ => {
                        if term.is_some() {
                            self.lost_leader(i);
                            continue;
                        }
                        false
                    }
                },
            };
            let grace = Self::grace(self.members[i].role);
            match (ok, self.members[i].bad_since) {
                (true, _) => self.members[i].bad_since = None,
                (false, None) => self.members[i].bad_since = Some(self.now),
                (false, Some(t)) if self.now >= t + grace => {
                    self.log(format!("{sid} gives up {:?}", self.members[i].role));
                    self.start(i);
                }
                _ => {}
            }
        }
    }

    /// The leadership this follower was connected to ended: Java's follower
    /// loses its quorum connection and looks again at once.
    pub(super) fn lost_leader(&mut self, i: usize) {
        self.log(format!(
            "{} lost its leader: {:?}",
            self.members[i].sid, self.members[i].role
        ));
        self.start(i);
    }

    pub(super) fn grace(role: Role) -> u64 {
        if matches!(role, Role::Leading { .. }) {
            LEAD_GRACE_MS
        } else {
            FOLLOW_GRACE_MS
        }
    }

    /// Whether everyone is up and settled on one established leader.
    pub(super) fn agreed(&self) -> bool {
        let Some(l) = self.members.iter().position(|m| {
            matches!(
                m.role,
                Role::Leading {
                    established: Some(_),
                    ..
                }
            )
        }) else {
            return false;
        };
        let sid = self.members[l].sid;
        self.members.iter().enumerate().all(|(j, m)| {
            j == l
                || (matches!(m.role, Role::Following { leader, synced: true, .. } if leader == sid)
                    && self.connected(j, l))
        })
    }

    pub(super) fn track_agreement(&mut self) {
        match (self.agreed(), self.agreed_since) {
            (true, None) => self.agreed_since = Some(self.now),
            (false, Some(_)) => self.agreed_since = None,
            _ => {}
        }
    }
}
