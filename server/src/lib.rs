//! A ZooKeeper-compatible server, standalone or as a member of a replicated
//! ensemble speaking Apache ZooKeeper 3.8's election and quorum protocols.
//!
//! Folders by concern, in the order a write travels:
//! [`client_port`] (framing, 4lw, limits) → [`pipeline`] (prepare, then log
//! or propose, commit, apply; the role seam) → [`db`] (the tree, watches,
//! ACLs, sessions) with [`storage`] (txn log, snapshots, dataDir, recovery)
//! underneath, and [`quorum`] (election, ZAB, the peer loop) beside it.

pub mod client_port;
pub mod config;
pub mod db;
pub mod embedded;
pub mod pipeline;
pub mod quorum;
pub mod server;
pub mod storage;

pub use config::Config;
pub use server::{start, ServerHandle};

/// Exit status of an ensemble member whose transaction log could not be
/// written (disk full, I/O error): it stops rather than serve from a tree its
/// disk does not hold, and recovers from disk when restarted.
pub const EXIT_LOG_FAILED: i32 = 4;
