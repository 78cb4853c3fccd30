//! Linearizability checking: Wing & Gong's search with Lowe's memoization
//! (the algorithm of Knossos' `wgl` and Porcupine), over one key's history.
//!
//! An operation has an invocation time, a completion time and an output, or
//! no completion at all: its outcome is unknown (a connection dropped, a
//! request timed out), so it may have taken effect at any time after its
//! invocation, or never. The search tries to order the operations so that
//! each takes effect at one instant between its invocation and completion and
//! the model, applied in that order, returns what each known operation
//! returned. It has a time and memory budget: when either runs out the answer
//! is [`Verdict::Unknown`], never a pass.

use std::collections::HashSet;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Nanoseconds since the start of the run.
pub type Time = u64;

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash;
    type Input;
    type Output: PartialEq;
    fn init(&self) -> Self::State;
    /// The state after `input`, and what a correct system answers.
    fn step(&self, s: &Self::State, input: &Self::Input) -> (Self::State, Self::Output);
}

/// One client operation.
#[derive(Clone, Debug)]
pub struct Op<I, O> {
    pub invoke: Time,
    /// `None`: the outcome is unknown.
    pub complete: Option<Time>,
    pub input: I,
    /// The answer, for a completed operation.
    pub output: Option<O>,
    /// For an operation in doubt: a time after which it can no longer take
    /// effect (its session's next acknowledged request: ZooKeeper runs a
    /// session's requests in order). Past it, the search drops the
    /// operation as never applied instead of keeping it open to the end.
    pub deadline: Option<Time>,
}

impl<I, O> Op<I, O> {
    /// An operation; `complete` and `output` are `None` when in doubt.
    pub fn new(invoke: Time, complete: Option<Time>, input: I, output: Option<O>) -> Op<I, O> {
        Op {
            invoke,
            complete,
            input,
            output,
            deadline: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order explains the history; the operations left unexplained when
    /// the search gave up on the deepest prefix it reached.
    Violation {
        explained: usize,
        stuck_at: usize,
    },
    /// The budget ran out first.
    Unknown,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

#[derive(Clone, Copy)]
struct Entry {
    op: usize,
    call: bool,
    /// The matching entry: the return of a call, the call of a return.
    partner: usize,
    prev: usize,
    next: usize,
}

impl Entry {
    /// The call entry of the return entry at `at`.
    fn prev_call(&self, _e: &[Entry], _at: usize) -> usize {
        self.partner
    }
}

const NIL: usize = usize::MAX;

/// Checks `ops` against `model` within `budget` (wall time) and at most
/// `max_states` memoized configurations.
pub fn check<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    budget: Duration,
    max_states: usize,
) -> Verdict {
    if ops.is_empty() {
        return Verdict::Linearizable;
    }
    // Entries in time order; at equal times calls first (the lenient order:
    // two operations that touch at an instant may be taken as concurrent).
    let mut ev: Vec<(Time, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        ev.push((op.invoke, true, i));
        ev.push((op.complete.or(op.deadline).unwrap_or(Time::MAX), false, i));
    }
    ev.sort_by_key(|&(t, call, i)| (t, !call, i));
    // Node 0 is the head sentinel.
    let mut e: Vec<Entry> = Vec::with_capacity(ev.len() + 1);
    e.push(Entry {
        op: NIL,
        call: false,
        partner: NIL,
        prev: NIL,
        next: 1,
    });
    let mut ret_of = vec![NIL; ops.len()];
    for (k, &(_, call, op)) in ev.iter().enumerate() {
        let idx = k + 1;
        e.push(Entry {
            op,
            call,
            partner: NIL,
            prev: idx - 1,
            next: if k + 1 < ev.len() { idx + 1 } else { NIL },
        });
        if !call {
            ret_of[op] = idx;
        }
    }
    let mut call_of = vec![NIL; ops.len()];
    for (i, entry) in e.iter().enumerate().skip(1) {
        if entry.call {
            call_of[entry.op] = i;
        }
    }
    for i in 1..e.len() {
        e[i].partner = if e[i].call {
            ret_of[e[i].op]
        } else {
            call_of[e[i].op]
        };
    }
    let lift = |e: &mut Vec<Entry>, c: usize| {
        let r = e[c].partner;
        let (cp, cn) = (e[c].prev, e[c].next);
        e[cp].next = cn;
        if cn != NIL {
            e[cn].prev = cp;
        }
        let (rp, rn) = (e[r].prev, e[r].next);
        e[rp].next = rn;
        if rn != NIL {
            e[rn].prev = rp;
        }
    };
    let unlift = |e: &mut Vec<Entry>, c: usize| {
        let r = e[c].partner;
        let (rp, rn) = (e[r].prev, e[r].next);
        e[rp].next = r;
        if rn != NIL {
            e[rn].prev = r;
        }
        let (cp, cn) = (e[c].prev, e[c].next);
        e[cp].next = c;
        if cn != NIL {
            e[cn].prev = c;
        }
    };

    let started = Instant::now();
    let mut remaining_known = ops.iter().filter(|o| o.complete.is_some()).count();
    let mut lin = Bits::new(ops.len());
    let mut state = model.init();
    let mut cache: HashSet<(Bits, M::State)> = HashSet::new();
    // (call entry, state before, forced): a forced entry is an in-doubt
    // operation dropped at its deadline, not a choice to revisit.
    let mut stack: Vec<(usize, M::State, bool)> = Vec::new();
    let mut deepest = 0usize;
    let mut cur = e[0].next;
    let mut steps = 0u64;
    loop {
        if remaining_known == 0 {
            return Verdict::Linearizable;
        }
        steps += 1;
        if steps.is_multiple_of(4096) && (started.elapsed() > budget || cache.len() > max_states) {
            return Verdict::Unknown;
        }
        if cur == NIL {
            // Only unknown operations' returns can be last; with known ones
            // left the cursor never runs off the end.
            return Verdict::Unknown;
        }
        let ent = e[cur];
        if ent.call {
            let op = &ops[ent.op];
            let (next_state, out) = model.step(&state, &op.input);
            let ok = match &op.output {
                Some(o) => *o == out,
                None => true,
            };
            if ok {
                let mut lin2 = lin.clone();
                lin2.set(ent.op);
                if cache.insert((lin2.clone(), next_state.clone())) {
                    stack.push((cur, state, false));
                    state = next_state;
                    lin = lin2;
                    lift(&mut e, cur);
                    if op.complete.is_some() {
                        remaining_known -= 1;
                    }
                    deepest = deepest.max(stack.len());
                    cur = e[0].next;
                    continue;
                }
            }
            cur = ent.next;
        } else if ops[ent.op].complete.is_none() {
            // An in-doubt operation's deadline passed before it was placed:
            // it never happened (on this path).
            let c = e[cur].prev_call(&e, cur);
            stack.push((c, state.clone(), true));
            let next = ent.next;
            lift(&mut e, c);
            cur = next;
        } else {
            // A return whose call is not linearized: undo the last choice
            // (past any drops forced since).
            loop {
                let Some((c, prev_state, forced)) = stack.pop() else {
                    return Verdict::Violation {
                        explained: deepest,
                        stuck_at: ent.op,
                    };
                };
                state = prev_state;
                let op = e[c].op;
                unlift(&mut e, c);
                if forced {
                    continue;
                }
                lin.clear(op);
                if ops[op].complete.is_some() {
                    remaining_known += 1;
                }
                cur = e[c].next;
                break;
            }
        }
    }
}

/// A znode used as a register: its version and value (`setData` bumps the
/// version; a conditional `setData` is a compare-and-set on it).
#[derive(Clone, Copy, Debug)]
pub struct Register;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegIn {
    /// `setData(path, v, -1)`.
    Set(u64),
    /// `setData(path, v, expected_version)`.
    Cas { expect: i32, value: u64 },
    /// `getData`, linearizable only when no write can be in flight (the
    /// final read); ZooKeeper's reads are served from one member's copy.
    Read,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegOut {
    /// The new version.
    Written(i32),
    BadVersion,
    Value {
        version: i32,
        value: u64,
    },
}

impl Model for Register {
    /// (version, value); the node starts at version 0 holding 0.
    type State = (i32, u64);
    type Input = RegIn;
    type Output = RegOut;
    fn init(&self) -> (i32, u64) {
        (0, 0)
    }
    fn step(&self, s: &(i32, u64), i: &RegIn) -> ((i32, u64), RegOut) {
        match *i {
            RegIn::Set(v) => ((s.0 + 1, v), RegOut::Written(s.0 + 1)),
            RegIn::Cas { expect, value } if expect == s.0 => {
                ((s.0 + 1, value), RegOut::Written(s.0 + 1))
            }
            RegIn::Cas { .. } => (*s, RegOut::BadVersion),
            RegIn::Read => (
                *s,
                RegOut::Value {
                    version: s.0,
                    value: s.1,
                },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        invoke: Time,
        complete: Option<Time>,
        input: RegIn,
        output: Option<RegOut>,
    ) -> Op<RegIn, RegOut> {
        Op {
            invoke,
            complete,
            input,
            output,
            deadline: None,
        }
    }

    fn run(ops: &[Op<RegIn, RegOut>]) -> Verdict {
        check(&Register, ops, Duration::from_secs(5), 1_000_000)
    }

    #[test]
    fn sequential_and_concurrent_histories_pass() {
        use RegIn::*;
        use RegOut::*;
        let h = [
            op(0, Some(10), Set(7), Some(Written(1))),
            op(
                20,
                Some(30),
                Cas {
                    expect: 1,
                    value: 8,
                },
                Some(Written(2)),
            ),
            op(
                40,
                Some(50),
                Cas {
                    expect: 1,
                    value: 9,
                },
                Some(BadVersion),
            ),
            op(
                60,
                Some(70),
                Read,
                Some(Value {
                    version: 2,
                    value: 8,
                }),
            ),
        ];
        assert_eq!(run(&h), Verdict::Linearizable);
        // Two overlapping sets: either order, their versions say which.
        let h = [
            op(0, Some(100), Set(1), Some(Written(2))),
            op(10, Some(90), Set(2), Some(Written(1))),
            op(
                200,
                Some(210),
                Read,
                Some(Value {
                    version: 2,
                    value: 1,
                }),
            ),
        ];
        assert_eq!(run(&h), Verdict::Linearizable);
    }

    #[test]
    fn unknown_outcomes_may_apply_late_or_never() {
        use RegIn::*;
        use RegOut::*;
        // A set that timed out took effect after a later set completed.
        let h = [
            op(0, None, Set(5), None),
            op(10, Some(20), Set(6), Some(Written(1))),
            op(
                30,
                Some(40),
                Read,
                Some(Value {
                    version: 2,
                    value: 5,
                }),
            ),
        ];
        assert_eq!(run(&h), Verdict::Linearizable);
        // ... or never.
        let h = [
            op(0, None, Set(5), None),
            op(
                30,
                Some(40),
                Read,
                Some(Value {
                    version: 0,
                    value: 0,
                }),
            ),
        ];
        assert_eq!(run(&h), Verdict::Linearizable);
    }

    #[test]
    fn an_in_doubt_write_past_its_deadline_never_happened() {
        use RegIn::*;
        use RegOut::*;
        // In doubt, but its session's next request completed at 12: it
        // cannot be the write that made version 2 between 20 and 40.
        let mut late = op(0, None, Set(5), None);
        late.deadline = Some(12);
        let h = [
            late.clone(),
            op(15, Some(20), Set(6), Some(Written(1))),
            op(30, Some(40), Set(7), Some(Written(3))),
        ];
        assert!(matches!(run(&h), Verdict::Violation { .. }));
        // Without the deadline it may have made version 2.
        late.deadline = None;
        let h = [
            late,
            op(15, Some(20), Set(6), Some(Written(1))),
            op(30, Some(40), Set(7), Some(Written(3))),
        ];
        assert_eq!(run(&h), Verdict::Linearizable);
        // Before its deadline it may still apply.
        let mut early = op(0, None, Set(5), None);
        early.deadline = Some(25);
        let h = [
            early,
            op(10, Some(20), Set(6), Some(Written(1))),
            op(22, Some(40), Set(7), Some(Written(3))),
        ];
        assert_eq!(run(&h), Verdict::Linearizable);
    }

    #[test]
    fn violations_are_found() {
        use RegIn::*;
        use RegOut::*;
        // Two acknowledged writes given the same version (a split brain).
        let h = [
            op(0, Some(10), Set(1), Some(Written(1))),
            op(20, Some(30), Set(2), Some(Written(1))),
        ];
        assert!(matches!(run(&h), Verdict::Violation { .. }));
        // An acknowledged write lost: the final read does not reflect it.
        let h = [
            op(0, Some(10), Set(1), Some(Written(1))),
            op(
                20,
                Some(30),
                Read,
                Some(Value {
                    version: 0,
                    value: 0,
                }),
            ),
        ];
        assert!(matches!(run(&h), Verdict::Violation { .. }));
        // A CAS that succeeded against a version already gone.
        let h = [
            op(0, Some(10), Set(1), Some(Written(1))),
            op(20, Some(30), Set(2), Some(Written(2))),
            op(
                40,
                Some(50),
                Cas {
                    expect: 1,
                    value: 3,
                },
                Some(Written(2)),
            ),
        ];
        assert!(matches!(run(&h), Verdict::Violation { .. }));
    }

    #[test]
    fn an_exhausted_budget_is_unknown_not_a_pass() {
        use RegIn::*;
        // Many concurrent unknown CASes and a final read nothing explains:
        // the search is exponential; with no budget it must say Unknown.
        let mut h: Vec<_> = (0..40)
            .map(|i| {
                op(
                    0,
                    None,
                    Cas {
                        expect: i % 7,
                        value: i as u64,
                    },
                    None,
                )
            })
            .collect();
        h.push(op(
            100,
            Some(110),
            Read,
            Some(RegOut::Value {
                version: 99,
                value: 1,
            }),
        ));
        let v = check(&Register, &h, Duration::from_millis(0), 10);
        assert_eq!(v, Verdict::Unknown);
    }
}
