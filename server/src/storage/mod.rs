//! Durable storage: recovery of the dataDir at start-up, the transaction-log
//! sink of the log stage, and snapshots — all in ZooKeeper's own on-disk
//! format ([`txnlog`], [`snapshot`], [`datadir`]), so a
//! dataDir moves between Apache ZooKeeper and this server without conversion.

pub mod datadir;
pub mod digest;
pub mod logstage;
pub mod metrics;
mod recovery;
pub mod snapshot;
pub mod txnlog;

pub use recovery::*;
