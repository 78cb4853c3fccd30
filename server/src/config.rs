//! zoo.cfg: the same keys and meanings as Apache ZooKeeper's
//! `QuorumPeerConfig`. Unknown keys are accepted (ZooKeeper turns them into
//! `zookeeper.<key>` system properties); a bad value for a known key is an
//! error naming the key and the line.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A configuration error: which line, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}: {}", self.line, self.key, self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// One `server.N` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub id: u64,
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub observer: bool,
    pub client_addr: Option<(String, u16)>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub tick_time: u64,
    pub init_limit: Option<u32>,
    pub sync_limit: Option<u32>,
    pub data_dir: PathBuf,
    pub data_log_dir: Option<PathBuf>,
    pub client_port: u16,
    pub client_port_address: Option<IpAddr>,
    pub max_client_cnxns: u32,
    pub min_session_timeout: i32,
    pub max_session_timeout: i32,
    pub snap_count: u64,
    pub pre_alloc_size_kb: u64,
    pub snap_retain_count: u32,
    pub purge_interval_hours: u32,
    pub four_letter_whitelist: HashSet<String>,
    pub global_outstanding_limit: u32,
    pub skip_acl: bool,
    pub force_sync: bool,
    pub extended_types: bool,
    pub super_digest: Option<String>,
    pub jute_max_buffer: usize,
    pub servers: BTreeMap<u64, ServerSpec>,
    pub peer_type_observer: bool,
    pub standalone_enabled: bool,
    pub reconfig_enabled: bool,
    pub log_level: Option<String>,
    pub log_file: Option<PathBuf>,
    /// `znode.container.checkIntervalMs`.
    pub container_check_interval_ms: u64,
    /// Server id (myid); 1 when standalone.
    pub server_id: u64,
    /// Every `key=value` as written, in file order, for the settings read by
    /// the parts that own them (the quorum's in `quorum::peer_config`).
    pub raw: Vec<(String, String)>,
}

/// All 4lw commands ZooKeeper knows.
pub const ALL_FOUR_LETTER_WORDS: &[&str] = &[
    "ruok", "srvr", "stat", "conf", "cons", "crst", "dump", "envi", "mntr", "wchs", "wchc", "wchp",
    "dirs", "isro", "srst", "gtmk", "stmk", "hash",
];

impl Config {
    /// Defaults for an embedded or test server on `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        let tick_time = 2000;
        Config {
            tick_time,
            init_limit: None,
            sync_limit: None,
            data_dir: data_dir.into(),
            data_log_dir: None,
            client_port: 2181,
            client_port_address: None,
            max_client_cnxns: 60,
            min_session_timeout: (2 * tick_time) as i32,
            max_session_timeout: (20 * tick_time) as i32,
            snap_count: 100_000,
            pre_alloc_size_kb: 65_536,
            snap_retain_count: 3,
            purge_interval_hours: 0,
            four_letter_whitelist: ["srvr".to_string()].into_iter().collect(),
            global_outstanding_limit: 1000,
            skip_acl: false,
            force_sync: true,
            extended_types: false,
            super_digest: None,
            jute_max_buffer: zkproto::consts::DEFAULT_MAX_BUFFER,
            servers: BTreeMap::new(),
            peer_type_observer: false,
            standalone_enabled: true,
            reconfig_enabled: false,
            log_level: None,
            log_file: None,
            container_check_interval_ms: 60_000,
            server_id: 1,
            raw: Vec::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            line: 0,
            key: path.display().to_string(),
            message: format!("cannot read config file: {e}"),
        })?;
        Config::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut c = Config::new("");
        let mut data_dir = None;
        let mut client_port = None;
        let mut min_to = None;
        let mut max_to = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let Some((k, v)) = l.split_once('=') else {
                return Err(ConfigError {
                    line,
                    key: l.to_string(),
                    message: "expected key=value".into(),
                });
            };
            let (k, v) = (k.trim(), v.trim());
            let err = |m: &str| ConfigError {
                line,
                key: k.to_string(),
                message: format!("{m}: '{v}'"),
            };
            let num = |m: &str| v.parse::<u64>().map_err(|_| err(m));
            let boolean = || match v.to_ascii_lowercase().as_str() {
                "yes" | "true" => Ok(true),
                "no" | "false" => Ok(false),
                _ => Err(err("expected yes/no or true/false")),
            };
            c.raw.push((k.to_string(), v.to_string()));
            match k {
                "tickTime" => c.tick_time = num("expected a number of milliseconds")?.max(1),
                "initLimit" => c.init_limit = Some(num("expected a number of ticks")? as u32),
                "syncLimit" => c.sync_limit = Some(num("expected a number of ticks")? as u32),
                "dataDir" => data_dir = Some(PathBuf::from(v)),
                "dataLogDir" => c.data_log_dir = Some(PathBuf::from(v)),
                "clientPort" => {
                    client_port = Some(
                        v.parse::<u16>()
                            .map_err(|_| err("expected a port number"))?,
                    )
                }
                "clientPortAddress" => {
                    c.client_port_address =
                        Some(v.parse().map_err(|_| err("expected an IP address"))?)
                }
                "maxClientCnxns" => c.max_client_cnxns = num("expected a number")? as u32,
                "minSessionTimeout" => {
                    min_to = Some(v.parse::<i32>().map_err(|_| err("expected milliseconds"))?)
                }
                "maxSessionTimeout" => {
                    max_to = Some(v.parse::<i32>().map_err(|_| err("expected milliseconds"))?)
                }
                "snapCount" | "zookeeper.snapCount" => {
                    c.snap_count = num("expected a number")?.max(2)
                }
                "preAllocSize" | "zookeeper.preAllocSize" => {
                    c.pre_alloc_size_kb = num("expected a size in KiB")?
                }
                "autopurge.snapRetainCount" => {
                    c.snap_retain_count = (num("expected a number")? as u32).max(3)
                }
                "autopurge.purgeInterval" => c.purge_interval_hours = num("expected hours")? as u32,
                "4lw.commands.whitelist" | "zookeeper.4lw.commands.whitelist" => {
                    let mut set = HashSet::new();
                    for w in v.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                        if w == "*" {
                            set.extend(ALL_FOUR_LETTER_WORDS.iter().map(|s| s.to_string()));
                        } else if ALL_FOUR_LETTER_WORDS.contains(&w) {
                            set.insert(w.to_string());
                        } else {
                            return Err(err("unknown four letter word"));
                        }
                    }
                    c.four_letter_whitelist = set;
                }
                "globalOutstandingLimit" | "zookeeper.globalOutstandingLimit" => {
                    c.global_outstanding_limit = num("expected a number")? as u32
                }
                "skipACL" | "zookeeper.skipACL" => c.skip_acl = boolean()?,
                "forceSync" | "zookeeper.forceSync" => c.force_sync = boolean()?,
                "extendedTypesEnabled" | "zookeeper.extendedTypesEnabled" => {
                    c.extended_types = boolean()?
                }
                "superDigest"
                | "DigestAuthenticationProvider.superDigest"
                | "zookeeper.DigestAuthenticationProvider.superDigest" => {
                    if !v.contains(':') {
                        return Err(err("expected user:base64digest"));
                    }
                    c.super_digest = Some(v.to_string())
                }
                "jute.maxbuffer" => {
                    let n = if let Some(h) = v.strip_prefix("0x") {
                        u64::from_str_radix(h, 16).map_err(|_| err("expected a size in bytes"))?
                    } else {
                        num("expected a size in bytes")?
                    };
                    c.jute_max_buffer = n as usize
                }
                "peerType" => match v {
                    "observer" => c.peer_type_observer = true,
                    "participant" => c.peer_type_observer = false,
                    _ => return Err(err("expected participant or observer")),
                },
                "standaloneEnabled" => c.standalone_enabled = boolean()?,
                "reconfigEnabled" => c.reconfig_enabled = boolean()?,
                "electionAlg" if v != "3" => {
                    return Err(err("only electionAlg=3 is supported"));
                }
                "logLevel" | "zkserver.logLevel" => c.log_level = Some(v.to_string()),
                "logFile" | "zkserver.logFile" => c.log_file = Some(PathBuf::from(v)),
                "znode.container.checkIntervalMs" | "zookeeper.znode.container.checkIntervalMs" => {
                    c.container_check_interval_ms = num("expected milliseconds")?.max(1)
                }
                _ if k.starts_with("server.") => {
                    let id: u64 = k["server.".len()..]
                        .parse()
                        .map_err(|_| err("expected server.<number>"))?;
                    let spec = parse_server(id, v).map_err(|m| err(&m))?;
                    c.servers.insert(id, spec);
                }
                // Everything else is accepted, as ZooKeeper does.
                _ => {}
            }
        }
        c.data_dir = data_dir.ok_or(ConfigError {
            line: 0,
            key: "dataDir".into(),
            message: "dataDir is not set".into(),
        })?;
        c.client_port = match client_port {
            Some(p) => p,
            None => {
                // A quorum config may give the client port on its server line.
                let from_server = c
                    .servers
                    .values()
                    .find_map(|s| s.client_addr.as_ref().map(|a| a.1));
                from_server.ok_or(ConfigError {
                    line: 0,
                    key: "clientPort".into(),
                    message: "clientPort is not set".into(),
                })?
            }
        };
        c.min_session_timeout = min_to.unwrap_or((2 * c.tick_time) as i32);
        c.max_session_timeout = max_to.unwrap_or((20 * c.tick_time) as i32);
        if c.min_session_timeout > c.max_session_timeout {
            return Err(ConfigError {
                line: 0,
                key: "minSessionTimeout".into(),
                message: format!(
                    "minSessionTimeout ({}) must not be larger than maxSessionTimeout ({})",
                    c.min_session_timeout, c.max_session_timeout
                ),
            });
        }
        if c.servers.len() > 1 && (c.init_limit.is_none() || c.sync_limit.is_none()) {
            return Err(ConfigError {
                line: 0,
                key: if c.init_limit.is_none() {
                    "initLimit"
                } else {
                    "syncLimit"
                }
                .into(),
                message: "is required in quorum mode".into(),
            });
        }
        Ok(c)
    }

    /// One line per setting that ZooKeeper acts on and this server accepts but
    /// does not, so that an operator is never misled by a key that looks
    /// honoured (TLS ports, the admin server, metrics providers, quorum TLS and
    /// SASL, local sessions, reconfig).
    pub fn ignored_settings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.raw {
            let truthy = matches!(v.to_ascii_lowercase().as_str(), "true" | "yes");
            let why = match k.as_str() {
                "secureClientPort" | "secureClientPortAddress" => {
                    "TLS for clients is not supported"
                }
                "admin.enableServer" if truthy => "the admin HTTP server is not built yet",
                "admin.serverPort" | "admin.serverAddress" | "admin.commandURL" => {
                    "the admin HTTP server is not built yet"
                }
                "sslQuorum" | "portUnification" | "client.portUnification" if truthy => {
                    "TLS is not supported"
                }
                "reconfigEnabled" if truthy => {
                    "dynamic reconfig is not supported (reconfig answers ReconfigDisabled)"
                }
                "localSessionsEnabled" | "localSessionsUpgradingEnabled" if truthy => {
                    "local sessions are not supported; every session is global"
                }
                "dynamicConfigFile" => "dynamic configuration files are not supported",
                "multiAddress.enabled" if truthy => {
                    "multiple addresses per server are not supported"
                }
                _ if k.starts_with("metricsProvider.") => "metrics providers are not supported yet",
                _ if k.starts_with("ssl.") || k.starts_with("zookeeper.ssl.") => {
                    "TLS is not supported"
                }
                _ if k.starts_with("quorum.auth.") && truthy => "quorum SASL is not supported",
                _ if k.starts_with("authProvider.") => {
                    "only the built-in digest, ip and world schemes are supported"
                }
                _ => continue,
            };
            out.push(format!("zoo.cfg: {k}={v} is ignored: {why}"));
        }
        out
    }

    /// Where transaction logs go (`dataLogDir`, or `dataDir`).
    pub fn log_dir(&self) -> &Path {
        self.data_log_dir.as_deref().unwrap_or(&self.data_dir)
    }
}

/// `host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`.
fn parse_server(id: u64, v: &str) -> Result<ServerSpec, String> {
    let (addr, client) = match v.split_once(';') {
        Some((a, c)) => (a, Some(c)),
        None => (v, None),
    };
    // Only the first address of a multi-address (`|`) line is used for now.
    let addr = addr.split('|').next().unwrap_or_default();
    let parts: Vec<&str> = addr.split(':').collect();
    if parts.len() < 3 || parts.len() > 4 {
        return Err("expected host:quorumPort:electionPort[:role]".into());
    }
    let port = |s: &str| s.parse::<u16>().map_err(|_| format!("bad port '{s}'"));
    let observer = match parts.get(3) {
        None | Some(&"participant") => false,
        Some(&"observer") => true,
        Some(r) => return Err(format!("bad role '{r}'")),
    };
    let client_addr = match client {
        None => None,
        Some(c) => {
            let c = c.trim();
            Some(match c.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), port(p)?),
                None => ("0.0.0.0".to_string(), port(c)?),
            })
        }
    };
    Ok(ServerSpec {
        id,
        host: parts[0].to_string(),
        quorum_port: port(parts[1])?,
        election_port: port(parts[2])?,
        observer,
        client_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sample() {
        let c = Config::parse(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/tmp/zk\nclientPort=2181\n\
             4lw.commands.whitelist=ruok, srvr\nserver.1=127.0.0.1:2888:3888\nunknown.key=1\n",
        )
        .unwrap();
        assert_eq!(c.tick_time, 2000);
        assert_eq!(c.max_session_timeout, 40000);
        assert!(c.four_letter_whitelist.contains("ruok"));
        assert_eq!(c.servers[&1].election_port, 3888);
    }

    #[test]
    fn settings_zookeeper_acts_on_but_we_do_not_are_named() {
        let c = Config::parse(
            "dataDir=/x\nclientPort=1\nsecureClientPort=2281\nadmin.enableServer=false\n\
             metricsProvider.className=x.Y\nsslQuorum=true\nunknown.key=1\n",
        )
        .unwrap();
        let w = c.ignored_settings();
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].starts_with("zoo.cfg: secureClientPort=2281 is ignored: TLS"));
        assert!(w[1].contains("metricsProvider.className"));
        assert!(w[2].contains("sslQuorum=true"));
    }

    #[test]
    fn errors_name_key_and_line() {
        let e = Config::parse("dataDir=/x\nclientPort=abc\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.key, "clientPort");
        let e = Config::parse("clientPort=1\n").unwrap_err();
        assert_eq!(e.key, "dataDir");
        let e =
            Config::parse("dataDir=/x\nclientPort=1\nminSessionTimeout=9\nmaxSessionTimeout=5\n")
                .unwrap_err();
        assert_eq!(e.key, "minSessionTimeout");
    }
}
