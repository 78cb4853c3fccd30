//! The connection task: one background task per [`Client`](super::Client)
//! that owns the socket and the session life cycle, like the Java client's
//! `ClientCnxn.SendThread`.
//!
//! * **Connecting**: pick the next host, send a `ConnectRequest` (session id,
//!   password and last zxid seen, so a reconnect resumes the session), wait for
//!   the `ConnectResponse` within `timeout / number of hosts`. A response with
//!   `timeOut <= 0` means the session expired: that is final.
//! * **Priming**: re-send every `addauth` (xid -4), then SetWatches (xid -8)
//!   for all registered watches with `relativeZxid` = last zxid seen, then the
//!   requests queued while disconnected.
//! * **Connected**: requests get increasing xids and wait in a FIFO; the
//!   server answers strictly in order, so each reply must match the head of
//!   the FIFO (anything else is a protocol error and drops the connection).
//!   Notifications (xid -1), pings (-2) and auth replies (-4, answered out of
//!   band by the server) are handled apart. A ping is sent after 1/3 of the
//!   session timeout without sending; nothing received for 2/3 of it means
//!   the connection is dead.
//! * **Lost**: in-flight requests fail with `ConnectionLoss`, a `Disconnected`
//!   event is emitted and the next host is tried. Requests issued while
//!   disconnected are queued; like the Java client, they fail with
//!   `ConnectionLoss` if a connection attempt fails.
//!
//! Reading uses a cancel-safe frame reader inside `select!`; writing is done
//! by a separate task fed through a channel, so a slow peer can never stall
//! reading (and thereby the replies it is waiting for).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zkproto::consts::{event, op, state as kstate, xid, DEFAULT_MAX_BUFFER};
use zkproto::records::{
    AuthPacket, ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader, SetWatches,
    SetWatches2, WatcherEvent,
};
use zkproto::{ErrorCode, Jute, Reader, Writer};

use super::error::{from_code, ZkResult};
use super::hosts::{strip_chroot, HostList, HostPort};
use super::watches::{WatchKind, WatchRegistry};
use super::{State, WatchedEvent};

/// Largest incoming frame: `jute.maxbuffer` plus slack for the reply header,
/// Stat and a getChildren list of a big node, so a 1 MB znode is still
/// readable. Anything larger is treated as a corrupt stream.
pub(crate) const MAX_INCOMING_FRAME: usize = DEFAULT_MAX_BUFFER + 1024 * 1024;

/// Longest wait for the closeSession reply in [`Client::close`](super::Client::close).
const MAX_CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Lower bound of the per-attempt connect timeout.
const MIN_CONNECT_TIMEOUT_MS: u64 = 1000;

/// The Java client also pings when nothing was sent for 10 s, whatever the
/// session timeout.
const MAX_PING_INTERVAL: Duration = Duration::from_secs(10);

/// SetWatches batches are cut after this many path bytes, as in the Java
/// client, to stay far below the server's frame limit.
const SET_WATCHES_MAX_LENGTH: usize = 128 * 1024;

/// Locks a mutex, ignoring poisoning: the data behind these mutexes stays
/// consistent even if a holder panicked, and panicking here would take the
/// connection task down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Session facts readable from any handle.
#[derive(Clone, Debug, Default)]
pub(crate) struct SessionInfo {
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub negotiated_timeout_ms: u32,
    pub connected_host: Option<String>,
    pub last_zxid: i64,
}

/// State shared between the handles and the connection task. It holds no
/// command sender, so the task ends when the last handle is dropped.
pub(crate) struct Core {
    pub info: Mutex<SessionInfo>,
    pub state: watch::Sender<State>,
    pub watches: Mutex<WatchRegistry>,
    /// Connection attempts that failed since the last success, so a caller
    /// can tell "still handshaking" from "nothing answers".
    pub attempts: watch::Sender<Attempts>,
}

/// Failed connection attempts since the last established connection.
#[derive(Clone, Debug, Default)]
pub struct Attempts {
    /// Attempts that failed in a row.
    pub failed: usize,
    /// How many hosts the connect string names.
    pub hosts: usize,
    /// Why each host failed most recently, in host-list order of failure
    /// (one entry per host, latest reason).
    pub reasons: Vec<(String, String)>,
}

impl Attempts {
    /// Complete passes over the host list in which every host failed.
    pub fn failed_rounds(&self) -> usize {
        self.failed.checked_div(self.hosts).unwrap_or(0)
    }

    /// "host: reason; host: reason" for an error message.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .reasons
            .iter()
            .map(|(h, r)| {
                // Reasons usually start with the address already.
                if r.contains(h.as_str()) {
                    r.clone()
                } else {
                    format!("{h}: {r}")
                }
            })
            .collect();
        parts.join("; ")
    }
}

impl Core {
    pub fn new(info: SessionInfo) -> Core {
        Core {
            info: Mutex::new(info),
            state: watch::channel(State::Connecting).0,
            watches: Mutex::new(WatchRegistry::default()),
            attempts: watch::channel(Attempts::default()).0,
        }
    }

    pub fn state(&self) -> State {
        *self.state.borrow()
    }
}

/// A successful reply: the undecoded body after the reply header.
#[derive(Debug)]
pub(crate) struct Reply {
    pub body: Vec<u8>,
}

/// Which table a request's watch goes to once the reply arrives (watches are
/// registered on the reply, as in Java, so a failed read registers nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RegisterOn {
    /// getData: data table on success.
    Data,
    /// exists: data table on success, exist table on NONODE.
    Exists,
    /// getChildren: child table on success.
    Child,
    Persistent,
    PersistentRecursive,
}

/// Side effect of a request on the watch registry.
#[derive(Debug)]
pub(crate) enum WatchAction {
    None,
    Register {
        on: RegisterOn,
        server_path: String,
    },
    /// removeWatches: applied when the reply (or a local failure) arrives,
    /// with the Java client's rules (see [`Task::unregister`]).
    Remove {
        server_path: String,
        client_path: String,
        watcher_type: i32,
        local: bool,
    },
}

/// A request from a handle.
#[derive(Debug)]
pub(crate) struct Request {
    pub op: i32,
    pub body: Vec<u8>,
    pub watch: WatchAction,
    pub reply: oneshot::Sender<ZkResult<Reply>>,
}

type AuthReply = oneshot::Sender<ZkResult<()>>;

/// Messages from the handles to the task.
#[derive(Debug)]
pub(crate) enum Command {
    Request(Request),
    Auth {
        scheme: String,
        auth: Vec<u8>,
        reply: AuthReply,
    },
    Close(oneshot::Sender<()>),
    /// A caller gave up on a reply (request timeout): like the Java client,
    /// treat the connection as broken so the FIFO cannot go stale.
    RequestTimedOut,
}

/// A remembered `addauth`, re-sent after every reconnect.
struct AuthEntry {
    scheme: String,
    auth: Vec<u8>,
    /// The caller still waiting for the first answer, if the auth was added
    /// while disconnected.
    waiter: Option<AuthReply>,
}

enum PendingKind {
    User(Request),
    SetWatches,
    Close,
}

/// A request written to the socket and awaiting its reply.
struct Pending {
    xid: i32,
    kind: PendingKind,
}

/// How a connected period ended.
enum End {
    Lost(String),
    Closed,
    AuthFailed,
    /// Every handle was dropped.
    Dropped,
}

enum Flow<T> {
    Done(T),
    Stop,
}

/// Reads length-prefixed frames. Only `read_buf` is awaited, which is cancel
/// safe, and the buffer is only touched synchronously, so `next_frame` can be
/// a `select!` branch without losing bytes.
pub(crate) struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        FrameReader {
            inner,
            buf: Vec::with_capacity(8192),
            max,
        }
    }

    pub async fn next_frame(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if self.buf.len() >= 4 {
                let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                if len < 0 || len as usize > self.max {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("frame length {len} out of range"),
                    ));
                }
                let total = 4 + len as usize;
                if self.buf.len() >= total {
                    let frame = self.buf[4..total].to_vec();
                    self.buf.drain(..total);
                    return Ok(frame);
                }
                self.buf.reserve(total - self.buf.len());
            } else if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(8192);
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// Encodes `[len][RequestHeader][body]`.
fn request_frame(xid: i32, op_type: i32, body: &[u8]) -> Vec<u8> {
    let mut w = Writer::framed();
    RequestHeader { xid, op_type }.write(&mut w);
    w.write_raw(body);
    w.finish_frame()
}

fn session_event(state: i32) -> WatchedEvent {
    WatchedEvent {
        event_type: event::NONE,
        state,
        path: None,
        zxid: -1,
    }
}

/// Result of a successful TCP connect + handshake.
struct Handshake {
    reader: FrameReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    resp: ConnectResponse,
    addr: SocketAddr,
}

/// Connects to `host` and exchanges ConnectRequest/ConnectResponse, all
/// within `limit`.
async fn handshake(host: HostPort, request: Vec<u8>, limit: Duration) -> Result<Handshake, String> {
    let attempt = async {
        let addrs = tokio::net::lookup_host((host.host.as_str(), host.port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;
        let mut last_err = format!("{host} resolved to no address");
        let mut connected = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    connected = Some((s, addr));
                    break;
                }
                Err(e) => last_err = format!("{addr}: {e}"),
            }
        }
        let (stream, addr) = connected.ok_or(last_err)?;
        // Requests are small and latency-bound, as in Java (tcpNoDelay).
        let _ = stream.set_nodelay(true);
        let (rd, mut wr) = stream.into_split();
        wr.write_all(&request)
            .await
            .map_err(|e| format!("{addr}: sending ConnectRequest: {e}"))?;
        let mut reader = FrameReader::new(rd, MAX_INCOMING_FRAME);
        let frame = reader
            .next_frame()
            .await
            .map_err(|e| format!("{addr}: reading ConnectResponse: {e}"))?;
        let resp = ConnectResponse::from_bytes(&frame)
            .map_err(|e| format!("{addr}: bad ConnectResponse: {e}"))?;
        Ok(Handshake {
            reader,
            writer: wr,
            resp,
            addr,
        })
    };
    tokio::time::timeout(limit, attempt)
        .await
        .map_err(|_| format!("{host}: no session established within {limit:?}"))?
}

/// Writes queued frames in order; ends on the first write error (noticed by
/// the task through the join handle) or when the connection is dropped.
async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(frame) = rx.recv().await {
        if let Err(e) = wr.write_all(&frame).await {
            tracing::debug!(%e, "write failed");
            return;
        }
    }
    let _ = wr.shutdown().await;
}

/// One established connection.
struct Live {
    reader: FrameReader<OwnedReadHalf>,
    writer: mpsc::UnboundedSender<Vec<u8>>,
    writer_task: JoinHandle<()>,
    pending: VecDeque<Pending>,
    auth_waiters: VecDeque<Option<AuthReply>>,
    last_send: Instant,
    last_recv: Instant,
    read_timeout: Duration,
    ping_interval: Duration,
    /// Set once closeSession was sent.
    closing_deadline: Option<Instant>,
}

impl Live {
    fn send(&mut self, frame: Vec<u8>) {
        // A dead writer is noticed through `writer_task`.
        let _ = self.writer.send(frame);
        self.last_send = Instant::now();
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.writer_task.abort();
    }
}

/// What woke the connected loop.
enum Wake {
    Frame(io::Result<Vec<u8>>),
    Cmd(Option<Command>),
    Ping,
    ReadTimeout,
    WriterDone,
    CloseTimeout,
}

/// The connection task's state.
pub(crate) struct Task {
    core: Arc<Core>,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<WatchedEvent>,
    hosts: HostList,
    chroot: Option<String>,
    requested_timeout_ms: u32,
    can_be_read_only: bool,
    next_xid: i32,
    /// Requests issued while disconnected.
    queued: VecDeque<Request>,
    auths: Vec<AuthEntry>,
    close_waiters: Vec<oneshot::Sender<()>>,
}

impl Task {
    pub fn new(
        core: Arc<Core>,
        cmd_rx: mpsc::UnboundedReceiver<Command>,
        events: mpsc::UnboundedSender<WatchedEvent>,
        hosts: HostList,
        chroot: Option<String>,
        requested_timeout_ms: u32,
        can_be_read_only: bool,
    ) -> Task {
        Task {
            core,
            cmd_rx,
            events,
            hosts,
            chroot,
            requested_timeout_ms,
            can_be_read_only,
            next_xid: 1,
            queued: VecDeque::new(),
            auths: Vec::new(),
            close_waiters: Vec::new(),
        }
    }

    fn emit(&self, ev: WatchedEvent) {
        // The receiver may have been dropped; events are then discarded.
        let _ = self.events.send(ev);
    }

    fn set_state(&self, s: State) {
        self.core.state.send_replace(s);
    }

    fn alloc_xid(&mut self) -> i32 {
        let x = self.next_xid;
        // Positive and wrapping to 1, as in Java; special xids are negative.
        self.next_xid = if x == i32::MAX { 1 } else { x + 1 };
        x
    }

    /// Session timeout to base the connect timeout on: the negotiated one
    /// once known, else the requested one.
    fn timeout_ms(&self) -> u32 {
        match lock(&self.core.info).negotiated_timeout_ms {
            0 => self.requested_timeout_ms,
            t => t,
        }
    }

    pub async fn run(mut self) {
        let mut failures = 0usize;
        loop {
            if failures > 0 && failures.is_multiple_of(self.hosts.len()) {
                // Every host failed in a row: back off a little (Java sleeps
                // up to 1 s between attempts) so a dead ensemble is not
                // hammered.
                let delay = Duration::from_millis(rand::thread_rng().gen_range(50..1000));
                if let Flow::Stop = self.offline_wait(tokio::time::sleep(delay)).await {
                    return;
                }
            }
            let host = self.hosts.next_host();
            let name = host.to_string();
            let hosts = self.hosts.len();
            self.set_state(State::Connecting);
            let request = self.connect_request();
            // Java: connectTimeout = sessionTimeout / number of hosts. The
            // floor keeps a tiny requested timeout from making every attempt
            // fail before the server could answer.
            let per_host = self.timeout_ms() as u64 / self.hosts.len() as u64;
            let limit = Duration::from_millis(per_host.max(MIN_CONNECT_TIMEOUT_MS));
            let hs = match self.offline_wait(handshake(host, request, limit)).await {
                Flow::Stop => return,
                Flow::Done(Ok(hs)) => hs,
                Flow::Done(Err(reason)) => {
                    tracing::debug!(%reason, "connection attempt failed");
                    failures += 1;
                    self.core.attempts.send_modify(|a| {
                        a.failed += 1;
                        a.hosts = hosts;
                        match a.reasons.iter_mut().find(|(h, _)| *h == name) {
                            Some(entry) => entry.1 = reason.clone(),
                            None => a.reasons.push((name, reason.clone())),
                        }
                    });
                    self.fail_queued(ErrorCode::ConnectionLoss);
                    continue;
                }
            };
            if hs.resp.time_out <= 0 {
                tracing::info!("session expired");
                self.finish_task(
                    None,
                    State::Closed,
                    kstate::EXPIRED,
                    ErrorCode::SessionExpired,
                );
                return;
            }
            failures = 0;
            self.core.attempts.send_replace(Attempts::default());
            let mut conn = self.establish(hs);
            match self.connected(&mut conn).await {
                End::Lost(reason) => {
                    tracing::info!(%reason, "connection lost");
                    if !self.close_waiters.is_empty() {
                        self.finish_task(
                            Some(conn),
                            State::Closed,
                            kstate::CLOSED,
                            ErrorCode::ConnectionLoss,
                        );
                        return;
                    }
                    self.connection_lost(conn);
                }
                End::Closed => {
                    self.finish_task(
                        Some(conn),
                        State::Closed,
                        kstate::CLOSED,
                        ErrorCode::ConnectionLoss,
                    );
                    return;
                }
                End::AuthFailed => {
                    self.finish_task(
                        Some(conn),
                        State::AuthFailed,
                        kstate::AUTH_FAILED,
                        ErrorCode::AuthFailed,
                    );
                    return;
                }
                End::Dropped => return,
            }
        }
    }

    fn connect_request(&self) -> Vec<u8> {
        let info = lock(&self.core.info);
        let passwd = if info.passwd.is_empty() {
            vec![0; 16]
        } else {
            info.passwd.clone()
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: info.last_zxid,
            time_out: i32::try_from(self.requested_timeout_ms).unwrap_or(i32::MAX),
            session_id: info.session_id,
            passwd: Some(passwd),
            read_only: Some(self.can_be_read_only),
        };
        let mut w = Writer::framed();
        req.write(&mut w);
        w.finish_frame()
    }

    /// Runs `fut` while serving commands: requests and auths are queued,
    /// close ends the task.
    async fn offline_wait<F: Future>(&mut self, fut: F) -> Flow<F::Output> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return Flow::Done(out),
                cmd = self.cmd_rx.recv() => match cmd {
                    None => return Flow::Stop,
                    Some(Command::Close(tx)) => {
                        self.close_waiters.push(tx);
                        self.finish_task(None, State::Closed, kstate::CLOSED, ErrorCode::ConnectionLoss);
                        return Flow::Stop;
                    }
                    Some(Command::Request(req)) => self.queued.push_back(req),
                    Some(Command::Auth { scheme, auth, reply }) => self.auths.push(AuthEntry {
                        scheme,
                        auth,
                        waiter: Some(reply),
                    }),
                    Some(Command::RequestTimedOut) => {}
                },
            }
        }
    }

    /// Records the new session parameters, announces the connection and
    /// primes it: auths, SetWatches, queued requests.
    fn establish(&mut self, hs: Handshake) -> Live {
        let resp = hs.resp;
        let negotiated = resp.time_out.max(1) as u32;
        let read_only = resp.read_only.unwrap_or(false);
        {
            let mut info = lock(&self.core.info);
            info.session_id = resp.session_id;
            info.passwd = resp.passwd.clone().unwrap_or_default();
            info.negotiated_timeout_ms = negotiated;
            info.connected_host = Some(hs.addr.to_string());
        }
        let read_timeout =
            Duration::from_millis(negotiated as u64 * 2 / 3).max(Duration::from_millis(1));
        let ping_interval = (read_timeout / 2).min(MAX_PING_INTERVAL);
        let (tx, rx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let mut conn = Live {
            reader: hs.reader,
            writer: tx,
            writer_task: tokio::spawn(write_loop(hs.writer, rx)),
            pending: VecDeque::new(),
            auth_waiters: VecDeque::new(),
            last_send: now,
            last_recv: now,
            read_timeout,
            ping_interval,
            closing_deadline: None,
        };
        tracing::info!(
            session_id = format_args!("0x{:x}", resp.session_id),
            negotiated,
            read_only,
            server = %hs.addr,
            "session established"
        );
        if read_only {
            self.set_state(State::ConnectedReadOnly);
            self.emit(session_event(kstate::CONNECTED_READ_ONLY));
        } else {
            self.set_state(State::Connected);
            self.emit(session_event(kstate::SYNC_CONNECTED));
        }

        for a in &mut self.auths {
            let pkt = AuthPacket {
                auth_type: 0,
                scheme: a.scheme.clone(),
                auth: Some(a.auth.clone()),
            };
            conn.send(request_frame(xid::AUTH, op::AUTH, &pkt.to_bytes()));
            conn.auth_waiters.push_back(a.waiter.take());
        }
        for (opcode, body) in self.set_watches_batches() {
            conn.send(request_frame(xid::SET_WATCHES, opcode, &body));
            conn.pending.push_back(Pending {
                xid: xid::SET_WATCHES,
                kind: PendingKind::SetWatches,
            });
        }
        while let Some(req) = self.queued.pop_front() {
            self.send_request(&mut conn, req);
        }
        conn
    }

    /// SetWatches(101) batches, or SetWatches2(105) for batches that carry
    /// persistent watches (older servers only know 101).
    fn set_watches_batches(&self) -> Vec<(i32, Vec<u8>)> {
        let reg = lock(&self.core.watches).clone();
        if reg.is_empty() {
            return Vec::new();
        }
        let relative_zxid = lock(&self.core.info).last_zxid;
        let mut tables = [
            reg.data.into_iter(),
            reg.exist.into_iter(),
            reg.child.into_iter(),
            reg.persistent.into_iter(),
            reg.persistent_recursive.into_iter(),
        ];
        let mut out = Vec::new();
        loop {
            let mut batch: [Vec<String>; 5] = Default::default();
            let mut len = 0;
            'fill: while len < SET_WATCHES_MAX_LENGTH {
                for (i, t) in tables.iter_mut().enumerate() {
                    if let Some(p) = t.next() {
                        len += p.len();
                        batch[i].push(p);
                        continue 'fill;
                    }
                }
                break;
            }
            if batch.iter().all(Vec::is_empty) {
                return out;
            }
            let [data, exist, child, persistent, recursive] = batch;
            if persistent.is_empty() && recursive.is_empty() {
                let sw = SetWatches {
                    relative_zxid,
                    data_watches: data,
                    exist_watches: exist,
                    child_watches: child,
                };
                out.push((op::SET_WATCHES, sw.to_bytes()));
            } else {
                let sw = SetWatches2 {
                    relative_zxid,
                    data_watches: data,
                    exist_watches: exist,
                    child_watches: child,
                    persistent_watches: persistent,
                    persistent_recursive_watches: recursive,
                };
                out.push((op::SET_WATCHES2, sw.to_bytes()));
            }
        }
    }

    fn send_request(&mut self, conn: &mut Live, req: Request) {
        let xid = self.alloc_xid();
        conn.send(request_frame(xid, req.op, &req.body));
        conn.pending.push_back(Pending {
            xid,
            kind: PendingKind::User(req),
        });
    }

    /// The connected loop.
    async fn connected(&mut self, conn: &mut Live) -> End {
        loop {
            let ping_at = conn.last_send + conn.ping_interval;
            let dead_at = conn.last_recv + conn.read_timeout;
            let close_at = conn.closing_deadline;
            let wake = tokio::select! {
                f = conn.reader.next_frame() => Wake::Frame(f),
                c = self.cmd_rx.recv() => Wake::Cmd(c),
                _ = tokio::time::sleep_until(ping_at) => Wake::Ping,
                _ = tokio::time::sleep_until(dead_at) => Wake::ReadTimeout,
                _ = &mut conn.writer_task => Wake::WriterDone,
                _ = tokio::time::sleep_until(close_at.unwrap_or(dead_at)), if close_at.is_some() => Wake::CloseTimeout,
            };
            match wake {
                Wake::Frame(Ok(frame)) => {
                    conn.last_recv = Instant::now();
                    match self.on_frame(conn, &frame) {
                        Ok(None) => {}
                        Ok(Some(end)) => return end,
                        Err(reason) => return End::Lost(reason),
                    }
                }
                Wake::Frame(Err(e)) => return End::Lost(format!("read: {e}")),
                Wake::Cmd(None) => return End::Dropped,
                Wake::Cmd(Some(cmd)) => {
                    if let Some(end) = self.on_command(conn, cmd) {
                        return end;
                    }
                }
                Wake::Ping => conn.send(request_frame(xid::PING, op::PING, &[])),
                Wake::ReadTimeout => {
                    return End::Lost(format!("nothing received for {:?}", conn.read_timeout))
                }
                Wake::WriterDone => return End::Lost("write failed".into()),
                Wake::CloseTimeout => return End::Closed,
            }
        }
    }

    fn on_command(&mut self, conn: &mut Live, cmd: Command) -> Option<End> {
        let closing = conn.closing_deadline.is_some();
        match cmd {
            Command::Request(req) => {
                if closing {
                    self.finish_request(req, ErrorCode::ConnectionLoss.code(), &[]);
                } else {
                    self.send_request(conn, req);
                }
            }
            Command::Auth {
                scheme,
                auth,
                reply,
            } => {
                if closing {
                    let _ = reply.send(Err(ErrorCode::ConnectionLoss));
                    return None;
                }
                let pkt = AuthPacket {
                    auth_type: 0,
                    scheme: scheme.clone(),
                    auth: Some(auth.clone()),
                };
                conn.send(request_frame(xid::AUTH, op::AUTH, &pkt.to_bytes()));
                conn.auth_waiters.push_back(Some(reply));
                self.auths.push(AuthEntry {
                    scheme,
                    auth,
                    waiter: None,
                });
            }
            Command::Close(tx) => {
                self.close_waiters.push(tx);
                if !closing {
                    let xid = self.alloc_xid();
                    conn.send(request_frame(xid, op::CLOSE_SESSION, &[]));
                    conn.pending.push_back(Pending {
                        xid,
                        kind: PendingKind::Close,
                    });
                    conn.closing_deadline =
                        Some(Instant::now() + conn.read_timeout.min(MAX_CLOSE_WAIT));
                }
            }
            Command::RequestTimedOut => return Some(End::Lost("request timed out".into())),
        }
        None
    }

    /// Handles one frame; `Err` means the stream is unusable.
    fn on_frame(&mut self, conn: &mut Live, frame: &[u8]) -> Result<Option<End>, String> {
        let mut r = Reader::new(frame);
        let hdr = ReplyHeader::read(&mut r).map_err(|e| format!("bad reply header: {e}"))?;
        match hdr.xid {
            xid::NOTIFICATION => {
                let ev =
                    WatcherEvent::read(&mut r).map_err(|e| format!("bad notification: {e}"))?;
                self.on_notification(ev, hdr.zxid);
                Ok(None)
            }
            xid::PING => Ok(None),
            xid::AUTH => {
                let waiter = conn.auth_waiters.pop_front().flatten();
                if hdr.err == ErrorCode::AuthFailed.code() {
                    if let Some(w) = waiter {
                        let _ = w.send(Err(ErrorCode::AuthFailed));
                    }
                    return Ok(Some(End::AuthFailed));
                }
                if let Some(w) = waiter {
                    let _ = w.send(if hdr.err == 0 {
                        Ok(())
                    } else {
                        Err(from_code(hdr.err))
                    });
                }
                Ok(None)
            }
            got => {
                let Some(p) = conn.pending.pop_front() else {
                    return Err(format!("reply xid {got} with no request pending"));
                };
                if p.xid != got {
                    let expected = p.xid;
                    conn.pending.push_front(p);
                    return Err(format!("xid out of order: expected {expected}, got {got}"));
                }
                if hdr.zxid > 0 {
                    let mut info = lock(&self.core.info);
                    info.last_zxid = info.last_zxid.max(hdr.zxid);
                }
                match p.kind {
                    PendingKind::User(req) => self.finish_request(req, hdr.err, r.rest()),
                    PendingKind::SetWatches => {
                        if hdr.err != 0 {
                            tracing::warn!(err = hdr.err, "SetWatches failed");
                        }
                    }
                    PendingKind::Close => return Ok(Some(End::Closed)),
                }
                Ok(None)
            }
        }
    }

    /// Delivers a notification if one of our watches asked for it, consuming
    /// one-shot watches (Java's `ZKWatchManager.materialize`).
    fn on_notification(&mut self, ev: WatcherEvent, zxid: i64) {
        let hit = lock(&self.core.watches).trigger(ev.event_type, &ev.path);
        if !hit {
            tracing::debug!(?ev, "notification without a matching watch dropped");
            return;
        }
        let path = strip_chroot(self.chroot.as_deref(), &ev.path);
        self.emit(WatchedEvent {
            event_type: ev.event_type,
            state: ev.state,
            path: Some(path),
            zxid,
        });
    }

    /// Completes a request with result code `rc` (0 = success with `body`),
    /// applying its watch side effect first so events precede the reply.
    fn finish_request(&mut self, req: Request, rc: i32, body: &[u8]) {
        let mut rc = rc;
        match &req.watch {
            WatchAction::None => {}
            WatchAction::Register { on, server_path } => {
                let kind = match (on, rc) {
                    (RegisterOn::Exists, 0) => Some(WatchKind::Data),
                    (RegisterOn::Exists, c) if c == ErrorCode::NoNode.code() => {
                        Some(WatchKind::Exist)
                    }
                    (RegisterOn::Data, 0) => Some(WatchKind::Data),
                    (RegisterOn::Child, 0) => Some(WatchKind::Child),
                    (RegisterOn::Persistent, 0) => Some(WatchKind::Persistent),
                    (RegisterOn::PersistentRecursive, 0) => Some(WatchKind::PersistentRecursive),
                    _ => None,
                };
                if let Some(k) = kind {
                    lock(&self.core.watches).add(k, server_path);
                }
            }
            WatchAction::Remove {
                server_path,
                client_path,
                watcher_type,
                local,
            } => rc = self.unregister(server_path, client_path, *watcher_type, *local, rc),
        }
        let res = if rc == 0 {
            Ok(Reply {
                body: body.to_vec(),
            })
        } else {
            Err(from_code(rc))
        };
        let _ = req.reply.send(res);
    }

    /// Java's `WatchDeregistration.unregister`: NOWATCHER if we hold no such
    /// watch; a server error is kept unless `local`; otherwise the watches
    /// are removed, one `*WatchRemoved` event is delivered per kind removed,
    /// and the result is success.
    fn unregister(
        &mut self,
        server_path: &str,
        client_path: &str,
        wtype: i32,
        local: bool,
        rc: i32,
    ) -> i32 {
        let removed = {
            let mut reg = lock(&self.core.watches);
            if !reg.contains(server_path, wtype) {
                return ErrorCode::NoWatcher.code();
            }
            if !local && rc != 0 {
                return rc;
            }
            reg.remove(server_path, wtype)
        };
        if !removed.any() {
            return ErrorCode::NoWatcher.code();
        }
        let lost = rc == ErrorCode::ConnectionLoss.code() || rc == ErrorCode::SessionExpired.code();
        let state = if lost {
            kstate::DISCONNECTED
        } else {
            kstate::SYNC_CONNECTED
        };
        for event_type in removed.event_types() {
            self.emit(WatchedEvent {
                event_type,
                state,
                path: Some(client_path.to_string()),
                zxid: -1,
            });
        }
        0
    }

    fn fail_queued(&mut self, err: ErrorCode) {
        while let Some(req) = self.queued.pop_front() {
            self.finish_request(req, err.code(), &[]);
        }
        for a in &mut self.auths {
            if let Some(w) = a.waiter.take() {
                let _ = w.send(Err(err));
            }
        }
    }

    fn fail_live(&mut self, conn: &mut Live, err: ErrorCode) {
        while let Some(p) = conn.pending.pop_front() {
            if let PendingKind::User(req) = p.kind {
                self.finish_request(req, err.code(), &[]);
            }
        }
        while let Some(w) = conn.auth_waiters.pop_front() {
            if let Some(w) = w {
                let _ = w.send(Err(err));
            }
        }
    }

    fn connection_lost(&mut self, mut conn: Live) {
        self.fail_live(&mut conn, ErrorCode::ConnectionLoss);
        drop(conn);
        lock(&self.core.info).connected_host = None;
        self.set_state(State::Connecting);
        self.emit(session_event(kstate::DISCONNECTED));
    }

    /// Ends the session for good: fails everything with `err`, publishes the
    /// final state, emits the final event and releases `close` callers. The
    /// event channel closes when the task returns.
    fn finish_task(
        &mut self,
        conn: Option<Live>,
        final_state: State,
        event_state: i32,
        err: ErrorCode,
    ) {
        if let Some(mut conn) = conn {
            self.fail_live(&mut conn, err);
        }
        self.fail_queued(err);
        lock(&self.core.info).connected_host = None;
        self.set_state(final_state);
        self.emit(session_event(event_state));
        for w in self.close_waiters.drain(..) {
            let _ = w.send(());
        }
        // Commands already in the channel: their reply senders are dropped
        // with the receiver, and the handles map that to the final state.
        self.cmd_rx.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frame_reader_splits_and_limits() {
        let data: Vec<u8> = [&[0, 0, 0, 2, 7, 8][..], &[0, 0, 0, 0], &[0, 0, 0, 9, 1]].concat();
        let mut r = FrameReader::new(&data[..], 8);
        assert_eq!(r.next_frame().await.unwrap(), vec![7, 8]);
        assert_eq!(r.next_frame().await.unwrap(), Vec::<u8>::new());
        assert_eq!(
            r.next_frame().await.unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );

        let neg = [0xff, 0xff, 0xff, 0xfe];
        let mut r = FrameReader::new(&neg[..], 8);
        assert!(r.next_frame().await.is_err());

        let short = [0, 0, 0, 5, 1, 2];
        let mut r = FrameReader::new(&short[..], 8);
        assert_eq!(
            r.next_frame().await.unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn request_frame_layout() {
        let f = request_frame(7, op::PING, &[1]);
        assert_eq!(f, vec![0, 0, 0, 9, 0, 0, 0, 7, 0, 0, 0, 11, 1]);
    }
}
