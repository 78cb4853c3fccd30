//! zkcli's non-interactive modes: a script on stdin, `-f FILE`, one command
//! from argv; exit codes; `--exit-on-error`; `--output json`; `wait`; the
//! session being closed at the end; and the same script run through zkCli.sh
//! and zkcli against Apache ZooKeeper, compared line by line.

mod common;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{servers_under_test, shared_server, ServerKind, ZkServer};

/// Upper bound for one zkcli run.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

struct Output {
    stdout: String,
    stderr: String,
    code: i32,
}

fn zkcli(server: &ZkServer) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zkcli"));
    c.arg("-server").arg(server.addr());
    c.env_remove("NO_COLOR");
    c
}

/// Collects a pipe in the background.
fn collect(mut r: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    buf
}

fn text(b: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&b.lock().unwrap()).into_owned()
}

/// Waits for `child` (killing it after `RUN_TIMEOUT`) and returns its output.
fn finish(mut child: Child, out: Arc<Mutex<Vec<u8>>>, err: Arc<Mutex<Vec<u8>>>) -> Output {
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "zkcli did not finish within {RUN_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
                text(&out),
                text(&err)
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    // Let the reader threads see EOF.
    thread::sleep(Duration::from_millis(50));
    Output {
        stdout: text(&out),
        stderr: text(&err),
        code: status.code().unwrap_or(-1),
    }
}

fn run(mut cmd: Command, stdin: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn zkcli");
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    finish(child, out, err)
}

fn script(server: &ZkServer, lines: &str) -> Output {
    run(zkcli(server), lines)
}

fn argv(server: &ZkServer, args: &[&str]) -> Output {
    let mut c = zkcli(server);
    c.args(args);
    run(c, "")
}

/// A root znode unique to one test and server kind.
fn root(name: &str, server: &ZkServer) -> String {
    format!("/zkcli_test_{name}_{}", server.kind().name())
}

fn cleanup(server: &ZkServer, root: &str) {
    script(server, &format!("deleteall {root}\n"));
}

#[test]
fn pipe_runs_script_without_banner_or_prompt() {
    for s in servers_under_test() {
        let r = root("pipe", s);
        cleanup(s, &r);
        let o = script(
            s,
            &format!("create {r} top\n\ncreate {r}/a \"a b\"\n   \nls {r}\nget {r}/a\nget -x {r}/a\nquit\nls /\n"),
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_eq!(
            o.stdout,
            "[a]\na b\n         +-------------------------------------------------+\n         |  0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f |\n+--------+-------------------------------------------------+----------------+\n|00000000| 61 20 62                                        |a b             |\n+--------+-------------------------------------------------+----------------+\n",
            "stdout carries only results ({:?})",
            s.kind()
        );
        assert!(
            o.stderr.contains(&format!("Created {r}\nCreated {r}/a\n")),
            "{}",
            o.stderr
        );
        assert!(!o.stdout.contains("Connecting to"));
        cleanup(s, &r);
    }
}

#[test]
fn file_and_argv_modes() {
    for s in servers_under_test() {
        let r = root("file", s);
        cleanup(s, &r);
        let dir = std::env::temp_dir().join(format!(
            "zkcli-file-{}-{}",
            std::process::id(),
            s.kind().name()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("script.zk");
        std::fs::write(
            &f,
            format!("# a comment\ncreate {r} x\nset {r} 'from file'\n"),
        )
        .unwrap();
        let mut c = zkcli(s);
        c.arg("-f").arg(&f);
        let o = run(c, "ls /should-not-be-read\n");
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_eq!(o.stdout, "");

        // argv: words are used as given (no re-tokenizing), options after
        // the command word belong to the command.
        let o = argv(s, &["get", "-s", &r]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(
            o.stdout.starts_with("from file\ncZxid = 0x"),
            "{}",
            o.stdout
        );
        assert!(o.stdout.contains("\ndataVersion = 1\n"));
        let o = argv(s, &["set", &r, "a \"quoted\" value"]);
        assert_eq!(o.code, 0);
        assert_eq!(argv(s, &["get", &r]).stdout, "a \"quoted\" value\n");
        std::fs::remove_dir_all(&dir).unwrap();
        cleanup(s, &r);
    }
}

#[test]
fn exit_codes() {
    for s in servers_under_test() {
        let r = root("exit", s);
        cleanup(s, &r);
        // zkCli itself would report 0 here: the failure is not the last line.
        let o = script(s, &format!("create {r}\nget {r}/missing\nls {r}\n"));
        assert_eq!(o.code, 1, "a failed command makes the run fail");
        assert!(o
            .stderr
            .contains(&format!("Node does not exist: {r}/missing")));
        assert_eq!(o.stdout, "[]\n", "later commands still ran");

        // Bad numbers: a clear message, no crash, the script goes on.
        let o = script(
            s,
            &format!("set -v abc {r} x\ndelete -v 1x {r}\nredo abc\nls {r}\n"),
        );
        assert_eq!(o.code, 2, "{}", o.stderr);
        assert!(
            o.stderr.contains("-v argument must be an int value: abc"),
            "{}",
            o.stderr
        );
        assert!(o.stderr.contains("redo: not a command number: abc"));
        assert_eq!(o.stdout, "[]\n");

        assert_eq!(argv(s, &["ls", "-x", &r]).code, 2);
        let o = argv(s, &["create", &format!("{r}//x")]);
        assert_eq!(o.code, 2);
        assert!(o.stderr.contains("caused by empty node name specified"));
        let o = argv(s, &["nosuchcmd"]);
        assert_eq!(o.code, 127);
        assert!(o
            .stderr
            .contains("\nCommand not found: Command not found nosuchcmd\n"));

        let o = script(s, &format!("close\nls {r}\n"));
        assert_eq!(o.code, 3);
        assert_eq!(o.stdout, "Not connected\n");

        // No server at all.
        let mut c = Command::new(env!("CARGO_BIN_EXE_zkcli"));
        c.args([
            "-server",
            "127.0.0.1:1",
            "-timeout",
            "3000",
            "-waitforconnection",
            "ls",
            "/",
        ]);
        let o = run(c, "");
        assert_eq!(o.code, 3, "{}", o.stderr);

        // The first failure decides; --exit-on-error stops there.
        let o = script(s, &format!("nosuch\nget {r}/missing\n"));
        assert_eq!(o.code, 127);
        let mut c = zkcli(s);
        c.arg("--exit-on-error");
        let o = run(c, &format!("get {r}/missing\ncreate {r}/after\n"));
        assert_eq!(o.code, 1);
        assert_eq!(
            argv(s, &["stat", &format!("{r}/after")]).code,
            1,
            "stopped at the failure"
        );
        cleanup(s, &r);
    }
}

#[test]
fn delete_with_old_style_version_honours_it() {
    for s in servers_under_test() {
        let r = root("delver", s);
        cleanup(s, &r);
        let o = script(
            s,
            &format!("create {r}\nset {r} x\ndelete {r} 0\nstat {r}\n"),
        );
        assert!(
            o.stderr.contains(&format!("version No is not valid : {r}")),
            "{}",
            o.stderr
        );
        assert!(
            o.stdout.contains("dataVersion = 1"),
            "the node is still there"
        );
        cleanup(s, &r);
    }
}

#[test]
fn json_output() {
    for s in servers_under_test() {
        let r = root("json", s);
        cleanup(s, &r);
        let mut c = zkcli(s);
        c.args(["--output", "json"]);
        let o = run(
            c,
            &format!("create {r} v1\ncreate {r}/c\nls -s {r}\nget {r}\nstat {r}\ngetAcl {r}\nget {r}/none\n"),
        );
        assert_eq!(o.code, 1);
        let values: Vec<serde_json::Value> = o
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        assert_eq!(values.len(), 6, "{}", o.stdout);
        assert_eq!(values[0]["created"], r.as_str());
        assert_eq!(values[2]["children"], serde_json::json!(["c"]));
        assert_eq!(values[2]["stat"]["numChildren"], 1);
        assert_eq!(values[3]["data"], "v1");
        assert_eq!(values[4]["stat"]["dataLength"], 2);
        assert_eq!(values[5]["acl"][0]["perms"], "cdrwa");
        let err_line = o.stderr.lines().find(|l| l.contains("\"error\"")).unwrap();
        let err: serde_json::Value = serde_json::from_str(err_line).unwrap();
        assert_eq!(err["error"], format!("Node does not exist: {r}/none"));
        assert_eq!(err["exit_code"], 1);
        cleanup(s, &r);
    }
}

#[test]
fn table_output_and_cluster() {
    for s in servers_under_test() {
        let r = root("table", s);
        cleanup(s, &r);
        let mut c = zkcli(s);
        c.args(["--output", "table"]);
        let o = run(c, &format!("create {r} v1\nstat {r}\ngetAcl {r}\n"));
        assert_eq!(o.code, 0, "{}", o.stderr);
        let dl = o.stdout.lines().find(|l| l.contains("dataLength"));
        assert!(dl.is_some_and(|l| l.contains(" 2 ")), "{}", o.stdout);
        for want in ["cZxid", "world", "anyone", "cdrwa"] {
            assert!(
                o.stdout.contains(want),
                "no {want:?} in table output:\n{}",
                o.stdout
            );
        }
        // `cluster` asks every server of the connect string for srvr/mntr.
        let o = argv(s, &["cluster"]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(o.stdout.contains(&s.addr()), "{}", o.stdout);
        assert!(o.stdout.contains("standalone"), "{}", o.stdout);
        assert!(
            o.stdout
                .lines()
                .any(|l| l.contains(&s.addr()) && l.contains('*')),
            "the connected server is marked:\n{}",
            o.stdout
        );
        let zxid_col = o.stdout.lines().any(|l| l.contains("0x"));
        assert!(zxid_col, "no zxid in:\n{}", o.stdout);
        cleanup(s, &r);
    }
}

#[test]
fn wait_prints_the_next_watch_event() {
    for s in servers_under_test() {
        let r = root("wait", s);
        cleanup(s, &r);
        assert_eq!(argv(s, &["create", &r, "v0"]).code, 0);

        // A watch fired by another client while the script waits.
        let mut c = zkcli(s);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        let mut input = child.stdin.take().unwrap();
        writeln!(input, "printwatches off\nget -w {r}\nwait 20000\nget {r}").unwrap();
        let deadline = Instant::now() + RUN_TIMEOUT;
        while !text(&out).contains("v0\n") {
            assert!(
                Instant::now() < deadline,
                "get never answered: {}",
                text(&err)
            );
            thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(argv(s, &["set", &r, "v1"]).code, 0);
        drop(input);
        let o = finish(child, out, err);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_eq!(
            o.stdout,
            format!("v0\nWatchedEvent state:SyncConnected type:NodeDataChanged path:{r}\nv1\n")
        );

        // An event that fired before `wait` is not lost; JSON form.
        let mut c = zkcli(s);
        c.args(["--output", "json"]);
        let o = run(
            c,
            &format!("printwatches off\nls -w {r}\ncreate {r}/child\nwait 20000\n"),
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
        let last: serde_json::Value =
            serde_json::from_str(o.stdout.lines().last().unwrap()).unwrap();
        assert_eq!(last["event"], "NodeChildrenChanged");
        assert_eq!(last["path"], r.as_str());

        // Nothing to wait for: bounded, and a failure.
        let o = script(s, "wait 300\n");
        assert_eq!(o.code, 1);
        assert!(o.stderr.contains("wait: no watch event within 300 ms"));
        cleanup(s, &r);
    }
}

/// `wait` returns only events that arrived after the previous command
/// (other than `wait`) was issued: an event from before it, already printed
/// and handled, is never returned; one fired by the previous command is;
/// consecutive `wait`s take a burst one by one. `help wait` states the rule.
#[test]
fn wait_never_returns_an_event_from_before_the_previous_command() {
    for s in servers_under_test() {
        let r = root("waitrule", s);
        cleanup(s, &r);
        assert_eq!(argv(s, &["create", &r, "v0"]).code, 0);
        // The event fires during `set`; `ls` comes after: stale for `wait`.
        let o = script(
            s,
            &format!("printwatches off\nget -w {r}\nset {r} v1\nls {r}\nwait 500\n"),
        );
        assert_eq!(o.code, 1, "a stale event was returned: {}", o.stdout);
        assert!(
            o.stderr.contains("wait: no watch event within 500 ms"),
            "{}",
            o.stderr
        );
        // Fired by the previous command: returned.
        let o = script(
            s,
            &format!("printwatches off\nget -w {r}\nset {r} v2\nwait 5000\n"),
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_eq!(
            o.stdout.lines().last(),
            Some(
                format!("WatchedEvent state:SyncConnected type:NodeDataChanged path:{r}").as_str()
            )
        );
        // A burst from one command: consecutive waits take both events.
        let o = script(
            s,
            &format!(
                "printwatches off\ncreate {r}/a\ncreate {r}/b\nget -w {r}/a\nget -w {r}/b\n\
                 deleteall {r}\nwait 5000\nwait 5000\n"
            ),
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
        let mut events: Vec<&str> = o
            .stdout
            .lines()
            .filter(|l| l.starts_with("WatchedEvent"))
            .collect();
        events.sort();
        assert_eq!(
            events,
            [
                format!("WatchedEvent state:SyncConnected type:NodeDeleted path:{r}/a"),
                format!("WatchedEvent state:SyncConnected type:NodeDeleted path:{r}/b")
            ],
            "{}",
            o.stdout
        );
        assert_eq!(argv(s, &["create", &r, "v0"]).code, 0);
        let o = script(s, "help wait\n");
        assert!(
            o.stdout.contains("after the previous command"),
            "{}",
            o.stdout
        );
        cleanup(s, &r);
    }
}

/// `removewatches path -a` prints the local events in zkCli's order.
#[test]
fn removewatches_all_prints_data_then_child_removed() {
    for s in servers_under_test() {
        let r = root("rmwatches", s);
        cleanup(s, &r);
        assert_eq!(argv(s, &["create", &r, "v0"]).code, 0);
        let o = script(s, &format!("get -w {r}\nls -w {r}\nremovewatches {r} -a\n"));
        assert_eq!(o.code, 0, "{}", o.stderr);
        let kinds: Vec<&str> = o
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("WatchedEvent state:SyncConnected type:"))
            .collect();
        assert_eq!(
            kinds,
            [
                format!("DataWatchRemoved path:{r}"),
                format!("ChildWatchRemoved path:{r}")
            ],
            "{}",
            o.stdout
        );
        cleanup(s, &r);
    }
}

#[test]
fn batch_mode_closes_its_session() {
    for s in servers_under_test() {
        let r = root("eph", s);
        cleanup(s, &r);
        let o = script(s, &format!("create {r}\ncreate -e {r}/e\n"));
        assert_eq!(o.code, 0, "{}", o.stderr);
        // zkCli leaves the ephemeral until the session times out (30 s);
        // ours is gone as soon as the script ends.
        let o = argv(s, &["ls", &r]);
        assert_eq!(o.stdout, "[]\n");
        let o = argv(s, &["create", "-e", &format!("{r}/e2")]);
        assert_eq!(o.code, 0);
        assert_eq!(argv(s, &["ls", &r]).stdout, "[]\n");
        cleanup(s, &r);
    }
}

// ---------------------------------------------------------------------------
// Byte-for-byte comparison with zkCli.sh
// ---------------------------------------------------------------------------

const ZKCLI_SH: &str = "/usr/share/zookeeper/bin/zkCli.sh";

/// The script lines (comments/blank lines dropped, `@ADDR@` substituted),
/// minus the few whose behaviour we changed on purpose (README: "Deliberate
/// differences from zkCli"): `help` (ours answers on stdout), old-style
/// `delete path version` (ours honours the version), `addauth digest`
/// without a credential (ours: usage error; zkCli: the server fails the
/// session), and `history` right after `close` (zkCli adds `Not connected`).
fn comparison_script(addr: &str) -> Vec<String> {
    let raw = include_str!("zkcli/script.txt");
    let mut lines = Vec::new();
    let mut prev = String::new();
    for l in raw.lines() {
        if l.trim().is_empty() || l.starts_with('#') {
            continue;
        }
        let l = l.replace("@ADDR@", addr);
        let skip = l == "help"
            || (l.starts_with("delete /") && l.split_whitespace().count() == 3)
            || l == "addauth digest"
            || (l == "history" && prev == "close");
        prev = l.clone();
        if !skip {
            lines.push(l);
        }
    }
    lines
}

/// Masks what differs from run to run, as scripts/compare-zkcli.sh does.
fn mask(s: &str, addr: &str) -> String {
    let date = regex_lite_date();
    let mut out = Vec::new();
    for line in s.lines() {
        if line.starts_with("SLF4J: ") {
            continue;
        }
        let mut l = line.replace(addr, "<ADDR>");
        if l.starts_with("ZooKeeper CLI version: ") {
            l = "ZooKeeper CLI version: <VERSION>".into();
        }
        l = date(&l);
        out.push(mask_hex(&l));
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// Replaces Java `Date.toString()` values (`Sun Nov 22 01:33:14 UTC 2026`).
fn regex_lite_date() -> impl Fn(&str) -> String {
    |l: &str| {
        const DAYS: [&str; 7] = ["Mon ", "Tue ", "Wed ", "Thu ", "Fri ", "Sat ", "Sun "];
        for key in ["ctime = ", "mtime = "] {
            if let Some(rest) = l.strip_prefix(key) {
                if DAYS.iter().any(|d| rest.starts_with(d)) {
                    return if rest == "Thu Jan 01 00:00:00 UTC 1970" {
                        format!("{key}<EPOCH>")
                    } else {
                        format!("{key}<DATE>")
                    };
                }
            }
        }
        l.to_string()
    }
}

/// `0x` + hex with a non-zero digit → `0x<HEX>` (zxids, session ids).
fn mask_hex(l: &str) -> String {
    let mut out = String::new();
    let mut rest = l;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let n = after
            .find(|c: char| !c.is_ascii_hexdigit() || c.is_ascii_uppercase())
            .unwrap_or(after.len());
        let digits = &after[..n];
        if digits.chars().any(|c| c != '0') {
            out.push_str("0x<HEX>");
        } else {
            out.push_str("0x");
            out.push_str(digits);
        }
        rest = &after[n..];
    }
    out.push_str(rest);
    out
}

/// Removes what we print differently on purpose: zkCli's banner, the
/// connection-state WATCHER blocks (ours go to stderr in batch mode, so that
/// stdout has only results), zkCli's usage() listing (ours lists more
/// commands), and the 3.8 usage lines of commands that gained 3.9 flags.
fn normalize(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.starts_with("Connecting to ")
            || l == "Welcome to ZooKeeper!"
            || l.starts_with("JLine support is")
        {
            i += 1;
            continue;
        }
        // "\nWATCHER::\n\nWatchedEvent state:X type:None path:null"
        if l == "WATCHER::"
            && lines.get(i + 2).is_some_and(|e| e.contains(" type:None "))
            && out.last().is_some_and(|p| p.is_empty())
        {
            out.pop();
            i += 3;
            continue;
        }
        if l.starts_with("ZooKeeper -server host:port") {
            out.push("<USAGE>".into());
            i += 1;
            while i < lines.len() && lines[i].starts_with('\t') {
                i += 1;
            }
            continue;
        }
        let l = match l {
            "get [-s] [-w] path" => "get [-s] [-w] [-b] [-x] path",
            "set [-s] [-v version] path data" => "set [-s] [-v version] [-b] path data",
            "removewatches path [-c|-d|-a] [-l]" => "removewatches path [-c|-d|-a|-p|-r] [-l]",
            other => other,
        };
        out.push(l.to_string());
        i += 1;
    }
    out.join("\n")
}

/// Runs zkCli.sh with one line every `delay` after it connected (as
/// scripts/compare-zkcli.sh does, so its asynchronous output is stable).
fn run_zkcli_sh(addr: &str, lines: &[String], delay: Duration) -> Output {
    let mut child = Command::new(ZKCLI_SH)
        .args(["-server", addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zkCli.sh");
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    let mut input = child.stdin.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !text(&out).contains("WatchedEvent state:SyncConnected type:None") {
        assert!(
            Instant::now() < deadline,
            "zkCli.sh never connected: {}",
            text(&err)
        );
        thread::sleep(Duration::from_millis(50));
    }
    for l in lines {
        thread::sleep(delay);
        writeln!(input, "{l}").unwrap();
    }
    thread::sleep(Duration::from_secs(1));
    drop(input);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("zkCli.sh did not exit");
        }
        thread::sleep(Duration::from_millis(50));
    };
    thread::sleep(Duration::from_millis(50));
    Output {
        stdout: text(&out),
        stderr: text(&err),
        code: status.code().unwrap_or(-1),
    }
}

fn precleanup(s: &ZkServer) {
    script(
        s,
        "addauth digest user1:pw1\naddauth digest user2:pw2\ndeleteall /cmp\ndeleteall /zookeeper/quota/cmp\n",
    );
}

#[test]
fn same_output_as_zkcli_sh() {
    let Some(s) = shared_server(ServerKind::Real) else {
        return;
    };
    if !std::path::Path::new(ZKCLI_SH).exists() {
        assert!(!common::in_ci(), "CI=true but {ZKCLI_SH} is missing");
        eprintln!("\n======== SKIPPING: {ZKCLI_SH} not installed ========\n");
        return;
    }
    let addr = s.addr();
    let lines = comparison_script(&addr);
    precleanup(s);
    let theirs = run_zkcli_sh(&addr, &lines, Duration::from_millis(250));
    precleanup(s);
    let ours = script(s, &(lines.join("\n") + "\n"));
    precleanup(s);
    let keep = std::env::var_os("ZKCLI_COMPARE_KEEP").map(std::path::PathBuf::from);
    for (name, a, b) in [
        ("stdout", &theirs.stdout, &ours.stdout),
        ("stderr", &theirs.stderr, &ours.stderr),
    ] {
        let a = normalize(&mask(a, &addr));
        let b = normalize(&mask(b, &addr));
        if let Some(dir) = &keep {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(format!("zkcli-sh.{name}")), &a).unwrap();
            std::fs::write(dir.join(format!("zkcli.{name}")), &b).unwrap();
        }
        if a != b {
            let al: Vec<&str> = a.lines().collect();
            let bl: Vec<&str> = b.lines().collect();
            let first = al
                .iter()
                .zip(&bl)
                .position(|(x, y)| x != y)
                .unwrap_or(al.len().min(bl.len()));
            let from = first.saturating_sub(5);
            panic!(
                "{name} differs from zkCli.sh at line {}:\n--- zkCli.sh\n{}\n--- zkcli\n{}\n(set ZKCLI_COMPARE_KEEP=DIR to keep both)",
                first + 1,
                al[from..(first + 5).min(al.len())].join("\n"),
                bl[from..(first + 5).min(bl.len())].join("\n"),
            );
        }
    }
    // stdout really was compared: the script produces plenty of it.
    assert!(ours.stdout.lines().count() > 300, "{}", ours.stdout);
}

/// A loopback port nothing listens on (bound, then released).
fn refusing_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A script against servers that all refuse fails at once with status 3
/// (no connection) and says why, instead of waiting out the session timeout
/// (60 s here, so a regression shows as a slow run and a missed bound).
#[test]
fn unreachable_servers_fail_fast_with_status_3() {
    let a = format!("127.0.0.1:{}", refusing_port());
    let b = format!("127.0.0.1:{}", refusing_port());
    for (mode, hosts) in [("argv", a.clone()), ("pipe", format!("{a},{b}"))] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_zkcli"));
        c.args(["-server", &hosts, "-timeout", "60000"]);
        let stdin = if mode == "argv" {
            c.args(["ls", "/"]);
            ""
        } else {
            "ls /\ncreate /x\n"
        };
        let start = Instant::now();
        let out = run(c, stdin);
        let took = start.elapsed();
        assert_eq!(out.code, 3, "{mode}: {}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("Connection refused") && out.stderr.contains(&a),
            "{mode}: the error names the host and the reason: {}",
            out.stderr
        );
        assert!(
            took < Duration::from_secs(30),
            "{mode}: gave up only after {took:?}, not at once"
        );
    }
}
