//! The seed's master–worker–client walkthrough (`../shared/seeds/000_*`,
//! sections 3.2 to 4.5), played by real `zkcli` processes in real
//! pseudo-terminals, in the seed's order: the first session (master, then
//! worker), the second (would-be master, then master), a session creating
//! the parent znodes, and the third (client). Every reply, every prompt
//! `[zk: HOST(CONNECTED) N] ` and every `WATCHER::` block is asserted in its
//! terminal, and at the end each terminal's transcript must hold each node
//! event exactly once and no other.
//!
//! Targets: one server and 3-member ensembles, of ours and of Apache
//! ZooKeeper 3.8 (the oracle: the test is known right where it passes
//! there); on an ensemble the terminals use different members, and in one
//! variant the leader is killed with SIGKILL between two steps and
//! restarted later. The ephemerals `/master` and the worker's vanish when
//! their sessions close (`quit`) and, in another variant, when the zkcli
//! process is killed with SIGKILL and the session times out.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{ours_binary, ServerKind, ZkServer};
use expectrl::{Eof, Session};

const EXPECT_TIMEOUT: Duration = Duration::from_secs(45);

/// One terminal: a zkcli REPL in a PTY, its prompt counter and transcript.
struct Term {
    name: &'static str,
    s: Session,
    host: String,
    n: usize,
    transcript: String,
}

impl Term {
    fn open(name: &'static str, host: &str, timeout_ms: u32) -> Term {
        let hist = std::env::temp_dir().join(format!("zkcli-walkthrough-{}", std::process::id()));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zkcli"));
        cmd.args(["-server", host, "-timeout", &timeout_ms.to_string()])
            .env("ZKCLI_HISTORY", hist)
            .env("NO_COLOR", "1")
            .env("TERM", "xterm");
        let mut s = Session::spawn(cmd).expect("spawn zkcli in a pty");
        s.set_expect_timeout(Some(EXPECT_TIMEOUT));
        // Wide enough that no prompt and command wraps (a wrapped line is
        // echoed with cursor movements in it).
        let _ = s.get_process_mut().set_window_size(400, 50);
        let mut t = Term {
            name,
            s,
            host: host.to_string(),
            n: 0,
            transcript: String::new(),
        };
        t.expect("WatchedEvent state:SyncConnected type:None path:null");
        let p = t.prompt();
        t.expect(&p);
        t
    }

    fn prompt(&self) -> String {
        format!("[zk: {}(CONNECTED) {}] ", self.host, self.n)
    }

    fn expect(&mut self, text: &str) -> String {
        match self.s.expect(text) {
            Ok(c) => {
                let before = String::from_utf8_lossy(c.before()).into_owned();
                self.transcript.push_str(&before);
                self.transcript.push_str(text);
                before
            }
            Err(e) => panic!(
                "{}: expected {text:?}: {e}\n--- transcript so far ---\n{}",
                self.name, self.transcript
            ),
        }
    }

    /// Types `cmd`, expects each of `replies` in order, then the next prompt.
    fn run(&mut self, cmd: &str, replies: &[&str]) -> String {
        self.s.send(format!("{cmd}\r")).expect("type a line");
        self.expect(cmd);
        let mut out = String::new();
        for r in replies {
            out.push_str(&self.expect(r));
            out.push_str(r);
        }
        self.n += 1;
        let p = self.prompt();
        out.push_str(&self.expect(&p));
        out
    }

    /// A `WATCHER::` block for a node event, then the prompt redrawn.
    fn event(&mut self, ty: &str, path: &str) {
        self.expect("WATCHER::");
        self.expect(&format!(
            "WatchedEvent state:SyncConnected type:{ty} path:{path}"
        ));
        let p = self.prompt();
        self.expect(&p);
    }

    /// The session moves (its member died): Disconnected, then SyncConnected.
    fn reconnects(&mut self) {
        self.expect("WatchedEvent state:Disconnected type:None path:null");
        self.expect("WatchedEvent state:SyncConnected type:None path:null");
        let p = self.prompt();
        self.expect(&p);
    }

    /// `quit`: the session closes (its ephemerals go at once).
    fn quit(mut self) -> String {
        self.s.send("quit\r").expect("type quit");
        self.expect("WatchedEvent state:Closed type:None path:null");
        let _ = self.s.expect(Eof);
        self.transcript
    }

    /// SIGKILL: the session lives on until its timeout.
    fn kill9(mut self) -> String {
        let pid = self.s.get_process().pid().to_string();
        let ok = Command::new("kill").args(["-9", &pid]).status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -9 {pid}");
        let _ = self.s.expect(Eof);
        self.transcript
    }
}

/// Every node event in a transcript, in order.
fn node_events(transcript: &str) -> Vec<String> {
    transcript
        .lines()
        .filter_map(|l| l.split("WatchedEvent state:SyncConnected type:").nth(1))
        .filter(|e| !e.starts_with("None"))
        .map(|e| e.trim_end().to_string())
        .collect()
}

fn assert_events(name: &str, transcript: &str, want: &[&str]) {
    assert_eq!(
        node_events(transcript),
        want,
        "{name}: each node event exactly once, and no other\n{transcript}"
    );
}

/// Where the terminals connect.
struct Target {
    /// Connect string per role: session/first, second, parents, third.
    hosts: [String; 4],
    /// A standalone server (kept alive), or an ensemble's directory.
    _server: Option<ZkServer>,
    ensemble: Option<Ensemble>,
}

/// A 3-member ensemble run by scripts/ensemble.sh (ours or Apache's).
struct Ensemble {
    dir: PathBuf,
    base: u16,
}

impl Ensemble {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ensemble.sh")
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut c = Command::new("bash");
        c.arg(Self::script())
            .args(["--dir", &self.dir.to_string_lossy()]);
        c.args(args);
        if let Some(bin) = ours_binary() {
            c.env("ZKSERVER_BIN", bin);
        }
        c.output().expect("run scripts/ensemble.sh")
    }

    fn start(kind: &str) -> Ensemble {
        let dir = std::env::temp_dir().join(format!(
            "zk-walkthrough-{kind}-{}-{}",
            std::process::id(),
            common::free_port()
        ));
        let e = Ensemble {
            dir,
            base: ensemble_base(),
        };
        let kinds = format!("{kind},{kind},{kind}");
        let base = e.base.to_string();
        let o = e.run(&["--base-port", &base, "--kinds", &kinds, "start", "3"]);
        assert!(
            o.status.success(),
            "starting the {kind} ensemble: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        e
    }

    fn host(&self, id: u16) -> String {
        format!("127.0.0.1:{}", self.base + id)
    }

    fn all(&self) -> String {
        (1..=3).map(|i| self.host(i)).collect::<Vec<_>>().join(",")
    }

    fn leader(&self) -> u16 {
        let o = self.run(&["leader"]);
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .expect("a leader")
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        let _ = self.run(&["stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A base port whose client (+1..3), quorum (+101..103) and election
/// (+201..203) ports are free, from 30000..32700: above the window
/// `free_port` hands out (so no standalone server of this process can take
/// one of them) and below the kernel's ephemeral range.
fn ensemble_base() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    let start = (std::process::id() % 9) as u16;
    for _ in 0..9 {
        let k = (start + NEXT.fetch_add(1, Ordering::SeqCst)) % 9;
        let base = 30_000 + k * 300;
        if (1..=3).all(|i| free(base + i) && free(base + 100 + i) && free(base + 200 + i)) {
            return base;
        }
    }
    panic!("no free ports for an ensemble in 30000..32700")
}

/// One walkthrough at a time: each is several processes (JVMs for Apache
/// ZooKeeper) on a 2-core machine, and their timeouts are real.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn available(kind: ServerKind) -> bool {
    if kind == ServerKind::Real && !Path::new("/usr/share/java/zookeeper.jar").exists() {
        assert!(!common::in_ci(), "CI=true but Apache ZooKeeper is missing");
        eprintln!("\n======== SKIPPING: Apache ZooKeeper not installed ========\n");
        return false;
    }
    true
}

fn standalone(kind: ServerKind) -> Target {
    let server = ZkServer::start(kind).unwrap_or_else(|e| panic!("starting a server: {e:?}"));
    let h = server.addr();
    Target {
        hosts: [h.clone(), h.clone(), h.clone(), h],
        _server: Some(server),
        ensemble: None,
    }
}

/// Each role on its own member (the first session and the worker on 1,
/// the second on 2, the parents' session and the client on 3).
fn ensemble_apart(kind: &str) -> Target {
    let e = Ensemble::start(kind);
    Target {
        hosts: [e.host(1), e.host(2), e.host(3), e.host(3)],
        _server: None,
        ensemble: Some(e),
    }
}

/// Every role on the full connect string (so sessions can move).
fn ensemble_full(kind: &str) -> Target {
    let e = Ensemble::start(kind);
    let all = e.all();
    Target {
        hosts: [all.clone(), all.clone(), all.clone(), all],
        _server: None,
        ensemble: Some(e),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Ending {
    /// The master and the worker leave with `quit`.
    Quit,
    /// Their zkcli is killed with SIGKILL; their sessions time out.
    Kill9,
}

/// The walkthrough. `kill_leader`: SIGKILL the ensemble's leader once every
/// terminal has its watches set (before the task is assigned), restart it
/// after the client has read the result.
fn walkthrough(t: Target, ending: Ending, kill_leader: bool) {
    let [h1, h2, h3, h4] = t.hosts.clone();
    // Short sessions where the story waits for a timeout.
    let short = if ending == Ending::Kill9 { 4000 } else { 30000 };

    // 3.2 The first ZooKeeper session.
    let mut s = Term::open("first session", &h1, 30000);
    s.run("ls /", &["[zookeeper]"]);
    s.run(r#"create /workers """#, &["Created /workers"]);
    s.run("ls /", &["[workers, zookeeper]"]);
    s.run("ls /workers", &["[]"]);
    s.run("delete /workers", &[]);
    s.run("ls /", &["[zookeeper]"]);
    let first = s.quit();
    assert_events("first session", &first, &[]);

    // 4.1 The master role.
    let mut m = Term::open("first session (master)", &h1, short);
    m.run(
        r#"create -e /master "master1.example.com:2223""#,
        &["Created /master"],
    );
    m.run("ls /", &["[master, zookeeper]"]);
    m.run("get /master", &["master1.example.com:2223"]);
    let mut b = Term::open("second session", &h2, 30000);
    b.run(
        r#"create -e /master "master2.example.com:2223""#,
        &["Node already exists: /master"],
    );
    let stat = b.run(
        "stat -w /master",
        &[
            "cZxid = 0x",
            "ctime = ",
            "mZxid = 0x",
            "pZxid = 0x",
            "cversion = 0",
            "dataVersion = 0",
            "aclVersion = 0",
            "ephemeralOwner = 0x",
            "dataLength = 24",
            "numChildren = 0",
        ],
    );
    assert!(!stat.contains("ephemeralOwner = 0x0\r"), "{stat}");
    let master = match ending {
        Ending::Quit => m.quit(),
        Ending::Kill9 => m.kill9(),
    };
    assert_events("first session (master)", &master, &[]);
    // Closed at once, or expired after its timeout: /master goes.
    b.event("NodeDeleted", "/master");
    b.run(
        r#"create -e /master "master2.example.com:2223""#,
        &["Created /master"],
    );

    // 4.2 The parents, by a session that closes after.
    let mut p = Term::open("parents session", &h3, 30000);
    p.run(r#"create /workers """#, &["Created /workers"]);
    p.run(r#"create /tasks """#, &["Created /tasks"]);
    p.run(r#"create /assign """#, &["Created /assign"]);
    let parents = p.quit();
    assert_events("parents session", &parents, &[]);
    b.run("ls -w /workers", &["[]"]);
    b.run("ls -w /tasks", &["[]"]);

    // 4.3 The worker: the first session reopened.
    let mut w = Term::open("first session (worker)", &h1, short);
    w.run(
        r#"create -e /workers/worker1.example.com "worker1.example.com:2223""#,
        &["Created /workers/worker1.example.com"],
    );
    b.event("NodeChildrenChanged", "/workers");
    w.run(
        r#"create /assign/worker1.example.com """#,
        &["Created /assign/worker1.example.com"],
    );
    w.run("ls -w /assign/worker1.example.com", &["[]"]);

    // 4.4 The client.
    let mut c = Term::open("third session (client)", &h4, 30000);
    c.run(
        r#"create -s /tasks/task- "cmd""#,
        &["Created /tasks/task-0000000000"],
    );
    b.event("NodeChildrenChanged", "/tasks");
    c.run("ls -w /tasks/task-0000000000", &["[]"]);

    let killed = if kill_leader {
        let e = t.ensemble.as_ref().expect("an ensemble");
        let leader = e.leader();
        let o = e.run(&["kill-member", &leader.to_string(), "KILL"]);
        assert!(o.status.success(), "kill -9 of the leader");
        // Every member drops its clients until a new leader is elected;
        // each session moves on, with its watches.
        b.reconnects();
        w.reconnects();
        c.reconnects();
        Some(leader)
    } else {
        None
    };

    b.run("ls /tasks", &["[task-0000000000]"]);
    b.run("ls /workers", &["[worker1.example.com]"]);
    b.run(
        r#"create /assign/worker1.example.com/task-0000000000 """#,
        &["Created /assign/worker1.example.com/task-0000000000"],
    );
    w.event("NodeChildrenChanged", "/assign/worker1.example.com");
    w.run("ls /assign/worker1.example.com", &["[task-0000000000]"]);
    w.run(
        r#"create /tasks/task-0000000000/status "done""#,
        &["Created /tasks/task-0000000000/status"],
    );
    c.event("NodeChildrenChanged", "/tasks/task-0000000000");
    c.run("get /tasks/task-0000000000", &["cmd"]);
    c.run("get /tasks/task-0000000000/status", &["done"]);

    if let Some(id) = killed {
        let e = t.ensemble.as_ref().expect("an ensemble");
        let o = e.run(&["start-member", &id.to_string()]);
        assert!(o.status.success(), "restart the killed leader");
    }

    // The worker leaves: its ephemeral goes (at once, or at its timeout).
    let worker = match ending {
        Ending::Quit => w.quit(),
        Ending::Kill9 => w.kill9(),
    };
    assert_events(
        "first session (worker)",
        &worker,
        &["NodeChildrenChanged path:/assign/worker1.example.com"],
    );
    let deadline = std::time::Instant::now() + EXPECT_TIMEOUT;
    loop {
        let out = b.run("ls /workers", &["]"]);
        if out.contains("[]") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker's ephemeral never went: {out}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let client = c.quit();
    assert_events(
        "third session (client)",
        &client,
        &["NodeChildrenChanged path:/tasks/task-0000000000"],
    );
    let second = b.quit();
    assert_events(
        "second session",
        &second,
        &[
            "NodeDeleted path:/master",
            "NodeChildrenChanged path:/workers",
            "NodeChildrenChanged path:/tasks",
        ],
    );

    // No node is lost, on any member (the restarted one included).
    let hosts: Vec<String> = match &t.ensemble {
        Some(e) => (1..=3).map(|i| e.host(i)).collect(),
        None => vec![h1],
    };
    for h in hosts {
        let deadline = std::time::Instant::now() + EXPECT_TIMEOUT;
        loop {
            let o = Command::new(env!("CARGO_BIN_EXE_zkcli"))
                .args(["-server", &h])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut ch| {
                    use std::io::Write;
                    if let Some(mut i) = ch.stdin.take() {
                        i.write_all(
                            b"sync /\nls /\nls /tasks/task-0000000000\nget /tasks/task-0000000000/status\nls /assign/worker1.example.com\n",
                        )?;
                    }
                    ch.wait_with_output()
                })
                .expect("zkcli");
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            let want = "[assign, tasks, workers, zookeeper]\n[status]\ndone\n[task-0000000000]\n";
            if out.ends_with(want) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{h}: the final tree: {out}{}",
                String::from_utf8_lossy(&o.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

#[test]
fn walkthrough_on_our_server() {
    let _one = one_at_a_time();
    walkthrough(standalone(ServerKind::Ours), Ending::Quit, false);
}

#[test]
fn walkthrough_on_our_server_sessions_killed() {
    let _one = one_at_a_time();
    walkthrough(standalone(ServerKind::Ours), Ending::Kill9, false);
}

#[test]
fn walkthrough_on_apache_zookeeper() {
    let _one = one_at_a_time();
    if available(ServerKind::Real) {
        walkthrough(standalone(ServerKind::Real), Ending::Quit, false);
    }
}

#[test]
fn walkthrough_on_apache_zookeeper_sessions_killed() {
    let _one = one_at_a_time();
    if available(ServerKind::Real) {
        walkthrough(standalone(ServerKind::Real), Ending::Kill9, false);
    }
}

#[test]
fn walkthrough_on_our_ensemble_one_member_each() {
    let _one = one_at_a_time();
    walkthrough(ensemble_apart("ours"), Ending::Kill9, false);
}

#[test]
fn walkthrough_on_our_ensemble_leader_killed() {
    let _one = one_at_a_time();
    walkthrough(ensemble_full("ours"), Ending::Quit, true);
}

#[test]
fn walkthrough_on_an_apache_ensemble_one_member_each() {
    let _one = one_at_a_time();
    if available(ServerKind::Real) {
        walkthrough(ensemble_apart("zk"), Ending::Kill9, false);
    }
}

#[test]
fn walkthrough_on_an_apache_ensemble_leader_killed() {
    let _one = one_at_a_time();
    if available(ServerKind::Real) {
        walkthrough(ensemble_full("zk"), Ending::Quit, true);
    }
}
