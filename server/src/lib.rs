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
