//! A ZooKeeper-compatible server.
//!
//! Request path, in the order a write travels (ZooKeeper's processors):
//! [`net`] (framing, 4lw, limits) → [`core`] (the pipeline owner) →
//! [`prep`] (validate, ACLs, txn) → [`logstage`] (persist) →
//! [`tree`] (apply, in zxid order) → [`watch`] (notifications) → reply.

pub mod acl;
pub mod acl_cache;
pub mod children;
pub mod config;
pub mod core;
pub mod embedded;
pub mod fourlw;
pub mod logstage;
pub mod net;
pub mod prep;
pub mod quorum;
pub mod quota;
pub mod role;
pub mod server;
pub mod session;
pub mod stats;
pub mod storage;
pub mod tree;
pub mod watch;

pub use config::Config;
pub use server::{start, ServerHandle};
pub mod datadir;
pub mod digest;
pub mod snapshot;
pub mod txnlog;
