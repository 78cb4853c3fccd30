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
    pub client_port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
    paused: bool,
}

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
}

pub struct Cluster {
    pub members: Vec<Member>,
    bin: PathBuf,
}

/// How the servers are wired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One replicated ensemble.
    Ensemble,
    /// Independent standalone servers behind one connect string: a broken
    /// "ensemble" the checkers must catch (the harness's sanity check).
    Standalones,
}

impl Cluster {
    /// Writes the configs under `dir` and starts every member.
    pub fn start(
        bin: &Path,
        dir: &Path,
        n: u32,
        base: u16,
        layout: Layout,
    ) -> std::io::Result<Cluster> {
        let mut members = Vec::new();
        for id in 1..=n {
            let d = dir.join(id.to_string());
            fs::create_dir_all(d.join("data"))?;
            fs::write(d.join("data/myid"), format!("{id}\n"))?;
            let mut cfg = format!(
                "tickTime=1000\ninitLimit=10\nsyncLimit=3\ndataDir={}\nclientPort={}\n\
                 clientPortAddress=127.0.0.1\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n\
                 admin.enableServer=false\nautopurge.purgeInterval=0\n",
                d.join("data").display(),
                base + id as u16
            );
            if layout == Layout::Ensemble {
                for j in 1..=n {
                    cfg.push_str(&format!(
                        "server.{j}=127.0.0.1:{}:{}\n",
                        base + 100 + j as u16,
                        base + 200 + j as u16
                    ));
                }
            }
            fs::write(d.join("zoo.cfg"), cfg)?;
            members.push(Member {
                id,
                client_port: base + id as u16,
                dir: d,
                child: None,
                paused: false,
            });
        }
        let mut c = Cluster {
            members,
            bin: bin.to_path_buf(),
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
        let m = &mut self.members[id as usize - 1];
        if m.child.is_some() {
            return Ok(());
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.log())?;
        let child = Command::new(bin)
            .arg("start-foreground")
            .arg(m.dir.join("zoo.cfg"))
            .env("ZKSERVER_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        m.child = Some(child);
        m.paused = false;
        Ok(())
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
        match four_letter(self.member(id).client_port, "srvr") {
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
            .map(|m| format!("127.0.0.1:{}", m.client_port))
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
            if !self.members[id as usize - 1].running() {
                let _ = self.start_member(id);
            }
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
    }
}

pub fn four_letter(port: u16, word: &str) -> Option<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}
