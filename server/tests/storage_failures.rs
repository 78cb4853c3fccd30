//! Storage failures and handshake edge cases, against the real `zkserver`
//! binary:
//!
//! 1. the transaction log's disk fills up (a 4 MiB tmpfs as `dataLogDir`):
//!    writes are refused from then on, reads keep working, the cause is
//!    logged, and after a restart on a bigger copy of the log nothing that
//!    was acknowledged is lost and nothing unacknowledged is invented;
//! 2. an unusable dataDir / dataLogDir at start-up ends the process quickly
//!    with a clear message;
//! 3. the ConnectRequest without the trailing readOnly byte (old clients),
//!    session takeover from a new socket, and session-timeout clamping.
//!
//! Tests 1 and 2 mount tmpfs file systems (we run as root). Where mounting is
//! not permitted they print a loud SKIPPING line, unless CI=true, where they
//! fail instead.

mod common;
mod durable;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use zkproto::consts::op;
use zkproto::jute::{Jute, Reader};
use zkproto::records::*;

const SYSTEM_ERROR: i32 = -1;
const NO_NODE: i32 = -101;

// ---- tmpfs mounts -------------------------------------------------------------

// ---- small helpers ----------------------------------------------------------------

/// Value of the i-th node: 10 000 bytes, different for every i.
fn value(i: usize) -> Vec<u8> {
    let mut v = format!("node {i:05} ").into_bytes();
    let mut x = (i as u32).wrapping_mul(2_654_435_761) | 1;
    while v.len() < 10_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.push(b'a' + (x % 26) as u8);
    }
    v
}

fn create_body(path: &str, data: &[u8]) -> Vec<u8> {
    CreateRequest {
        path: path.into(),
        data: Some(data.to_vec()),
        acl: Acl::open_unsafe(),
        flags: 0,
    }
    .to_bytes()
}

/// One request; the reply header (error code, zxid) or an I/O error (the
/// server closed the connection or did not answer within the read timeout).
fn call(c: &mut Client, opc: i32, body: &[u8]) -> io::Result<ReplyHeader> {
    c.request(opc, body).map(|(h, _)| h)
}

/// Whether the stderr log shows a panic.
fn panic_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("panicked") || l.contains("RUST_BACKTRACE"))
        .collect()
}

/// SIGTERM, then wait at most `within`; whether it exited by itself (it is
/// SIGKILLed otherwise).
fn terminate(server: &mut Server, within: Duration) -> bool {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(server.pid().to_string())
        .status();
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = server.child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = server.child.kill();
    let _ = server.child.wait();
    false
}

/// Copies `from/*` (regular files) into `to`, created.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

// ---- 1. disk full ------------------------------------------------------------------

#[test]
fn disk_full_refuses_writes_and_loses_nothing_acknowledged() {
    const TEST: &str = "disk_full_refuses_writes_and_loses_nothing_acknowledged";
    let base = tempfile::Builder::new()
        .prefix("zkserver-diskfull-")
        .tempdir()
        .unwrap();
    let data_dir = base.path().join("data");
    let mnt_path = base.path().join("logmnt");
    fs::create_dir_all(&data_dir).unwrap();
    // Declared before the server: dropped (unmounted) after it is killed.
    let Some(mnt) = Mount::tmpfs(&mnt_path, "4m", TEST) else {
        return;
    };
    let cfg = |log_dir: &Path| {
        format!(
            "dataDir={}\ndataLogDir={}\npreAllocSize=64\n",
            data_dir.display(),
            log_dir.display()
        )
    };
    let mut server = Server::start(&cfg(&mnt_path));
    // Everything that went wrong; reported together at the end, so that one
    // misbehaviour does not hide the checks after it.
    let mut problems: Vec<String> = Vec::new();

    let mut writer = Client::connect(server.port).expect("writer session");
    let mut reader = Client::connect(server.port).expect("reader session");

    // Fill the log: acknowledged 10 KB creates until one is refused.
    let started = Instant::now();
    let mut acked: BTreeMap<usize, i64> = BTreeMap::new(); // i -> zxid
    let mut failed_at: Option<(usize, String)> = None;
    for i in 0..2000 {
        if started.elapsed() > Duration::from_secs(30) {
            break;
        }
        let path = format!("/n{i:05}");
        match call(&mut writer, op::CREATE, &create_body(&path, &value(i))) {
            Ok(h) if h.err == 0 => {
                acked.insert(i, h.zxid);
            }
            Ok(h) => {
                failed_at = Some((i, format!("error code {}", h.err)));
                if h.err != SYSTEM_ERROR {
                    problems.push(format!(
                        "the first refused write {path} got error {} instead of SYSTEMERROR (-1)",
                        h.err
                    ));
                }
                break;
            }
            Err(e) => {
                failed_at = Some((i, format!("i/o error {e}")));
                problems.push(format!(
                    "the first refused write {path} got no error reply, only an i/o error: {e}"
                ));
                break;
            }
        }
    }
    let Some((k, how)) = failed_at else {
        panic!(
            "no write failed after {} acknowledged 10 KB creates in {:?} on a 4 MiB tmpfs",
            acked.len(),
            started.elapsed()
        );
    };
    eprintln!(
        "{} creates acknowledged, /n{k:05} refused ({how}) after {:?}",
        acked.len(),
        started.elapsed()
    );
    assert!(
        acked.len() >= 100,
        "only {} writes fit before the failure: was the log really on the tmpfs?",
        acked.len()
    );
    let last_acked_zxid = *acked.values().max().unwrap();

    // The writer's further writes never succeed (its connection may be closed).
    for j in 0..3 {
        let path = format!("/w-after-{j}");
        if let Ok(h) = call(&mut writer, op::CREATE, &create_body(&path, b"x")) {
            if h.err == 0 {
                problems.push(format!(
                    "{path}: a write on the writer's session was acknowledged after the log failed"
                ));
            }
        }
    }

    // The other session: writes fail with an error reply, reads work.
    let set_body = SetDataRequest {
        path: "/n00000".into(),
        data: Some(b"changed".to_vec()),
        version: -1,
    }
    .to_bytes();
    let del_body = DeleteRequest {
        path: format!("/n{:05}", acked.keys().next_back().unwrap()),
        version: -1,
    }
    .to_bytes();
    let writes: Vec<(&str, i32, Vec<u8>)> = vec![
        (
            "create /r-after-0",
            op::CREATE,
            create_body("/r-after-0", b"small"),
        ),
        ("setData /n00000", op::SET_DATA, set_body),
        ("delete (last acked node)", op::DELETE, del_body),
        (
            "create /r-after-1",
            op::CREATE,
            create_body("/r-after-1", &value(9999)),
        ),
    ];
    for (what, opc, body) in &writes {
        match call(&mut reader, *opc, body) {
            Ok(h) if h.err == 0 => problems.push(format!(
                "{what}: acknowledged OK after the transaction log failed"
            )),
            Ok(h) if h.err != SYSTEM_ERROR => problems.push(format!(
                "{what}: error {} after the log failed (expected SYSTEMERROR -1)",
                h.err
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!(
                "{what}: no reply after the log failed (i/o error {e}); expected SYSTEMERROR"
            )),
        }
    }
    let mut reads_ok = 0;
    for (&i, _) in acked.iter().step_by(37).chain(acked.iter().next_back()) {
        let path = format!("/n{i:05}");
        let body = PathAndWatch {
            path: path.clone(),
            watch: false,
        }
        .to_bytes();
        match reader.request(op::GET_DATA, &body) {
            Ok((h, b)) if h.err == 0 => {
                let r = GetDataResponse::from_bytes(&b).expect("GetDataResponse");
                if r.data.as_deref() != Some(&value(i)[..]) {
                    problems.push(format!("getData {path} after the failure: wrong data"));
                } else {
                    reads_ok += 1;
                }
            }
            Ok((h, _)) => {
                problems.push(format!("getData {path} after the failure: error {}", h.err))
            }
            Err(e) => {
                problems.push(format!("getData {path} after the failure: i/o error {e}"));
                break;
            }
        }
    }
    // The refused create is not visible, nor anything written after it.
    for path in [
        format!("/n{k:05}"),
        "/r-after-0".into(),
        "/w-after-0".into(),
    ] {
        let body = PathAndWatch {
            path: path.clone(),
            watch: false,
        }
        .to_bytes();
        match reader.request(op::EXISTS, &body) {
            Ok((h, _)) if h.err == NO_NODE => {}
            Ok((h, _)) => problems.push(format!(
                "exists {path} after the failure: error {} (expected NONODE: it was never acknowledged)",
                h.err
            )),
            Err(e) => problems.push(format!("exists {path} after the failure: i/o error {e}")),
        }
    }
    eprintln!("{reads_ok} reads verified after the failure");

    // A new session after the failure must be answered one way or the other
    // (refused, or a session that can read) — not left hanging.
    {
        let mut s = connect_raw(server.port);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write_tolerant(
            &mut s,
            &framed(&connect_request_bytes(0, &[0; 16], 30_000, true)),
        );
        let t0 = Instant::now();
        match read_frame(&mut s) {
            Ok(Some(_)) | Ok(None) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                problems.push(format!(
                    "a new session's ConnectRequest after the log failed got no answer within {:?} \
                     (neither a ConnectResponse nor a close): the client hangs",
                    t0.elapsed()
                ))
            }
            Err(_) => {} // reset: refused
        }
    }

    // closeSession after the failure: answered (any code) or the socket is
    // closed — again not left hanging.
    {
        reader
            .s
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let t0 = Instant::now();
        match call(&mut reader, op::CLOSE_SESSION, &[]) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                problems.push(format!(
                    "closeSession after the log failed got no reply within {:?}: the client hangs",
                    t0.elapsed()
                ))
            }
            _ => {}
        }
    }

    // stderr: one clear line about the failure and its cause; no panic.
    let log = server.stderr();
    let cause: Vec<&str> = log
        .lines()
        .filter(|l| {
            let l2 = l.to_lowercase();
            l2.contains("transaction log")
                && (l2.contains("failed") || l2.contains("error"))
                && (l.contains("No space left")
                    || l.contains("ENOSPC")
                    || l.contains("os error 28"))
        })
        .collect();
    if cause.is_empty() {
        problems.push(format!(
            "stderr has no line saying the transaction log failed with ENOSPC / No space left:\n{log}"
        ));
    } else {
        eprintln!("failure logged as: {}", cause[0]);
    }
    if !panic_lines(&log).is_empty() {
        problems.push(format!(
            "the server panicked:\n{}",
            panic_lines(&log).join("\n")
        ));
    }
    if !server.alive() {
        problems.push("the server process exited after the log failed".into());
    }

    // Stop, move the log to a bigger directory, restart on it.
    drop(writer);
    drop(reader);
    if !terminate(&mut server, Duration::from_secs(10)) {
        problems.push("the server did not exit within 10 s of SIGTERM after the log failed".into());
    }
    let big_log = base.path().join("biglog");
    copy_dir(&mnt_path.join("version-2"), &big_log.join("version-2"));
    drop(server);
    mnt.unmount();

    // What the disk holds, read independently of the server's code: whole
    // entries with contiguous zxids from 1 up to the last acknowledged one,
    // plus at most the refused create (anything after it is a torn tail).
    let mut on_disk: Vec<i64> = Vec::new();
    for (_, f) in durable::log_files(&big_log.join("version-2")) {
        on_disk.extend(
            durable::parse_log(&fs::read(&f).unwrap())
                .iter()
                .map(|e| e.zxid),
        );
    }
    let disk_last = on_disk.last().copied().unwrap_or(0);
    if on_disk != (1..=disk_last).collect::<Vec<_>>() {
        problems.push(format!(
            "log entries on disk are not zxids 1..={disk_last}: {on_disk:?}"
        ));
    }
    if disk_last != last_acked_zxid && disk_last != last_acked_zxid + 1 {
        problems.push(format!(
            "the log on disk ends at zxid 0x{disk_last:x}; the last acknowledged write was 0x{last_acked_zxid:x} \
             (only the refused create 0x{:x} may follow it)",
            last_acked_zxid + 1
        ));
    }

    let server = Server::start(&cfg(&big_log));
    let mut c = Client::connect(server.port).expect("session after restart");
    let mut lost = Vec::new();
    for &i in acked.keys() {
        let path = format!("/n{i:05}");
        match c.get_data(&path, false) {
            Ok((d, _)) if d == value(i) => {}
            Ok(_) => lost.push(format!("{path} (wrong data)")),
            Err(e) => lost.push(format!("{path} (error {e})")),
        }
    }
    if !lost.is_empty() {
        problems.push(format!(
            "{} acknowledged writes lost after the restart: {}",
            lost.len(),
            lost.join(", ")
        ));
    }
    // Only the refused create /n<k> may have reached the disk (its append
    // was under way when the disk filled; nothing was appended after it).
    // If it is there it must be whole, and the recovered zxid says which.
    let kids = c.get_children("/", false).expect("getChildren /");
    let mut extra: Vec<String> = kids
        .iter()
        .filter(|n| *n != "zookeeper")
        .filter(|n| {
            !n.strip_prefix('n')
                .and_then(|x| x.parse::<usize>().ok())
                .is_some_and(|i| acked.contains_key(&i))
        })
        .cloned()
        .collect();
    let failed_name = format!("n{k:05}");
    let failed_present = extra.contains(&failed_name);
    extra.retain(|n| *n != failed_name);
    if !extra.is_empty() {
        problems.push(format!(
            "unacknowledged nodes invented after the restart: {extra:?}"
        ));
    }
    if failed_present {
        match c.get_data(&format!("/{failed_name}"), false) {
            Ok((d, _)) if d == value(k) => {}
            other => problems.push(format!(
                "/{failed_name} (refused, yet recovered) has wrong content: {:?}",
                other.map(|(d, s)| (d.len(), s))
            )),
        }
    }
    let zxid = four_letter(server.port, "srvr")
        .ok()
        .and_then(|s| {
            let v = s
                .lines()
                .find_map(|l| l.strip_prefix("Zxid: "))?
                .trim()
                .to_string();
            i64::from_str_radix(v.trim_start_matches("0x"), 16).ok()
        })
        .expect("srvr Zxid");
    if failed_present != (disk_last == last_acked_zxid + 1) {
        problems.push(format!(
            "the refused create is {} after the restart but the log on disk ends at 0x{disk_last:x}",
            if failed_present { "present" } else { "absent" }
        ));
    }
    // The session created after the restart is one more txn.
    let expect = last_acked_zxid + failed_present as i64 + 1;
    if zxid != expect {
        problems.push(format!(
            "recovered zxid 0x{zxid:x}, expected 0x{expect:x} (last acknowledged 0x{last_acked_zxid:x}, \
             refused create {} on disk, + this session)",
            if failed_present { "is" } else { "not" }
        ));
    }
    eprintln!(
        "after restart: {} acknowledged nodes present (log on disk ends at zxid 0x{disk_last:x}, \
         last acknowledged 0x{last_acked_zxid:x}), refused /n{k:05} {}",
        acked.len() - lost.len(),
        if failed_present {
            "persisted (allowed)"
        } else {
            "absent"
        }
    );
    // And it takes writes again on a disk with room.
    if let Err(e) = c.create("/after-restart", b"ok", 0) {
        problems.push(format!(
            "create after the restart on a bigger disk: error {e}"
        ));
    }
    let log = server.stderr();
    if !panic_lines(&log).is_empty() {
        problems.push(format!("the restarted server panicked:\n{log}"));
    }
    drop(c);
    drop(server);

    assert!(
        problems.is_empty(),
        "{} problem(s):\n- {}",
        problems.len(),
        problems.join("\n- ")
    );
}

// ---- 2. unusable directories at start-up ----------------------------------------------

/// Runs `zkserver start-foreground` on a zoo.cfg of `cfg` (plus a free port);
/// waits at most 10 s for it to exit. Returns (exit code, stderr); `None`
/// as the code if it was still running (then killed).
fn run_to_exit(work: &Path, cfg: &str) -> (Option<i32>, String) {
    let port = free_port();
    let cfg_path = work.join(format!("zoo-{port}.cfg"));
    fs::write(
        &cfg_path,
        format!(
            "tickTime=2000\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\nautopurge.purgeInterval=0\n{cfg}\n"
        ),
    )
    .unwrap();
    let err_path = work.join(format!("stderr-{port}.log"));
    let mut child = Command::new(zkserver_bin())
        .arg("start-foreground")
        .arg(&cfg_path)
        .env("ZKSERVER_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("spawn zkserver");
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st.code().unwrap_or(-1));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, fs::read_to_string(&err_path).unwrap_or_default())
}

/// The one stderr line with the error: it names `path` and says `why`.
fn check_start_failure(
    what: &str,
    code: Option<i32>,
    stderr: &str,
    path: &Path,
    why: &[&str],
) -> Vec<String> {
    let mut problems = Vec::new();
    match code {
        None => problems.push(format!("{what}: still running after 10 s\n{stderr}")),
        Some(0) => problems.push(format!("{what}: exited with status 0\n{stderr}")),
        Some(_) => {}
    }
    let p = path.display().to_string();
    let line = stderr
        .lines()
        .find(|l| l.contains(&p) && why.iter().any(|w| l.contains(w)));
    match line {
        Some(l) => eprintln!("{what}: {l}"),
        None => problems.push(format!(
            "{what}: no stderr line names {p} and says {why:?}:\n{stderr}"
        )),
    }
    if !panic_lines(stderr).is_empty() {
        problems.push(format!("{what}: panicked:\n{stderr}"));
    }
    problems
}

#[test]
fn unusable_data_dirs_stop_the_start() {
    const TEST: &str = "unusable_data_dirs_stop_the_start";
    let base = tempfile::Builder::new()
        .prefix("zkserver-baddir-")
        .tempdir()
        .unwrap();
    let mut problems = Vec::new();

    // dataDir is a regular file.
    let file = base.path().join("not-a-directory");
    fs::write(&file, b"I am a file").unwrap();
    let t0 = Instant::now();
    let (code, err) = run_to_exit(base.path(), &format!("dataDir={}", file.display()));
    eprintln!("dataDir is a file: exit {code:?} after {:?}", t0.elapsed());
    problems.extend(check_start_failure(
        "dataDir is a regular file",
        code,
        &err,
        &file,
        &["Not a directory", "File exists", "not a directory"],
    ));

    // dataLogDir on a read-only file system: empty, and with a version-2.
    let good_data = base.path().join("data");
    fs::create_dir_all(&good_data).unwrap();
    let ro_empty = base.path().join("ro-empty");
    let ro_ready = base.path().join("ro-ready");
    let Some(m1) = Mount::tmpfs(&ro_empty, "1m", TEST) else {
        return;
    };
    let Some(m2) = Mount::tmpfs(&ro_ready, "1m", TEST) else {
        return;
    };
    fs::create_dir_all(ro_ready.join("version-2")).unwrap();
    m1.remount("ro");
    m2.remount("ro");
    for (what, dir) in [
        ("dataLogDir on an empty read-only fs", &ro_empty),
        ("dataLogDir/version-2 on a read-only fs", &ro_ready),
    ] {
        let t0 = Instant::now();
        let (code, err) = run_to_exit(
            base.path(),
            &format!(
                "dataDir={}\ndataLogDir={}",
                good_data.display(),
                dir.display()
            ),
        );
        eprintln!("{what}: exit {code:?} after {:?}", t0.elapsed());
        problems.extend(check_start_failure(
            what,
            code,
            &err,
            dir,
            &["Read-only file system", "read-only", "os error 30"],
        ));
    }
    drop(m1);
    drop(m2);
    assert!(
        problems.is_empty(),
        "{} problem(s):\n- {}",
        problems.len(),
        problems.join("\n- ")
    );
}

// ---- 3. handshakes ------------------------------------------------------------------

/// ConnectRequest payload, with or without the trailing readOnly byte (44 or
/// 45 bytes), written by hand rather than with zkproto.
fn connect_request_bytes(sid: i64, passwd: &[u8], timeout: i32, read_only_byte: bool) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0i32.to_be_bytes()); // protocolVersion
    v.extend_from_slice(&0i64.to_be_bytes()); // lastZxidSeen
    v.extend_from_slice(&timeout.to_be_bytes());
    v.extend_from_slice(&sid.to_be_bytes());
    v.extend_from_slice(&(passwd.len() as i32).to_be_bytes());
    v.extend_from_slice(passwd);
    if read_only_byte {
        v.push(0);
    }
    v
}

struct Handshake {
    s: TcpStream,
    frame_len: usize,
    timeout: i32,
    session_id: i64,
    passwd: Vec<u8>,
    read_only: Option<bool>,
}

fn handshake(port: u16, sid: i64, passwd: &[u8], timeout: i32, ro_byte: bool) -> Handshake {
    let req = connect_request_bytes(sid, passwd, timeout, ro_byte);
    assert_eq!(req.len(), if ro_byte { 45 } else { 44 });
    let mut s = connect_raw(port);
    s.write_all(&framed(&req)).expect("send ConnectRequest");
    let f = read_frame(&mut s)
        .expect("ConnectResponse")
        .expect("closed instead of a ConnectResponse");
    let mut r = Reader::new(&f);
    let pv = r.read_i32().expect("protocolVersion");
    let time_out = r.read_i32().expect("timeOut");
    let session_id = r.read_i64().expect("sessionId");
    let passwd = r.read_buffer().expect("passwd").unwrap_or_default();
    let read_only = if r.remaining() > 0 {
        Some(r.read_bool().expect("readOnly"))
    } else {
        None
    };
    assert_eq!(pv, 0, "protocolVersion");
    assert_eq!(r.remaining(), 0, "trailing bytes in the ConnectResponse");
    Handshake {
        s,
        frame_len: f.len(),
        timeout: time_out,
        session_id,
        passwd,
        read_only,
    }
}

/// One raw request on `s`; notifications and pings are skipped.
fn raw_call(s: &mut TcpStream, xid: i32, opc: i32, body: &[u8]) -> (ReplyHeader, Vec<u8>) {
    s.write_all(&request_frame(xid, opc, body))
        .expect("send request");
    loop {
        let f = read_frame(s)
            .expect("reply")
            .expect("closed instead of a reply");
        let mut r = Reader::new(&f);
        let h = ReplyHeader::read(&mut r).expect("ReplyHeader");
        if h.xid == -1 || h.xid == -2 {
            continue;
        }
        assert_eq!(h.xid, xid, "reply for another xid");
        return (h, r.rest().to_vec());
    }
}

fn create_and_read(s: &mut TcpStream, path: &str, data: &[u8]) {
    let (h, b) = raw_call(s, 1, op::CREATE, &create_body(path, data));
    assert_eq!(h.err, 0, "create {path}");
    assert_eq!(
        CreateResponse::from_bytes(&b).expect("CreateResponse").path,
        path
    );
    let (h, b) = raw_call(
        s,
        2,
        op::GET_DATA,
        &PathAndWatch {
            path: path.into(),
            watch: false,
        }
        .to_bytes(),
    );
    assert_eq!(h.err, 0, "getData {path}");
    let r = GetDataResponse::from_bytes(&b).expect("GetDataResponse");
    assert_eq!(r.data.as_deref(), Some(data), "getData {path}");
}

#[test]
fn old_and_new_client_handshakes_takeover_and_timeout_clamping() {
    let mut server = Server::start("");

    // Without the readOnly byte (node-zookeeper-client): 36-byte answer.
    let mut old = handshake(server.port, 0, &[0; 16], 10_000, false);
    assert_eq!(
        old.frame_len, 36,
        "ConnectResponse to a 44-byte ConnectRequest"
    );
    assert_eq!(old.read_only, None);
    assert_ne!(old.session_id, 0, "session refused");
    assert_eq!(old.timeout, 10_000);
    assert_eq!(old.passwd.len(), 16);
    create_and_read(&mut old.s, "/old-client", b"no readOnly byte");

    // With it (current clients): 37 bytes.
    let mut new = handshake(server.port, 0, &[0; 16], 10_000, true);
    assert_eq!(
        new.frame_len, 37,
        "ConnectResponse to a 45-byte ConnectRequest"
    );
    assert_eq!(new.read_only, Some(false));
    assert_ne!(new.session_id, 0, "session refused");
    assert_ne!(new.session_id, old.session_id);
    create_and_read(&mut new.s, "/new-client", b"with readOnly byte");

    // Takeover: the old client's session from a new socket (old style too).
    let mut again = handshake(server.port, old.session_id, &old.passwd, 10_000, false);
    assert_eq!(again.frame_len, 36);
    assert_eq!(
        again.session_id, old.session_id,
        "reconnect got another session"
    );
    assert_eq!(again.passwd, old.passwd);
    assert!(again.timeout > 0);
    if let Err(e) = expect_closed(&mut old.s, Duration::from_secs(5)) {
        panic!("the old socket of a taken-over session stays open: {e}");
    }
    let (h, b) = raw_call(
        &mut again.s,
        1,
        op::GET_DATA,
        &PathAndWatch {
            path: "/old-client".into(),
            watch: false,
        }
        .to_bytes(),
    );
    assert_eq!(h.err, 0, "getData on the taken-over session");
    assert_eq!(
        GetDataResponse::from_bytes(&b).unwrap().data.as_deref(),
        Some(&b"no readOnly byte"[..])
    );
    // The session's ephemeral-owner identity survived: create an ephemeral.
    let (h, _) = raw_call(
        &mut again.s,
        2,
        op::CREATE,
        &CreateRequest {
            path: "/eph".into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 1,
        }
        .to_bytes(),
    );
    assert_eq!(h.err, 0, "ephemeral create on the taken-over session");
    let (h, b) = raw_call(
        &mut new.s,
        3,
        op::EXISTS,
        &PathAndWatch {
            path: "/eph".into(),
            watch: false,
        }
        .to_bytes(),
    );
    assert_eq!(h.err, 0);
    let st = StatResponse::from_bytes(&b).unwrap().stat;
    assert_eq!(st.ephemeral_owner, old.session_id, "ephemeral owner");

    // A wrong password: refused (session id 0), the holder is disconnected
    // too (as ZooKeeper does), and the session is not closed by it.
    let mut wrong = old.passwd.clone();
    wrong[0] ^= 0xff;
    let bad = handshake(server.port, old.session_id, &wrong, 10_000, true);
    assert_eq!(bad.session_id, 0, "a wrong password was accepted");
    assert_eq!(bad.timeout, 0);
    assert_eq!(bad.frame_len, 37);

    // Timeouts outside [2, 20] ticks are clamped (tickTime=2000).
    for (asked, expect) in [
        (1_000, 4_000),
        (100, 4_000),
        (100_000, 40_000),
        (39_999, 39_999),
        (4_000, 4_000),
    ] {
        for ro in [false, true] {
            let h = handshake(server.port, 0, &[0; 16], asked, ro);
            assert_ne!(h.session_id, 0);
            assert_eq!(
                h.timeout, expect,
                "timeout asked {asked} (readOnly byte: {ro})"
            );
        }
    }
    assert_serves(&mut server);
    assert!(
        panic_lines(&server.stderr()).is_empty(),
        "panicked:\n{}",
        server.stderr()
    );
}
