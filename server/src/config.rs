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
        let text = with_dynamic_config(path, text)?;
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
                    // ZooKeeper takes a host name here too.
                    c.client_port_address = Some(match v.parse::<IpAddr>() {
                        Ok(ip) => ip,
                        Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(v, 0))
                            .ok()
                            .and_then(|mut a| a.next())
                            .map(|a| a.ip())
                            .ok_or_else(|| {
                                err("expected an IP address or a resolvable host name")
                            })?,
                    })
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
                    // Unknown words are accepted, as ZooKeeper accepts them
                    // (`ignored_settings` names them).
                    for w in v.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                        if w == "*" {
                            set.extend(ALL_FOUR_LETTER_WORDS.iter().map(|s| s.to_string()));
                        } else if ALL_FOUR_LETTER_WORDS.contains(&w) {
                            set.insert(w.to_string());
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
                _ if k.starts_with("group.") || k.starts_with("weight.") => {
                    return Err(err(
                        "hierarchical quorums (group.N / weight.N) are not supported: \
                         this server counts a quorum as a majority of the voters",
                    ));
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
        if c.servers.len() > 1 {
            for (i, (k, v)) in c.raw.iter().enumerate() {
                let truthy = matches!(v.to_ascii_lowercase().as_str(), "true" | "yes");
                let why = match k.as_str() {
                    "sslQuorum" if truthy => {
                        "quorum TLS is not supported: this server's election and quorum \
                         connections are plain TCP, which TLS members refuse"
                    }
                    "quorum.auth.learnerRequireSasl" | "quorum.auth.serverRequireSasl"
                        if truthy =>
                    {
                        "quorum SASL is not supported: this server can neither authenticate \
                         to its peers nor check them (quorum.auth.enableSasl=true alone, with \
                         both *RequireSasl=false, is accepted)"
                    }
                    _ => continue,
                };
                return Err(ConfigError {
                    line: i + 1,
                    key: k.clone(),
                    message: format!("{k}={v}: {why}"),
                });
            }
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
                "dynamicConfigFile" => {
                    "its server lines are read as a static membership (dynamic reconfig is \
                     not supported)"
                }
                "multiAddress.enabled" if truthy => {
                    "multiple addresses per server are not supported"
                }
                _ if k.starts_with("metricsProvider.") => "metrics providers are not supported yet",
                _ if k.starts_with("ssl.") || k.starts_with("zookeeper.ssl.") => {
                    "TLS is not supported"
                }
                "quorum.auth.enableSasl" if truthy => {
                    "quorum SASL is not supported: this member neither authenticates nor \
                     asks its peers to, which works only while no member requires it"
                }
                "observerMasterPort" => {
                    "observers sync from the leader (no observer master port is opened)"
                }
                "oraclePath" => "the two-member oracle is not supported",
                "4lw.commands.whitelist" | "zookeeper.4lw.commands.whitelist" => {
                    let unknown: Vec<&str> = v
                        .split(',')
                        .map(str::trim)
                        .filter(|w| !w.is_empty() && *w != "*")
                        .filter(|w| !ALL_FOUR_LETTER_WORDS.contains(w))
                        .collect();
                    if unknown.is_empty() {
                        continue;
                    }
                    out.push(format!(
                        "zoo.cfg: {k}: unknown four letter words ignored: {}",
                        unknown.join(", ")
                    ));
                    continue;
                }
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

/// A `dynamicConfigFile` (what a 3.8 member with `reconfigEnabled=true`
/// writes its `server.N` lines to, rewriting zoo.cfg to point at it): its
/// lines are read as if they were in zoo.cfg, so a member's config works as
/// it is. Relative paths are tried from the working directory, as ZooKeeper
/// does, then from zoo.cfg's own directory.
fn with_dynamic_config(path: &Path, text: String) -> Result<String, ConfigError> {
    let Some(dyn_path) = text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "dynamicConfigFile").then(|| PathBuf::from(v.trim()))
    }) else {
        return Ok(text);
    };
    if text.lines().any(|l| l.trim_start().starts_with("server.")) {
        return Err(ConfigError {
            line: 0,
            key: "dynamicConfigFile".into(),
            message: "server.N lines must be in the dynamic config file, not in zoo.cfg".into(),
        });
    }
    let candidates = [
        dyn_path.clone(),
        path.parent().unwrap_or(Path::new(".")).join(&dyn_path),
    ];
    let found = candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok());
    let dynamic = found.ok_or_else(|| ConfigError {
        line: 0,
        key: "dynamicConfigFile".into(),
        message: format!("cannot read {}", dyn_path.display()),
    })?;
    let mut out = text;
    out.push('\n');
    for l in dynamic.lines() {
        let l = l.trim();
        if l.starts_with("server.") || l.starts_with("group.") || l.starts_with("weight.") {
            out.push_str(l);
            out.push('\n');
        }
    }
    Ok(out)
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

    /// Every key QuorumPeerConfig.parseProperties (3.8) reads, with a value a
    /// real member's config would hold, plus the keys commonly given as
    /// `zookeeper.*` properties through zoo.cfg: all accepted in an
    /// ensemble config, and the quorum settings derived from them.
    #[test]
    fn every_key_of_a_zookeeper_3_8_member_config_is_accepted() {
        let keys = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/var/lib/zookeeper\n\
            dataLogDir=/var/lib/zookeeper-log\nclientPort=2181\nclientPortAddress=localhost\n\
            localSessionsEnabled=false\nlocalSessionsUpgradingEnabled=false\n\
            secureClientPort=2281\nsecureClientPortAddress=0.0.0.0\nobserverMasterPort=2191\n\
            clientPortListenBacklog=50\nmaxClientCnxns=60\nminSessionTimeout=4000\n\
            maxSessionTimeout=40000\nconnectToLearnerMasterLimit=10\nelectionAlg=3\n\
            quorumListenOnAllIPs=false\npeerType=participant\nsyncEnabled=true\n\
            autopurge.snapRetainCount=3\nautopurge.purgeInterval=1\nstandaloneEnabled=true\n\
            reconfigEnabled=false\nsslQuorum=false\nportUnification=false\n\
            sslQuorumReloadCertFiles=false\nquorum.auth.enableSasl=false\n\
            quorum.auth.serverRequireSasl=false\nquorum.auth.learnerRequireSasl=false\n\
            quorum.auth.learner.saslLoginContext=QuorumLearner\n\
            quorum.auth.server.saslLoginContext=QuorumServer\n\
            quorum.auth.kerberos.servicePrincipal=zkquorum/localhost\n\
            quorum.cnxn.threads.size=20\njvm.pause.info-threshold.ms=1000\n\
            jvm.pause.warn-threshold.ms=10000\njvm.pause.sleep.time.ms=500\n\
            jvm.pause.monitor=false\n\
            metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
            metricsProvider.httpPort=7000\nmetricsProvider.exportJvmInfo=true\n\
            multiAddress.enabled=false\nmultiAddress.reachabilityCheckTimeoutMs=1000\n\
            multiAddress.reachabilityCheckEnabled=true\noraclePath=/tmp/oracle\n\
            admin.enableServer=false\nadmin.serverPort=8080\nadmin.serverAddress=0.0.0.0\n\
            admin.commandURL=/commands\n4lw.commands.whitelist=srvr,mntr,ruok,conf,madeup\n\
            snapCount=100000\nsnapSizeLimitInKb=4194304\ntxnLogSizeLimitInKb=-1\n\
            preAllocSize=65536\nforceSync=yes\nglobalOutstandingLimit=1000\nskipACL=no\n\
            jute.maxbuffer=0xfffff\ncnxTimeout=5000\nelectionPortBindRetry=3\nleaderServes=yes\n\
            maxCnxns=0\ndigest.enabled=true\ncommitLogCount=500\nfsync.warningthresholdms=1000\n\
            flushDelay=0\nmaxWriteQueuePollTime=0\nmaxBatchSize=1000\nrequestThrottleLimit=0\n\
            learner.asyncSending=false\nlearner.closeSocketAsync=false\n\
            leader.closeSocketAsync=false\naudit.enable=false\nextendedTypesEnabled=true\n\
            emulate353TTLNodes=false\nsnapshot.trust.empty=false\nserverCnxnFactory=\
            org.apache.zookeeper.server.NettyServerCnxnFactory\nsuperUser=admin\n\
            authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n\
            server.1=zk1.local:2888:3888;2181\nserver.2=127.0.0.1:2888:3888:participant\n\
            server.3=127.0.0.1:2889:3889:observer;127.0.0.1:2183\n";
        let c = Config::parse(keys).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.servers.len(), 3);
        assert_eq!(c.client_port_address, Some("127.0.0.1".parse().unwrap()));
        assert!(c.four_letter_whitelist.contains("mntr"));
        let q = crate::quorum::peer_config::QuorumConfig::with_id(&c, 2).unwrap();
        assert_eq!(q.servers.len(), 3);
        let w = c.ignored_settings().join("\n");
        for named in [
            "secureClientPort",
            "observerMasterPort",
            "metricsProvider.className",
            "oraclePath",
            "madeup",
            "authProvider.1",
        ] {
            assert!(
                w.contains(named),
                "{named} not named among the ignored: {w}"
            );
        }
    }

    #[test]
    fn quorum_tls_required_sasl_and_weighted_quorums_are_refused_in_an_ensemble() {
        let base = "dataDir=/x\nclientPort=1\ninitLimit=5\nsyncLimit=2\n\
                    server.1=127.0.0.1:1:2\nserver.2=127.0.0.1:3:4\n";
        for (extra, needle) in [
            ("sslQuorum=true", "quorum TLS is not supported"),
            (
                "quorum.auth.learnerRequireSasl=true",
                "quorum SASL is not supported",
            ),
            (
                "quorum.auth.serverRequireSasl=true",
                "quorum SASL is not supported",
            ),
            ("group.1=1:2", "hierarchical quorums"),
            ("weight.1=2", "hierarchical quorums"),
        ] {
            let e = Config::parse(&format!("{base}{extra}\n")).unwrap_err();
            assert!(e.to_string().contains(needle), "{extra}: {e}");
        }
        // Optional SASL (nobody requires it) works with non-SASL members.
        let c = Config::parse(&format!("{base}quorum.auth.enableSasl=true\n")).unwrap();
        assert!(c.ignored_settings()[0].contains("quorum SASL is not supported"));
        // Standalone, quorum TLS is only a warning.
        let c = Config::parse("dataDir=/x\nclientPort=1\nsslQuorum=true\n").unwrap();
        assert_eq!(c.ignored_settings().len(), 1);
    }

    #[test]
    fn a_dynamic_config_file_is_read_as_the_static_membership() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("zoo.cfg.dynamic.100000000"),
            "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
             server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\nversion=100000000\n",
        )
        .unwrap();
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg,
            "dataDir=/x\ninitLimit=5\nsyncLimit=2\nreconfigEnabled=true\n\
             dynamicConfigFile=zoo.cfg.dynamic.100000000\n",
        )
        .unwrap();
        let c = Config::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.servers.len(), 2);
        assert_eq!(c.client_port, 2181);
        std::fs::write(&cfg, "dataDir=/x\ndynamicConfigFile=missing\n").unwrap();
        assert!(Config::load(&cfg)
            .unwrap_err()
            .to_string()
            .contains("missing"));
    }
}
