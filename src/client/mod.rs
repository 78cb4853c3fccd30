//! An asynchronous ZooKeeper client with the Java client's semantics.
//!
//! A [`Client`] is a cheap, cloneable handle on one session. [`Client::new`]
//! returns at once and connects in the background; session state changes and
//! watch notifications arrive, in order, on the event receiver returned with
//! it. The wire protocol comes from [`zkproto`].
//!
//! Behaviour that callers may rely on (mirroring `org.apache.zookeeper.ZooKeeper`):
//! * Requests are answered in the order they were issued. Requests issued
//!   while disconnected are queued until a connection is established; they
//!   fail with `ConnectionLoss` if a connection attempt fails or the
//!   connection drops before their reply.
//! * Watches are set with the `watch` flags of the read calls, or
//!   [`Client::add_watch`]; they are kept across reconnects (re-registered
//!   with SetWatches) and delivered once per (event, path), like the Java
//!   client's `ZKWatchManager` with a single default watcher.
//! * Session events: `SyncConnected` (or `ConnectedReadOnly`) on every
//!   connect, `Disconnected` when an established connection is lost,
//!   `Expired` when the server reports the session gone, `AuthFailed` when an
//!   auth packet is rejected, `Closed` after [`Client::close`]. After
//!   `Expired`, `AuthFailed` or `Closed` the handle is dead (requests fail
//!   with `SessionExpired` / `AuthFailed`) and the event channel ends.
//! * With a chroot in the connect string (`host:port/app`), all paths are
//!   relative to it, both ways.

mod connection;
mod error;
mod hosts;
mod watches;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use zkproto::consts::{add_watch_mode, op, state as kstate, watcher_type, CreateMode, MAX_TTL};
use zkproto::multi::{MultiOp, MultiRequest, MultiResponse, MultiResult};
use zkproto::records::{
    AddWatchRequest, ClientInfo, Create2Response, CreateRequest, CreateTtlRequest, DeleteRequest,
    GetAclResponse, GetAllChildrenNumberResponse, GetChildren2Response, GetDataResponse,
    GetEphemeralsResponse, PathAndWatch, PathRequest, SetAclRequest, SetDataRequest, StatResponse,
    WatchesRequest, WhoAmIResponse,
};
use zkproto::{ErrorCode, Jute, Writer};

pub use zkproto::records::{Acl, Stat};

pub use connection::Attempts;
use connection::{lock, Command, Core, RegisterOn, Reply, Request, SessionInfo, Task, WatchAction};
pub use error::ZkResult;
use error::{from_code, marshalling};
use hosts::{prepend_chroot, strip_chroot, HostList};
pub use hosts::{ConnectString, HostPort, DEFAULT_PORT};
pub use watches::Watches;

/// The config znode read by [`Client::get_config`]; never chrooted.
pub const CONFIG_NODE: &str = "/zookeeper/config";

/// Client session state, as `ZooKeeper.States` (zkCli shows it in the prompt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Connecting,
    /// Unused, as in the Java client; kept for completeness.
    Associating,
    Connected,
    ConnectedReadOnly,
    Closed,
    AuthFailed,
    NotConnected,
}

impl State {
    /// Java's `States.isAlive()`: false only for `Closed` and `AuthFailed`.
    pub fn is_alive(self) -> bool {
        !matches!(self, State::Closed | State::AuthFailed)
    }

    /// Java's `States.isConnected()`.
    pub fn is_connected(self) -> bool {
        matches!(self, State::Connected | State::ConnectedReadOnly)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Connecting => "CONNECTING",
            State::Associating => "ASSOCIATING",
            State::Connected => "CONNECTED",
            State::ConnectedReadOnly => "CONNECTEDREADONLY",
            State::Closed => "CLOSED",
            State::AuthFailed => "AUTH_FAILED",
            State::NotConnected => "NOT_CONNECTED",
        })
    }
}

/// A session event or watch notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchedEvent {
    /// `zkproto::consts::event` code (`NONE` = -1 for session events).
    pub event_type: i32,
    /// `zkproto::consts::state` code (`SYNC_CONNECTED`, `DISCONNECTED`, ...).
    pub state: i32,
    /// Client path (chroot removed); `None` for session events.
    pub path: Option<String>,
    /// Zxid from the notification header (-1 from 3.8 servers, the txn's
    /// zxid from 3.9); -1 for session and locally generated events.
    pub zxid: i64,
}

/// zkCli 3.8's `WatchedEvent.toString()`:
/// `WatchedEvent state:SyncConnected type:None path:null`.
impl fmt::Display for WatchedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WatchedEvent state:{} type:{} path:{}",
            kstate::name(self.state),
            zkproto::consts::event::name(self.event_type),
            self.path.as_deref().unwrap_or("null")
        )
    }
}

/// Options of [`Client::new`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Requested session timeout; the server clamps it (default 30000).
    pub session_timeout_ms: u32,
    /// Accept a read-only server (`zkCli -r`).
    pub can_be_read_only: bool,
    /// Fail a request with `RequestTimeout` if no reply came within this
    /// time, and drop the connection (Java's `zookeeper.request.timeout`).
    pub request_timeout_ms: Option<u64>,
    /// Resume an existing session: id and password.
    pub session_id: Option<(i64, Vec<u8>)>,
    /// Try the servers in the connect string's order instead of a random
    /// one (a load tool that places each session on a chosen member first,
    /// still able to fail over to the others).
    pub hosts_in_order: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            session_timeout_ms: 30000,
            can_be_read_only: false,
            request_timeout_ms: None,
            session_id: None,
            hosts_in_order: false,
        }
    }
}

struct Inner {
    core: Arc<Core>,
    cmd_tx: mpsc::UnboundedSender<Command>,
    connect_string: String,
    chroot: Option<String>,
    request_timeout: Option<Duration>,
}

/// A handle on one ZooKeeper session. Clones share the session; the
/// background connection task stops (without closing the session, which then
/// expires on the server) when the last handle is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("connect_string", &self.inner.connect_string)
            .field("state", &self.state())
            .field("session_id", &format_args!("0x{:x}", self.session_id()))
            .finish()
    }
}

fn bad_path(path: &str) -> ZkResult<()> {
    zkproto::path::validate_path(path).map_err(|_| ErrorCode::BadArguments)
}

fn decode<T: Jute>(r: Reply) -> ZkResult<T> {
    T::from_bytes(&r.body).map_err(marshalling)
}

/// `ZooKeeper.validateACL`: an empty list is rejected before sending.
fn check_acl(acl: &[Acl]) -> ZkResult<()> {
    if acl.is_empty() {
        Err(ErrorCode::InvalidAcl)
    } else {
        Ok(())
    }
}

impl Client {
    /// Starts connecting in the background and returns at once. Must be
    /// called within a Tokio runtime (else `SystemError`); a malformed
    /// connect string is `BadArguments`.
    pub fn new(
        connect_string: &str,
        opts: ClientOptions,
    ) -> ZkResult<(Client, mpsc::UnboundedReceiver<WatchedEvent>)> {
        let cs = ConnectString::parse(connect_string)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ErrorCode::SystemError)?;
        let (session_id, passwd) = opts.session_id.clone().unwrap_or((0, Vec::new()));
        let core = Arc::new(Core::new(SessionInfo {
            session_id,
            passwd,
            ..SessionInfo::default()
        }));
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let task = Task::new(
            core.clone(),
            cmd_rx,
            ev_tx,
            if opts.hosts_in_order {
                HostList::in_order(cs.hosts)
            } else {
                HostList::new(cs.hosts)
            },
            cs.chroot.clone(),
            opts.session_timeout_ms,
            opts.can_be_read_only,
        );
        runtime.spawn(task.run());
        let inner = Inner {
            core,
            cmd_tx,
            connect_string: connect_string.to_string(),
            chroot: cs.chroot,
            request_timeout: opts.request_timeout_ms.map(Duration::from_millis),
        };
        Ok((
            Client {
                inner: Arc::new(inner),
            },
            ev_rx,
        ))
    }

    /// Waits until the session is connected. `ConnectionLoss` on timeout,
    /// `SessionExpired` if it ended closed/expired, `AuthFailed` likewise.
    pub async fn wait_connected(&self, timeout: Duration) -> ZkResult<()> {
        let mut rx = self.inner.core.state.subscribe();
        let wait = async {
            loop {
                let s = *rx.borrow_and_update();
                match s {
                    State::Connected | State::ConnectedReadOnly => return Ok(()),
                    State::Closed => return Err(ErrorCode::SessionExpired),
                    State::AuthFailed => return Err(ErrorCode::AuthFailed),
                    _ => {}
                }
                if rx.changed().await.is_err() {
                    return Err(ErrorCode::ConnectionLoss);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(ErrorCode::ConnectionLoss))
    }

    /// Like [`Client::wait_connected`], but gives up early once every host
    /// of the connect string has failed `rounds` times in a row (refused,
    /// unresolvable, no handshake), returning the attempts so the caller can
    /// say why. Scripts use it: nothing answering is an error worth
    /// reporting at once, not after a whole session timeout.
    pub async fn wait_connected_or_unreachable(
        &self,
        timeout: Duration,
        rounds: usize,
    ) -> Result<(), (ErrorCode, Option<Attempts>)> {
        let mut attempts = self.inner.core.attempts.subscribe();
        let unreachable = async {
            loop {
                let a = attempts.borrow_and_update().clone();
                if a.failed_rounds() >= rounds.max(1) {
                    return a;
                }
                if attempts.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            r = self.wait_connected(timeout) => r.map_err(|c| (c, None)),
            a = unreachable => match self.state() {
                State::Connected | State::ConnectedReadOnly => Ok(()),
                _ => Err((ErrorCode::ConnectionLoss, Some(a))),
            },
        }
    }

    /// Failed connection attempts since the last established connection.
    pub fn attempts(&self) -> Attempts {
        self.inner.core.attempts.borrow().clone()
    }

    pub fn state(&self) -> State {
        self.inner.core.state()
    }

    /// 0 until the first connection.
    pub fn session_id(&self) -> i64 {
        lock(&self.inner.core.info).session_id
    }

    pub fn session_password(&self) -> Vec<u8> {
        lock(&self.inner.core.info).passwd.clone()
    }

    /// 0 until the first connection.
    pub fn negotiated_timeout_ms(&self) -> u32 {
        lock(&self.inner.core.info).negotiated_timeout_ms
    }

    /// The connect string as given.
    pub fn connect_string(&self) -> String {
        self.inner.connect_string.clone()
    }

    /// The chroot of the connect string, if any.
    pub fn chroot(&self) -> Option<String> {
        self.inner.chroot.clone()
    }

    /// Address of the server currently connected to, e.g. `127.0.0.1:2181`.
    pub fn connected_host(&self) -> Option<String> {
        lock(&self.inner.core.info).connected_host.clone()
    }

    /// Highest zxid seen in a reply header.
    pub fn last_zxid(&self) -> i64 {
        lock(&self.inner.core.info).last_zxid
    }

    /// Snapshot of the registered watches (client paths).
    pub fn watches(&self) -> Watches {
        let chroot = self.inner.chroot.as_deref();
        lock(&self.inner.core.watches).snapshot(|p| strip_chroot(chroot, p))
    }

    fn server_path(&self, path: &str) -> String {
        prepend_chroot(self.inner.chroot.as_deref(), path)
    }

    fn client_path(&self, server_path: &str) -> String {
        strip_chroot(self.inner.chroot.as_deref(), server_path)
    }

    /// The error for a handle whose task has ended, as Java's
    /// `conLossPacket`: `AuthFailed`, `SessionExpired` once closed, else
    /// `ConnectionLoss`.
    fn dead_error(&self) -> ErrorCode {
        match self.state() {
            State::AuthFailed => ErrorCode::AuthFailed,
            State::Closed => ErrorCode::SessionExpired,
            _ => ErrorCode::ConnectionLoss,
        }
    }

    async fn await_reply<T>(&self, rx: oneshot::Receiver<ZkResult<T>>) -> ZkResult<T> {
        let res = match self.inner.request_timeout {
            None => rx.await,
            Some(t) => match tokio::time::timeout(t, rx).await {
                Ok(r) => r,
                Err(_) => {
                    let _ = self.inner.cmd_tx.send(Command::RequestTimedOut);
                    return Err(ErrorCode::RequestTimeout);
                }
            },
        };
        res.unwrap_or_else(|_| Err(self.dead_error()))
    }

    /// Sends one request and waits for its reply body.
    async fn call(&self, op: i32, body: Vec<u8>, watch: WatchAction) -> ZkResult<Reply> {
        let (tx, rx) = oneshot::channel();
        let req = Request {
            op,
            body,
            watch,
            reply: tx,
        };
        self.inner
            .cmd_tx
            .send(Command::Request(req))
            .map_err(|_| self.dead_error())?;
        self.await_reply(rx).await
    }

    fn register(&self, watch: bool, on: RegisterOn, server_path: &str) -> WatchAction {
        if watch {
            WatchAction::Register {
                on,
                server_path: server_path.to_string(),
            }
        } else {
            WatchAction::None
        }
    }

    /// Creates a node; returns its (chroot-relative) path, which differs from
    /// `path` for sequential modes, and its Stat. Uses create2 (15),
    /// createContainer (19) or createTTL (21). `ttl_ms` is required for the
    /// TTL modes (1..=2^40-1) and must be `None` otherwise (`BadArguments`,
    /// as the Java client's `EphemeralType.validateTTL`).
    pub async fn create(
        &self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        mode: CreateMode,
        ttl_ms: Option<i64>,
    ) -> ZkResult<(String, Stat)> {
        zkproto::path::validate_create_path(path, mode.is_sequential())
            .map_err(|_| ErrorCode::BadArguments)?;
        check_acl(acl)?;
        let ttl = match (mode.is_ttl(), ttl_ms) {
            (true, Some(t)) if t > 0 && t <= MAX_TTL => Some(t),
            (false, None) => None,
            _ => return Err(ErrorCode::BadArguments),
        };
        let spath = self.server_path(path);
        let data = data.map(<[u8]>::to_vec);
        let (op, body) = match ttl {
            Some(ttl) => {
                let req = CreateTtlRequest {
                    path: spath,
                    data,
                    acl: acl.to_vec(),
                    flags: mode.flags(),
                    ttl,
                };
                (op::CREATE_TTL, req.to_bytes())
            }
            None => {
                let req = CreateRequest {
                    path: spath,
                    data,
                    acl: acl.to_vec(),
                    flags: mode.flags(),
                };
                let op = if mode.is_container() {
                    op::CREATE_CONTAINER
                } else {
                    op::CREATE2
                };
                (op, req.to_bytes())
            }
        };
        let resp: Create2Response = decode(self.call(op, body, WatchAction::None).await?)?;
        Ok((self.client_path(&resp.path), resp.stat))
    }

    /// Deletes a node (`version` -1 = any).
    pub async fn delete(&self, path: &str, version: i32) -> ZkResult<()> {
        bad_path(path)?;
        // As in Java, "/" is sent as "/" even under a chroot, so deleting the
        // chroot node through its own client always fails like deleting "/".
        let spath = if path == "/" {
            path.to_string()
        } else {
            self.server_path(path)
        };
        let req = DeleteRequest {
            path: spath,
            version,
        };
        self.call(op::DELETE, req.to_bytes(), WatchAction::None)
            .await
            .map(|_| ())
    }

    /// Stat of a node, `None` if it does not exist. With `watch`, an existing
    /// node gets a data watch and a missing one an exist watch (fires on
    /// creation).
    pub async fn exists(&self, path: &str, watch: bool) -> ZkResult<Option<Stat>> {
        bad_path(path)?;
        let spath = self.server_path(path);
        let w = self.register(watch, RegisterOn::Exists, &spath);
        let req = PathAndWatch { path: spath, watch };
        match self.call(op::EXISTS, req.to_bytes(), w).await {
            Ok(r) => Ok(Some(decode::<StatResponse>(r)?.stat)),
            Err(ErrorCode::NoNode) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Data (`None` = null, distinct from empty) and Stat of a node.
    pub async fn get_data(&self, path: &str, watch: bool) -> ZkResult<(Option<Vec<u8>>, Stat)> {
        bad_path(path)?;
        let spath = self.server_path(path);
        self.get_data_raw(spath, watch).await
    }

    async fn get_data_raw(&self, spath: String, watch: bool) -> ZkResult<(Option<Vec<u8>>, Stat)> {
        let w = self.register(watch, RegisterOn::Data, &spath);
        let req = PathAndWatch { path: spath, watch };
        let resp: GetDataResponse = decode(self.call(op::GET_DATA, req.to_bytes(), w).await?)?;
        Ok((resp.data, resp.stat))
    }

    pub async fn set_data(&self, path: &str, data: Option<&[u8]>, version: i32) -> ZkResult<Stat> {
        bad_path(path)?;
        let req = SetDataRequest {
            path: self.server_path(path),
            data: data.map(<[u8]>::to_vec),
            version,
        };
        let resp: StatResponse = decode(
            self.call(op::SET_DATA, req.to_bytes(), WatchAction::None)
                .await?,
        )?;
        Ok(resp.stat)
    }

    pub async fn get_acl(&self, path: &str) -> ZkResult<(Vec<Acl>, Stat)> {
        bad_path(path)?;
        let req = PathRequest {
            path: self.server_path(path),
        };
        let resp: GetAclResponse = decode(
            self.call(op::GET_ACL, req.to_bytes(), WatchAction::None)
                .await?,
        )?;
        Ok((resp.acl, resp.stat))
    }

    /// Sets the ACL (`version` is the expected aversion, -1 = any).
    pub async fn set_acl(&self, path: &str, acl: &[Acl], version: i32) -> ZkResult<Stat> {
        bad_path(path)?;
        check_acl(acl)?;
        let req = SetAclRequest {
            path: self.server_path(path),
            acl: acl.to_vec(),
            version,
        };
        let resp: StatResponse = decode(
            self.call(op::SET_ACL, req.to_bytes(), WatchAction::None)
                .await?,
        )?;
        Ok(resp.stat)
    }

    /// Children names (unsorted, as the server returns them) and the Stat,
    /// via getChildren2 (12).
    pub async fn get_children(&self, path: &str, watch: bool) -> ZkResult<(Vec<String>, Stat)> {
        bad_path(path)?;
        let spath = self.server_path(path);
        let w = self.register(watch, RegisterOn::Child, &spath);
        let req = PathAndWatch { path: spath, watch };
        let resp: GetChildren2Response =
            decode(self.call(op::GET_CHILDREN2, req.to_bytes(), w).await?)?;
        Ok((resp.children, resp.stat))
    }

    /// Waits until the server is up to date with the leader; returns the path.
    pub async fn sync(&self, path: &str) -> ZkResult<String> {
        bad_path(path)?;
        let req = PathRequest {
            path: self.server_path(path),
        };
        let resp: PathRequest = decode(
            self.call(op::SYNC, req.to_bytes(), WatchAction::None)
                .await?,
        )?;
        Ok(self.client_path(&resp.path))
    }

    fn chroot_op(&self, mut o: MultiOp) -> ZkResult<MultiOp> {
        match &mut o {
            MultiOp::Create { req, .. } => {
                let seq = CreateMode::from_flags(req.flags).is_some_and(CreateMode::is_sequential);
                zkproto::path::validate_create_path(&req.path, seq)
                    .map_err(|_| ErrorCode::BadArguments)?;
                req.path = self.server_path(&req.path);
            }
            MultiOp::Delete(r) => {
                bad_path(&r.path)?;
                r.path = self.server_path(&r.path);
            }
            MultiOp::SetData(r) => {
                bad_path(&r.path)?;
                r.path = self.server_path(&r.path);
            }
            MultiOp::Check(r) => {
                bad_path(&r.path)?;
                r.path = self.server_path(&r.path);
            }
            MultiOp::GetData(r) | MultiOp::GetChildren(r) => {
                bad_path(&r.path)?;
                r.path = self.server_path(&r.path);
            }
        }
        Ok(o)
    }

    async fn multi_op(&self, op: i32, ops: Vec<MultiOp>) -> ZkResult<Vec<MultiResult>> {
        let ops = ops
            .into_iter()
            .map(|o| self.chroot_op(o))
            .collect::<ZkResult<Vec<_>>>()?;
        let body = MultiRequest { ops }.to_bytes();
        let resp: MultiResponse = decode(self.call(op, body, WatchAction::None).await?)?;
        Ok(resp
            .results
            .into_iter()
            .map(|r| match r {
                MultiResult::Create(p) => MultiResult::Create(self.client_path(&p)),
                MultiResult::Create2(p, s) => MultiResult::Create2(self.client_path(&p), s),
                other => other,
            })
            .collect())
    }

    /// Runs `ops` as one transaction. A transaction the server rejected is
    /// **not** an `Err`: as on the wire, every result is then
    /// `MultiResult::Error` (0 for ops before the failing one, its code, -2
    /// after); [`first_error`] extracts the code the Java client throws.
    /// `Err` is for failures of the request itself.
    pub async fn multi(&self, ops: Vec<MultiOp>) -> ZkResult<Vec<MultiResult>> {
        self.multi_op(op::MULTI, ops).await
    }

    /// Runs getData/getChildren ops (multiRead, 22); each result is
    /// independent (`MultiResult::Error` for a failed one). Other op kinds
    /// are `BadArguments`.
    pub async fn multi_read(&self, ops: Vec<MultiOp>) -> ZkResult<Vec<MultiResult>> {
        if !ops.iter().all(MultiOp::is_read) {
            return Err(ErrorCode::BadArguments);
        }
        self.multi_op(op::MULTI_READ, ops).await
    }

    /// Adds an identity to the connection (`addauth`). Remembered and
    /// re-sent after every reconnect. A rejection ends the session: state
    /// `AuthFailed`, event `AuthFailed`, result `Err(AuthFailed)`.
    pub async fn add_auth(&self, scheme: &str, auth: &[u8]) -> ZkResult<()> {
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Auth {
            scheme: scheme.to_string(),
            auth: auth.to_vec(),
            reply: tx,
        };
        self.inner.cmd_tx.send(cmd).map_err(|_| self.dead_error())?;
        self.await_reply(rx).await
    }

    /// Adds a persistent (`add_watch_mode::PERSISTENT`, 0) or
    /// persistent-recursive (1) watch.
    pub async fn add_watch(&self, path: &str, mode: i32) -> ZkResult<()> {
        bad_path(path)?;
        let on = match mode {
            add_watch_mode::PERSISTENT => RegisterOn::Persistent,
            add_watch_mode::PERSISTENT_RECURSIVE => RegisterOn::PersistentRecursive,
            _ => return Err(ErrorCode::BadArguments),
        };
        let spath = self.server_path(path);
        let w = self.register(true, on, &spath);
        let req = AddWatchRequest { path: spath, mode };
        self.call(op::ADD_WATCH, req.to_bytes(), w)
            .await
            .map(|_| ())
    }

    /// Removes all watches of `watcher_type` (`zkproto::consts::watcher_type`)
    /// on the path, on the server (removeWatches, 18) and locally. Like the
    /// Java client, success delivers `ChildWatchRemoved` /
    /// `DataWatchRemoved` / `PersistentWatchRemoved` events; `NoWatcher` if
    /// this client holds no such watch; with `local`, watches are removed
    /// locally even if the server fails or cannot be reached.
    pub async fn remove_watches(&self, path: &str, watcher_type: i32, local: bool) -> ZkResult<()> {
        bad_path(path)?;
        if !(watcher_type::CHILDREN..=watcher_type::PERSISTENT_RECURSIVE).contains(&watcher_type) {
            return Err(ErrorCode::BadArguments);
        }
        let spath = self.server_path(path);
        let w = WatchAction::Remove {
            server_path: spath.clone(),
            client_path: path.to_string(),
            watcher_type,
            local,
        };
        let req = WatchesRequest {
            path: spath,
            watcher_type,
        };
        self.call(op::REMOVE_WATCHES, req.to_bytes(), w)
            .await
            .map(|_| ())
    }

    /// Asks the server whether watches of `watcher_type` exist on the path
    /// (checkWatches, 17); `NoWatcher` at once if this client holds none.
    /// Nothing is removed.
    pub async fn check_watches(&self, path: &str, watcher_type: i32) -> ZkResult<()> {
        bad_path(path)?;
        if !(watcher_type::CHILDREN..=watcher_type::PERSISTENT_RECURSIVE).contains(&watcher_type) {
            return Err(ErrorCode::BadArguments);
        }
        let spath = self.server_path(path);
        if !lock(&self.inner.core.watches).contains(&spath, watcher_type) {
            return Err(ErrorCode::NoWatcher);
        }
        let req = WatchesRequest {
            path: spath,
            watcher_type,
        };
        self.call(op::CHECK_WATCHES, req.to_bytes(), WatchAction::None)
            .await
            .map(|_| ())
    }

    /// This session's ephemeral nodes whose path starts with `prefix` (a
    /// string prefix, `/` = all).
    pub async fn get_ephemerals(&self, prefix: &str) -> ZkResult<Vec<String>> {
        bad_path(prefix)?;
        let req = PathRequest {
            path: self.server_path(prefix),
        };
        let resp: GetEphemeralsResponse = decode(
            self.call(op::GET_EPHEMERALS, req.to_bytes(), WatchAction::None)
                .await?,
        )?;
        Ok(resp
            .ephemerals
            .iter()
            .map(|p| self.client_path(p))
            .collect())
    }

    /// Number of descendants of the node (itself excluded).
    pub async fn get_all_children_number(&self, path: &str) -> ZkResult<i32> {
        bad_path(path)?;
        let req = PathRequest {
            path: self.server_path(path),
        };
        let resp: GetAllChildrenNumberResponse = decode(
            self.call(
                op::GET_ALL_CHILDREN_NUMBER,
                req.to_bytes(),
                WatchAction::None,
            )
            .await?,
        )?;
        Ok(resp.total_number)
    }

    /// The identities the server associates with this connection.
    pub async fn who_am_i(&self) -> ZkResult<Vec<ClientInfo>> {
        let resp: WhoAmIResponse = decode(
            self.call(op::WHO_AM_I, Vec::new(), WatchAction::None)
                .await?,
        )?;
        Ok(resp.client_info)
    }

    /// Reads `/zookeeper/config` (never chrooted), optionally watching it.
    pub async fn get_config(&self, watch: bool) -> ZkResult<(Option<Vec<u8>>, Stat)> {
        self.get_data_raw(CONFIG_NODE.to_string(), watch).await
    }

    /// Dynamic reconfiguration (16). Empty strings are sent as null, which
    /// is how the server tells an incremental change (joining/leaving) from
    /// a new member list. `from_config` -1 = any.
    pub async fn reconfig(
        &self,
        joining: &str,
        leaving: &str,
        new_members: &str,
        from_config: i64,
    ) -> ZkResult<(Option<Vec<u8>>, Stat)> {
        let mut w = Writer::new();
        for s in [joining, leaving, new_members] {
            if s.is_empty() {
                w.write_i32(-1);
            } else {
                w.write_string(s);
            }
        }
        w.write_i64(from_config);
        let resp: GetDataResponse = decode(
            self.call(op::RECONFIG, w.into_inner(), WatchAction::None)
                .await?,
        )?;
        Ok((resp.data, resp.stat))
    }

    /// Closes the session (closeSession, -11): waits for the server's reply
    /// (bounded), then the state is `Closed` and a `Closed` event is
    /// delivered. The server deletes the session's ephemeral nodes. A no-op
    /// on a handle that is already closed, expired or auth-failed.
    pub async fn close(&self) -> ZkResult<()> {
        let (tx, rx) = oneshot::channel();
        if self.inner.cmd_tx.send(Command::Close(tx)).is_err() {
            return Ok(());
        }
        // The task bounds the wait and always answers (or drops `tx`).
        let _ = rx.await;
        Ok(())
    }
}

/// The first failure in the results of a failed [`Client::multi`], i.e. the
/// code the Java client throws; `None` if the transaction succeeded.
pub fn first_error(results: &[MultiResult]) -> Option<ErrorCode> {
    results.iter().find_map(|r| match r {
        MultiResult::Error(c) if *c != 0 => Some(from_code(*c)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays() {
        assert_eq!(State::AuthFailed.to_string(), "AUTH_FAILED");
        assert_eq!(State::ConnectedReadOnly.to_string(), "CONNECTEDREADONLY");
        let ev = WatchedEvent {
            event_type: -1,
            state: 3,
            path: None,
            zxid: -1,
        };
        assert_eq!(
            ev.to_string(),
            "WatchedEvent state:SyncConnected type:None path:null"
        );
        let ev = WatchedEvent {
            event_type: 3,
            state: 3,
            path: Some("/a".into()),
            zxid: 5,
        };
        assert_eq!(
            ev.to_string(),
            "WatchedEvent state:SyncConnected type:NodeDataChanged path:/a"
        );
    }

    #[test]
    fn first_error_of_results() {
        let ok = [MultiResult::Delete, MultiResult::Check];
        assert_eq!(first_error(&ok), None);
        let failed = [
            MultiResult::Error(0),
            MultiResult::Error(-101),
            MultiResult::Error(-2),
        ];
        assert_eq!(first_error(&failed), Some(ErrorCode::NoNode));
    }

    #[test]
    fn new_needs_runtime_and_valid_string() {
        assert_eq!(
            Client::new("127.0.0.1:1", ClientOptions::default()).err(),
            Some(ErrorCode::SystemError)
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(
                Client::new("", ClientOptions::default()).err(),
                Some(ErrorCode::BadArguments)
            );
        });
    }
}
