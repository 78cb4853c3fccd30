//! zkcli: a ZooKeeper shell and its client library.

pub mod chaos;
pub mod client;

pub mod acl_parse;
pub mod batch;
pub mod commands;
pub mod output;
pub mod quota;
pub mod repl;
pub mod shell;
