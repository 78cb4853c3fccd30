//! The data tree and what hangs off it: children, watches, ACLs and their
//! cache, quotas and the session table.

pub mod acl;
pub mod acl_cache;
pub mod children;
pub mod quota;
pub mod session;
pub mod tree;
pub mod watch;
