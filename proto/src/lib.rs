//! Apache ZooKeeper's client wire protocol and transaction records, shared by
//! the `zkcli` client and the `zkserver` server.
//!
//! * [`jute`]: the binary encoding (big-endian, length-prefixed, -1 = null).
//! * [`records`]: request/response records of `zookeeper.jute`.
//! * [`multi`]: the multi / multiRead encodings.
//! * [`txn`]: transactions as logged and replicated.
//! * [`consts`]: opcodes, error codes, events, states, permissions.
//! * [`path`]: path validation with ZooKeeper's messages.

pub mod consts;
pub mod jute;
pub mod multi;
pub mod path;
pub mod records;
pub mod txn;

pub use consts::{op, ErrorCode};
pub use jute::{DecodeError, Jute, Reader, Writer};
