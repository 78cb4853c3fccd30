//! The request pipeline: ZooKeeper's processors in order (prepare → log or
//! propose → commit → apply) in one task that owns the data tree, and the
//! role seam that decides where a write goes and where commits come from.

pub mod core;
pub mod msg;
pub mod prep;
pub mod role;
