//! Helpers shared by the integration tests: spawn the real `zkserver` binary
//! (or a real Apache ZooKeeper) on 127.0.0.1 with a temporary dataDir, kill it
//! on drop, and talk to it with a tiny synchronous client built on raw jute
//! frames from `zkproto`.

#![allow(dead_code)]

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zkproto::consts::op;
use zkproto::jute::{Jute, Reader, Writer};
use zkproto::records::*;

pub mod ensemble;

// ---- servers -------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Our `zkserver` binary.
    Ours,
    /// Apache ZooKeeper from the Debian package (`/usr/share/java/zookeeper.jar`).
    Apache,
}

pub const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";
pub const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";

/// A running server process, killed (and reaped) on drop.
pub struct Server {
    pub kind: Kind,
    pub port: u16,
    pub child: Child,
    pub dir: tempfile::TempDir,
    /// The process's stderr (ours logs there; ZooKeeper's slf4j-simple too).
    pub stderr_path: PathBuf,
}

/// A loopback port that was free a moment ago, taken from below the kernel's
/// ephemeral range (32768 and up on Linux). A port picked by binding port 0
/// lies *inside* that range, so between the pick and the server's bind an
/// outgoing connection of another test (a learner dialling its leader, a
/// client) may be given it as its source port, and the server then fails
/// with "Address already in use". Ports here are handed out once per test
/// process, from a window that depends on the process id, and checked free.
pub fn free_port() -> u16 {
    use std::sync::atomic::AtomicU32;
    const LOW: u32 = 10_000;
    const SPAN: u32 = 20_000; // 10000..30000, below the ephemeral range
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    if NEXT.load(Ordering::Relaxed) == u32::MAX {
        let start = (std::process::id().wrapping_mul(7919)) % SPAN;
        let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::Relaxed, Ordering::Relaxed);
    }
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {LOW}..{}", LOW + SPAN)
}

pub fn zkserver_bin() -> &'static str {
    env!("CARGO_BIN_EXE_zkserver")
}

/// True when Apache ZooKeeper can run; otherwise a loud SKIPPING line and
/// false, except under CI=true, where its absence fails the test.
pub fn apache_or_skip(test: &str) -> bool {
    if apache_available() {
        return true;
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{test}: java or {ZK_JAR} is missing and CI=true");
    }
    eprintln!("!!!! SKIPPING {test}: Apache ZooKeeper is not installed (scripts/install-deps.sh)");
    false
}

/// Whether java and the ZooKeeper jar are installed.
pub fn apache_available() -> bool {
    Path::new(ZK_JAR).exists()
        && Command::new("java")
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}

impl Server {
    /// Our server with a default zoo.cfg plus `extra` lines (later keys win).
    pub fn start(extra: &str) -> Server {
        Server::start_kind(Kind::Ours, extra)
    }

    pub fn start_kind(kind: Kind, extra: &str) -> Server {
        let mut last_err = String::new();
        // The free port may be taken between probing and binding: retry.
        for _ in 0..3 {
            match Server::try_start(kind, extra) {
                Ok(s) => return s,
                Err(e) => last_err = e,
            }
        }
        panic!("could not start {kind:?} server: {last_err}");
    }

    fn try_start(kind: Kind, extra: &str) -> Result<Server, String> {
        let dir = tempfile::Builder::new()
            .prefix("zkserver-it-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        fs::create_dir_all(&data).map_err(|e| e.to_string())?;
        let port = free_port();
        let mut cfg = format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
             clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n\
             autopurge.purgeInterval=0\n",
            data.display()
        );
        cfg.push_str(extra);
        if !cfg.ends_with('\n') {
            cfg.push('\n');
        }
        let cfg_path = dir.path().join("zoo.cfg");
        fs::write(&cfg_path, cfg).map_err(|e| e.to_string())?;
        let stderr_path = dir.path().join("stderr.log");
        let stderr = fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
        let mut cmd = match kind {
            Kind::Ours => {
                let mut c = Command::new(zkserver_bin());
                c.arg("start-foreground").arg(&cfg_path);
                c.env("ZKSERVER_LOG", "info").env("NO_COLOR", "1");
                c
            }
            Kind::Apache => {
                let mut cp = ZK_JAR.to_string();
                if Path::new(SLF4J_SIMPLE_JAR).exists() {
                    cp.push(':');
                    cp.push_str(SLF4J_SIMPLE_JAR);
                }
                let mut c = Command::new("java");
                c.args(["-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
                    .arg(format!("-Dzookeeper.log.dir={}", dir.path().display()))
                    .arg("-Dzookeeper.jmx.log4j.disable=true")
                    .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=info")
                    .arg("-cp")
                    .arg(cp)
                    .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
                    .arg(&cfg_path);
                c
            }
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let mut s = Server {
            kind,
            port,
            child,
            dir,
            stderr_path,
        };
        let limit = match kind {
            Kind::Ours => Duration::from_secs(30),
            Kind::Apache => Duration::from_secs(120),
        };
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = s.child.try_wait() {
                return Err(format!(
                    "server exited during start-up ({st}): {}",
                    s.stderr()
                ));
            }
            // ZooKeeper answers `ruok` before it serves requests; `srvr`
            // (always whitelisted) says "not currently serving" until then.
            let ruok = four_letter(port, "ruok").unwrap_or_default();
            if ruok == "imok" || ruok.contains("not in the whitelist") {
                let srvr = four_letter(port, "srvr").unwrap_or_default();
                if srvr.starts_with("Zookeeper version") {
                    return Ok(s);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "no answer on port {port} within {limit:?}: {}",
            s.stderr()
        ))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// A mark in the stderr log; see [`Server::log_since`].
    pub fn log_mark(&self) -> usize {
        fs::metadata(&self.stderr_path)
            .map(|m| m.len() as usize)
            .unwrap_or(0)
    }

    /// The complete log lines written after `mark`.
    pub fn log_since(&self, mark: usize) -> Vec<String> {
        let all = fs::read(&self.stderr_path).unwrap_or_default();
        let tail = String::from_utf8_lossy(all.get(mark..).unwrap_or_default()).into_owned();
        let complete = match tail.rfind('\n') {
            Some(i) => &tail[..=i],
            None => "",
        };
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect()
    }

    /// Waits until no new line has appeared for 300 ms (at most `max`), then
    /// returns the lines after `mark`.
    pub fn settled_log_since(&self, mark: usize, max: Duration) -> Vec<String> {
        let deadline = Instant::now() + max;
        let mut last = self.log_mark();
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.log_mark();
            if now != last {
                last = now;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= Duration::from_millis(300) {
                break;
            }
        }
        self.log_since(mark)
    }

    /// VmRSS of the process in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- {:?} server on port {} stderr ----\n{}",
                self.kind,
                self.port,
                self.stderr()
            );
        }
    }
}

// ---- four-letter words ------------------------------------------------------

/// Sends a four-letter word and returns everything the server answers.
pub fn four_letter(port: u16, cmd: &str) -> io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(cmd.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

// ---- raw frames -------------------------------------------------------------

pub fn connect_raw(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.set_nodelay(true);
    s
}

/// `len ‖ payload`.
pub fn framed(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

/// Reads one frame; `Ok(None)` on a clean EOF before its first byte.
pub fn read_frame(s: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match s.read(&mut len[got..])? {
            0 if got == 0 => return Ok(None),
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "EOF inside a length",
                ))
            }
            n => got += n,
        }
    }
    let n = i32::from_be_bytes(len);
    if !(0..=16 << 20).contains(&n) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad frame length {n}"),
        ));
    }
    let mut buf = vec![0u8; n as usize];
    s.read_exact(&mut buf)?;
    Ok(Some(buf))
}

/// How a connection ended, as seen by [`expect_closed`].
#[derive(Debug)]
pub struct Closed {
    /// Frames received before the close.
    pub frames: Vec<Vec<u8>>,
    /// Raw bytes that did not form a frame.
    pub trailing: Vec<u8>,
}

/// Waits until the server closes `s` (EOF or reset) within `within`, and
/// returns what it sent before. Err if the connection is still open.
pub fn expect_closed(s: &mut TcpStream, within: Duration) -> Result<Closed, String> {
    let deadline = Instant::now() + within;
    let mut data = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let shown: String = data.iter().take(64).map(|b| format!("{b:02x}")).collect();
            return Err(format!(
                "connection still open after {within:?} (received {} bytes: {shown})",
                data.len()
            ));
        }
        s.set_read_timeout(Some(left.min(Duration::from_millis(500))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted) => {}
            // A reset is a close too (the server closed with unread input).
            Err(_) => break,
        }
    }
    let mut frames = Vec::new();
    let mut rest = &data[..];
    while rest.len() >= 4 {
        let n = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if n < 0 || rest.len() < 4 + n as usize {
            break;
        }
        frames.push(rest[4..4 + n as usize].to_vec());
        rest = &rest[4 + n as usize..];
    }
    Ok(Closed {
        frames,
        trailing: rest.to_vec(),
    })
}

/// Writes as much of `bytes` as the peer accepts; write errors (the server
/// closing on us) are expected and ignored.
pub fn write_tolerant(s: &mut TcpStream, bytes: &[u8]) {
    let _ = s.write_all(bytes);
    let _ = s.flush();
}

pub fn half_close(s: &TcpStream) {
    let _ = s.shutdown(Shutdown::Write);
}

/// A well-formed ConnectRequest for a new session.
pub fn new_session_request(timeout_ms: i32) -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: timeout_ms,
        session_id: 0,
        passwd: Some(vec![0; 16]),
        read_only: Some(false),
    }
}

/// A request frame: `len ‖ xid ‖ op ‖ body`.
pub fn request_frame(xid: i32, opc: i32, body: &[u8]) -> Vec<u8> {
    let mut w = Writer::framed();
    RequestHeader { xid, op_type: opc }.write(&mut w);
    w.write_raw(body);
    w.finish_frame()
}

/// A jute ustring whose bytes are not UTF-8-checked.
pub fn raw_string(w: &mut Writer, bytes: &[u8]) {
    w.write_i32(bytes.len() as i32);
    w.write_raw(bytes);
}

// ---- a tiny synchronous client ------------------------------------------------

pub struct Client {
    pub s: TcpStream,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub timeout: i32,
    pub last_zxid: i64,
    xid: i32,
    /// Notifications received while waiting for replies.
    pub events: Vec<WatcherEvent>,
}

/// Reply of one request: header error code and body.
pub type Reply = (ReplyHeader, Vec<u8>);

impl Client {
    /// Connects and creates a session (30 s timeout).
    pub fn connect(port: u16) -> io::Result<Client> {
        Client::connect_with(port, new_session_request(30_000))
    }

    pub fn connect_with(port: u16, req: ConnectRequest) -> io::Result<Client> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.set_write_timeout(Some(Duration::from_secs(10)))?;
        let _ = s.set_nodelay(true);
        let mut w = Writer::framed();
        req.write(&mut w);
        s.write_all(&w.finish_frame())?;
        let f = read_frame(&mut s)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "closed during handshake")
        })?;
        let resp = ConnectResponse::from_bytes(&f)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        if resp.session_id == 0 || resp.time_out <= 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("session refused: {resp:?}"),
            ));
        }
        Ok(Client {
            s,
            session_id: resp.session_id,
            passwd: resp.passwd.unwrap_or_default(),
            timeout: resp.time_out,
            last_zxid: 0,
            xid: 0,
            events: Vec::new(),
        })
    }

    pub fn next_xid(&mut self) -> i32 {
        self.xid += 1;
        self.xid
    }

    /// Sends a request and waits for its reply, collecting notifications.
    pub fn request(&mut self, opc: i32, body: &[u8]) -> io::Result<Reply> {
        let xid = self.next_xid();
        self.s.write_all(&request_frame(xid, opc, body))?;
        self.reply_for(xid)
    }

    pub fn reply_for(&mut self, xid: i32) -> io::Result<Reply> {
        loop {
            let f = read_frame(&mut self.s)?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection")
            })?;
            let mut r = Reader::new(&f);
            let h = ReplyHeader::read(&mut r)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            if h.xid == -1 {
                if let Ok(ev) = WatcherEvent::read(&mut r) {
                    self.events.push(ev);
                }
                continue;
            }
            if h.zxid > 0 {
                self.last_zxid = self.last_zxid.max(h.zxid);
            }
            if h.xid != xid {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("reply for xid {} while waiting for {xid}", h.xid),
                ));
            }
            return Ok((h, r.rest().to_vec()));
        }
    }

    pub fn create(&mut self, path: &str, data: &[u8], flags: i32) -> Result<String, i32> {
        let body = CreateRequest {
            path: path.into(),
            data: Some(data.to_vec()),
            acl: Acl::open_unsafe(),
            flags,
        }
        .to_bytes();
        let (h, b) = self.request(op::CREATE, &body).expect("create: i/o");
        if h.err != 0 {
            return Err(h.err);
        }
        Ok(CreateResponse::from_bytes(&b).expect("CreateResponse").path)
    }

    pub fn get_data(&mut self, path: &str, watch: bool) -> Result<(Vec<u8>, Stat), i32> {
        let body = PathAndWatch {
            path: path.into(),
            watch,
        }
        .to_bytes();
        let (h, b) = self.request(op::GET_DATA, &body).expect("getData: i/o");
        if h.err != 0 {
            return Err(h.err);
        }
        let r = GetDataResponse::from_bytes(&b).expect("GetDataResponse");
        Ok((r.data.unwrap_or_default(), r.stat))
    }

    pub fn exists(&mut self, path: &str, watch: bool) -> Result<Stat, i32> {
        let body = PathAndWatch {
            path: path.into(),
            watch,
        }
        .to_bytes();
        let (h, b) = self.request(op::EXISTS, &body).expect("exists: i/o");
        if h.err != 0 {
            return Err(h.err);
        }
        Ok(StatResponse::from_bytes(&b).expect("StatResponse").stat)
    }

    pub fn get_children(&mut self, path: &str, watch: bool) -> Result<Vec<String>, i32> {
        let body = PathAndWatch {
            path: path.into(),
            watch,
        }
        .to_bytes();
        let (h, b) = self
            .request(op::GET_CHILDREN, &body)
            .expect("getChildren: i/o");
        if h.err != 0 {
            return Err(h.err);
        }
        Ok(GetChildrenResponse::from_bytes(&b)
            .expect("GetChildrenResponse")
            .children)
    }

    pub fn set_data(&mut self, path: &str, data: &[u8]) -> Result<Stat, i32> {
        let body = SetDataRequest {
            path: path.into(),
            data: Some(data.to_vec()),
            version: -1,
        }
        .to_bytes();
        let (h, b) = self.request(op::SET_DATA, &body).expect("setData: i/o");
        if h.err != 0 {
            return Err(h.err);
        }
        Ok(StatResponse::from_bytes(&b).expect("StatResponse").stat)
    }

    pub fn delete(&mut self, path: &str) -> Result<(), i32> {
        let body = DeleteRequest {
            path: path.into(),
            version: -1,
        }
        .to_bytes();
        let (h, _) = self.request(op::DELETE, &body).expect("delete: i/o");
        if h.err != 0 {
            return Err(h.err);
        }
        Ok(())
    }

    pub fn get_acl(&mut self, path: &str) -> Result<(Vec<Acl>, Stat), i32> {
        let body = PathRequest { path: path.into() }.to_bytes();
        let (h, b) = self.request(op::GET_ACL, &body).expect("getACL: i/o");
        if h.err != 0 {
            return Err(h.err);
        }
        let r = GetAclResponse::from_bytes(&b).expect("GetAclResponse");
        Ok((r.acl, r.stat))
    }

    pub fn set_acl(&mut self, path: &str, acl: Vec<Acl>) -> Result<Stat, i32> {
        let body = SetAclRequest {
            path: path.into(),
            acl,
            version: -1,
        }
        .to_bytes();
        let (h, b) = self.request(op::SET_ACL, &body).expect("setACL: i/o");
        if h.err != 0 {
            return Err(h.err);
        }
        Ok(StatResponse::from_bytes(&b).expect("StatResponse").stat)
    }

    /// A multi transaction: Err(code) of the first op that failed.
    pub fn multi(&mut self, ops: Vec<zkproto::multi::MultiOp>) -> Result<(), i32> {
        let body = zkproto::multi::MultiRequest { ops }.to_bytes();
        let (h, b) = self.request(op::MULTI, &body).expect("multi: i/o");
        if h.err != 0 {
            return Err(h.err);
        }
        let r = zkproto::multi::MultiResponse::from_bytes(&b).expect("MultiResponse");
        match r.results.iter().find_map(|x| match x {
            zkproto::multi::MultiResult::Error(e) if *e != 0 => Some(*e),
            _ => None,
        }) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// sync("/"): the member has applied everything the leader had
    /// committed when the request reached it.
    pub fn sync(&mut self) {
        let body = PathRequest { path: "/".into() }.to_bytes();
        let (h, _) = self.request(op::SYNC, &body).expect("sync: i/o");
        assert_eq!(h.err, 0, "sync failed");
    }

    /// Waits up to `within` for the next notification (already collected
    /// ones first).
    pub fn next_event(&mut self, within: Duration) -> Option<WatcherEvent> {
        if !self.events.is_empty() {
            return Some(self.events.remove(0));
        }
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = self
                .s
                .set_read_timeout(Some(left.max(Duration::from_millis(10))));
            let f = match read_frame(&mut self.s) {
                Ok(Some(f)) => f,
                _ => break,
            };
            let mut r = Reader::new(&f);
            if let Ok(h) = ReplyHeader::read(&mut r) {
                if h.xid == -1 {
                    if let Ok(ev) = WatcherEvent::read(&mut r) {
                        let _ = self.s.set_read_timeout(Some(Duration::from_secs(10)));
                        return Some(ev);
                    }
                }
            }
        }
        let _ = self.s.set_read_timeout(Some(Duration::from_secs(10)));
        None
    }

    /// Drops the TCP connection without closing the session.
    pub fn drop_connection(self) -> (i64, Vec<u8>, i64) {
        let _ = self.s.shutdown(Shutdown::Both);
        (self.session_id, self.passwd, self.last_zxid)
    }

    /// Reconnects to `port` with an existing session (id, password, last
    /// zxid seen): ZooKeeper's session move / REVALIDATE.
    pub fn resume(
        port: u16,
        id: i64,
        passwd: &[u8],
        last_zxid: i64,
        timeout: i32,
    ) -> io::Result<Client> {
        let mut req = new_session_request(timeout);
        req.session_id = id;
        req.passwd = Some(passwd.to_vec());
        req.last_zxid_seen = last_zxid;
        let mut c = Client::connect_with(port, req)?;
        c.last_zxid = last_zxid;
        Ok(c)
    }

    /// closeSession, then waits for the server to close the socket.
    pub fn close(mut self) {
        let xid = self.next_xid();
        if self
            .s
            .write_all(&request_frame(xid, op::CLOSE_SESSION, &[]))
            .is_ok()
        {
            let _ = self.reply_for(xid);
        }
        let _ = expect_closed(&mut self.s, Duration::from_secs(5));
    }
}

static FRESH: AtomicU64 = AtomicU64::new(0);

/// A well-behaved client: handshake, create a node, read it back, close.
pub fn well_behaved(port: u16) -> Result<(), String> {
    let mut c = Client::connect(port).map_err(|e| format!("handshake: {e}"))?;
    let n = FRESH.fetch_add(1, Ordering::Relaxed);
    let path = format!("/fresh-{}-{n}", std::process::id());
    let data = format!("hello {n}").into_bytes();
    let created = c
        .create(&path, &data, 0)
        .map_err(|e| format!("create {path}: error {e}"))?;
    if created != path {
        return Err(format!("create returned {created}, wanted {path}"));
    }
    let (got, stat) = c
        .get_data(&path, false)
        .map_err(|e| format!("getData {path}: error {e}"))?;
    if got != data || stat.data_length != data.len() as i32 {
        return Err(format!("getData {path} returned {got:?} / {stat:?}"));
    }
    c.close();
    Ok(())
}

/// Asserts the server is alive and serves a fresh client.
pub fn assert_serves(server: &mut Server) {
    assert!(server.alive(), "server process died:\n{}", server.stderr());
    if let Err(e) = well_behaved(server.port) {
        panic!("server no longer serves a well-behaved client: {e}");
    }
    assert!(server.alive(), "server process died:\n{}", server.stderr());
}

/// Asserts exactly one new log line since `mark` and returns it.
pub fn assert_one_log_line(server: &Server, mark: usize, what: &str) -> String {
    let lines = server.settled_log_since(mark, Duration::from_secs(3));
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected exactly one log line about it, got {}:\n{}",
        lines.len(),
        lines.join("\n")
    );
    lines.into_iter().next().unwrap()
}

// ---- a small filesystem of a test's own -------------------------------------

/// A tmpfs mounted on `path`, unmounted on drop (also when the test panics).
/// Declare it before any server using it, so the server is killed first.
pub struct Mount {
    path: PathBuf,
    mounted: bool,
}

impl Mount {
    /// Mounts a tmpfs of `size` (as `mount -o size=`) on `path` (created).
    /// `None` after a loud SKIPPING line when mounting is not permitted;
    /// under CI=true that is a failure instead.
    pub fn tmpfs(path: &Path, size: &str, test: &str) -> Option<Mount> {
        fs::create_dir_all(path).expect("create mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output();
        let why = match out {
            Ok(o) if o.status.success() => {
                return Some(Mount {
                    path: path.to_path_buf(),
                    mounted: true,
                })
            }
            Ok(o) => format!(
                "`mount -t tmpfs` failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => format!("cannot run `mount`: {e}"),
        };
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: {why} (CI=true: this test must not be skipped; run as root)");
        }
        // Not eprintln!: the harness captures that, and the skip must show.
        let _ = writeln!(
            io::stderr(),
            "\n**** SKIPPING {test}: {why} (needs root to mount a tmpfs) ****\n"
        );
        None
    }

    pub fn remount(&self, opts: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.path)
            .status()
            .expect("run mount");
        assert!(
            st.success(),
            "mount -o remount,{opts} {} failed",
            self.path.display()
        );
    }

    /// Unmounts now; panics if that fails (e.g. the server still holds a file).
    pub fn unmount(mut self) {
        let out = Command::new("umount")
            .arg(&self.path)
            .output()
            .expect("run umount");
        assert!(
            out.status.success(),
            "umount {} failed: {}",
            self.path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        self.mounted = false;
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if !self.mounted {
            return;
        }
        for _ in 0..20 {
            if Command::new("umount")
                .arg(&self.path)
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Busy (a straggling process): detach it so nothing stays mounted.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
