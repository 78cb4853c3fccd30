//! The records of `zookeeper.jute` that travel between client and server.

use crate::jute::{Jute, Reader, Result, Writer};
use crate::record;

record! {
    /// An identity: `scheme:id`, e.g. `world:anyone`, `digest:bob:hash`.
    pub struct Id { pub scheme: String, pub id: String }
}

record! {
    /// One access-control entry.
    pub struct Acl { pub perms: i32, pub id: Id }
}

impl Acl {
    pub fn new(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            id: Id {
                scheme: scheme.into(),
                id: id.into(),
            },
        }
    }

    /// `world:anyone:cdrwa`, ZooKeeper's `OPEN_ACL_UNSAFE`.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(crate::consts::perms::ALL, "world", "anyone")]
    }

    /// `world:anyone:r`, ZooKeeper's `READ_ACL_UNSAFE`.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(crate::consts::perms::READ, "world", "anyone")]
    }
}

record! {
    /// The client-visible Stat (68 bytes).
    pub struct Stat {
        pub czxid: i64,
        pub mzxid: i64,
        pub ctime: i64,
        pub mtime: i64,
        pub version: i32,
        pub cversion: i32,
        pub aversion: i32,
        pub ephemeral_owner: i64,
        pub data_length: i32,
        pub num_children: i32,
        pub pzxid: i64,
    }
}

record! {
    /// The Stat as stored in snapshots (no dataLength/numChildren; cversion is
    /// the count of child creations).
    pub struct StatPersisted {
        pub czxid: i64,
        pub mzxid: i64,
        pub ctime: i64,
        pub mtime: i64,
        pub version: i32,
        pub cversion: i32,
        pub aversion: i32,
        pub ephemeral_owner: i64,
        pub pzxid: i64,
    }
}

record! { pub struct ClientInfo { pub auth_scheme: String, pub user: String } }

/// First frame from a client. `read_only` is `None` when the client did not
/// send the trailing byte (pre-3.4 clients, node-zookeeper-client); the
/// response must then omit it too.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Option<Vec<u8>>,
    pub read_only: Option<bool>,
}

impl Jute for ConnectRequest {
    fn write(&self, w: &mut Writer) {
        w.write_i32(self.protocol_version);
        w.write_i64(self.last_zxid_seen);
        w.write_i32(self.time_out);
        w.write_i64(self.session_id);
        w.write_buffer(self.passwd.as_deref());
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let protocol_version = r.read_i32()?;
        let last_zxid_seen = r.read_i64()?;
        let time_out = r.read_i32()?;
        let session_id = r.read_i64()?;
        let passwd = r.read_buffer()?;
        let read_only = if r.remaining() > 0 {
            Some(r.read_bool()?)
        } else {
            None
        };
        Ok(ConnectRequest {
            protocol_version,
            last_zxid_seen,
            time_out,
            session_id,
            passwd,
            read_only,
        })
    }
}

/// Answer to [`ConnectRequest`]; `read_only` mirrors the request's presence.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Option<Vec<u8>>,
    pub read_only: Option<bool>,
}

impl Jute for ConnectResponse {
    fn write(&self, w: &mut Writer) {
        w.write_i32(self.protocol_version);
        w.write_i32(self.time_out);
        w.write_i64(self.session_id);
        w.write_buffer(self.passwd.as_deref());
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let protocol_version = r.read_i32()?;
        let time_out = r.read_i32()?;
        let session_id = r.read_i64()?;
        let passwd = r.read_buffer()?;
        let read_only = if r.remaining() > 0 {
            Some(r.read_bool()?)
        } else {
            None
        };
        Ok(ConnectResponse {
            protocol_version,
            time_out,
            session_id,
            passwd,
            read_only,
        })
    }
}

record! { pub struct RequestHeader { pub xid: i32, pub op_type: i32 } }
record! { pub struct ReplyHeader { pub xid: i32, pub zxid: i64, pub err: i32 } }
record! { pub struct MultiHeader { pub op_type: i32, pub done: bool, pub err: i32 } }
record! { pub struct AuthPacket { pub auth_type: i32, pub scheme: String, pub auth: Option<Vec<u8>> } }

record! {
    pub struct SetWatches {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
    }
}

record! {
    pub struct SetWatches2 {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
        pub persistent_watches: Vec<String>,
        pub persistent_recursive_watches: Vec<String>,
    }
}

record! { pub struct PathAndWatch { pub path: String, pub watch: bool } }
/// getData, exists, getChildren and getChildren2 requests share one layout.
pub type GetDataRequest = PathAndWatch;
pub type ExistsRequest = PathAndWatch;
pub type GetChildrenRequest = PathAndWatch;
pub type GetChildren2Request = PathAndWatch;

record! { pub struct PathRequest { pub path: String } }
/// Requests and responses that are a single path.
pub type GetAclRequest = PathRequest;
pub type SyncRequest = PathRequest;
pub type SyncResponse = PathRequest;
pub type GetAllChildrenNumberRequest = PathRequest;
pub type GetEphemeralsRequest = PathRequest;
pub type CreateResponse = PathRequest;
/// deleteContainer's path is a `buffer` on the wire; same bytes as a ustring.
pub type DeleteContainerRequest = PathRequest;

record! { pub struct SetDataRequest { pub path: String, pub data: Option<Vec<u8>>, pub version: i32 } }
record! {
    pub struct ReconfigRequest {
        pub joining_servers: String,
        pub leaving_servers: String,
        pub new_members: String,
        pub cur_config_id: i64,
    }
}
record! { pub struct StatResponse { pub stat: Stat } }
pub type SetDataResponse = StatResponse;
pub type SetAclResponse = StatResponse;
pub type ExistsResponse = StatResponse;

record! { pub struct SaslRequest { pub token: Option<Vec<u8>> } }
record! {
    pub struct CreateRequest {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub flags: i32,
    }
}
record! {
    pub struct CreateTtlRequest {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub flags: i32,
        pub ttl: i64,
    }
}
record! { pub struct DeleteRequest { pub path: String, pub version: i32 } }
record! { pub struct CheckVersionRequest { pub path: String, pub version: i32 } }
record! { pub struct SetAclRequest { pub path: String, pub acl: Vec<Acl>, pub version: i32 } }
record! { pub struct AddWatchRequest { pub path: String, pub mode: i32 } }
record! { pub struct WatcherEvent { pub event_type: i32, pub state: i32, pub path: String } }
record! { pub struct ErrorResponse { pub err: i32 } }
record! { pub struct Create2Response { pub path: String, pub stat: Stat } }
record! { pub struct GetDataResponse { pub data: Option<Vec<u8>>, pub stat: Stat } }
record! { pub struct GetChildrenResponse { pub children: Vec<String> } }
record! { pub struct GetChildren2Response { pub children: Vec<String>, pub stat: Stat } }
record! { pub struct GetAllChildrenNumberResponse { pub total_number: i32 } }
record! { pub struct GetAclResponse { pub acl: Vec<Acl>, pub stat: Stat } }
record! { pub struct WatchesRequest { pub path: String, pub watcher_type: i32 } }
pub type CheckWatchesRequest = WatchesRequest;
pub type RemoveWatchesRequest = WatchesRequest;
record! { pub struct GetEphemeralsResponse { pub ephemerals: Vec<String> } }
record! { pub struct WhoAmIResponse { pub client_info: Vec<ClientInfo> } }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_request_sizes() {
        let mut req = ConnectRequest {
            passwd: Some(vec![0; 16]),
            ..Default::default()
        };
        assert_eq!(req.to_bytes().len(), 44);
        req.read_only = Some(false);
        assert_eq!(req.to_bytes().len(), 45);
        let back = ConnectRequest::from_bytes(&req.to_bytes()).unwrap();
        assert_eq!(back, req);
        let resp = ConnectResponse {
            passwd: Some(vec![0; 16]),
            ..Default::default()
        };
        assert_eq!(resp.to_bytes().len(), 36);
    }

    #[test]
    fn stat_is_68_bytes() {
        assert_eq!(Stat::default().to_bytes().len(), 68);
        assert_eq!(StatPersisted::default().to_bytes().len(), 60);
    }
}
