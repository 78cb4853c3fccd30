//! The replicated ensemble: Apache ZooKeeper 3.8's fast leader election and
//! ZAB, byte for byte on the wire.
//!
//! Layout, by concern:
//! - [`types`]: the leaf vocabulary every other quorum module shares (server
//!   states, votes, notifications, quorum packets, zxid arithmetic). It imports
//!   nothing else from the server, so the pure cores, the codecs and the
//!   transport can all depend on it without cycles.
//! - [`cnxmanager`]: the election port (ZooKeeper's `QuorumCnxManager`):
//!   initial messages, one connection per pair, frames, re-sends.
//! - [`peer_config`]: `server.N` lines, quorum keys and `myid`, checked.
//! - [`election`]: Fast Leader Election as a pure state machine (the
//!   `WorkerReceiver` answers and `lookForLeader`) and its seeded simulation.
//! - [`zab`]: the leader and learner cores (discovery, sync, broadcast) and
//!   their seeded simulation.
//! - [`peer`]: the peer loop that drives them (`QuorumPeer.run`: LOOKING →
//!   LEADING / FOLLOWING / OBSERVING), the election-port driver and the
//!   quorum-port transport.
//! - [`wire`]: pure byte-exact codecs for election notifications, the election
//!   config text, quorum packets and their payloads (no I/O).
//! - `sim` (test only): whole members (election and ZAB cores together,
//!   driven as `peer` drives them) in one seeded ensemble simulation.
//!
//! The consensus cores (election, zab) are pure state machines: inputs are
//! messages, ticks and "persisted up to zxid Z" notices, outputs are messages
//! to send, entries to persist, epoch files to write and "commit up to Z".
//! No sockets, clocks, threads or disks inside them; a thin tokio transport
//! drives them in the server and a seeded scheduler drives them in tests.

pub mod cnxmanager;
pub mod election;
pub mod peer;
pub mod peer_config;
#[cfg(test)]
mod sim;
pub mod types;
pub mod wire;
pub mod zab;
