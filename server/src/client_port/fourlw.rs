//! Four-letter words on the client port (`ruok`, `srvr`, `mntr`, ...), with
//! ZooKeeper's whitelist rule and output formats.

use std::fmt::Write as _;
use std::net::SocketAddr;

use zkproto::consts::op;

use crate::pipeline::core::Core;

/// The version we report; tools parse the leading `3.8.0`.
pub const VERSION: &str = concat!(
    "3.8.0-zkserver-rs-",
    env!("CARGO_PKG_VERSION"),
    "-",
    env!("ZK_BUILD_COMMIT"),
    ", built on ",
    env!("ZK_BUILD_DATE"),
    " UTC"
);

/// `zkserver --version`: our version, the commit and the build date.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ZK_BUILD_COMMIT"),
    ", built on ",
    env!("ZK_BUILD_DATE"),
    " UTC; reports ZooKeeper 3.8.0 to clients)"
);

/// Java's `Double.toString` for the values we print (`0.0`, `1.5`).
fn jdouble(v: f64) -> String {
    // ZooKeeper rounds averages to four decimals before printing them.
    let v = (v * 10000.0).round() / 10000.0;
    if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Java's `Date.toString()` in UTC: `Sun Nov 22 03:46:29 UTC 2026`.
pub fn java_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        y
    )
}

/// This process's resident set size.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb * 1024)
}

/// The soft limit on open files (RLIMIT_NOFILE).
fn max_fds() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(3)
                        .and_then(|v| v.parse::<u64>().ok())
                })
        })
        .unwrap_or(0)
}

/// Whether a 4-byte prefix of a new connection is a four-letter word.
pub fn is_four_letter_word(b: &[u8; 4]) -> Option<&'static str> {
    let s = std::str::from_utf8(b).ok()?;
    crate::config::ALL_FOUR_LETTER_WORDS
        .iter()
        .find(|w| **w == s)
        .copied()
}

/// The short operation names of `cons` (`lop=`).
fn op_code(o: i32) -> &'static str {
    match o {
        op::PING => "PING",
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => "CREA",
        op::DELETE => "DELE",
        op::EXISTS => "EXIS",
        op::GET_DATA => "GETD",
        op::SET_DATA => "SETD",
        op::GET_ACL => "GETA",
        op::SET_ACL => "SETA",
        op::GET_CHILDREN => "GETC",
        op::GET_CHILDREN2 => "GETC",
        op::SYNC => "SYNC",
        op::MULTI => "MULT",
        op::MULTI_READ => "MLTR",
        op::SET_WATCHES | op::SET_WATCHES2 => "SETW",
        op::CLOSE_SESSION => "CLOS",
        op::ADD_WATCH => "ADDW",
        op::REMOVE_WATCHES => "REMW",
        op::CHECK_WATCHES => "CHKW",
        op::GET_EPHEMERALS => "GETE",
        op::GET_ALL_CHILDREN_NUMBER => "GETACN",
        op::WHO_AM_I => "HOMI",
        _ => "NA",
    }
}

fn dir_size(p: &std::path::Path) -> u64 {
    let dir = p.join("version-2");
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// ZooKeeper's node count: its map holds the root twice (as "" and "/").
fn znode_count(core: &Core) -> usize {
    core.tree.node_count() + 1
}

fn brief_connections(core: &Core, remote: SocketAddr, out: &mut String) {
    for c in core.conns.values() {
        let _ = writeln!(
            out,
            " /{}[{}](queued=0,recved={},sent={})",
            c.remote,
            if c.established { 1 } else { 0 },
            c.stats.packets_received,
            c.stats.packets_sent
        );
    }
    // The four-letter-word connection itself, as ZooKeeper lists it.
    let _ = writeln!(out, " /{remote}[0](queued=0,recved=1,sent=0)");
}

fn server_summary(core: &Core, out: &mut String) {
    let l = &core.stats.latency;
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}/{}/{}",
        l.min(),
        jdouble(l.avg()),
        l.max
    );
    let _ = writeln!(out, "Received: {}", core.stats.packets_received);
    let _ = writeln!(out, "Sent: {}", core.stats.packets_sent);
    // The 4lw connection itself counts, as in ZooKeeper.
    let _ = writeln!(out, "Connections: {}", core.conns.len() + 1);
    let _ = writeln!(out, "Outstanding: {}", core.outstanding_requests());
    let _ = writeln!(out, "Zxid: 0x{:x}", core.last_zxid());
    let _ = writeln!(out, "Mode: {}", core.mode.name());
    let _ = writeln!(out, "Node count: {}", znode_count(core));
    if core.mode == crate::pipeline::role::Mode::Leader {
        let _ = writeln!(out, "Proposal sizes last/min/max: -1/-1/-1");
    }
}

/// Runs `cmd` and returns its output (the caller closes the connection).
pub fn run(core: &mut Core, cmd: &str, remote: SocketAddr) -> String {
    // Only srvr is always allowed (isro too when read-only mode is enabled,
    // which this server does not have).
    let always = cmd == "srvr";
    if !always && !core.cfg.four_letter_whitelist.contains(cmd) {
        return format!("{cmd} is not executed because it is not in the whitelist.\n");
    }
    let mut out = String::new();
    if !core.serving {
        // A member without a quorum (LOOKING, discovery, sync): ZooKeeper's
        // AbstractFourLetterCommand.ZK_NOT_SERVING for the commands that
        // need a running server.
        const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";
        match cmd {
            "ruok" => return "imok".into(),
            "isro" => return "null".into(),
            "hash" => return NOT_SERVING.into(),
            "srvr" | "stat" | "mntr" | "conf" | "cons" | "dump" | "dirs" | "crst" | "srst" => {
                return format!("{NOT_SERVING}\n")
            }
            _ => {}
        }
    }
    match cmd {
        "ruok" => out.push_str("imok"),
        "isro" => out.push_str(if core.is_read_only() { "ro" } else { "rw" }),
        "srvr" => {
            let _ = writeln!(out, "Zookeeper version: {VERSION}");
            if core.is_read_only() {
                out.push_str("READ-ONLY mode; serving only read-only clients\n");
            }
            server_summary(core, &mut out);
        }
        "stat" => {
            let _ = writeln!(out, "Zookeeper version: {VERSION}");
            out.push_str("Clients:\n");
            brief_connections(core, remote, &mut out);
            out.push('\n');
            server_summary(core, &mut out);
        }
        "cons" => {
            for c in core.conns.values() {
                let l = &c.stats.latency;
                let _ = writeln!(
                    out,
                    " /{}[{}](queued=0,recved={},sent={},sid=0x{:x},lop={},est={},to={},lcxid=0x{:x},lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={})",
                    c.remote,
                    if c.established { 1 } else { 0 },
                    c.stats.packets_received,
                    c.stats.packets_sent,
                    c.session_id,
                    op_code(c.stats.last_op),
                    c.stats.established_wall_ms,
                    c.timeout_ms,
                    c.stats.last_cxid,
                    c.stats.last_zxid,
                    c.stats.last_response_wall_ms,
                    c.stats.last_latency,
                    l.min(),
                    l.avg() as u64,
                    l.max
                );
            }
            let _ = writeln!(out, " /{remote}[0](queued=0,recved=1,sent=0)");
            out.push('\n');
        }
        "crst" => {
            for c in core.conns.values_mut() {
                c.stats.reset();
            }
            out.push_str("Connection stats reset.\n");
        }
        "srst" => {
            core.stats.reset();
            out.push_str("Server stats reset.\n");
        }
        "conf" => {
            let cfg = &core.cfg;
            let _ = writeln!(out, "clientPort={}", cfg.client_port);
            let _ = writeln!(out, "secureClientPort=-1");
            let _ = writeln!(out, "dataDir={}", cfg.data_dir.join("version-2").display());
            let _ = writeln!(out, "dataDirSize={}", dir_size(&cfg.data_dir));
            let _ = writeln!(
                out,
                "dataLogDir={}",
                cfg.log_dir().join("version-2").display()
            );
            let _ = writeln!(out, "dataLogSize={}", dir_size(cfg.log_dir()));
            let _ = writeln!(out, "tickTime={}", cfg.tick_time);
            let _ = writeln!(out, "maxClientCnxns={}", cfg.max_client_cnxns);
            let _ = writeln!(out, "minSessionTimeout={}", cfg.min_session_timeout);
            let _ = writeln!(out, "maxSessionTimeout={}", cfg.max_session_timeout);
            let _ = writeln!(out, "clientPortListenBacklog=-1");
            match &core.member_conf {
                // QuorumZooKeeperServer.dumpConf: the quorum keys and the
                // membership, ending without a newline as 3.8 does.
                Some(extra) => {
                    let _ = writeln!(out, "serverId={}", cfg.server_id);
                    out.push_str(extra);
                }
                None => {
                    let _ = writeln!(out, "serverId=0");
                }
            }
        }
        "envi" => {
            out.push_str("Environment:\n");
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            let osver = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
            let cwd = std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            let env = |k: &str| std::env::var(k).unwrap_or_default();
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            // ZooKeeper's keys in ZooKeeper's order; the java.* ones describe
            // this process as well as they can.
            let lines = [
                ("zookeeper.version", VERSION.to_string()),
                ("host.name", host.trim().to_string()),
                ("java.version", "<NA>".into()),
                ("java.vendor", "<NA>".into()),
                ("java.home", "<NA>".into()),
                ("java.class.path", exe),
                ("java.library.path", "<NA>".into()),
                ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
                ("java.compiler", "<NA>".into()),
                ("os.name", "Linux".into()),
                (
                    "os.arch",
                    if std::env::consts::ARCH == "x86_64" {
                        "amd64".into()
                    } else {
                        std::env::consts::ARCH.to_string()
                    },
                ),
                ("os.version", osver.trim().to_string()),
                ("user.name", env("USER")),
                ("user.home", env("HOME")),
                ("user.dir", cwd),
                ("os.memory.free", "<NA>".into()),
                ("os.memory.max", "<NA>".into()),
                ("os.memory.total", format!("{}MB", rss_bytes() >> 20)),
            ];
            for (k, v) in lines {
                let _ = writeln!(out, "{k}={v}");
            }
        }
        "dirs" => {
            let _ = writeln!(out, "datadir_size: {}", dir_size(&core.cfg.data_dir));
            let _ = writeln!(out, "logdir_size: {}", dir_size(core.cfg.log_dir()));
        }
        "wchs" => {
            let by_path = core.watches.by_path();
            let conns: std::collections::HashSet<_> = by_path.values().flatten().collect();
            let _ = writeln!(
                out,
                "{} connections watching {} paths",
                conns.len(),
                by_path.len()
            );
            let _ = writeln!(out, "Total watches:{}", core.watches.total());
        }
        "wchc" => {
            let mut by_conn: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
            for (p, conns) in core.watches.by_path() {
                for c in conns {
                    let sid = core.conns.get(&c).map_or(0, |c| c.session_id);
                    by_conn.entry(sid).or_default().push(p.clone());
                }
            }
            for (sid, paths) in by_conn {
                let _ = writeln!(out, "0x{sid:x}");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push('\n');
        }
        "wchp" => {
            for (p, conns) in core.watches.by_path() {
                let _ = writeln!(out, "{p}");
                for c in conns {
                    let sid = core.conns.get(&c).map_or(0, |c| c.session_id);
                    let _ = writeln!(out, "\t0x{sid:x}");
                }
            }
            out.push('\n');
        }
        "dump" => {
            // Standalone ZooKeeper's format: sessions and connections grouped
            // by the tick at which they expire.
            let now = std::time::Instant::now();
            let wall = crate::client_port::stats::now_wall_ms();
            let at = |t: std::time::Instant| {
                let ms = if t >= now {
                    wall + t.duration_since(now).as_millis() as i64
                } else {
                    wall - now.duration_since(t).as_millis() as i64
                };
                java_date(ms)
            };
            out.push_str("SessionTracker dump:\n");
            let mut buckets: std::collections::BTreeMap<std::time::Instant, Vec<i64>> =
                Default::default();
            for s in core.sessions.iter() {
                buckets.entry(s.expires_at).or_default().push(s.id);
            }
            let _ = writeln!(
                out,
                "Session Sets ({})/({}):",
                buckets.len(),
                core.sessions.len()
            );
            for (t, ids) in &buckets {
                let _ = writeln!(out, "{} expire at {}:", ids.len(), at(*t));
                for id in ids {
                    let _ = writeln!(out, "\t0x{id:x}");
                }
            }
            out.push_str("ephemeral nodes dump:\n");
            let eph = core.tree.all_ephemerals();
            let _ = writeln!(out, "Sessions with Ephemerals ({}):", eph.len());
            let mut ids: Vec<_> = eph.keys().copied().collect();
            ids.sort();
            for id in ids {
                let _ = writeln!(out, "0x{id:x}:");
                for p in &eph[&id] {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push_str("Connections dump:\n");
            // A connection expires with its session; this one in 10 s.
            let mut cbuckets: std::collections::BTreeMap<std::time::Instant, Vec<String>> =
                Default::default();
            cbuckets
                .entry(now + std::time::Duration::from_secs(10))
                .or_default()
                .push(format!("ip: /{remote} sessionId: 0x0"));
            for c in core.conns.values() {
                let t = core
                    .sessions
                    .get(c.session_id)
                    .map_or(now, |s| s.expires_at);
                cbuckets
                    .entry(t)
                    .or_default()
                    .push(format!("ip: /{} sessionId: 0x{:x}", c.remote, c.session_id));
            }
            let n: usize = cbuckets.values().map(|v| v.len()).sum();
            let _ = writeln!(out, "Connections Sets ({})/({}):", cbuckets.len(), n);
            for (t, v) in &cbuckets {
                let _ = writeln!(out, "{} expire at {}:", v.len(), at(*t));
                for l in v {
                    let _ = writeln!(out, "\t{l}");
                }
            }
        }
        "mntr" => {
            let l = &core.stats.latency;
            let uptime = core.started.elapsed().as_millis();
            let open_fds = std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count())
                .unwrap_or(0);
            let lines: Vec<(&str, String)> = vec![
                ("zk_version", VERSION.to_string()),
                ("zk_server_state", core.mode.name().into()),
                ("zk_avg_latency", jdouble(l.avg())),
                ("zk_max_latency", l.max.to_string()),
                ("zk_min_latency", l.min().to_string()),
                (
                    "zk_packets_received",
                    core.stats.packets_received.to_string(),
                ),
                ("zk_packets_sent", core.stats.packets_sent.to_string()),
                (
                    "zk_num_alive_connections",
                    (core.conns.len() + 1).to_string(),
                ),
                (
                    "zk_outstanding_requests",
                    core.outstanding_requests().to_string(),
                ),
                ("zk_znode_count", znode_count(core).to_string()),
                ("zk_watch_count", core.watches.total_all().to_string()),
                (
                    "zk_ephemerals_count",
                    core.tree.ephemeral_count().to_string(),
                ),
                (
                    "zk_approximate_data_size",
                    core.tree.approximate_data_size().to_string(),
                ),
                ("zk_open_file_descriptor_count", open_fds.to_string()),
                ("zk_max_file_descriptor_count", max_fds().to_string()),
                ("zk_global_sessions", core.sessions.len().to_string()),
                ("zk_local_sessions", "0".into()),
                ("zk_uptime", uptime.to_string()),
            ];
            let mut lines = lines;
            // ZooKeeper's fsynctime and snapshottime summaries (ms).
            for (keys, s) in [
                (
                    [
                        "zk_avg_fsynctime",
                        "zk_min_fsynctime",
                        "zk_max_fsynctime",
                        "zk_cnt_fsynctime",
                        "zk_sum_fsynctime",
                    ],
                    core.storage_metrics.fsync.ms(),
                ),
                (
                    [
                        "zk_avg_snapshottime",
                        "zk_min_snapshottime",
                        "zk_max_snapshottime",
                        "zk_cnt_snapshottime",
                        "zk_sum_snapshottime",
                    ],
                    core.storage_metrics.snapshot.ms(),
                ),
            ] {
                let values = [
                    jdouble(s.avg),
                    s.min.to_string(),
                    s.max.to_string(),
                    s.count.to_string(),
                    s.sum.to_string(),
                ];
                lines.extend(keys.into_iter().zip(values));
            }
            if let Some(q) = &core.quorum {
                lines.push(("zk_peer_state", q.peer_state.clone()));
                lines.push(("zk_quorum_size", q.quorum_size.to_string()));
                // ZooKeeper's election_time summary (ms).
                let e = &core.elections;
                let avg = if e.count > 0 {
                    e.sum_ms as f64 / e.count as f64
                } else {
                    0.0
                };
                lines.push(("zk_avg_election_time", jdouble(avg)));
                lines.push(("zk_min_election_time", e.min_ms.to_string()));
                lines.push(("zk_max_election_time", e.max_ms.to_string()));
                lines.push(("zk_cnt_election_time", e.count.to_string()));
                lines.push(("zk_sum_election_time", e.sum_ms.to_string()));
                if core.mode == crate::pipeline::role::Mode::Leader {
                    lines.push(("zk_learners", q.learners.to_string()));
                    lines.push(("zk_synced_followers", q.synced_followers.to_string()));
                    lines.push(("zk_synced_non_voting_followers", "0".into()));
                    lines.push(("zk_synced_observers", q.synced_observers.to_string()));
                    lines.push(("zk_pending_syncs", q.pending_syncs.to_string()));
                }
            }
            for (k, v) in lines {
                let _ = writeln!(out, "{k}\t{v}");
            }
        }
        "gtmk" => out.push_str("0\n"),
        "stmk" => out.push_str("0\n"),
        "hash" => {}
        _ => {}
    }
    out
}
