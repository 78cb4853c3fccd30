//! Transactions: the records that change state, as ZooKeeper writes them to
//! its transaction log and sends between ensemble members.
//!
//! A [`Txn`] is the decoded form; [`Txn::encode`] / [`Txn::decode`] give the
//! exact bytes ZooKeeper puts after a `TxnHeader`.

use crate::consts::op;
use crate::jute::{DecodeError, Jute, Reader, Result, Writer};
use crate::record;
use crate::records::Acl;

record! {
    /// Header of every transaction (32 bytes).
    pub struct TxnHeader {
        pub client_id: i64,
        pub cxid: i32,
        pub zxid: i64,
        pub time: i64,
        pub op_type: i32,
    }
}

record! {
    /// Tree digest appended to logged transactions (3.6+).
    pub struct TxnDigest { pub version: i32, pub tree_digest: i64 }
}

record! {
    pub struct CreateTxn {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub ephemeral: bool,
        pub parent_cversion: i32,
    }
}
record! {
    pub struct CreateContainerTxn {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub parent_cversion: i32,
    }
}
record! {
    pub struct CreateTtlTxn {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub parent_cversion: i32,
        pub ttl: i64,
    }
}
record! { pub struct DeleteTxn { pub path: String } }
record! { pub struct SetDataTxn { pub path: String, pub data: Option<Vec<u8>>, pub version: i32 } }
record! { pub struct CheckVersionTxn { pub path: String, pub version: i32 } }
record! { pub struct SetAclTxn { pub path: String, pub acl: Vec<Acl>, pub version: i32 } }
record! { pub struct CreateSessionTxn { pub time_out: i32 } }
record! { pub struct CloseSessionTxn { pub paths_to_delete: Vec<String> } }
record! { pub struct ErrorTxn { pub err: i32 } }
record! { pub struct RawTxn { pub op_type: i32, pub data: Option<Vec<u8>> } }

/// A decoded transaction body. The variant determines `TxnHeader.type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txn {
    /// create (1) or create2 (15); `op_type` keeps which one was logged.
    Create {
        op_type: i32,
        txn: CreateTxn,
    },
    CreateContainer(CreateContainerTxn),
    CreateTtl(CreateTtlTxn),
    /// delete (2) or deleteContainer (20).
    Delete {
        op_type: i32,
        txn: DeleteTxn,
    },
    /// setData (5) or reconfig (16).
    SetData {
        op_type: i32,
        txn: SetDataTxn,
    },
    SetAcl(SetAclTxn),
    Check(CheckVersionTxn),
    Multi(Vec<Txn>),
    CreateSession(CreateSessionTxn),
    /// closeSession; `None` for the empty body of pre-3.6 logs.
    CloseSession(Option<CloseSessionTxn>),
    Error(ErrorTxn),
}

impl Txn {
    pub fn op_type(&self) -> i32 {
        match self {
            Txn::Create { op_type, .. } => *op_type,
            Txn::CreateContainer(_) => op::CREATE_CONTAINER,
            Txn::CreateTtl(_) => op::CREATE_TTL,
            Txn::Delete { op_type, .. } => *op_type,
            Txn::SetData { op_type, .. } => *op_type,
            Txn::SetAcl(_) => op::SET_ACL,
            Txn::Check(_) => op::CHECK,
            Txn::Multi(_) => op::MULTI,
            Txn::CreateSession(_) => op::CREATE_SESSION,
            Txn::CloseSession(_) => op::CLOSE_SESSION,
            Txn::Error(_) => op::ERROR,
        }
    }

    /// Appends the record bytes (without header) to `w`.
    pub fn encode(&self, w: &mut Writer) {
        match self {
            Txn::Create { txn, .. } => txn.write(w),
            Txn::CreateContainer(t) => t.write(w),
            Txn::CreateTtl(t) => t.write(w),
            Txn::Delete { txn, .. } => txn.write(w),
            Txn::SetData { txn, .. } => txn.write(w),
            Txn::SetAcl(t) => t.write(w),
            Txn::Check(t) => t.write(w),
            Txn::Multi(txns) => {
                w.write_i32(txns.len() as i32);
                for t in txns {
                    let mut inner = Writer::new();
                    t.encode(&mut inner);
                    w.write_i32(t.op_type());
                    w.write_buffer(Some(&inner.buf));
                }
            }
            Txn::CreateSession(t) => t.write(w),
            Txn::CloseSession(Some(t)) => t.write(w),
            Txn::CloseSession(None) => {}
            Txn::Error(t) => t.write(w),
        }
    }

    /// Decodes the record of a transaction of type `op_type`.
    pub fn decode(op_type: i32, r: &mut Reader<'_>) -> Result<Txn> {
        Ok(match op_type {
            op::CREATE | op::CREATE2 => {
                let path = r.read_string()?;
                let data = r.read_buffer()?;
                let acl = Vec::<Acl>::read(r)?;
                let ephemeral = r.read_bool()?;
                // CreateTxnV0 (very old logs) lacks parentCVersion: -1 means
                // "parent's cversion + 1" when replayed.
                let parent_cversion = if r.remaining() >= 4 {
                    r.read_i32()?
                } else {
                    -1
                };
                Txn::Create {
                    op_type,
                    txn: CreateTxn {
                        path,
                        data,
                        acl,
                        ephemeral,
                        parent_cversion,
                    },
                }
            }
            op::CREATE_CONTAINER => Txn::CreateContainer(CreateContainerTxn::read(r)?),
            op::CREATE_TTL => Txn::CreateTtl(CreateTtlTxn::read(r)?),
            op::DELETE | op::DELETE_CONTAINER => Txn::Delete {
                op_type,
                txn: DeleteTxn::read(r)?,
            },
            op::SET_DATA | op::RECONFIG => Txn::SetData {
                op_type,
                txn: SetDataTxn::read(r)?,
            },
            op::SET_ACL => Txn::SetAcl(SetAclTxn::read(r)?),
            op::CHECK => Txn::Check(CheckVersionTxn::read(r)?),
            op::MULTI => {
                let n = r.read_count()?;
                let mut txns = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let raw = RawTxn::read(r)?;
                    let data = raw.data.unwrap_or_default();
                    txns.push(Txn::decode(raw.op_type, &mut Reader::new(&data))?);
                }
                Txn::Multi(txns)
            }
            op::CREATE_SESSION => Txn::CreateSession(CreateSessionTxn::read(r)?),
            op::CLOSE_SESSION => {
                if r.remaining() == 0 {
                    Txn::CloseSession(None)
                } else {
                    Txn::CloseSession(Some(CloseSessionTxn::read(r)?))
                }
            }
            op::ERROR => Txn::Error(ErrorTxn::read(r)?),
            t => return Err(DecodeError::BadValue("txn type", t as i64)),
        })
    }
}

/// A transaction with its header, as logged: `TxnHeader ‖ record ‖ [TxnDigest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnEntry {
    pub header: TxnHeader,
    pub txn: Txn,
    pub digest: Option<TxnDigest>,
}

impl TxnEntry {
    /// The bytes that go into the log's txn buffer.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        self.header.write(&mut w);
        self.txn.encode(&mut w);
        if let Some(d) = &self.digest {
            d.write(&mut w);
        }
        w.into_inner()
    }

    pub fn decode(b: &[u8]) -> Result<TxnEntry> {
        let mut r = Reader::new(b);
        let header = TxnHeader::read(&mut r)?;
        let txn = Txn::decode(header.op_type, &mut r)?;
        let digest = if r.remaining() >= 12 {
            Some(TxnDigest::read(&mut r)?)
        } else {
            None
        };
        Ok(TxnEntry {
            header,
            txn,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trip_with_multi_and_digest() {
        let e = TxnEntry {
            header: TxnHeader {
                client_id: 7,
                cxid: 3,
                zxid: 0x100000005,
                time: 1234,
                op_type: op::MULTI,
            },
            txn: Txn::Multi(vec![
                Txn::Create {
                    op_type: op::CREATE,
                    txn: CreateTxn {
                        path: "/a".into(),
                        data: None,
                        acl: Acl::open_unsafe(),
                        ephemeral: false,
                        parent_cversion: 4,
                    },
                },
                Txn::Error(ErrorTxn { err: -101 }),
            ]),
            digest: Some(TxnDigest {
                version: 2,
                tree_digest: 99,
            }),
        };
        assert_eq!(TxnEntry::decode(&e.encode()).unwrap(), e);
    }

    #[test]
    fn old_close_session_has_empty_body() {
        let e = TxnEntry {
            header: TxnHeader {
                op_type: op::CLOSE_SESSION,
                ..Default::default()
            },
            txn: Txn::CloseSession(None),
            digest: None,
        };
        assert_eq!(e.encode().len(), 32);
        assert_eq!(TxnEntry::decode(&e.encode()).unwrap(), e);
    }
}
