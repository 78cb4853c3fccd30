//! A local ensemble of real server processes on 127.0.0.1, for the
//! ensemble tests: each member has its own dataDir, myid, ports and log, and is
//! either our `zkserver` or an Apache ZooKeeper 3.8 member (run with `java`
//! directly, as quorum-wire.md section 7 does, one log file per member, admin
//! server off). Members are killed on drop.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use zkproto::records::{Acl, Stat};

use super::{four_letter, free_port, zkserver_bin, Client, Kind, ZK_JAR};

/// One member's fixed identity: its id, ports and directory.
pub struct Member {
    pub id: u64,
    pub kind: Kind,
    pub observer: bool,
    pub client_port: u16,
    pub quorum_port: u16,
    pub election_port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Member {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("member.log")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// How the member's process ended, once it has (by itself or killed).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok()?
    }

    pub fn running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// `srvr`'s `Mode:` value, `not serving`, or `down`.
    pub fn mode(&self) -> String {
        match four_letter(self.client_port, "srvr") {
            Ok(s) if s.contains("not currently serving") => "not serving".into(),
            Ok(s) => s
                .lines()
                .find_map(|l| l.strip_prefix("Mode: "))
                .map(|m| m.trim().to_string())
                .unwrap_or_else(|| "down".into()),
            Err(_) => "down".into(),
        }
    }

    /// `srvr`'s `Zxid:` value.
    pub fn zxid(&self) -> Option<i64> {
        let s = four_letter(self.client_port, "srvr").ok()?;
        let z = s.lines().find_map(|l| l.strip_prefix("Zxid: "))?;
        i64::from_str_radix(z.trim().trim_start_matches("0x"), 16).ok()
    }
}

/// A member's tree: path → (data, Stat, ACL).
pub type Tree = BTreeMap<String, (Vec<u8>, Stat, Vec<Acl>)>;

/// A running ensemble.
pub struct Ensemble {
    pub members: Vec<Member>,
    pub base: tempfile::TempDir,
}

impl Ensemble {
    /// Writes the configs of `kinds.len()` members (ids 1..=n; the ids in
    /// `observers` are observers) without starting any.
    pub fn configure(kinds: &[Kind], observers: &[u64], extra: &str) -> Ensemble {
        let base = tempfile::Builder::new()
            .prefix("zk-ensemble-")
            .tempdir()
            .expect("tempdir");
        let mut members = Vec::new();
        for (i, kind) in kinds.iter().enumerate() {
            let id = i as u64 + 1;
            let dir = base.path().join(id.to_string());
            fs::create_dir_all(dir.join("data")).expect("member dir");
            fs::write(dir.join("data").join("myid"), format!("{id}\n")).expect("myid");
            members.push(Member {
                id,
                kind: *kind,
                observer: observers.contains(&id),
                client_port: free_port(),
                quorum_port: free_port(),
                election_port: free_port(),
                dir,
                child: None,
            });
        }
        let mut servers = String::new();
        for m in &members {
            servers.push_str(&format!(
                "server.{}=127.0.0.1:{}:{}{}\n",
                m.id,
                m.quorum_port,
                m.election_port,
                if m.observer { ":observer" } else { "" }
            ));
        }
        for m in &members {
            let mut cfg = format!(
                "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
                 clientPortAddress=127.0.0.1\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n\
                 admin.enableServer=false\nautopurge.purgeInterval=0\n",
                m.data_dir().display(),
                m.client_port
            );
            if m.observer {
                cfg.push_str("peerType=observer\n");
            }
            cfg.push_str(&servers);
            cfg.push_str(extra);
            fs::write(m.dir.join("zoo.cfg"), cfg).expect("zoo.cfg");
            fs::write(
                m.dir.join("log4j.properties"),
                format!(
                    "log4j.rootLogger=INFO, F\nlog4j.appender.F=org.apache.log4j.FileAppender\n\
                     log4j.appender.F.File={}\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n\
                     log4j.appender.F.layout.ConversionPattern=%d{{ISO8601}} [myid:{}] %-5p [%t:%C{{1}}@%L] - %m%n\n",
                    m.log_path().display(),
                    m.id
                ),
            )
            .expect("log4j.properties");
        }
        Ensemble { members, base }
    }

    /// Configures and starts every member, then waits until all serve.
    pub fn start(kinds: &[Kind], observers: &[u64]) -> Ensemble {
        let mut e = Ensemble::configure(kinds, observers, "");
        for id in 1..=kinds.len() as u64 {
            e.start_member(id);
        }
        e.wait_all_serving(Duration::from_secs(60));
        e
    }

    pub fn member(&self, id: u64) -> &Member {
        &self.members[(id - 1) as usize]
    }

    pub fn member_mut(&mut self, id: u64) -> &mut Member {
        &mut self.members[(id - 1) as usize]
    }

    /// Starts (or restarts) member `id` on its own dataDir.
    pub fn start_member(&mut self, id: u64) {
        let m = &mut self.members[(id - 1) as usize];
        assert!(!m.running(), "member {id} is already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.dir.join("stdout.log"))
            .expect("stdout.log");
        let log2 = log.try_clone().expect("clone log");
        let mut cmd = match m.kind {
            Kind::Ours => {
                let ours = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(m.log_path())
                    .expect("member.log");
                let mut c = Command::new(zkserver_bin());
                c.arg("start-foreground")
                    .arg(m.dir.join("zoo.cfg"))
                    .env("ZKSERVER_LOG", "info")
                    .env("NO_COLOR", "1")
                    .stdout(log)
                    .stderr(ours);
                c
            }
            Kind::Apache => {
                let mut c = Command::new("java");
                c.args([
                    "-Xmx192m",
                    "-Xms32m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                ])
                .arg(format!(
                    "-Dlog4j.configuration=file:{}",
                    m.dir.join("log4j.properties").display()
                ))
                .arg("-Dzookeeper.jmx.log4j.disable=true")
                .arg("-cp")
                .arg(format!(
                    "{}:{ZK_JAR}:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar",
                    m.dir.display()
                ))
                .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                .arg(m.dir.join("zoo.cfg"))
                .stdout(log)
                .stderr(log2);
                c
            }
        };
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning member {id}: {e}"));
        m.child = Some(child);
    }

    /// kill -9 of member `id`.
    pub fn kill(&mut self, id: u64) {
        let m = &mut self.members[(id - 1) as usize];
        if let Some(mut c) = m.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `sig` (e.g. "STOP", "CONT", "TERM") to member `id`.
    pub fn signal(&mut self, id: u64, sig: &str) {
        let m = &mut self.members[(id - 1) as usize];
        let pid = m.child.as_ref().map(|c| c.id()).expect("member is running");
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{sig} {pid} (member {id}) failed");
    }

    /// A clean stop (SIGTERM, then SIGKILL after 10 s), as an operator
    /// stops a member for maintenance.
    pub fn stop(&mut self, id: u64) {
        let m = &mut self.members[(id - 1) as usize];
        if let Some(mut c) = m.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Empties a stopped member's dataDir except `myid`: it must come
    /// back by SNAP.
    pub fn wipe(&mut self, id: u64) {
        let m = &mut self.members[(id - 1) as usize];
        assert!(!m.running(), "wipe of a running member {id}");
        let data = m.data_dir();
        for e in fs::read_dir(&data).expect("dataDir").flatten() {
            if e.file_name() == "myid" {
                continue;
            }
            let p = e.path();
            if p.is_dir() {
                fs::remove_dir_all(&p).expect("wipe");
            } else {
                fs::remove_file(&p).expect("wipe");
            }
        }
    }

    /// Makes member `id` run as `kind` from its next start, on the same
    /// zoo.cfg and dataDir (the rolling migration's step).
    pub fn set_kind(&mut self, id: u64, kind: Kind) {
        let m = &mut self.members[(id - 1) as usize];
        assert!(!m.running(), "set_kind of a running member {id}");
        m.kind = kind;
    }

    /// The whole tree as member `id` holds it, after a sync: every path
    /// with its data, Stat and ACL.
    pub fn tree(&self, id: u64) -> Tree {
        let mut c = Client::connect(self.member(id).client_port)
            .unwrap_or_else(|e| panic!("session on member {id}: {e}"));
        c.sync();
        let mut out = BTreeMap::new();
        let mut todo = vec!["/".to_string()];
        while let Some(path) = todo.pop() {
            let Ok((data, stat)) = c.get_data(&path, false) else {
                continue; // deleted while we walked (only if writers run)
            };
            let acl = c.get_acl(&path).map(|(a, _)| a).unwrap_or_default();
            let kids = c.get_children(&path, false).unwrap_or_default();
            for k in kids {
                todo.push(if path == "/" {
                    format!("/{k}")
                } else {
                    format!("{path}/{k}")
                });
            }
            let mut stat = stat;
            if path == "/zookeeper/config" {
                // Each member writes its own config node at start-up, with
                // its own clock: 3.8 members differ there among themselves.
                stat.mtime = 0;
            }
            out.insert(path, (data, stat, acl));
        }
        c.close();
        out
    }

    /// Asserts that every running member holds the same tree (paths,
    /// data, every Stat field, ACLs); returns its size.
    pub fn assert_trees_identical(&mut self, what: &str) -> usize {
        let ids: Vec<u64> = self
            .members
            .iter_mut()
            .filter_map(|m| m.running().then_some(m.id))
            .collect();
        let first = self.tree(ids[0]);
        for &id in &ids[1..] {
            let other = self.tree(id);
            if other != first {
                let mut diffs = Vec::new();
                for (p, v) in &first {
                    match other.get(p) {
                        None => diffs.push(format!("{p}: only on member {}", ids[0])),
                        Some(o) if o != v => diffs.push(format!(
                            "{p}: member {} has {v:?}\n    member {id} has {o:?}",
                            ids[0]
                        )),
                        _ => {}
                    }
                }
                for p in other.keys().filter(|p| !first.contains_key(*p)) {
                    diffs.push(format!("{p}: only on member {id}"));
                }
                diffs.truncate(20);
                panic!(
                    "{what}: the trees of members {} ({:?}) and {id} ({:?}) differ:\n{}",
                    ids[0],
                    self.member(ids[0]).kind,
                    self.member(id).kind,
                    diffs.join("\n")
                );
            }
        }
        first.len()
    }

    /// Lines of Apache members' logs that report a digest mismatch (3.8
    /// compares the leader's tree digest with its own at every commit).
    pub fn digest_mismatches(&self) -> Vec<String> {
        self.members
            .iter()
            .flat_map(|m| {
                m.log()
                    .lines()
                    .filter(|l| {
                        l.contains("Digests are not matching") || l.contains("digest mismatch")
                    })
                    .map(|l| format!("member {}: {l}", m.id))
                    .chain(
                        four_letter(m.client_port, "mntr")
                            .unwrap_or_default()
                            .lines()
                            .filter(|l| {
                                l.starts_with("zk_digest_mismatches_count")
                                    && l.split_whitespace().nth(1) != Some("0")
                            })
                            .map(|l| format!("member {} mntr: {l}", m.id)),
                    )
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The id of the member whose `srvr` says `Mode: leader`.
    pub fn leader(&self) -> Option<u64> {
        self.members
            .iter()
            .find(|m| m.mode() == "leader")
            .map(|m| m.id)
    }

    /// Waits until every running member reports leader/follower/observer.
    pub fn wait_all_serving(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let mut modes = Vec::new();
            let mut all = true;
            for m in &mut self.members {
                if !m.running() {
                    continue;
                }
                let mode = m.mode();
                all &= matches!(mode.as_str(), "leader" | "follower" | "observer");
                modes.push((m.id, mode));
            }
            if all {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "members not serving within {within:?}: {modes:?}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until member `id` reports `mode`.
    pub fn wait_mode(&self, id: u64, mode: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let now = self.member(id).mode();
            if now == mode {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "member {id} is '{now}', not '{mode}', after {within:?}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The connect string of every member.
    pub fn connect_string(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every member's log tail, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for m in &self.members {
            let log = m.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            s.push_str(&format!(
                "---- member {} ({:?}) log tail ----\n",
                m.id, m.kind
            ));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        for m in &mut self.members {
            if let Some(mut c) = m.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
