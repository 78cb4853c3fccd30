//! The client port: accepting connections, framing, limits and the
//! four-letter words answered on it.

pub mod fourlw;
pub mod net;
pub mod stats;
