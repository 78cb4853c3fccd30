//! The real `zkserver` binary survives bad input: each test sends one kind of
//! malformed or hostile traffic, then checks that (a) the offending connection
//! is closed, (b) the server still serves a fresh well-behaved client, and
//! (c) exactly one line about it appears on the server's stderr.

mod common;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use zkproto::consts::op;
use zkproto::jute::{Jute, Reader, Writer};
use zkproto::records::*;

const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// (a) closed, (c) one log line, (b) still serving — in that order, so the
/// fresh client's own log lines are not counted.
fn finish(server: &mut Server, s: &mut TcpStream, mark: usize, what: &str) -> Closed {
    let port = s.local_addr().unwrap().port();
    finish_about(server, s, mark, what, &format!(":{port}"))
}

/// Like [`finish`], the log line having to contain `needle`.
fn finish_about(
    server: &mut Server,
    s: &mut TcpStream,
    mark: usize,
    what: &str,
    needle: &str,
) -> Closed {
    let closed = expect_closed(s, CLOSE_WITHIN).unwrap_or_else(|e| panic!("{what}: {e}"));
    let line = assert_one_log_line(server, mark, what);
    eprintln!("{what}: log line: {line}");
    assert!(
        line.contains(needle),
        "{what}: the log line should mention {needle:?}: {line}"
    );
    assert_serves(server);
    closed
}

fn reply_header(frame: &[u8]) -> ReplyHeader {
    ReplyHeader::read(&mut Reader::new(frame)).expect("reply header")
}

/// A server plus an established session whose log lines are already written.
fn server_and_session() -> (Server, Client, usize) {
    let server = Server::start("");
    let c = Client::connect(server.port).expect("handshake");
    // The "session established" line is written before the response is sent;
    // let the log settle anyway before taking the mark.
    server.settled_log_since(0, Duration::from_secs(2));
    let mark = server.log_mark();
    (server, c, mark)
}

#[test]
fn garbage_first_frame() {
    let mut server = Server::start("");
    let mark = server.log_mark();
    let mut s = connect_raw(server.port);
    write_tolerant(&mut s, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let closed = finish(&mut server, &mut s, mark, "garbage first frame");
    assert!(
        closed.frames.is_empty() && closed.trailing.is_empty(),
        "unexpected answer: {closed:?}"
    );
}

#[test]
fn garbage_connect_request_payload() {
    // A plausible length, then 40 bytes of noise as the ConnectRequest.
    let mut server = Server::start("");
    let mark = server.log_mark();
    let mut s = connect_raw(server.port);
    let mut noise = vec![0u8; 40];
    for (i, b) in noise.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(97).wrapping_add(13) | 0x80;
    }
    write_tolerant(&mut s, &framed(&noise));
    finish(&mut server, &mut s, mark, "garbage ConnectRequest");
}

#[test]
fn truncated_frame_then_eof() {
    let mut server = Server::start("");
    let mark = server.log_mark();
    let mut s = connect_raw(server.port);
    let full = {
        let mut w = Writer::framed();
        new_session_request(30_000).write(&mut w);
        w.finish_frame()
    };
    write_tolerant(&mut s, &full[..14]);
    half_close(&s);
    let closed = finish(&mut server, &mut s, mark, "truncated frame then EOF");
    assert!(closed.frames.is_empty(), "unexpected answer: {closed:?}");
}

#[test]
fn negative_length_prefix() {
    let mut server = Server::start("");
    let mark = server.log_mark();
    let mut s = connect_raw(server.port);
    write_tolerant(&mut s, &(-2i32).to_be_bytes());
    let closed = finish(&mut server, &mut s, mark, "negative length prefix");
    assert!(closed.frames.is_empty(), "unexpected answer: {closed:?}");
}

#[test]
fn length_over_jute_maxbuffer_first_frame() {
    let mut server = Server::start("");
    let mark = server.log_mark();
    let mut s = connect_raw(server.port);
    // 0xfffff + 1: one byte over jute.maxbuffer. Nothing follows: the server
    // must not wait for (or allocate) the body.
    write_tolerant(&mut s, &0x100000i32.to_be_bytes());
    let closed = finish(&mut server, &mut s, mark, "length over jute.maxbuffer");
    assert!(closed.frames.is_empty(), "unexpected answer: {closed:?}");
}

#[test]
fn two_megabyte_frame_after_handshake() {
    let (mut server, mut c, mark) = server_and_session();
    let len = 2 * 1024 * 1024;
    let mut big = Vec::with_capacity(len + 4);
    big.extend_from_slice(&(len as i32).to_be_bytes());
    big.extend_from_slice(&1i32.to_be_bytes());
    big.extend_from_slice(&op::SET_DATA.to_be_bytes());
    big.resize(len + 4, b'x');
    c.s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    write_tolerant(&mut c.s, &big);
    let closed = finish(&mut server, &mut c.s, mark, "2 MB frame after handshake");
    assert!(closed.frames.is_empty(), "unexpected answer: {closed:?}");
}

#[test]
fn connect_request_too_short() {
    let mut server = Server::start("");
    let mark = server.log_mark();
    let mut s = connect_raw(server.port);
    // protocolVersion + half of lastZxidSeen.
    write_tolerant(&mut s, &framed(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    let closed = finish(&mut server, &mut s, mark, "short ConnectRequest");
    assert!(closed.frames.is_empty(), "unexpected answer: {closed:?}");
}

/// Invalid UTF-8 in a path is decoded as Java decodes it (U+FFFD), so the
/// request fails like ZooKeeper 3.8's — BADARGUMENTS for a create (the
/// replacement character is not allowed in a path), NONODE for a read — and
/// the connection stays open.
fn invalid_utf8_path(opc: i32, expected_err: i32) {
    let (mut server, mut c, _mark) = server_and_session();
    let bad = b"/bad\xff\xfe\xc0";
    let mut w = Writer::new();
    raw_string(&mut w, bad);
    if opc == op::CREATE {
        w.write_buffer(Some(b"x"));
        Acl::open_unsafe().write(&mut w);
        w.write_i32(0);
    } else {
        w.write_bool(false);
    }
    let body = w.into_inner();
    let what = format!("invalid UTF-8 path (op {opc})");
    let (h, _) = c
        .request(opc, &body)
        .unwrap_or_else(|e| panic!("{what}: no reply: {e}"));
    assert_eq!(h.err, expected_err, "{what}: {h:?}");
    // The connection still works.
    let kids = c.get_children("/", false).expect("connection still open");
    assert!(
        kids.iter().all(|k| !k.starts_with("bad")),
        "{what}: created {kids:?}"
    );
    assert_serves(&mut server);
}

trait WriteAllChecked {
    fn write_all_checked(&mut self, b: &[u8]);
}

impl WriteAllChecked for TcpStream {
    fn write_all_checked(&mut self, b: &[u8]) {
        use std::io::Write;
        self.write_all(b).expect("write");
    }
}

#[test]
fn invalid_utf8_path_in_create() {
    invalid_utf8_path(op::CREATE, -8);
}

#[test]
fn invalid_utf8_path_in_get_data() {
    invalid_utf8_path(op::GET_DATA, -101);
}

#[test]
fn request_header_shorter_than_8_bytes() {
    let (mut server, mut c, mark) = server_and_session();
    c.s.write_all_checked(&framed(&[0, 0, 0, 1, 0]));
    let closed = finish(&mut server, &mut c.s, mark, "short request header");
    assert!(closed.frames.is_empty(), "unexpected answer: {closed:?}");
}

/// Expects exactly one reply `err` for xid 7, then the close.
fn unimplemented_then_close(opc: i32, body: &[u8]) {
    let (mut server, mut c, mark) = server_and_session();
    c.s.write_all_checked(&request_frame(7, opc, body));
    let what = format!("opcode {opc}");
    let closed = finish_about(&mut server, &mut c.s, mark, &what, &format!("opcode {opc}"));
    assert_eq!(
        closed.frames.len(),
        1,
        "{what}: expected one reply, got {closed:?}"
    );
    let h = reply_header(&closed.frames[0]);
    assert_eq!(h.xid, 7, "{what}: {h:?}");
    assert_eq!(h.err, -6, "{what}: expected UNIMPLEMENTED: {h:?}");
}

#[test]
fn unknown_opcode_is_unimplemented_then_closed() {
    unimplemented_then_close(999, &[]);
}

#[test]
fn top_level_check_is_unimplemented_then_closed() {
    // NB: Apache ZooKeeper 3.8.0 itself hits a NullPointerException here and
    // leaves the request unanswered; we follow the brief (and 3.9): -6, close.
    let body = CheckVersionRequest {
        path: "/".into(),
        version: -1,
    }
    .to_bytes();
    unimplemented_then_close(op::CHECK, &body);
}

#[test]
fn client_that_never_speaks_is_closed() {
    let mut server = Server::start("");
    let mark = server.log_mark();
    let mut s = connect_raw(server.port);
    let t0 = Instant::now();
    let closed = expect_closed(&mut s, Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("silent client: {e}"));
    eprintln!("silent client closed after {:?}", t0.elapsed());
    assert!(closed.frames.is_empty(), "unexpected answer: {closed:?}");
    let line = assert_one_log_line(&server, mark, "silent client");
    eprintln!("silent client: log line: {line}");
    let port = s.local_addr().unwrap().port();
    assert!(
        line.contains(&format!(":{port}")),
        "silent client: line should name it: {line}"
    );
    assert_serves(&mut server);
}

#[test]
fn max_client_cnxns_per_address() {
    let mut server = Server::start("maxClientCnxns=5\n");
    let mut clients: Vec<Client> = (0..5)
        .map(|i| Client::connect(server.port).unwrap_or_else(|e| panic!("client {i}: {e}")))
        .collect();
    let mark = server.log_mark();
    let mut sixth = connect_raw(server.port);
    let t0 = Instant::now();
    // Try a handshake on it too: it must not be answered.
    let mut w = Writer::framed();
    new_session_request(30_000).write(&mut w);
    write_tolerant(&mut sixth, &w.finish_frame());
    let closed = expect_closed(&mut sixth, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("6th connection: {e}"));
    assert!(
        closed.frames.is_empty(),
        "6th connection was answered: {closed:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    let line = assert_one_log_line(&server, mark, "6th connection");
    eprintln!("maxClientCnxns: log line: {line}");
    assert!(
        line.contains("127.0.0.1"),
        "maxClientCnxns: line should name the address: {line}"
    );
    // The five are still usable.
    for (i, c) in clients.iter_mut().enumerate() {
        c.exists("/", false)
            .unwrap_or_else(|e| panic!("client {i} broken: {e}"));
    }
    // Closing one (a plain TCP close, session left to expire) frees a slot.
    drop(clients.remove(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    let replacement = loop {
        match Client::connect(server.port) {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("no slot freed after closing a connection: {e}"),
        }
    };
    // Full again: a 7th is refused.
    let mut seventh = connect_raw(server.port);
    let closed = expect_closed(&mut seventh, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("7th connection (limit reached again): {e}"));
    assert!(closed.frames.is_empty());
    // Make room for the well-behaved client.
    replacement.close();
    clients.pop().unwrap().close();
    std::thread::sleep(Duration::from_millis(200));
    assert_serves(&mut server);
}

#[test]
fn thousands_of_connections() {
    let mut server = Server::start("maxClientCnxns=0\n");
    let rss0 = server.rss_kib();
    let t0 = Instant::now();
    let mut opened = 0;
    // 2,000 connections in batches of 100 held open at once; a few say ruok,
    // a few start a handshake and vanish.
    for batch in 0..20 {
        let mut held = Vec::new();
        for i in 0..100 {
            let mut s = connect_raw(server.port);
            match i % 10 {
                0 => write_tolerant(&mut s, b"ruok"),
                1 => write_tolerant(&mut s, &framed(&[0; 10])[..8]),
                _ => {}
            }
            held.push(s);
            opened += 1;
        }
        drop(held);
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "too slow: batch {batch} after {:?}",
            t0.elapsed()
        );
    }
    assert_eq!(opened, 2000);
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.alive(), "server died:\n{}", server.stderr());
    let ruok = four_letter(server.port, "ruok").expect("ruok");
    assert_eq!(ruok, "imok");
    let rss = server.rss_kib();
    eprintln!(
        "RSS before {rss0} KiB, after 2000 connections {rss} KiB ({:?})",
        t0.elapsed()
    );
    assert!(rss < 200 * 1024, "RSS grew to {rss} KiB");
    // Nothing is left open: mntr shows no live connection.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mntr = four_letter(server.port, "mntr").unwrap();
        let alive = mntr
            .lines()
            .find_map(|l| l.strip_prefix("zk_num_alive_connections\t"))
            .map(|v| v.trim().to_string());
        if alive.as_deref() == Some("0") || alive.as_deref() == Some("1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connections still alive: {alive:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_serves(&mut server);
}

#[test]
fn last_zxid_seen_ahead_of_server() {
    let mut server = Server::start("");
    let mark = server.log_mark();
    let mut s = connect_raw(server.port);
    let mut req = new_session_request(30_000);
    req.last_zxid_seen = 0x1_0000_0000;
    let mut w = Writer::framed();
    req.write(&mut w);
    write_tolerant(&mut s, &w.finish_frame());
    let closed = finish(&mut server, &mut s, mark, "lastZxidSeen ahead");
    assert!(
        closed.frames.is_empty() && closed.trailing.is_empty(),
        "expected no response: {closed:?}"
    );
}

#[test]
fn reconnect_with_wrong_password() {
    let mut server = Server::start("");
    let mut owner = Client::connect(server.port).unwrap();
    let mark = server.log_mark();
    let mut s = connect_raw(server.port);
    let mut req = new_session_request(30_000);
    req.session_id = owner.session_id;
    req.passwd = Some(owner.passwd.iter().map(|b| b ^ 0x5a).collect());
    let mut w = Writer::framed();
    req.write(&mut w);
    write_tolerant(&mut s, &w.finish_frame());
    let closed =
        expect_closed(&mut s, CLOSE_WITHIN).unwrap_or_else(|e| panic!("wrong password: {e}"));
    assert_eq!(
        closed.frames.len(),
        1,
        "expected one ConnectResponse: {closed:?}"
    );
    let resp = ConnectResponse::from_bytes(&closed.frames[0]).expect("ConnectResponse");
    assert_eq!(resp.time_out, 0, "{resp:?}");
    assert_eq!(resp.session_id, 0, "{resp:?}");
    // As in ZooKeeper (processConnectRequest closes the session's current
    // connection before reopenSession checks the password), the owner's
    // connection is closed too...
    expect_closed(&mut owner.s, CLOSE_WITHIN).expect("owner's connection closed, as in ZooKeeper");
    let lines = server.settled_log_since(mark, Duration::from_secs(3));
    // ...but the session survives: the owner reconnects with the right password.
    let mut again = new_session_request(30_000);
    again.session_id = owner.session_id;
    again.passwd = Some(owner.passwd.clone());
    let mut back = Client::connect_with(server.port, again).expect("owner reconnects");
    assert_eq!(back.session_id, owner.session_id);
    back.exists("/", false).expect("reconnected session works");
    back.close();
    assert_serves(&mut server);
    assert_eq!(
        lines.len(),
        1,
        "wrong password: expected exactly one log line about it, got {}:\n{}",
        lines.len(),
        lines.join("\n")
    );
}

// ---- bad zoo.cfg --------------------------------------------------------------

fn run_with_cfg(cfg: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zoo.cfg");
    std::fs::write(
        &path,
        cfg.replace("@DIR@", &dir.path().display().to_string()),
    )
    .unwrap();
    let mut child = Command::new(zkserver_bin())
        .arg("start-foreground")
        .arg(&path)
        .env("ZKSERVER_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "zkserver kept running on a bad config: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_cfg_client_port_not_a_number() {
    let cfg = "tickTime=2000\ndataDir=@DIR@\nclientPort=abc\nmaxClientCnxns=10\n";
    let (code, err) = run_with_cfg(cfg);
    assert_eq!(code, Some(2), "exit code; stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected a one-line message: {err:?}");
    assert!(
        lines[0].contains("clientPort"),
        "message must name the key: {err}"
    );
    assert!(
        lines[0].contains("line 3"),
        "message must name the line: {err}"
    );
}

#[test]
fn bad_cfg_missing_data_dir() {
    let port = free_port();
    let cfg = format!("tickTime=2000\nclientPort={port}\n");
    let (code, err) = run_with_cfg(&cfg);
    assert_eq!(code, Some(2), "exit code; stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected a one-line message: {err:?}");
    assert!(
        lines[0].contains("dataDir"),
        "message must name the key: {err}"
    );
}
