//! multi (14) and multiRead (22): a sequence of `MultiHeader` + op record,
//! closed by `MultiHeader{type: -1, done: true, err: -1}`.

use crate::consts::op;
use crate::jute::{DecodeError, Jute, Reader, Result, Writer};
use crate::records::*;

/// One operation inside a multi or multiRead request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// `op_type` is create (1), create2 (15), createContainer (19) or createTTL (21).
    Create {
        op_type: i32,
        req: CreateTtlRequest,
    },
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetData(PathRequest),
    GetChildren(PathRequest),
}

impl MultiOp {
    pub fn op_type(&self) -> i32 {
        match self {
            MultiOp::Create { op_type, .. } => *op_type,
            MultiOp::Delete(_) => op::DELETE,
            MultiOp::SetData(_) => op::SET_DATA,
            MultiOp::Check(_) => op::CHECK,
            MultiOp::GetData(_) => op::GET_DATA,
            MultiOp::GetChildren(_) => op::GET_CHILDREN,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create { req, .. } => &req.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetData(r) | MultiOp::GetChildren(r) => &r.path,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetData(_) | MultiOp::GetChildren(_))
    }

    /// Decodes the record of an op of type `op_type` (the same records a
    /// top-level request of that type carries).
    pub fn decode(op_type: i32, r: &mut Reader<'_>) -> Result<MultiOp> {
        Ok(match op_type {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => {
                let c = CreateRequest::read(r)?;
                MultiOp::Create {
                    op_type,
                    req: CreateTtlRequest {
                        path: c.path,
                        data: c.data,
                        acl: c.acl,
                        flags: c.flags,
                        ttl: 0,
                    },
                }
            }
            op::CREATE_TTL => MultiOp::Create {
                op_type,
                req: CreateTtlRequest::read(r)?,
            },
            op::DELETE | op::DELETE_CONTAINER => MultiOp::Delete(DeleteRequest::read(r)?),
            op::SET_DATA => MultiOp::SetData(SetDataRequest::read(r)?),
            op::CHECK => MultiOp::Check(CheckVersionRequest::read(r)?),
            op::GET_DATA => MultiOp::GetData(PathRequest {
                path: PathAndWatch::read(r)?.path,
            }),
            op::GET_CHILDREN => MultiOp::GetChildren(PathRequest {
                path: PathAndWatch::read(r)?.path,
            }),
            t => return Err(DecodeError::BadValue("multi op type", t as i64)),
        })
    }

    fn write_body(&self, w: &mut Writer) {
        match self {
            MultiOp::Create { op_type, req } => {
                w.write_string(&req.path);
                w.write_buffer(req.data.as_deref());
                req.acl.write(w);
                w.write_i32(req.flags);
                if *op_type == op::CREATE_TTL {
                    w.write_i64(req.ttl);
                }
            }
            MultiOp::Delete(r) => r.write(w),
            MultiOp::SetData(r) => r.write(w),
            MultiOp::Check(r) => r.write(w),
            MultiOp::GetData(r) | MultiOp::GetChildren(r) => {
                // GetDataRequest / GetChildrenRequest carry a watch flag, which
                // multiRead ignores.
                w.write_string(&r.path);
                w.write_bool(false);
            }
        }
    }
}

/// Decoded body of a multi or multiRead request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    pub ops: Vec<MultiOp>,
}

impl Jute for MultiRequest {
    fn write(&self, w: &mut Writer) {
        for o in &self.ops {
            MultiHeader {
                op_type: o.op_type(),
                done: false,
                err: -1,
            }
            .write(w);
            o.write_body(w);
        }
        MultiHeader {
            op_type: -1,
            done: true,
            err: -1,
        }
        .write(w);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut ops = Vec::new();
        loop {
            let h = MultiHeader::read(r)?;
            if h.done {
                break;
            }
            let o = MultiOp::decode(h.op_type, r)?;
            ops.push(o);
            if ops.len() > 1_000_000 {
                return Err(DecodeError::BadLength(ops.len() as i64));
            }
        }
        Ok(MultiRequest { ops })
    }
}

/// One result inside a multi or multiRead response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// create (1): path only.
    Create(String),
    /// create2 (15), also the answer to createTTL / createContainer.
    Create2(String, Stat),
    Delete,
    SetData(Stat),
    Check,
    GetData(Option<Vec<u8>>, Stat),
    GetChildren(Vec<String>),
    Error(i32),
}

impl MultiResult {
    fn op_type(&self) -> i32 {
        match self {
            MultiResult::Create(_) => op::CREATE,
            MultiResult::Create2(..) => op::CREATE2,
            MultiResult::Delete => op::DELETE,
            MultiResult::SetData(_) => op::SET_DATA,
            MultiResult::Check => op::CHECK,
            MultiResult::GetData(..) => op::GET_DATA,
            MultiResult::GetChildren(_) => op::GET_CHILDREN,
            MultiResult::Error(_) => op::ERROR,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    pub results: Vec<MultiResult>,
}

impl Jute for MultiResponse {
    fn write(&self, w: &mut Writer) {
        for res in &self.results {
            let err = match res {
                MultiResult::Error(e) => *e,
                _ => 0,
            };
            MultiHeader {
                op_type: res.op_type(),
                done: false,
                err,
            }
            .write(w);
            match res {
                MultiResult::Create(p) => w.write_string(p),
                MultiResult::Create2(p, s) => {
                    w.write_string(p);
                    s.write(w);
                }
                MultiResult::Delete | MultiResult::Check => {}
                MultiResult::SetData(s) => s.write(w),
                MultiResult::GetData(d, s) => {
                    w.write_buffer(d.as_deref());
                    s.write(w);
                }
                MultiResult::GetChildren(c) => c.write(w),
                MultiResult::Error(e) => w.write_i32(*e),
            }
        }
        MultiHeader {
            op_type: -1,
            done: true,
            err: -1,
        }
        .write(w);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut results = Vec::new();
        loop {
            let h = MultiHeader::read(r)?;
            if h.done {
                break;
            }
            let res = match h.op_type {
                op::CREATE => MultiResult::Create(r.read_string()?),
                op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => {
                    MultiResult::Create2(r.read_string()?, Stat::read(r)?)
                }
                op::DELETE => MultiResult::Delete,
                op::CHECK => MultiResult::Check,
                op::SET_DATA => MultiResult::SetData(Stat::read(r)?),
                op::GET_DATA => MultiResult::GetData(r.read_buffer()?, Stat::read(r)?),
                op::GET_CHILDREN => MultiResult::GetChildren(Vec::<String>::read(r)?),
                op::ERROR => MultiResult::Error(r.read_i32()?),
                t => return Err(DecodeError::BadValue("multi result type", t as i64)),
            };
            results.push(res);
        }
        Ok(MultiResponse { results })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_round_trip() {
        let req = MultiRequest {
            ops: vec![
                MultiOp::Create {
                    op_type: op::CREATE,
                    req: CreateTtlRequest {
                        path: "/a".into(),
                        data: Some(b"x".to_vec()),
                        acl: Acl::open_unsafe(),
                        flags: 0,
                        ttl: 0,
                    },
                },
                MultiOp::Check(CheckVersionRequest {
                    path: "/a".into(),
                    version: 0,
                }),
                MultiOp::Delete(DeleteRequest {
                    path: "/a".into(),
                    version: -1,
                }),
            ],
        };
        let b = req.to_bytes();
        assert_eq!(MultiRequest::from_bytes(&b).unwrap(), req);
        let resp = MultiResponse {
            results: vec![
                MultiResult::Create("/a".into()),
                MultiResult::Error(-101),
                MultiResult::Error(-2),
            ],
        };
        assert_eq!(MultiResponse::from_bytes(&resp.to_bytes()).unwrap(), resp);
    }
}
