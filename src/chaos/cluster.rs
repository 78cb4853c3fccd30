//! Real `zkserver` processes on 127.0.0.1 for the chaos harness: each member
//! its own directory, zoo.cfg, myid, ports and log; kill -9 and restart on
//! the same dataDir, SIGSTOP / SIGCONT.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Member {
    pub id: u32,
    /// The member's own address: 127.0.0.1, or 127.0.0.(10+id) inside the
    /// harness's network namespace.
    pub ip: std::net::Ipv4Addr,
    pub client_port: u16,
    pub dir: PathBuf,
    /// An Apache ZooKeeper 3.8 member (java, Debian's jar) instead of ours.
    pub apache: bool,
    child: Option<Child>,
    paused: bool,
    /// Its dataDir is a tmpfs of its own (for the disk-full fault).
    own_disk: bool,
    /// The uid it runs as (an Apache member inside the namespace).
    uid: Option<u32>,
}

/// Debian's Apache ZooKeeper jar.
pub const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";

impl Member {
    pub fn running(&self) -> bool {
        self.child.is_some()
    }
    pub fn paused(&self) -> bool {
        self.paused
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("member.log")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
    /// `dataDir/version-2`: its snapshots, txn logs and epoch files.
    pub fn version_dir(&self) -> PathBuf {
        self.data_dir().join("version-2")
    }
    pub fn own_disk(&self) -> bool {
        self.own_disk
    }
}

/// Member `id`'s address: 127.0.0.(10+id) inside the harness's network
/// namespace (`own_ips`), else 127.0.0.1.
pub fn member_ip(id: u32, own_ips: bool) -> std::net::Ipv4Addr {
    if own_ips {
        std::net::Ipv4Addr::new(127, 0, 0, 10 + id as u8)
    } else {
        std::net::Ipv4Addr::LOCALHOST
    }
}

/// The uid an Apache member runs as inside the harness's network namespace:
/// its own, so that a policy-routing rule ([`Net::route_uid`]) gives its
/// outgoing connections its own source address (Java binds its listeners
/// but not its outgoing quorum and election connections).
pub fn apache_uid(id: u32) -> u32 {
    20000 + id
}

/// A small disk per member: the tmpfs mounted on each dataDir when the
/// disk-full fault is on.
///
/// Large enough for a 60 s release-build run: the CAS-append sets rewrite
/// their whole value on every append, so a run logs about a gigabyte.
pub const MEMBER_DISK: &str = "3g";

pub struct Cluster {
    pub members: Vec<Member>,
    bin: PathBuf,
    early_ack: bool,
}

/// How the servers are wired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One replicated ensemble.
    Ensemble,
    /// Independent standalone servers behind one connect string: a broken
    /// "ensemble" the checkers must catch (the harness's sanity check).
    Standalones,
    /// An ensemble of the `unsafe-early-ack` test build of zkserver, run
    /// with ZKSERVER_UNSAFE_EARLY_ACK=1: its leader acknowledges writes
    /// before a quorum has logged them (the other sanity check).
    EarlyAck,
}

impl Layout {
    /// Members that form one replicated ensemble (broken or not).
    pub fn replicated(self) -> bool {
        self != Layout::Standalones
    }
}

/// What [`Cluster::start`] starts.
pub struct Spec<'a> {
    /// Our zkserver binary.
    pub bin: &'a Path,
    /// Each member gets `dir/<id>`.
    pub dir: &'a Path,
    pub members: u32,
    /// Ports from here when the members share 127.0.0.1.
    pub base_port: u16,
    pub layout: Layout,
    /// Inside the harness's network namespace, member i lives on
    /// 127.0.0.(10+i) with ZooKeeper's usual ports.
    pub own_ips: bool,
    /// Members that are Apache ZooKeeper.
    pub apache: &'a [u32],
    /// Each of our members' dataDir on a tmpfs of its own.
    pub own_disks: bool,
}

impl Cluster {
    /// Writes the configs under `spec.dir` and starts every member.
    pub fn start(spec: &Spec) -> std::io::Result<Cluster> {
        let Spec {
            bin,
            dir,
            members: n,
            base_port: base,
            layout,
            own_ips,
            apache,
            own_disks,
        } = *spec;
        let ip = |id: u32| member_ip(id, own_ips);
        let ports = |id: u32| -> (u16, u16, u16) {
            if own_ips {
                (2181, 2888, 3888)
            } else {
                (
                    base + id as u16,
                    base + 100 + id as u16,
                    base + 200 + id as u16,
                )
            }
        };
        let mut members = Vec::new();
        for id in 1..=n {
            let d = dir.join(id.to_string());
            fs::create_dir_all(d.join("data"))?;
            let own_disk = own_disks && !apache.contains(&id);
            if own_disk {
                super::damage::mount_tmpfs(&d.join("data"), MEMBER_DISK)?;
            }
            fs::write(d.join("data/myid"), format!("{id}\n"))?;
            let mut cfg = format!(
                "tickTime=1000\ninitLimit=10\nsyncLimit=3\ndataDir={}\nclientPort={}\n\
                 clientPortAddress={}\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n\
                 admin.enableServer=false\nautopurge.purgeInterval=0\nsnapCount=20000\n",
                d.join("data").display(),
                ports(id).0,
                ip(id)
            );
            if layout.replicated() {
                for j in 1..=n {
                    let (_, q, e) = ports(j);
                    cfg.push_str(&format!("server.{j}={}:{q}:{e}\n", ip(j)));
                }
            }
            fs::write(d.join("zoo.cfg"), cfg)?;
            fs::write(
                d.join("log4j.properties"),
                format!(
                    "log4j.rootLogger=INFO, F\nlog4j.appender.F=org.apache.log4j.FileAppender\n\
                     log4j.appender.F.File={}\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n\
                     log4j.appender.F.layout.ConversionPattern=%d{{ISO8601}} [myid:{id}] %-5p [%t:%C{{1}}@%L] - %m%n\n",
                    d.join("member.log").display()
                ),
            )?;
            let uid = (own_ips && apache.contains(&id)).then(|| apache_uid(id));
            if let Some(u) = uid {
                let ok = Command::new("chown")
                    .arg("-R")
                    .arg(format!("{u}:{u}"))
                    .arg(&d)
                    .status()?
                    .success();
                if !ok {
                    return Err(std::io::Error::other(format!("chown {}", d.display())));
                }
            }
            members.push(Member {
                id,
                ip: ip(id),
                client_port: ports(id).0,
                apache: apache.contains(&id),
                dir: d,
                child: None,
                paused: false,
                own_disk,
                uid,
            });
        }
        let mut c = Cluster {
            members,
            bin: bin.to_path_buf(),
            early_ack: layout == Layout::EarlyAck,
        };
        for id in 1..=n {
            c.start_member(id)?;
        }
        Ok(c)
    }

    pub fn member(&self, id: u32) -> &Member {
        &self.members[id as usize - 1]
    }

    pub fn start_member(&mut self, id: u32) -> std::io::Result<()> {
        let bin = self.bin.clone();
        // A member that exited on its own is started again.
        let _ = self.exited(id);
        let m = &mut self.members[id as usize - 1];
        if m.child.is_some() {
            return Ok(());
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.log())?;
        if let Some(u) = m.uid {
            // log4j opens it by name, as the member's own uid.
            std::os::unix::fs::chown(m.log(), Some(u), Some(u))?;
        }
        let child = if m.apache {
            // As scripts/ensemble.sh runs it: a small JVM, log4j to a file.
            let out = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(m.dir.join("stdout.log"))?;
            let mut java = Command::new("java");
            if let Some(u) = m.uid {
                use std::os::unix::process::CommandExt;
                java.uid(u).gid(u).env("HOME", &m.dir);
            }
            java.args([
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
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?
        } else {
            Command::new(bin)
                .arg("start-foreground")
                .arg(m.dir.join("zoo.cfg"))
                .env("ZKSERVER_LOG", "info")
                .env(
                    "ZKSERVER_UNSAFE_EARLY_ACK",
                    if self.early_ack { "1" } else { "0" },
                )
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()?
        };
        m.child = Some(child);
        m.paused = false;
        Ok(())
    }

    /// The exit status of a member that stopped on its own (it is then
    /// no longer running), or `None` while it runs.
    pub fn exited(&mut self, id: u32) -> Option<std::process::ExitStatus> {
        let m = &mut self.members[id as usize - 1];
        let st = m.child.as_mut()?.try_wait().ok()??;
        m.child = None;
        m.paused = false;
        Some(st)
    }

    /// The member's established quorum and election connections (to port
    /// 2888 or 3888) that do not leave from its own address, as `ss` sees
    /// them: inside the namespace, a partition only cuts what it names if
    /// there are none.
    pub fn stray_connections(&self, id: u32) -> Vec<String> {
        let m = self.member(id);
        let Some(pid) = m.child.as_ref().map(Child::id) else {
            return Vec::new();
        };
        let out = Command::new("ss")
            .args(["-Htnp", "state", "established"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let tag = format!("pid={pid},");
        out.lines()
            .filter(|l| l.contains(&tag))
            .filter_map(|l| {
                let f: Vec<String> = l
                    .split_whitespace()
                    .map(|a| a.replace("[::ffff:", "").replace(']', ""))
                    .collect();
                let (local, peer) = (f.get(2)?, f.get(3)?);
                let to_quorum = peer.ends_with(":2888") || peer.ends_with(":3888");
                let own = local.starts_with(&format!("{}:", m.ip));
                (to_quorum && !own).then(|| format!("{local} -> {peer}"))
            })
            .collect()
    }

    /// Whether a member serves clients as leader or follower.
    pub fn serving(&self, id: u32) -> bool {
        matches!(self.mode(id).as_str(), "leader" | "follower" | "standalone")
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self, id: u32) {
        let m = &mut self.members[id as usize - 1];
        if let Some(mut c) = m.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        m.paused = false;
    }

    fn signal(&mut self, id: u32, sig: &str) -> bool {
        let m = &self.members[id as usize - 1];
        let Some(c) = &m.child else { return false };
        Command::new("kill")
            .args([&format!("-{sig}"), &c.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    pub fn pause(&mut self, id: u32) {
        if self.signal(id, "STOP") {
            self.members[id as usize - 1].paused = true;
        }
    }

    pub fn resume(&mut self, id: u32) {
        if self.signal(id, "CONT") {
            self.members[id as usize - 1].paused = false;
        }
    }

    /// `srvr`'s `Mode:` of a member ("down" when it does not answer).
    pub fn mode(&self, id: u32) -> String {
        let m = self.member(id);
        match four_letter(m.ip, m.client_port, "srvr") {
            Some(s) if s.contains("not currently serving") => "not serving".into(),
            Some(s) => s
                .lines()
                .find_map(|l| l.strip_prefix("Mode: "))
                .unwrap_or("down")
                .trim()
                .to_string(),
            None => "down".into(),
        }
    }

    pub fn leader(&self) -> Option<u32> {
        self.members
            .iter()
            .filter(|m| m.running() && !m.paused)
            .map(|m| m.id)
            .find(|&id| self.mode(id) == "leader")
    }

    pub fn connect_string(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}:{}", m.ip, m.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Heals everything (resume, restart) and waits until every member
    /// serves, up to `within`.
    pub fn heal(&mut self, within: Duration) -> bool {
        for id in 1..=self.members.len() as u32 {
            if self.members[id as usize - 1].paused {
                self.resume(id);
            }
            let _ = self.start_member(id);
        }
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let ok = (1..=self.members.len() as u32)
                .all(|id| matches!(self.mode(id).as_str(), "leader" | "follower" | "standalone"));
            if ok {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    pub fn stop(&mut self) {
        for id in 1..=self.members.len() as u32 {
            if self.members[id as usize - 1].paused {
                self.resume(id);
            }
            self.kill(id);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        for m in &self.members {
            if m.own_disk {
                super::damage::unmount(&m.data_dir());
            }
        }
    }
}

pub fn four_letter(ip: std::net::Ipv4Addr, port: u16, word: &str) -> Option<String> {
    let addr = std::net::SocketAddr::from((ip, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Partitions between members' addresses, as policy-routing rules inside
/// the harness's own network namespace (never the host's: [`Net::new`]
/// refuses unless the namespace has no interface but `lo`). A rule
/// `from A to B blackhole`, consulted before the local table, drops what A
/// sends to B; every member's traffic leaves from its own address (ours
/// binds its quorum and election connections to its `server.N` address), so
/// the rules cut exactly the links they name. (`tc` filters would do too,
/// but the kernels this runs on may lack the classifier modules.)
pub struct Net {
    installed: bool,
}

fn ip_cmd(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Net {
    pub fn new() -> Result<Net, String> {
        let links = Command::new("ip")
            .args(["-o", "link", "show"])
            .output()
            .map_err(|e| format!("ip link: {e}"))?;
        let text = String::from_utf8_lossy(&links.stdout);
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or(""))
            .collect();
        if names != ["lo"] {
            return Err(format!(
                "not in a network namespace of its own (interfaces {names:?}); run under \
                 `unshare -n`, as scripts/chaos.sh --partitions does"
            ));
        }
        if !ip_cmd(&["link", "set", "lo", "up"]) {
            return Err("ip link set lo up failed".into());
        }
        // The local table is looked up at preference 0; move it behind
        // the cuts' preference 10 (once per namespace: a later run finds
        // it moved).
        let rules = Command::new("ip")
            .args(["rule", "show"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let at = |pref: &str| {
            rules
                .lines()
                .any(|l| l.starts_with(&format!("{pref}:")) && l.contains("lookup local"))
        };
        let moved = if at("0") {
            ip_cmd(&["rule", "add", "pref", "100", "lookup", "local"])
                && ip_cmd(&["rule", "del", "pref", "0"])
        } else {
            at("100")
        };
        if !moved {
            return Err("ip rule: cannot move the local table (policy routing unavailable)".into());
        }
        Ok(Net { installed: true })
    }

    /// Drops every packet from `from` to `to` (one direction).
    pub fn cut(&self, from: std::net::Ipv4Addr, to: std::net::Ipv4Addr) -> bool {
        ip_cmd(&[
            "rule",
            "add",
            "pref",
            "10",
            "from",
            &from.to_string(),
            "to",
            &to.to_string(),
            "blackhole",
        ])
    }

    /// Gives the processes of `uid` the source address `ip` for what they
    /// send inside 127.0.0.0/8 (a table of their own with a `src` hint,
    /// consulted before the local table): for members that do not bind
    /// their outgoing connections. The cuts (preference 10) still apply,
    /// since the kernel routes again once the source is chosen.
    pub fn route_uid(&self, uid: u32, ip: std::net::Ipv4Addr) -> Result<(), String> {
        let table = (1000 + uid).to_string();
        let range = format!("{uid}-{uid}");
        let route = ip_cmd(&[
            "route",
            "replace",
            "127.0.0.0/8",
            "dev",
            "lo",
            "src",
            &ip.to_string(),
            "table",
            &table,
        ]);
        while ip_cmd(&["rule", "del", "pref", "50", "uidrange", &range]) {}
        if route
            && ip_cmd(&[
                "rule", "add", "pref", "50", "uidrange", &range, "lookup", &table,
            ])
        {
            Ok(())
        } else {
            Err(format!("ip rule/route for uid {uid} ({ip}) failed"))
        }
    }

    /// Removes every cut.
    pub fn heal(&self) {
        for _ in 0..64 {
            if !ip_cmd(&["rule", "del", "pref", "10"]) {
                break;
            }
        }
    }

    /// Whether a TCP connection from `from` reaches `to:port` within half a
    /// second: the check that a cut really cuts (and a heal heals).
    pub fn reaches(from: std::net::Ipv4Addr, to: std::net::Ipv4Addr, port: u16) -> bool {
        let Ok(sock) = socket_from(from) else {
            return false;
        };
        let addr = std::net::SocketAddr::from((to, port));
        sock.connect_timeout(&addr.into(), Duration::from_millis(500))
            .is_ok()
    }
}

fn socket_from(from: std::net::Ipv4Addr) -> std::io::Result<socket2::Socket> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&std::net::SocketAddr::from((from, 0)).into())?;
    Ok(s)
}

impl Drop for Net {
    fn drop(&mut self) {
        if self.installed {
            self.heal();
        }
    }
}
