//! Error results of the client.
//!
//! Every failure is a [`zkproto::ErrorCode`], as in the Java client where all
//! of them are `KeeperException`s: server errors as sent, plus the client-side
//! codes `ConnectionLoss`, `SessionExpired`, `AuthFailed`, `RequestTimeout`,
//! `MarshallingError` (undecodable reply) and `BadArguments` / `InvalidAcl`
//! (arguments rejected before sending, as the Java client throws
//! `IllegalArgumentException` / `InvalidACLException`).

use zkproto::ErrorCode;

/// Result of every client operation.
pub type ZkResult<T> = Result<T, ErrorCode>;

/// Maps a numeric error code from the server. Codes this build does not know
/// become `SystemError` rather than being mistaken for success.
pub fn from_code(code: i32) -> ErrorCode {
    ErrorCode::from_i32(code).unwrap_or_else(|| {
        tracing::warn!(code, "unknown error code from server");
        ErrorCode::SystemError
    })
}

/// Maps a decoding failure of a reply body.
pub fn marshalling(err: zkproto::DecodeError) -> ErrorCode {
    tracing::warn!(%err, "undecodable reply");
    ErrorCode::MarshallingError
}
