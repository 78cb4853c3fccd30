//! The interactive shell driven through a real pseudo-terminal: prompt,
//! completion of commands and znode paths, history (in-session `history` /
//! `redo`, and persisted across runs), Ctrl-C, and a watch event arriving
//! while a line is half typed.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{servers_under_test, ZkServer};
use expectrl::{ControlCode, Eof, Regex, Session};

/// Upper bound for any single expectation.
const EXPECT_TIMEOUT: Duration = Duration::from_secs(20);

struct Repl {
    s: Session,
}

impl Repl {
    /// zkcli with `args` in a PTY, without colour, its history in `history`.
    fn spawn(args: &[&str], history: &std::path::Path) -> Repl {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zkcli"));
        cmd.args(args)
            .env("ZKCLI_HISTORY", history)
            .env("NO_COLOR", "1")
            .env("TERM", "xterm");
        let mut s = Session::spawn(cmd).expect("spawn zkcli in a pty");
        s.set_expect_timeout(Some(EXPECT_TIMEOUT));
        Repl { s }
    }

    fn start(server: &ZkServer, history: &std::path::Path) -> Repl {
        let mut r = Repl::spawn(&["-server", &server.addr(), "-waitforconnection"], history);
        // The connection event may be printed before the banner or above
        // the first prompt (which is then drawn again); wait for it so a
        // later prompt match cannot hit the first drawing.
        r.expect("WatchedEvent state:SyncConnected type:None path:null");
        r
    }

    fn expect(&mut self, text: &str) -> String {
        match self.s.expect(text) {
            Ok(c) => String::from_utf8_lossy(c.before()).into_owned(),
            Err(e) => panic!("expected {text:?}: {e}"),
        }
    }

    fn expect_prompt(&mut self, server: &ZkServer, state: &str, n: usize) {
        self.expect(&format!("[zk: {}({state}) {n}] ", server.addr()));
    }

    fn send(&mut self, s: &str) {
        self.s.send(s).unwrap();
    }

    fn line(&mut self, s: &str) {
        self.s.send(format!("{s}\r")).unwrap();
    }

    fn quit(mut self) {
        self.line("quit");
        self.s.expect(Eof).expect("zkcli exits on quit");
    }
}

fn temp(name: &str, server: &ZkServer) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "zkcli-pty-{name}-{}-{}",
        server.kind().name(),
        std::process::id()
    ))
}

fn zkcli_argv(server: &ZkServer, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zkcli"))
        .args(["-server", &server.addr(), "-timeout", "10000"])
        .args(args)
        .output()
        .expect("run zkcli")
}

#[test]
fn prompt_counts_like_zkcli() {
    for srv in servers_under_test() {
        let hist = temp("prompt", srv);
        let mut r = Repl::start(srv, &hist);
        r.expect_prompt(srv, "CONNECTED", 0);
        r.line("ls /zookeeper");
        r.expect("[config, quota]");
        r.expect_prompt(srv, "CONNECTED", 1);
        // An empty line repeats the prompt without counting.
        r.line("");
        r.expect_prompt(srv, "CONNECTED", 1);
        r.line("nosuchcommand");
        r.expect("Command not found: Command not found nosuchcommand");
        r.expect_prompt(srv, "CONNECTED", 2);
        r.line("close");
        r.expect("WatchedEvent state:Closed type:None path:null");
        r.expect_prompt(srv, "CLOSED", 3);
        r.line("ls /");
        r.expect("Not connected");
        r.line(&format!("connect {}", srv.addr()));
        r.expect("WatchedEvent state:SyncConnected type:None path:null");
        r.quit();
        let _ = std::fs::remove_file(&hist);
    }
}

#[test]
fn completes_commands_flags_and_paths() {
    for srv in servers_under_test() {
        let root = format!("/zkcli_pty_{}", srv.kind().name());
        zkcli_argv(srv, &["deleteall", &root]);
        assert!(zkcli_argv(srv, &["create", &root]).status.success());
        assert!(
            zkcli_argv(srv, &["create", &format!("{root}/alpha_node"), "x"])
                .status
                .success()
        );
        let hist = temp("complete", srv);
        let mut r = Repl::start(srv, &hist);
        r.expect_prompt(srv, "CONNECTED", 0);

        // A command name.
        r.send("getAllCh\t");
        r.expect("ildrenNumber");
        r.line(&format!(" {root}"));
        r.expect("\n1");
        r.expect_prompt(srv, "CONNECTED", 1);

        // A znode path, looked up live.
        r.send(&format!("get {root}/alp\t"));
        r.expect("ha_node");
        r.line("");
        r.expect("\nx");
        r.expect_prompt(srv, "CONNECTED", 2);

        // A flag of the command being typed.
        r.send("ls -\t\t");
        r.expect("-R");
        r.send("R /zookeeper\r");
        r.expect("/zookeeper/quota");
        r.quit();
        zkcli_argv(srv, &["deleteall", &root]);
        let _ = std::fs::remove_file(&hist);
    }
}

#[test]
fn history_redo_and_persistence() {
    for srv in servers_under_test() {
        let hist = temp("history", srv);
        let _ = std::fs::remove_file(&hist);
        let mut r = Repl::start(srv, &hist);
        r.expect_prompt(srv, "CONNECTED", 0);
        r.line("ls /zookeeper");
        r.expect_prompt(srv, "CONNECTED", 1);
        r.line("get /nonexistent_for_history");
        r.expect("Node does not exist: /nonexistent_for_history");
        r.line("history");
        r.expect("0 - ls /zookeeper");
        r.expect("1 - get /nonexistent_for_history");
        r.expect("2 - history");
        r.expect_prompt(srv, "CONNECTED", 3);
        r.line("redo 0");
        r.expect("[config, quota]");
        r.expect_prompt(srv, "CONNECTED", 4);
        r.line("redo 9");
        r.expect("Command index out of range");
        r.quit();

        let saved = std::fs::read_to_string(&hist).expect("history file written");
        assert!(saved.contains("ls /zookeeper"), "{saved}");

        // The next run recalls the previous run's lines with the Up arrow.
        let mut r = Repl::start(srv, &hist);
        r.expect_prompt(srv, "CONNECTED", 0);
        r.send("\x1b[A");
        r.expect("quit");
        r.send("\x1b[A");
        r.expect("redo 9");
        r.send("\x1b[A");
        r.expect("redo 0");
        r.send("\r");
        r.expect("Command index out of range");
        r.quit();
        let _ = std::fs::remove_file(&hist);
    }
}

#[test]
fn ctrl_c_clears_the_line_and_ctrl_d_quits() {
    for srv in servers_under_test() {
        let hist = temp("ctrlc", srv);
        let mut r = Repl::start(srv, &hist);
        r.expect_prompt(srv, "CONNECTED", 0);
        r.send("get /never_run_this");
        r.s.send(ControlCode::EndOfText).unwrap();
        r.expect_prompt(srv, "CONNECTED", 0);
        r.line("ls /zookeeper");
        let before = r.expect("[config, quota]");
        assert!(!before.contains("Node does not exist"), "{before}");
        r.expect_prompt(srv, "CONNECTED", 1);
        // Ctrl-D on an empty line leaves, closing the session.
        r.s.send(ControlCode::EndOfTransmission).unwrap();
        r.expect("WatchedEvent state:Closed type:None path:null");
        r.s.expect(Eof).expect("zkcli exits on Ctrl-D");
        let _ = std::fs::remove_file(&hist);
    }
}

#[test]
fn event_prints_above_a_half_typed_line() {
    for srv in servers_under_test() {
        let node = format!("/zkcli_pty_event_{}", srv.kind().name());
        zkcli_argv(srv, &["delete", &node]);
        assert!(zkcli_argv(srv, &["create", &node, "v0"]).status.success());
        let hist = temp("event", srv);
        let mut r = Repl::start(srv, &hist);
        r.expect_prompt(srv, "CONNECTED", 0);
        r.line(&format!("get -w {node}"));
        r.expect("v0");
        r.expect_prompt(srv, "CONNECTED", 1);

        // Half a command typed, then another client fires the watch.
        r.send("ls /zoo");
        r.expect("ls /zoo");
        assert!(zkcli_argv(srv, &["set", &node, "v1"]).status.success());
        r.expect("WATCHER::");
        r.expect(&format!(
            "WatchedEvent state:SyncConnected type:NodeDataChanged path:{node}"
        ));
        // The prompt and the typed text are redrawn below the event...
        r.s.expect(Regex(r"\[zk: [^\]]+\(CONNECTED\) 1\] ls /zoo"))
            .expect("prompt and typed text redrawn after the event");
        // ...and still being edited: finishing the word runs `ls /zookeeper`.
        r.line("keeper");
        r.expect("[config, quota]");
        r.expect_prompt(srv, "CONNECTED", 2);
        r.quit();
        zkcli_argv(srv, &["delete", &node]);
        let _ = std::fs::remove_file(&hist);
    }
}

/// The REPL on a server that refuses keeps the session retrying in the
/// background and says so once, instead of a silent CONNECTING prompt;
/// commands fail with ConnectionLoss and the shell stays usable.
#[test]
fn repl_says_it_keeps_retrying_when_nothing_answers() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let host = format!("127.0.0.1:{port}");
    let hist = std::env::temp_dir().join(format!("zkcli-pty-refused-{}", std::process::id()));
    let mut r = Repl::spawn(&["-server", &host], &hist);
    r.expect("Connection refused");
    r.expect("still retrying in the background");
    r.expect(&format!("[zk: {host}(CONNECTING) 0] "));
    r.line("ls /");
    r.expect("ConnectionLoss");
    r.expect(&format!("[zk: {host}(CONNECTING) 1] "));
    r.quit();
    let _ = std::fs::remove_file(&hist);
}

/// The prompt follows the session without a key press: the prompt drawn
/// after the `SyncConnected` block says CONNECTED (never a stale
/// CONNECTING), the one drawn after `Disconnected` says CONNECTING, and the
/// half-typed line survives both redraws and still runs.
#[test]
fn prompt_follows_the_session_without_a_key_press() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for srv in servers_under_test() {
        let proxy = rt.block_on(common::Proxy::start(srv.socket_addr()));
        let host = proxy.addr();
        let hist = temp("prompt-state", srv);
        let mut r = Repl::spawn(&["-server", &host, "-timeout", "30000"], &hist);
        let prompt_state = |r: &mut Repl, after: &str| -> (String, String) {
            r.expect(after);
            let pat = format!(
                r"\[zk: {}\((\w+)\) (\d+)\] ([^\r\n]*)",
                host.replace('.', r"\.")
            );
            let c = r.s.expect(Regex(pat)).expect("a prompt after the event");
            let state = String::from_utf8_lossy(c.get(1).unwrap_or_default()).into_owned();
            let typed = String::from_utf8_lossy(c.get(3).unwrap_or_default()).into_owned();
            (state, typed)
        };
        let (state, _) = prompt_state(
            &mut r,
            "WatchedEvent state:SyncConnected type:None path:null",
        );
        assert_eq!(
            state,
            "CONNECTED",
            "{}: the prompt after SyncConnected",
            srv.kind().name()
        );

        r.send("ls /zoo");
        r.expect("ls /zoo");
        proxy.set_paused(true);
        proxy.sever();
        let (state, typed) = prompt_state(
            &mut r,
            "WatchedEvent state:Disconnected type:None path:null",
        );
        assert_eq!(
            state,
            "CONNECTING",
            "{}: the prompt after Disconnected",
            srv.kind().name()
        );
        assert!(
            typed.starts_with("ls /zoo"),
            "the typed line was redrawn: {typed:?}"
        );

        proxy.set_paused(false);
        let (state, typed) = prompt_state(
            &mut r,
            "WatchedEvent state:SyncConnected type:None path:null",
        );
        assert_eq!(
            state,
            "CONNECTED",
            "{}: the prompt after reconnecting",
            srv.kind().name()
        );
        assert!(
            typed.starts_with("ls /zoo"),
            "the typed line was redrawn: {typed:?}"
        );
        r.line("keeper");
        r.expect("[config, quota]");
        r.expect(&format!("[zk: {host}(CONNECTED) 1] "));
        r.quit();
        let _ = std::fs::remove_file(&hist);
    }
}

/// A session that expires while the shell cannot reach the server: the
/// shell says `Expired` once, explains what it means, and later commands
/// say why they fail until `connect` opens a new session.
#[test]
fn an_expired_session_is_explained_once() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for srv in servers_under_test() {
        let proxy = rt.block_on(common::Proxy::start(srv.socket_addr()));
        let host = proxy.addr();
        let hist = temp("expired", srv);
        let mut r = Repl::spawn(
            &["-server", &host, "-timeout", "4000", "-waitforconnection"],
            &hist,
        );
        r.expect("WatchedEvent state:SyncConnected type:None path:null");
        r.expect(&format!("[zk: {host}(CONNECTED) 0] "));
        let node = format!("/zkcli_pty_expire_{}", srv.kind().name());
        r.line(&format!("create -e {node}"));
        r.expect(&format!("Created {node}"));
        r.expect(&format!("[zk: {host}(CONNECTED) 1] "));
        proxy.set_paused(true);
        proxy.sever();
        r.expect("WatchedEvent state:Disconnected type:None path:null");
        // Longer than the session timeout: the server expires the session.
        std::thread::sleep(Duration::from_millis(7000));
        proxy.set_paused(false);
        let before = r.expect("WatchedEvent state:Expired type:None path:null");
        assert!(
            !before.contains("state:Expired"),
            "Expired printed twice: {before}"
        );
        let note = r.expect(&format!("[zk: {host}(CLOSED) 1] "));
        assert!(
            note.contains("expired") && note.contains("ephemeral") && note.contains("connect"),
            "the expiry is explained: {note}"
        );
        r.line("ls /");
        let out = r.expect(&format!("[zk: {host}(CLOSED) 2] "));
        assert!(
            out.contains("expired"),
            "a later command says why it fails: {out}"
        );
        assert!(
            !out.contains("state:Expired"),
            "Expired printed again: {out}"
        );
        r.line(&format!("connect {}", srv.addr()));
        r.expect("WatchedEvent state:SyncConnected type:None path:null");
        r.line(&format!("stat {node}"));
        r.expect(&format!("Node does not exist: {node}"));
        r.quit();
        let _ = std::fs::remove_file(&hist);
    }
}
