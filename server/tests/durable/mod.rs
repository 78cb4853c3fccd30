//! Helpers for the durability tests (`crash.rs`, `datadir_migration.rs`):
//! server processes (our `zkserver` or Apache ZooKeeper 3.8 from the Debian
//! jars) started on a dataDir the test owns, so the same dataDir survives
//! kills and restarts; a small pipelining client on raw jute frames from
//! `zkproto`; and a wire-level dump of a whole tree (data, Stat, ACL).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zkproto::consts::op;
use zkproto::jute::{Jute, Reader, Writer};
use zkproto::multi::{MultiOp, MultiRequest, MultiResponse, MultiResult};
use zkproto::records::*;

// ---- Apache ZooKeeper ---------------------------------------------------------

pub const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";
pub const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";

/// The classpath of Debian's ZooKeeper, or `None` after a loud SKIPPING line
/// when java or the jar is missing. Under CI=true a missing ZooKeeper fails.
pub fn zookeeper_or_skip(test: &str) -> Option<String> {
    let java_ok = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let missing = if !java_ok {
        Some("java")
    } else if !Path::new(ZK_JAR).exists() {
        Some(ZK_JAR)
    } else {
        None
    };
    if let Some(what) = missing {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "{test}: {what} is missing but CI=true (install the Debian package `zookeeper`)"
            );
        }
        // Not eprintln!: the harness captures that, and the skip must show.
        let _ = writeln!(
            io::stderr(),
            "\n**** SKIPPING {test}: {what} not found (install the Debian package `zookeeper`) ****\n"
        );
        return None;
    }
    let mut cp = ZK_JAR.to_string();
    if Path::new(SLF4J_SIMPLE_JAR).exists() {
        cp.push(':');
        cp.push_str(SLF4J_SIMPLE_JAR);
    }
    Some(cp)
}

// ---- server processes -----------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Our `zkserver` binary.
    Ours,
    /// Apache ZooKeeper with this classpath.
    Apache(String),
}

/// A port that was free a moment ago and that no other test of this
/// process was given (a server may take a while to bind what it got).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut last = 0;
    for _ in 0..100 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        last = l.local_addr().expect("local addr").port();
        if GIVEN.lock().map(|mut g| g.insert(last)).unwrap_or(true) {
            return last;
        }
    }
    last
}

/// A server process on `data_dir`; SIGKILLed (and reaped) on drop.
pub struct Proc {
    pub kind: Kind,
    pub port: u16,
    pub child: Option<Child>,
    pub log_path: PathBuf,
    pub started: Instant,
}

impl Proc {
    /// Starts a server on `data_dir` with zoo.cfg and log files in `work`
    /// (one pair per start); `extra` lines are appended to zoo.cfg.
    pub fn start(kind: &Kind, data_dir: &Path, work: &Path, extra: &str) -> Proc {
        let mut last = String::new();
        for _ in 0..3 {
            match Proc::try_start(kind, data_dir, work, extra) {
                Ok(p) => return p,
                Err(e) => last = e,
            }
            // A lost race for the port is retried; a real failure repeats.
        }
        panic!("could not start {kind:?} on {}: {last}", data_dir.display());
    }

    pub fn try_start(
        kind: &Kind,
        data_dir: &Path,
        work: &Path,
        extra: &str,
    ) -> Result<Proc, String> {
        fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
        fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let port = free_port();
        let mut cfg = format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
             clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n\
             autopurge.purgeInterval=0\n",
            data_dir.display()
        );
        cfg.push_str(extra);
        if !cfg.ends_with('\n') {
            cfg.push('\n');
        }
        let tag = match kind {
            Kind::Ours => "zkserver",
            Kind::Apache(_) => "zookeeper",
        };
        let cfg_path = work.join(format!("{tag}-{port}.cfg"));
        fs::write(&cfg_path, cfg).map_err(|e| e.to_string())?;
        let log_path = work.join(format!("{tag}-{port}.log"));
        let log = fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let mut cmd = match kind {
            Kind::Ours => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_zkserver"));
                c.arg("start-foreground").arg(&cfg_path);
                c.env("ZKSERVER_LOG", "info").env("NO_COLOR", "1");
                c
            }
            Kind::Apache(cp) => {
                let mut c = Command::new("java");
                c.args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
                    .arg(format!("-Dzookeeper.log.dir={}", work.display()))
                    .arg("-Dzookeeper.jmx.log4j.disable=true")
                    .arg("-Dzookeeper.admin.enableServer=false")
                    .arg("-Dzookeeper.extendedTypesEnabled=true")
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
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn {kind:?}: {e}"))?;
        let mut p = Proc {
            kind: kind.clone(),
            port,
            child: Some(child),
            log_path,
            started: Instant::now(),
        };
        let limit = match kind {
            Kind::Ours => Duration::from_secs(30),
            Kind::Apache(_) => Duration::from_secs(90),
        };
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(c) = p.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    p.child = None;
                    return Err(format!("exited during start-up ({st}):\n{}", p.log()));
                }
            }
            // `srvr` says "not currently serving" until requests are served.
            // A short timeout: ZooKeeper sometimes leaves a command sent
            // early in its start-up unanswered until its 10 s idle timeout.
            let srvr = four_letter_within(port, "srvr", Duration::from_secs(1)).unwrap_or_default();
            // And it must be this process answering, not another test's
            // server that won the port.
            if srvr.starts_with("Zookeeper version") && p.bound(port) && p.alive() {
                return Ok(p);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "no answer on port {port} within {limit:?}:\n{}",
            p.log()
        ))
    }

    /// Whether the log says this process listens on `port`.
    fn bound(&self, port: u16) -> bool {
        let log = self.log();
        if log.contains("Address already in use") {
            return false;
        }
        match self.kind {
            Kind::Ours => log.contains(&format!("serving clients on 127.0.0.1:{port}")),
            Kind::Apache(_) => log.contains(&format!("binding to port /127.0.0.1:{port}")),
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (at most `within`, then SIGKILL); the exit status
    /// when it stopped by itself.
    pub fn term(&mut self, within: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn four_letter(&self, cmd: &str) -> String {
        four_letter(self.port, cmd).unwrap_or_default()
    }

    pub fn srvr(&self) -> String {
        self.four_letter("srvr")
    }

    /// The `Zxid:` of `srvr`.
    pub fn zxid(&self) -> Option<i64> {
        parse_srvr_zxid(&self.srvr())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let had = self.child.is_some();
        self.kill9();
        if had && std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "---- {:?} on port {} (last lines of {}) ----\n{}",
                match self.kind {
                    Kind::Ours => "zkserver",
                    Kind::Apache(_) => "zookeeper",
                },
                self.port,
                self.log_path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

pub fn parse_srvr_zxid(srvr: &str) -> Option<i64> {
    let v = srvr.lines().find_map(|l| l.strip_prefix("Zxid: "))?;
    i64::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok()
}

pub fn four_letter(port: u16, cmd: &str) -> io::Result<String> {
    four_letter_within(port, cmd, Duration::from_secs(10))
}

pub fn four_letter_within(port: u16, cmd: &str, within: Duration) -> io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(within))?;
    s.write_all(cmd.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Lines of a server log that show it crashed or panicked.
pub fn panic_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("panicked") || l.contains("RUST_BACKTRACE") || l.contains("panic"))
        .map(String::from)
        .collect()
}

/// The server started cleanly: it says it recovered, did not panic, and
/// answers `ruok`.
pub fn assert_clean_start(p: &mut Proc, ctx: &str) {
    let log = p.log();
    assert!(
        log.contains("recovered zxid"),
        "{ctx}: no 'recovered zxid' line in the log:\n{log}"
    );
    let panics = panic_lines(&log);
    assert!(panics.is_empty(), "{ctx}: server panicked:\n{log}");
    assert_eq!(p.four_letter("ruok"), "imok", "{ctx}: ruok");
    assert!(p.alive(), "{ctx}: server died:\n{log}");
}

// ---- client ----------------------------------------------------------------------

pub mod flags {
    pub const PERSISTENT: i32 = 0;
    pub const EPHEMERAL: i32 = 1;
    pub const PERSISTENT_SEQUENTIAL: i32 = 2;
    pub const EPHEMERAL_SEQUENTIAL: i32 = 3;
    pub const CONTAINER: i32 = 4;
    pub const PERSISTENT_WITH_TTL: i32 = 5;
    pub const PERSISTENT_SEQUENTIAL_WITH_TTL: i32 = 6;
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// One session on one connection. Requests may be pipelined with
/// [`Conn::send`] / [`Conn::recv`]; replies come back in order.
pub struct Conn {
    s: TcpStream,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub timeout: i32,
    xid: i32,
    /// Highest zxid seen in a reply header.
    pub last_zxid: i64,
}

pub type Reply = (ReplyHeader, Vec<u8>);

impl Conn {
    pub fn connect(port: u16, timeout_ms: i32) -> io::Result<Conn> {
        Conn::handshake(port, 0, vec![0; 16], timeout_ms, 0)
    }

    /// Re-attaches to an existing session (e.g. after a server restart).
    pub fn reconnect(
        port: u16,
        session_id: i64,
        passwd: &[u8],
        timeout_ms: i32,
    ) -> io::Result<Conn> {
        Conn::handshake(port, session_id, passwd.to_vec(), timeout_ms, 0)
    }

    fn handshake(
        port: u16,
        sid: i64,
        passwd: Vec<u8>,
        timeout_ms: i32,
        zxid: i64,
    ) -> io::Result<Conn> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(15)))?;
        s.set_write_timeout(Some(Duration::from_secs(15)))?;
        let _ = s.set_nodelay(true);
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: zxid,
            time_out: timeout_ms,
            session_id: sid,
            passwd: Some(passwd),
            read_only: Some(false),
        };
        let mut w = Writer::framed();
        req.write(&mut w);
        s.write_all(&w.finish_frame())?;
        let f = read_frame(&mut s)?;
        let resp = ConnectResponse::from_bytes(&f).map_err(|e| invalid(e.to_string()))?;
        if resp.session_id == 0 || resp.time_out <= 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("session refused: {resp:?}"),
            ));
        }
        Ok(Conn {
            s,
            session_id: resp.session_id,
            passwd: resp.passwd.unwrap_or_default(),
            timeout: resp.time_out,
            xid: 0,
            last_zxid: 0,
        })
    }

    /// Sends one request; returns its xid.
    pub fn send(&mut self, opc: i32, body: &[u8]) -> io::Result<i32> {
        self.xid += 1;
        let xid = self.xid;
        self.send_xid(xid, opc, body)?;
        Ok(xid)
    }

    fn send_xid(&mut self, xid: i32, opc: i32, body: &[u8]) -> io::Result<()> {
        let mut w = Writer::framed();
        RequestHeader { xid, op_type: opc }.write(&mut w);
        w.write_raw(body);
        self.s.write_all(&w.finish_frame())
    }

    /// The next reply (notifications and pings skipped).
    pub fn recv(&mut self) -> io::Result<Reply> {
        loop {
            let f = read_frame(&mut self.s)?;
            let mut r = Reader::new(&f);
            let h = ReplyHeader::read(&mut r).map_err(|e| invalid(e.to_string()))?;
            if h.xid == -1 || h.xid == -2 {
                continue;
            }
            if h.zxid > 0 {
                self.last_zxid = self.last_zxid.max(h.zxid);
            }
            return Ok((h, r.rest().to_vec()));
        }
    }

    /// One request, one reply; a reply for another xid is an error.
    pub fn call(&mut self, opc: i32, body: &[u8]) -> io::Result<Reply> {
        let xid = self.send(opc, body)?;
        let r = self.recv()?;
        if r.0.xid != xid {
            return Err(invalid(format!(
                "reply xid {} while waiting for {xid}",
                r.0.xid
            )));
        }
        Ok(r)
    }

    fn checked(&mut self, what: &str, opc: i32, body: &[u8]) -> Result<Vec<u8>, i32> {
        let (h, b) = self
            .call(opc, body)
            .unwrap_or_else(|e| panic!("{what}: i/o error {e}"));
        if h.err != 0 {
            return Err(h.err);
        }
        Ok(b)
    }

    pub fn add_auth(&mut self, scheme: &str, auth: &[u8]) -> Result<(), i32> {
        let body = AuthPacket {
            auth_type: 0,
            scheme: scheme.into(),
            auth: Some(auth.to_vec()),
        }
        .to_bytes();
        self.send_xid(-4, op::AUTH, &body).expect("auth: i/o");
        let (h, _) = self.recv().expect("auth reply: i/o");
        assert_eq!(h.xid, -4, "auth reply has xid {}", h.xid);
        if h.err != 0 {
            return Err(h.err);
        }
        Ok(())
    }

    /// create2: the created path and its Stat.
    pub fn create(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        flags: i32,
    ) -> Result<(String, Stat), i32> {
        let body = CreateRequest {
            path: path.into(),
            data: data.map(|d| d.to_vec()),
            acl: acl.to_vec(),
            flags,
        }
        .to_bytes();
        let b = self.checked(&format!("create {path}"), op::CREATE2, &body)?;
        let r = Create2Response::from_bytes(&b).expect("Create2Response");
        Ok((r.path, r.stat))
    }

    pub fn create_container(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
    ) -> Result<(String, Stat), i32> {
        let body = CreateRequest {
            path: path.into(),
            data: data.map(|d| d.to_vec()),
            acl: acl.to_vec(),
            flags: flags::CONTAINER,
        }
        .to_bytes();
        let b = self.checked(
            &format!("createContainer {path}"),
            op::CREATE_CONTAINER,
            &body,
        )?;
        let r = Create2Response::from_bytes(&b).expect("Create2Response");
        Ok((r.path, r.stat))
    }

    pub fn create_ttl(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        flags: i32,
        ttl: i64,
    ) -> Result<(String, Stat), i32> {
        let body = CreateTtlRequest {
            path: path.into(),
            data: data.map(|d| d.to_vec()),
            acl: acl.to_vec(),
            flags,
            ttl,
        }
        .to_bytes();
        let b = self.checked(&format!("createTTL {path}"), op::CREATE_TTL, &body)?;
        let r = Create2Response::from_bytes(&b).expect("Create2Response");
        Ok((r.path, r.stat))
    }

    pub fn set_data(&mut self, path: &str, data: Option<&[u8]>, version: i32) -> Result<Stat, i32> {
        let body = SetDataRequest {
            path: path.into(),
            data: data.map(|d| d.to_vec()),
            version,
        }
        .to_bytes();
        let b = self.checked(&format!("setData {path}"), op::SET_DATA, &body)?;
        Ok(StatResponse::from_bytes(&b).expect("StatResponse").stat)
    }

    pub fn get_data(&mut self, path: &str) -> Result<(Option<Vec<u8>>, Stat), i32> {
        let body = PathAndWatch {
            path: path.into(),
            watch: false,
        }
        .to_bytes();
        let b = self.checked(&format!("getData {path}"), op::GET_DATA, &body)?;
        let r = GetDataResponse::from_bytes(&b).expect("GetDataResponse");
        Ok((r.data, r.stat))
    }

    pub fn exists(&mut self, path: &str) -> Result<Stat, i32> {
        let body = PathAndWatch {
            path: path.into(),
            watch: false,
        }
        .to_bytes();
        let b = self.checked(&format!("exists {path}"), op::EXISTS, &body)?;
        Ok(StatResponse::from_bytes(&b).expect("StatResponse").stat)
    }

    pub fn get_acl(&mut self, path: &str) -> Result<(Vec<Acl>, Stat), i32> {
        let body = PathRequest { path: path.into() }.to_bytes();
        let b = self.checked(&format!("getACL {path}"), op::GET_ACL, &body)?;
        let r = GetAclResponse::from_bytes(&b).expect("GetAclResponse");
        Ok((r.acl, r.stat))
    }

    pub fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, i32> {
        let body = SetAclRequest {
            path: path.into(),
            acl: acl.to_vec(),
            version,
        }
        .to_bytes();
        let b = self.checked(&format!("setACL {path}"), op::SET_ACL, &body)?;
        Ok(StatResponse::from_bytes(&b).expect("StatResponse").stat)
    }

    pub fn get_children(&mut self, path: &str) -> Result<Vec<String>, i32> {
        let body = PathAndWatch {
            path: path.into(),
            watch: false,
        }
        .to_bytes();
        let b = self.checked(&format!("getChildren {path}"), op::GET_CHILDREN, &body)?;
        Ok(GetChildrenResponse::from_bytes(&b)
            .expect("GetChildrenResponse")
            .children)
    }

    pub fn delete(&mut self, path: &str, version: i32) -> Result<(), i32> {
        let body = DeleteRequest {
            path: path.into(),
            version,
        }
        .to_bytes();
        self.checked(&format!("delete {path}"), op::DELETE, &body)
            .map(|_| ())
    }

    /// A multi; `Err` carries the per-op results of a failed one.
    pub fn multi(&mut self, ops: Vec<MultiOp>) -> Result<Vec<MultiResult>, Vec<MultiResult>> {
        let body = MultiRequest { ops }.to_bytes();
        let (h, b) = self.call(op::MULTI, &body).expect("multi: i/o");
        let r = MultiResponse::from_bytes(&b)
            .expect("MultiResponse")
            .results;
        if h.err != 0 || r.iter().any(|x| matches!(x, MultiResult::Error(_))) {
            return Err(r);
        }
        Ok(r)
    }

    /// closeSession and wait for the reply.
    pub fn close(mut self) {
        if let Ok(xid) = self.send(op::CLOSE_SESSION, &[]) {
            while let Ok((h, _)) = self.recv() {
                if h.xid == xid {
                    break;
                }
            }
        }
    }
}

fn read_frame(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let n = i32::from_be_bytes(len);
    if !(0..=16 << 20).contains(&n) {
        return Err(invalid(format!("bad frame length {n}")));
    }
    let mut buf = vec![0u8; n as usize];
    s.read_exact(&mut buf)?;
    Ok(buf)
}

pub fn digest_id(user: &str, password: &str) -> String {
    use base64::Engine;
    use sha1::Digest;
    let h = sha1::Sha1::digest(format!("{user}:{password}").as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(h)
    )
}

// ---- dumps ------------------------------------------------------------------------

/// Everything the wire shows of one znode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeDump {
    pub data: Option<Vec<u8>>,
    pub stat: Stat,
    pub acl: Vec<Acl>,
}

pub type Dump = BTreeMap<String, NodeDump>;

/// Walks the tree from `/`: getData, getACL and getChildren of every node.
pub fn dump(c: &mut Conn) -> Dump {
    let mut out = Dump::new();
    let mut todo = vec!["/".to_string()];
    while let Some(p) = todo.pop() {
        assert!(out.len() < 100_000, "tree too large (loop?)");
        let (data, stat) = match c.get_data(&p) {
            Ok(x) => x,
            // Deleted meanwhile (an expiring session, a container sweep).
            Err(-101) => continue,
            Err(e) => panic!("dump: getData {p}: error {e}"),
        };
        let (acl, _) = c
            .get_acl(&p)
            .unwrap_or_else(|e| panic!("dump: getACL {p}: error {e}"));
        let kids = c
            .get_children(&p)
            .unwrap_or_else(|e| panic!("dump: getChildren {p}: error {e}"));
        for k in kids {
            todo.push(if p == "/" {
                format!("/{k}")
            } else {
                format!("{p}/{k}")
            });
        }
        out.insert(p, NodeDump { data, stat, acl });
    }
    out
}

pub fn show_data(d: &Option<Vec<u8>>) -> String {
    match d {
        None => "null".into(),
        Some(b) if b.len() > 48 => {
            format!("{} bytes {:?}…", b.len(), String::from_utf8_lossy(&b[..48]))
        }
        Some(b) => format!("{:?}", String::from_utf8_lossy(b)),
    }
}

/// Human-readable differences between two dumps (empty when equal).
pub fn diff_dumps(a_name: &str, a: &Dump, b_name: &str, b: &Dump) -> Vec<String> {
    let mut out = Vec::new();
    for (p, x) in a {
        match b.get(p) {
            None => out.push(format!("{p}: only in {a_name}")),
            Some(y) if x != y => {
                if x.data != y.data {
                    out.push(format!(
                        "{p}: data {a_name}={} {b_name}={}",
                        show_data(&x.data),
                        show_data(&y.data)
                    ));
                }
                if x.stat != y.stat {
                    out.push(format!(
                        "{p}: stat\n  {a_name}={:?}\n  {b_name}={:?}",
                        x.stat, y.stat
                    ));
                }
                if x.acl != y.acl {
                    out.push(format!(
                        "{p}: acl {a_name}={:?} {b_name}={:?}",
                        x.acl, y.acl
                    ));
                }
            }
            _ => {}
        }
    }
    for p in b.keys() {
        if !a.contains_key(p) {
            out.push(format!("{p}: only in {b_name}"));
        }
    }
    out
}

// ---- a seeded RNG -----------------------------------------------------------------

/// The seed from `env` (decimal) or the clock; printed so a failure can be
/// replayed.
pub fn seed_from_env(env: &str) -> u64 {
    let seed = std::env::var(env)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(42)
        });
    let _ = writeln!(io::stderr(), "{env}={seed} (set it to replay this run)");
    seed
}

// ---- the transaction-log format, read independently of the server's code --------

/// One entry of a `log.<zxid>` file: [start, end) byte range and its zxid.
#[derive(Clone, Debug)]
pub struct RawEntry {
    pub start: u64,
    pub end: u64,
    pub zxid: i64,
}

/// Log files of `version-2` sorted by starting zxid.
pub fn log_files(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut v: Vec<(i64, PathBuf)> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let z = i64::from_str_radix(name.strip_prefix("log.")?, 16).ok()?;
                    Some((z, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Snapshot files (`snapshot.<zxid>`) of `version-2`, sorted.
pub fn snapshot_files(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut v: Vec<(i64, PathBuf)> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let z = i64::from_str_radix(name.strip_prefix("snapshot.")?, 16).ok()?;
                    Some((z, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Complete, checksummed entries of one log file: header (16 bytes), then
/// `crc i64 ‖ len i32 ‖ txn ‖ 0x42` until zeros, the end, or damage.
pub fn parse_log(bytes: &[u8]) -> Vec<RawEntry> {
    let mut out = Vec::new();
    if bytes.len() < 16 {
        return out;
    }
    let mut pos = 16usize;
    while pos + 12 <= bytes.len() {
        let crc = i64::from_be_bytes(bytes[pos..pos + 8].try_into().expect("8"));
        let n = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().expect("4"));
        if n <= 0 || pos + 12 + n as usize + 1 > bytes.len() {
            break;
        }
        let txn = &bytes[pos + 12..pos + 12 + n as usize];
        if bytes[pos + 12 + n as usize] != 0x42 || adler32(txn) != crc || txn.len() < 32 {
            break;
        }
        let zxid = i64::from_be_bytes(txn[12..20].try_into().expect("8"));
        let end = pos + 12 + n as usize + 1;
        out.push(RawEntry {
            start: pos as u64,
            end: end as u64,
            zxid,
        });
        pos = end;
    }
    out
}

fn adler32(b: &[u8]) -> i64 {
    let (mut a, mut s) = (1u32, 0u32);
    for &x in b {
        a = (a + x as u32) % 65521;
        s = (s + a) % 65521;
    }
    ((s << 16) | a) as i64
}
