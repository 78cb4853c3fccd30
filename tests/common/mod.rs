//! Helpers shared by integration tests: run a ZooKeeper server — Apache's
//! (the Debian `zookeeper` package) or ours (`zkserver`) — on a free
//! loopback port with a private data dir, and a TCP proxy that can cut
//! connections on demand.
//!
//! Which servers a test runs against comes from `ZK_TEST_SERVER`:
//! `real` (default), `ours` or `both`. A server that is not available is
//! skipped with a loud message on stderr — except Apache ZooKeeper under
//! `CI=true`, where its absence is a failure (CI installs it, so a skip there
//! would hide a broken setup).
//!
//! Servers are started once per test binary ([`shared_server`]) because a
//! JVM start costs a second or two; tests isolate themselves by working under
//! their own root znode. Rust never drops statics, so every server process
//! is watched by a small `sh` watchdog that kills it (and removes its data
//! dir) once the test process has exited. Servers started with
//! [`ZkServer::start`] and owned by a test are killed on drop.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Jar of the Debian `zookeeper` package; its manifest pulls in the rest.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// Optional slf4j binding, so the server log is not empty.
pub const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";

/// How long a server may take to answer `ruok`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A server implementation under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerKind {
    /// Apache ZooKeeper, run from the Debian package's jars.
    Real,
    /// Our `zkserver` binary.
    Ours,
}

impl ServerKind {
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Real => "real",
            ServerKind::Ours => "ours",
        }
    }
}

/// The kinds selected by `ZK_TEST_SERVER` (`real` | `ours` | `both`).
pub fn kinds_under_test() -> Vec<ServerKind> {
    match std::env::var("ZK_TEST_SERVER").as_deref().map(str::trim) {
        Ok("ours") => vec![ServerKind::Ours],
        Ok("both") => vec![ServerKind::Real, ServerKind::Ours],
        Ok("real") | Ok("") | Err(_) => vec![ServerKind::Real],
        Ok(other) => panic!("ZK_TEST_SERVER must be real, ours or both, not {other:?}"),
    }
}

/// Whether we run under CI (`CI=true`), where missing prerequisites fail.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Why a server could not be started.
#[derive(Debug)]
pub enum StartError {
    /// The implementation is not installed/built here: skip (or fail in CI).
    Unavailable(String),
    /// It is there but did not come up: always a failure.
    Failed(String),
}

/// A running server on `127.0.0.1:port`.
pub struct ZkServer {
    kind: ServerKind,
    port: u16,
    dir: PathBuf,
    child: Child,
    watchdog: Option<Child>,
}

impl ZkServer {
    /// Starts a server of `kind` with a fresh data dir and waits until it
    /// answers `ruok`.
    pub fn start(kind: ServerKind) -> Result<ZkServer, StartError> {
        let mut cmd = match kind {
            ServerKind::Real => real_command()?,
            ServerKind::Ours => ours_command()?,
        };
        let dir = fresh_dir(kind);
        let port = free_port();
        write_zoo_cfg(&dir, port)
            .map_err(|e| StartError::Failed(format!("writing zoo.cfg: {e}")))?;
        let log = std::fs::File::create(dir.join("zk.log"))
            .map_err(|e| StartError::Failed(format!("creating log: {e}")))?;
        let log2 = log
            .try_clone()
            .map_err(|e| StartError::Failed(e.to_string()))?;
        if kind == ServerKind::Real {
            cmd.arg(format!("-Dzookeeper.log.dir={}", dir.display()));
            cmd.arg("org.apache.zookeeper.server.ZooKeeperServerMain");
        } else {
            cmd.arg("start-foreground");
        }
        cmd.arg(dir.join("zoo.cfg"))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let child = cmd
            .spawn()
            .map_err(|e| StartError::Failed(format!("spawning {cmd:?}: {e}")))?;
        let watchdog = spawn_watchdog(child.id(), &dir);
        let mut server = ZkServer {
            kind,
            port,
            dir,
            child,
            watchdog,
        };
        server
            .wait_ready(START_TIMEOUT)
            .map_err(StartError::Failed)?;
        Ok(server)
    }

    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`, usable as a connect string.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The data dir (also holds `zoo.cfg` and `zk.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Last lines of the server log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("zk.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if four_letter_word(self.port, "ruok").as_deref() == Some("imok") {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} server exited during start-up ({status}); log:\n{}",
                    self.kind.name(),
                    self.log_tail(30)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "{} server gave no 'imok' on port {} within {timeout:?}; log:\n{}",
            self.kind.name(),
            self.port,
            self.log_tail(30)
        ))
    }
}

impl Drop for ZkServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn real_command() -> Result<Command, StartError> {
    if !Path::new(ZOOKEEPER_JAR).exists() {
        return Err(StartError::Unavailable(format!(
            "Apache ZooKeeper not installed ({ZOOKEEPER_JAR} missing; see scripts/install-deps.sh)"
        )));
    }
    let java = std::env::var("JAVA").unwrap_or_else(|_| "java".into());
    let java_ok = Command::new(&java)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !java_ok {
        return Err(StartError::Unavailable(format!(
            "Apache ZooKeeper not installed (no working `{java}`)"
        )));
    }
    let mut cp = ZOOKEEPER_JAR.to_string();
    if Path::new(SLF4J_SIMPLE_JAR).exists() {
        cp = format!("{cp}:{SLF4J_SIMPLE_JAR}");
    }
    let mut cmd = Command::new(java);
    // Small, fast-starting JVM: the tests need neither JIT nor a big heap.
    cmd.args([
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Dzookeeper.jmx.log4j.disable=true",
        "-cp",
        &cp,
    ]);
    Ok(cmd)
}

/// Where our server binary is: `$ZKSERVER_BIN`, else next to this test
/// binary's target dir (`target/debug/zkserver`), else under
/// `$CARGO_TARGET_DIR` or the workspace's `target/`.
pub fn ours_binary() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(p) = std::env::var("ZKSERVER_BIN") {
        candidates.push(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe() {
        // target/debug/deps/<test> -> target/debug/zkserver
        if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
            candidates.push(profile_dir.join("zkserver"));
        }
    }
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(t).join("debug/zkserver"));
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/zkserver"));
    candidates.into_iter().find(|p| p.is_file())
}

fn ours_command() -> Result<Command, StartError> {
    match ours_binary() {
        Some(bin) => Ok(Command::new(bin)),
        None => Err(StartError::Unavailable(
            "zkserver binary not built (run `cargo build -p zkserver` or set ZKSERVER_BIN)".into(),
        )),
    }
}

/// A new empty directory under the system temp dir.
fn fresh_dir(kind: ServerKind) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "zk-test-{}-{}-{}-{nanos}",
        kind.name(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("creating a temp dir");
    dir
}

/// The zoo.cfg of `scripts/zk-common.sh`: standalone, loopback only, all
/// four-letter words, TTL nodes enabled, no admin server.
pub fn write_zoo_cfg(dir: &Path, port: u16) -> std::io::Result<()> {
    let cfg = format!(
        "tickTime=2000\n\
         initLimit=10\n\
         syncLimit=5\n\
         dataDir={}\n\
         clientPort={port}\n\
         clientPortAddress=127.0.0.1\n\
         maxClientCnxns=0\n\
         4lw.commands.whitelist=*\n\
         extendedTypesEnabled=true\n\
         admin.enableServer=false\n\
         autopurge.purgeInterval=0\n",
        dir.display()
    );
    std::fs::write(dir.join("zoo.cfg"), cfg)
}

/// Kills `pid` and removes `dir` once this test process has exited: the
/// safety net for servers held in statics, whose `Drop` never runs.
fn spawn_watchdog(pid: u32, dir: &Path) -> Option<Child> {
    let script = r#"while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
kill "$2" 2>/dev/null; sleep 2; kill -9 "$2" 2>/dev/null; rm -rf "$3""#;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("zk-test-watchdog")
        .arg(std::process::id().to_string())
        .arg(pid.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
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

/// Sends a four-letter word and returns the answer, `None` if the server
/// could not be reached.
pub fn four_letter_word(port: u16, cmd: &str) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(cmd.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The server of `kind` shared by all tests of this binary, started on first
/// use. `None` (after a loud SKIPPING message) if that kind is unavailable;
/// panics if it is unavailable under CI (Apache ZooKeeper only) or fails to
/// start.
pub fn shared_server(kind: ServerKind) -> Option<&'static ZkServer> {
    static REAL: OnceLock<Option<ZkServer>> = OnceLock::new();
    static OURS: OnceLock<Option<ZkServer>> = OnceLock::new();
    let cell = match kind {
        ServerKind::Real => &REAL,
        ServerKind::Ours => &OURS,
    };
    let started = cell.get_or_init(|| match ZkServer::start(kind) {
        Ok(s) => Some(s),
        Err(StartError::Unavailable(why)) => {
            if kind == ServerKind::Real && in_ci() {
                panic!("CI=true but Apache ZooKeeper is unavailable: {why}");
            }
            None
        }
        Err(StartError::Failed(why)) => panic!("{why}"),
    });
    if started.is_none() {
        let what = match kind {
            ServerKind::Real => "Apache ZooKeeper not installed",
            ServerKind::Ours => "our zkserver binary not built",
        };
        eprintln!("\n======== SKIPPING: {what} ========\n");
    }
    started.as_ref()
}

/// The shared servers of every kind under test that is available.
pub fn servers_under_test() -> Vec<&'static ZkServer> {
    kinds_under_test()
        .into_iter()
        .filter_map(shared_server)
        .collect()
}

/// A TCP proxy in front of a server, for simulating network failures.
/// Dropping it stops everything.
pub struct Proxy {
    addr: SocketAddr,
    paused: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

/// Copies one direction, holding data back while `frozen` is set.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let paused = Arc::new(AtomicBool::new(false));
        let frozen = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (p, f, c) = (paused.clone(), frozen.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                if p.load(Ordering::SeqCst) {
                    // Like a server that is down: the connection dies at once.
                    drop(down);
                    continue;
                }
                let f = f.clone();
                let task = tokio::spawn(async move {
                    let Ok(up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (down_r, down_w) = down.into_split();
                    let (up_r, up_w) = up.into_split();
                    // Both directions end together: when one side closes,
                    // so does the other (and abort() drops both).
                    tokio::select! {
                        _ = pump(down_r, up_w, f.clone()) => {}
                        _ = pump(up_r, down_w, f) => {}
                    }
                });
                c.lock().unwrap_or_else(|e| e.into_inner()).push(task);
            }
        });
        Proxy {
            addr,
            paused,
            frozen,
            conns,
            accept,
        }
    }

    /// `127.0.0.1:port` of the proxy.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Cuts every open connection (both sides see the socket close).
    pub fn sever(&self) {
        for t in self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }

    /// While paused, new connections are closed as soon as accepted.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// While frozen, open connections stay open but carry no data, like a
    /// network partition.
    pub fn set_frozen(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.sever();
    }
}
