//! An ensemble member's settings: zoo.cfg's `server.N` lines and quorum keys,
//! plus `myid` from the dataDir, checked the way `QuorumPeerConfig` checks
//! them, with one-line errors that name the file or key at fault.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Config, ServerSpec};

use super::types::{LearnerType, Sid};

/// What a member needs beyond the standalone settings.
#[derive(Clone, Debug)]
pub struct QuorumConfig {
    pub my_id: Sid,
    pub my_type: LearnerType,
    /// Every `server.N` line, by id.
    pub servers: BTreeMap<Sid, ServerSpec>,
    pub tick_time_ms: u64,
    pub init_limit: u32,
    pub sync_limit: u32,
    /// `leaderServes` (default yes): whether the leader takes client connections.
    pub leader_serves: bool,
    /// `quorumListenOnAllIPs`: bind the quorum and election ports on 0.0.0.0.
    pub listen_on_all_ips: bool,
    /// `electionPortBindRetry` (default 3; 0 = retry forever).
    pub election_port_bind_retry: u32,
    /// `cnxTimeout` (ms, default 5000): connect timeout on the election port.
    pub cnx_timeout: Duration,
    /// `readonlymode.enabled` (a JVM property in ZooKeeper; also a key here).
    pub read_only_enabled: bool,
}

/// Whether `cfg` describes an ensemble rather than a standalone server
/// (`QuorumPeerConfig.isDistributed`): more than one voting member, or any
/// server line with `standaloneEnabled=false`.
pub fn is_distributed(cfg: &Config) -> bool {
    let voters = cfg.servers.values().filter(|s| !s.observer).count();
    !cfg.servers.is_empty() && (voters > 1 || !cfg.standalone_enabled)
}

fn last<'a>(cfg: &'a Config, keys: &[&str]) -> Option<&'a str> {
    cfg.raw
        .iter()
        .rev()
        .find(|(k, _)| keys.contains(&k.as_str()))
        .map(|(_, v)| v.as_str())
}

fn boolean(key: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(format!("{key}: expected yes/no or true/false: '{v}'")),
    }
}

fn number(key: &str, v: &str) -> Result<u64, String> {
    v.parse::<u64>()
        .map_err(|_| format!("{key}: expected a number: '{v}'"))
}

/// Reads `dataDir/myid` as ZooKeeper does (the first line, trimmed).
pub fn read_myid(data_dir: &std::path::Path) -> Result<Sid, String> {
    let path: PathBuf = data_dir.join("myid");
    let text = fs::read_to_string(&path)
        .map_err(|e| format!("{}: cannot read myid: {e}", path.display()))?;
    let first = text.lines().next().unwrap_or("").trim();
    first
        .parse::<Sid>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| format!("{}: myid must be a number, not '{first}'", path.display()))
}

impl QuorumConfig {
    /// Builds the quorum settings of a distributed `cfg`, reading its myid.
    pub fn from_config(cfg: &Config) -> Result<QuorumConfig, String> {
        let my_id = read_myid(&cfg.data_dir)?;
        Self::with_id(cfg, my_id)
    }

    /// As [`QuorumConfig::from_config`] with a known id (tests).
    pub fn with_id(cfg: &Config, my_id: Sid) -> Result<QuorumConfig, String> {
        let servers: BTreeMap<Sid, ServerSpec> = cfg
            .servers
            .iter()
            .map(|(id, s)| (*id as Sid, s.clone()))
            .collect();
        let Some(me) = servers.get(&my_id) else {
            let myid = cfg.data_dir.join("myid");
            return Err(format!(
                "{}: myid {my_id} has no server.{my_id} line in the configuration",
                myid.display()
            ));
        };
        if !(1..=255).contains(&my_id) {
            // Session ids keep myid in their high byte (quorum-wire §8.23).
            return Err(format!(
                "server.{my_id}: ids must be 1..255 so that session ids stay unique"
            ));
        }
        let my_type = if me.observer || cfg.peer_type_observer {
            LearnerType::Observer
        } else {
            LearnerType::Participant
        };
        if cfg.peer_type_observer && !me.observer {
            return Err(format!(
                "peerType=observer but server.{my_id} is not marked ':observer'"
            ));
        }
        let init_limit = cfg
            .init_limit
            .ok_or_else(|| "initLimit: is required in quorum mode".to_string())?;
        let sync_limit = cfg
            .sync_limit
            .ok_or_else(|| "syncLimit: is required in quorum mode".to_string())?;
        let mut q = QuorumConfig {
            my_id,
            my_type,
            servers,
            tick_time_ms: cfg.tick_time,
            init_limit,
            sync_limit,
            leader_serves: true,
            listen_on_all_ips: false,
            election_port_bind_retry: 3,
            cnx_timeout: Duration::from_millis(5000),
            read_only_enabled: false,
        };
        if let Some(v) = last(cfg, &["leaderServes", "zookeeper.leaderServes"]) {
            q.leader_serves = boolean("leaderServes", v)?;
        }
        if let Some(v) = last(cfg, &["quorumListenOnAllIPs"]) {
            q.listen_on_all_ips = boolean("quorumListenOnAllIPs", v)?;
        }
        if let Some(v) = last(
            cfg,
            &["electionPortBindRetry", "zookeeper.electionPortBindRetry"],
        ) {
            q.election_port_bind_retry = number("electionPortBindRetry", v)? as u32;
        }
        if let Some(v) = last(cfg, &["cnxTimeout", "zookeeper.cnxTimeout"]) {
            q.cnx_timeout = Duration::from_millis(number("cnxTimeout", v)?.max(1));
        }
        if let Some(v) = last(cfg, &["readonlymode.enabled"]) {
            q.read_only_enabled = boolean("readonlymode.enabled", v)?;
        }
        let voters = q.voters().len();
        if voters == 0 {
            return Err("the configuration has no voting member".into());
        }
        Ok(q)
    }

    pub fn voters(&self) -> Vec<Sid> {
        self.servers
            .iter()
            .filter(|(_, s)| !s.observer)
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn observers(&self) -> Vec<Sid> {
        self.servers
            .iter()
            .filter(|(_, s)| s.observer)
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn me(&self) -> &ServerSpec {
        // with_id checked that our own line exists.
        &self.servers[&self.my_id]
    }

    /// `host:port` of a member's election port, as configured.
    pub fn election_address(&self, sid: Sid) -> Option<String> {
        self.servers
            .get(&sid)
            .map(|s| format!("{}:{}", s.host, s.election_port))
    }

    /// A member's quorum address, resolved.
    pub fn quorum_socket(&self, sid: Sid) -> Option<SocketAddr> {
        let s = self.servers.get(&sid)?;
        (s.host.as_str(), s.quorum_port)
            .to_socket_addrs()
            .ok()?
            .next()
    }

    /// Our own host as an IP, for binding outgoing connections to it (so a
    /// firewall rule between members' addresses really separates them).
    pub fn bind_ip(&self) -> Option<IpAddr> {
        let me = self.me();
        (me.host.as_str(), 0)
            .to_socket_addrs()
            .ok()?
            .next()
            .map(|a| a.ip())
    }

    /// Where our election (or quorum) listener binds.
    pub fn listen_socket(&self, port: u16) -> Result<SocketAddr, String> {
        if self.listen_on_all_ips {
            return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
        }
        let me = self.me();
        (me.host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("server.{}: cannot resolve '{}': {e}", self.my_id, me.host))?
            .next()
            .ok_or_else(|| format!("server.{}: '{}' resolves to nothing", self.my_id, me.host))
    }

    /// A quorum of voters: a strict majority (`QuorumMaj`).
    pub fn is_quorum(&self, acks: usize) -> bool {
        acks * 2 > self.voters().len()
    }

    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_time_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> Config {
        Config::parse(&format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/nonexistent\nclientPort=2181\n\
             server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n\
             server.3=127.0.0.1:2890:3890:observer\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn members_and_defaults() {
        let c = cfg("");
        assert!(is_distributed(&c));
        let q = QuorumConfig::with_id(&c, 1).unwrap();
        assert_eq!(q.voters(), vec![1, 2]);
        assert_eq!(q.observers(), vec![3]);
        assert_eq!(q.my_type, LearnerType::Participant);
        assert!(q.leader_serves);
        assert_eq!(q.cnx_timeout, Duration::from_millis(5000));
        assert_eq!(q.election_address(2).as_deref(), Some("127.0.0.1:3889"));
        assert!(q.is_quorum(2) && !q.is_quorum(1));
        let o = QuorumConfig::with_id(&c, 3).unwrap();
        assert_eq!(o.my_type, LearnerType::Observer);
    }

    #[test]
    fn quorum_keys_and_their_errors() {
        let q = QuorumConfig::with_id(
            &cfg("leaderServes=no\ncnxTimeout=700\nreadonlymode.enabled=true\nquorumListenOnAllIPs=true\n"),
            2,
        )
        .unwrap();
        assert!(!q.leader_serves && q.read_only_enabled && q.listen_on_all_ips);
        assert_eq!(q.cnx_timeout, Duration::from_millis(700));
        let e = QuorumConfig::with_id(&cfg("leaderServes=maybe\n"), 1).unwrap_err();
        assert!(e.starts_with("leaderServes:"), "{e}");
        let e = QuorumConfig::with_id(&cfg(""), 7).unwrap_err();
        assert!(e.contains("myid 7 has no server.7 line"), "{e}");
        let e = QuorumConfig::with_id(&cfg("peerType=observer\n"), 1).unwrap_err();
        assert!(e.contains("not marked ':observer'"), "{e}");
    }

    #[test]
    fn standalone_cases() {
        let one = Config::parse(
            "dataDir=/x\nclientPort=1\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\n",
        )
        .unwrap();
        assert!(!is_distributed(&one));
        let forced = Config::parse(
            "dataDir=/x\nclientPort=1\ninitLimit=5\nsyncLimit=2\nstandaloneEnabled=false\n\
             server.1=127.0.0.1:2888:3888\n",
        )
        .unwrap();
        assert!(is_distributed(&forced));
        let none = Config::parse("dataDir=/x\nclientPort=1\n").unwrap();
        assert!(!is_distributed(&none));
    }

    #[test]
    fn myid_file() {
        let d = tempfile::tempdir().unwrap();
        let e = read_myid(d.path()).unwrap_err();
        assert!(e.contains("myid") && e.contains("cannot read"), "{e}");
        fs::write(d.path().join("myid"), "x\n").unwrap();
        assert!(read_myid(d.path())
            .unwrap_err()
            .contains("must be a number"));
        fs::write(d.path().join("myid"), " 3\n").unwrap();
        assert_eq!(read_myid(d.path()).unwrap(), 3);
    }
}
