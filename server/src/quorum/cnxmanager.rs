//! The election port: ZooKeeper's `QuorumCnxManager`, as a thin tokio layer
//! that moves election frames between members and knows nothing of votes.
//!
//! The rules are 3.8's, because a Java member on the other end enforces them:
//! - Every TCP connection starts with an initial message from the side that
//!   dialled: protocol version -65536 (V1; -65535 is V2, a bare non-negative
//!   number is a pre-3.5 sid), the sender's sid, and its election address as
//!   `host:port`. Java reads the address with a single `read()`, so the whole
//!   message goes out in one `write` (`QuorumCnxManager.startConnection`,
//!   `InitialMessage.parse`).
//! - One connection per pair survives, the one dialled by the higher sid: a
//!   dialler with the smaller sid closes right after its initial message, and a
//!   listener that hears from a smaller sid closes and dials back to the
//!   address announced (`handleConnection`). A newer connection for a sid
//!   replaces the old one.
//! - After the initial message both directions carry frames: a 4-byte length
//!   (1..=512 KiB) and the payload. Anything else closes that connection with
//!   one log line; the other connections are not affected.
//! - The send queue per peer holds one message and keeps the newest; a
//!   connection that (re)starts with nothing queued re-sends the last message
//!   sent to that peer, so a notification lost with a dropped connection is
//!   delivered again (and duplicates are normal for the election core).
//!
//! Unlike Java, each incoming connection is handled on its own task with a
//! read timeout, so a peer that connects and stays silent stalls nobody, and
//! outgoing connections leave from this member's own address (`bind_ip`), so
//! a firewall rule between two members' addresses really cuts them apart.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{lookup_host, TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::types::Sid;

/// The initial-message protocol version 3.8 sends by default.
pub const PROTOCOL_V1: i64 = -65536;
/// The multi-address version (`multiAddress.enabled=true`).
pub const PROTOCOL_V2: i64 = -65535;
/// Longest address string Java accepts in an initial message.
pub const MAX_ADDRESS_LEN: usize = 2048;
/// Largest election frame either side accepts (`PACKETMAXSIZE`).
pub const MAX_FRAME: usize = 512 * 1024;

/// What the election port needs to know.
#[derive(Clone, Debug)]
pub struct CnxConfig {
    pub my_sid: Sid,
    /// `host:port` of our election address, as configured: it goes into every
    /// initial message, and Java dials it back.
    pub my_address: String,
    /// Local address outgoing connections are bound to (our `server.N` host),
    /// or `None` to let the kernel choose.
    pub bind_ip: Option<IpAddr>,
    /// Election addresses (`host:port`) of the members we know from zoo.cfg.
    pub peers: HashMap<Sid, String>,
    /// Outgoing connect timeout (`cnxTimeout`, 5000 ms by default).
    pub connect_timeout: Duration,
    /// How long an incoming connection may take to send its initial message.
    pub initial_timeout: Duration,
}

/// An initial message as parsed from the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialMessage {
    pub sid: Sid,
    /// The first announced address (`None` for a pre-3.5 peer).
    pub address: Option<String>,
}

/// Encodes the V1 initial message: version, sid, address length, address.
pub fn encode_initial(sid: Sid, address: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(20 + address.len());
    b.extend_from_slice(&PROTOCOL_V1.to_be_bytes());
    b.extend_from_slice(&sid.to_be_bytes());
    b.extend_from_slice(&(address.len() as i32).to_be_bytes());
    b.extend_from_slice(address.as_bytes());
    b
}

/// Checks a `host:port` address the way `InitialMessage.parse` does: a host
/// part and a numeric port (IPv6 hosts in brackets).
fn valid_address(a: &str) -> bool {
    match a.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

async fn read_initial(r: &mut OwnedReadHalf) -> Result<InitialMessage, String> {
    let version = r
        .read_i64()
        .await
        .map_err(|e| format!("reading version: {e}"))?;
    if let Some(why) = crate::quorum::wire::foreign_handshake(&version.to_be_bytes()) {
        return Err(why.to_string());
    }
    if version >= 0 {
        // Pre-3.5: the first long is the sid and nothing follows.
        return Ok(InitialMessage {
            sid: version,
            address: None,
        });
    }
    if version != PROTOCOL_V1 && version != PROTOCOL_V2 {
        return Err(format!("unknown protocol version {version}"));
    }
    let sid = r
        .read_i64()
        .await
        .map_err(|e| format!("reading sid: {e}"))?;
    let len = r
        .read_i32()
        .await
        .map_err(|e| format!("reading length: {e}"))?;
    if len <= 0 || len as usize > MAX_ADDRESS_LEN {
        return Err(format!("invalid address length {len}"));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)
        .await
        .map_err(|e| format!("reading address: {e}"))?;
    let text = String::from_utf8(buf).map_err(|_| "address is not UTF-8".to_string())?;
    // V2 lists several addresses separated by '|'; the first is enough to dial back.
    let first = text.split('|').next().unwrap_or("").to_string();
    if !valid_address(&first) {
        return Err(format!("invalid address {first:?}"));
    }
    Ok(InitialMessage {
        sid,
        address: Some(first),
    })
}

/// One peer's sending state.
#[derive(Default)]
struct Slot {
    /// The newest message not yet written (the queue of one).
    pending: Option<Arc<Vec<u8>>>,
    /// The last message written, re-sent when a connection starts idle.
    last_sent: Option<Arc<Vec<u8>>>,
    /// The live connection, if any.
    conn: Option<Conn>,
    /// A dial is in progress.
    dialling: bool,
    /// The address the peer announced, used when it is not in zoo.cfg.
    announced: Option<String>,
}

struct Conn {
    generation: u64,
    wake: Arc<Notify>,
    tasks: [JoinHandle<()>; 2],
}

impl Conn {
    fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

struct Inner {
    cfg: CnxConfig,
    slots: Mutex<HashMap<Sid, Slot>>,
    incoming: mpsc::Sender<(Sid, Vec<u8>)>,
    next_generation: std::sync::atomic::AtomicU64,
}

/// A running election port. Cheap to clone.
#[derive(Clone)]
pub struct CnxManager {
    inner: Arc<Inner>,
    listener: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl CnxManager {
    /// Starts accepting on `listener`; received frames arrive on the returned
    /// channel as `(sender sid, payload)`.
    pub fn start(
        cfg: CnxConfig,
        listener: TcpListener,
    ) -> (CnxManager, mpsc::Receiver<(Sid, Vec<u8>)>) {
        let (tx, rx) = mpsc::channel(1024);
        let inner = Arc::new(Inner {
            cfg,
            slots: Mutex::new(HashMap::new()),
            incoming: tx,
            next_generation: std::sync::atomic::AtomicU64::new(1),
        });
        let accept = tokio::spawn(accept_loop(inner.clone(), listener));
        (
            CnxManager {
                inner,
                listener: Arc::new(Mutex::new(Some(accept))),
            },
            rx,
        )
    }

    /// Queues `payload` for `to` (replacing anything still queued for it) and
    /// dials it if there is no connection. Messages to ourselves are the
    /// election core's business and are dropped here.
    pub fn send(&self, to: Sid, payload: Vec<u8>) {
        if to == self.inner.cfg.my_sid {
            return;
        }
        let msg = Arc::new(payload);
        let dial = {
            let mut slots = lock(&self.inner.slots);
            let slot = slots.entry(to).or_default();
            slot.pending = Some(msg);
            match &slot.conn {
                Some(c) => {
                    c.wake.notify_one();
                    false
                }
                None => true,
            }
        };
        if dial {
            connect_one(&self.inner, to);
        }
    }

    /// Dials every known peer that has no connection (Java's `connectAll`).
    pub fn connect_all(&self) {
        let sids: Vec<Sid> = self.inner.cfg.peers.keys().copied().collect();
        for sid in sids {
            if sid != self.inner.cfg.my_sid {
                connect_one(&self.inner, sid);
            }
        }
    }

    /// `QuorumCnxManager.haveDelivered`: whether some peer's send queue is
    /// empty (false when there are no queues at all).
    pub fn have_delivered(&self) -> bool {
        lock(&self.inner.slots)
            .values()
            .any(|s| s.pending.is_none())
    }

    /// Whether a connection to `sid` is up.
    pub fn connected(&self, sid: Sid) -> bool {
        lock(&self.inner.slots)
            .get(&sid)
            .is_some_and(|s| s.conn.is_some())
    }

    /// Drops every connection and queued message (Java's `halt` before an
    /// election restart or at shutdown); the listener keeps running.
    pub fn drop_all(&self) {
        let mut slots = lock(&self.inner.slots);
        for slot in slots.values_mut() {
            slot.pending = None;
            if let Some(c) = slot.conn.take() {
                c.stop();
            }
        }
    }

    /// Stops the listener and every connection.
    pub fn shutdown(&self) {
        if let Some(t) = lock(&self.listener).take() {
            t.abort();
        }
        self.drop_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let inner = inner.clone();
                tokio::spawn(async move { handle_incoming(inner, stream, remote).await });
            }
            Err(e) => {
                warn!("election port: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle_incoming(inner: Arc<Inner>, stream: TcpStream, remote: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (mut r, w) = stream.into_split();
    let msg = match tokio::time::timeout(inner.cfg.initial_timeout, read_initial(&mut r)).await {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => {
            warn!("election port: closing connection from {remote}: initial message: {e}");
            return;
        }
        Err(_) => {
            warn!(
                "election port: closing connection from {remote}: no initial message within {:?}",
                inner.cfg.initial_timeout
            );
            return;
        }
    };
    let my = inner.cfg.my_sid;
    if msg.sid == my {
        warn!("election port: closing connection from {remote}: it claims our own sid {my}");
        return;
    }
    if let Some(a) = &msg.address {
        lock(&inner.slots).entry(msg.sid).or_default().announced = Some(a.clone());
    }
    if msg.sid < my {
        // The higher sid keeps the connection: close this one and dial back.
        debug!("election port: sid {} < {my}, dialling back", msg.sid);
        drop((r, w));
        connect_one(&inner, msg.sid);
        return;
    }
    install(&inner, msg.sid, r, w);
}

/// Makes `(r, w)` the connection for `sid`, replacing any older one.
fn install(inner: &Arc<Inner>, sid: Sid, r: OwnedReadHalf, w: OwnedWriteHalf) {
    let generation = inner
        .next_generation
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let wake = Arc::new(Notify::new());
    let writer = tokio::spawn(write_loop(inner.clone(), sid, generation, wake.clone(), w));
    let reader = tokio::spawn(read_loop(inner.clone(), sid, generation, r));
    let mut slots = lock(&inner.slots);
    let slot = slots.entry(sid).or_default();
    slot.dialling = false;
    if slot.pending.is_none() {
        slot.pending = slot.last_sent.clone();
    }
    if let Some(old) = slot.conn.replace(Conn {
        generation,
        wake: wake.clone(),
        tasks: [writer, reader],
    }) {
        old.stop();
    }
    wake.notify_one();
    info!("election port: connected to sid {sid}");
}

/// Forgets the connection `generation` of `sid` if it is still the current one.
fn forget(inner: &Inner, sid: Sid, generation: u64) {
    let mut slots = lock(&inner.slots);
    if let Some(slot) = slots.get_mut(&sid) {
        if slot
            .conn
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            slot.conn = None;
        }
    }
}

async fn write_loop(
    inner: Arc<Inner>,
    sid: Sid,
    generation: u64,
    wake: Arc<Notify>,
    mut w: OwnedWriteHalf,
) {
    loop {
        wake.notified().await;
        loop {
            let msg = {
                let mut slots = lock(&inner.slots);
                match slots.get_mut(&sid) {
                    Some(slot) => slot.pending.take(),
                    None => None,
                }
            };
            let Some(msg) = msg else { break };
            let mut frame = Vec::with_capacity(4 + msg.len());
            frame.extend_from_slice(&(msg.len() as i32).to_be_bytes());
            frame.extend_from_slice(&msg);
            if let Err(e) = w.write_all(&frame).await {
                debug!("election port: write to sid {sid} failed: {e}");
                // Keep the message for the next connection.
                let mut slots = lock(&inner.slots);
                if let Some(slot) = slots.get_mut(&sid) {
                    slot.pending.get_or_insert(msg);
                }
                drop(slots);
                forget(&inner, sid, generation);
                return;
            }
            if let Some(slot) = lock(&inner.slots).get_mut(&sid) {
                slot.last_sent = Some(msg);
            }
        }
    }
}

async fn read_loop(inner: Arc<Inner>, sid: Sid, generation: u64, mut r: OwnedReadHalf) {
    loop {
        let len = match r.read_i32().await {
            Ok(n) => n,
            Err(e) => {
                debug!("election port: connection to sid {sid} ended: {e}");
                break;
            }
        };
        if len <= 0 || len as usize > MAX_FRAME {
            let mut first = len.to_be_bytes().to_vec();
            let mut next = [0u8; 4];
            if tokio::time::timeout(Duration::from_millis(200), r.read_exact(&mut next))
                .await
                .is_ok_and(|res| res.is_ok())
            {
                first.extend_from_slice(&next);
            }
            match crate::quorum::wire::foreign_handshake(&first) {
                Some(why) => warn!("election port: closing connection to sid {sid}: {why}"),
                None => warn!(
                    "election port: closing connection to sid {sid}: invalid frame length {len}"
                ),
            }
            break;
        }
        let mut buf = vec![0u8; len as usize];
        if let Err(e) = r.read_exact(&mut buf).await {
            debug!("election port: connection to sid {sid} ended mid-frame: {e}");
            break;
        }
        if inner.incoming.send((sid, buf)).await.is_err() {
            return;
        }
    }
    // Dropping the slot's conn aborts the writer; the socket closes with both halves.
    let conn = {
        let mut slots = lock(&inner.slots);
        match slots.get_mut(&sid) {
            Some(slot)
                if slot
                    .conn
                    .as_ref()
                    .is_some_and(|c| c.generation == generation) =>
            {
                slot.conn.take()
            }
            _ => None,
        }
    };
    if let Some(c) = conn {
        // Abort only the writer: this task is the reader and is returning.
        let [writer, _reader] = c.tasks;
        writer.abort();
    }
}

/// Dials `sid` unless a connection or a dial is already there.
fn connect_one(inner: &Arc<Inner>, sid: Sid) {
    let addr = {
        let mut slots = lock(&inner.slots);
        let slot = slots.entry(sid).or_default();
        if slot.conn.is_some() || slot.dialling {
            return;
        }
        let addr = inner
            .cfg
            .peers
            .get(&sid)
            .cloned()
            .or_else(|| slot.announced.clone());
        let Some(addr) = addr else {
            debug!("election port: no address for sid {sid}");
            return;
        };
        slot.dialling = true;
        addr
    };
    let inner = inner.clone();
    tokio::spawn(async move {
        let res = dial(&inner, sid, &addr).await;
        let mut slots = lock(&inner.slots);
        if let Some(slot) = slots.get_mut(&sid) {
            slot.dialling = false;
        }
        drop(slots);
        match res {
            Ok(Some((r, w))) => install(&inner, sid, r, w),
            Ok(None) => {}
            Err(e) => debug!("election port: cannot connect to sid {sid} at {addr}: {e}"),
        }
    });
}

/// Connects and sends our initial message. Returns the connection if we are
/// the side that keeps it (our sid is the higher one).
async fn dial(
    inner: &Inner,
    sid: Sid,
    addr: &str,
) -> std::io::Result<Option<(OwnedReadHalf, OwnedWriteHalf)>> {
    let target = lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{addr} resolves to nothing")))?;
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = inner.cfg.bind_ip {
        if ip.is_ipv4() == target.is_ipv4() {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
    }
    let mut stream = tokio::time::timeout(inner.cfg.connect_timeout, socket.connect(target))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = stream.set_nodelay(true);
    stream
        .write_all(&encode_initial(inner.cfg.my_sid, &inner.cfg.my_address))
        .await?;
    if sid > inner.cfg.my_sid {
        // "Have smaller server identifier, so dropping the connection": the
        // peer dials us back and that connection is the one kept.
        let _ = stream.shutdown().await;
        return Ok(None);
    }
    Ok(Some(stream.into_split()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_message_matches_capture() {
        // quorum-wire.md §2.1: from sid 3 announcing 127.0.0.1:3890.
        let b = encode_initial(3, "127.0.0.1:3890");
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(
            hex,
            "ffffffffffff000000000000000000030000000e3132372e302e302e313a33383930"
        );
    }

    #[test]
    fn address_rules() {
        assert!(valid_address("127.0.0.1:3888"));
        assert!(valid_address("[::1]:3888"));
        assert!(!valid_address("127.0.0.1"));
        assert!(!valid_address(":3888"));
        assert!(!valid_address("h:99999"));
    }

    async fn member(
        sid: Sid,
        listener: TcpListener,
        peers: &HashMap<Sid, String>,
    ) -> (CnxManager, mpsc::Receiver<(Sid, Vec<u8>)>) {
        let cfg = CnxConfig {
            my_sid: sid,
            my_address: peers[&sid].clone(),
            bind_ip: Some("127.0.0.1".parse().unwrap()),
            peers: peers.clone(),
            connect_timeout: Duration::from_secs(2),
            initial_timeout: Duration::from_secs(2),
        };
        CnxManager::start(cfg, listener)
    }

    async fn recv(rx: &mut mpsc::Receiver<(Sid, Vec<u8>)>) -> (Sid, Vec<u8>) {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("timed out waiting for a frame")
            .expect("channel closed")
    }

    async fn three() -> Vec<(CnxManager, mpsc::Receiver<(Sid, Vec<u8>)>)> {
        let mut listeners = Vec::new();
        let mut peers = HashMap::new();
        for sid in 1..=3 {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            peers.insert(sid, l.local_addr().unwrap().to_string());
            listeners.push((sid, l));
        }
        let mut out = Vec::new();
        for (sid, l) in listeners {
            out.push(member(sid, l, &peers).await);
        }
        out
    }

    #[tokio::test]
    async fn every_pair_exchanges_frames_both_ways() {
        let mut m = three().await;
        for (from, (cnx, _)) in m.iter().enumerate() {
            for to in 1..=3 {
                if to != from + 1 {
                    cnx.send(to as Sid, format!("{}->{to}", from + 1).into_bytes());
                }
            }
        }
        for (i, (_, rx)) in m.iter_mut().enumerate() {
            let mut got = Vec::new();
            for _ in 0..2 {
                let (sid, p) = recv(rx).await;
                got.push((sid, String::from_utf8(p).unwrap()));
            }
            got.sort();
            let me = i + 1;
            let want: Vec<(Sid, String)> = (1..=3)
                .filter(|s| *s != me)
                .map(|s| (s as Sid, format!("{s}->{me}")))
                .collect();
            assert_eq!(got, want);
        }
    }

    #[tokio::test]
    async fn lower_sid_dialling_is_answered_by_a_dial_back() {
        let mut m = three().await;
        // 1 dials 3: 3 must close and dial back, and the message still arrives.
        m[0].0.send(3, b"hello".to_vec());
        let (sid, p) = recv(&mut m[2].1).await;
        assert_eq!((sid, p.as_slice()), (1, &b"hello"[..]));
        // The kept connection is the one 3 dialled, usable both ways.
        m[2].0.send(1, b"back".to_vec());
        let (sid, p) = recv(&mut m[0].1).await;
        assert_eq!((sid, p.as_slice()), (3, &b"back"[..]));
        assert!(m[0].0.connected(3) && m[2].0.connected(1));
    }

    #[tokio::test]
    async fn garbage_and_silent_peers_do_not_stop_the_port() {
        let mut m = three().await;
        let addr: SocketAddr = m[1].0.inner.cfg.peers[&2].parse().unwrap();
        // A silent connection and a garbage one.
        let _silent = TcpStream::connect(addr).await.unwrap();
        let mut junk = TcpStream::connect(addr).await.unwrap();
        junk.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        // An oversized frame from a well-introduced peer 9 (unknown sid).
        let mut big = TcpStream::connect(addr).await.unwrap();
        big.write_all(&encode_initial(9, "127.0.0.1:1"))
            .await
            .unwrap();
        big.write_all(&(MAX_FRAME as i32 + 1).to_be_bytes())
            .await
            .unwrap();
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), big.read(&mut b))
            .await
            .expect("the oversized frame must close the connection");
        assert!(matches!(n, Ok(0) | Err(_)));
        let n = tokio::time::timeout(Duration::from_secs(5), junk.read(&mut b))
            .await
            .expect("garbage must close the connection");
        assert!(matches!(n, Ok(0) | Err(_)));
        // Meanwhile members still talk.
        m[2].0.send(2, b"still here".to_vec());
        let (sid, p) = recv(&mut m[1].1).await;
        assert_eq!((sid, p.as_slice()), (3, &b"still here"[..]));
    }

    #[tokio::test]
    async fn an_unknown_higher_sid_is_served_on_its_own_connection() {
        let mut m = three().await;
        let addr: SocketAddr = m[0].0.inner.cfg.peers[&1].parse().unwrap();
        let mut peer = TcpStream::connect(addr).await.unwrap();
        peer.write_all(&encode_initial(9, "127.0.0.1:1"))
            .await
            .unwrap();
        let payload = b"probe";
        peer.write_all(&(payload.len() as i32).to_be_bytes())
            .await
            .unwrap();
        peer.write_all(payload).await.unwrap();
        let (sid, p) = recv(&mut m[0].1).await;
        assert_eq!((sid, p.as_slice()), (9, &payload[..]));
        // Replies to sid 9 go back on the same connection.
        m[0].0.send(9, b"reply".to_vec());
        let len = peer.read_i32().await.unwrap();
        let mut buf = vec![0u8; len as usize];
        peer.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf, b"reply");
    }

    #[tokio::test]
    async fn a_new_connection_resends_the_last_message() {
        let mut m = three().await;
        m[2].0.send(2, b"m1".to_vec());
        assert_eq!(recv(&mut m[1].1).await, (3, b"m1".to_vec()));
        // Sid 2 drops its connections; sid 3 notices and redials.
        m[1].0.drop_all();
        for _ in 0..100 {
            if !m[2].0.connected(2) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !m[2].0.connected(2),
            "sid 3 must notice the closed connection"
        );
        m[2].0.connect_all();
        assert_eq!(recv(&mut m[1].1).await, (3, b"m1".to_vec()));
    }
}
