//! Four-letter words on the client port (`ruok`, `srvr`, `mntr`, ...), with
//! ZooKeeper's whitelist rule and output formats.

use std::fmt::Write as _;
use std::net::SocketAddr;

use zkproto::consts::op;

use crate::core::Core;

/// The version we report; tools parse the leading `3.8.0`.
pub const VERSION: &str = concat!(
    "3.8.0-zkserver-rs-",
    env!("CARGO_PKG_VERSION"),
    ", built on 1970-01-01 00:00 UTC"
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
    let _ = writeln!(out, "Mode: standalone");
    let _ = writeln!(out, "Node count: {}", znode_count(core));
}

/// Runs `cmd` and returns its output (the caller closes the connection).
pub fn run(core: &mut Core, cmd: &str, remote: SocketAddr) -> String {
    let always = cmd == "isro" || cmd == "srvr";
    if !always && !core.cfg.four_letter_whitelist.contains(cmd) {
        return format!("{cmd} is not executed because it is not in the whitelist.\n");
    }
    let mut out = String::new();
    match cmd {
        "ruok" => out.push_str("imok"),
        "isro" => out.push_str("rw"),
        "srvr" => {
            let _ = writeln!(out, "Zookeeper version: {VERSION}");
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
                    jdouble(l.avg()),
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
            let _ = writeln!(out, "serverId=0");
        }
        "envi" => {
            out.push_str("Environment:\n");
            let _ = writeln!(out, "zookeeper.version={VERSION}");
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            let _ = writeln!(out, "host.name={}", host.trim());
            let _ = writeln!(out, "os.name={}", std::env::consts::OS);
            let _ = writeln!(out, "os.arch={}", std::env::consts::ARCH);
            let _ = writeln!(
                out,
                "user.dir={}",
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            );
            let _ = writeln!(out, "server.implementation=zkserver (Rust)");
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
            out.push_str("SessionTracker dump:\n");
            let _ = writeln!(out, "Global Sessions({}):", core.sessions.len());
            let mut sessions: Vec<_> = core.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
            sessions.sort();
            for (id, to) in sessions {
                let _ = writeln!(out, "0x{id:x}\t{to}ms");
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
            let _ = writeln!(out, "Connections Sets ({}):", core.conns.len());
            for c in core.conns.values() {
                let _ = writeln!(out, "\tip: /{} sessionId: 0x{:x}", c.remote, c.session_id);
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
                ("zk_server_state", "standalone".into()),
                ("zk_avg_latency", jdouble(l.avg())),
                ("zk_max_latency", l.max.to_string()),
                ("zk_min_latency", l.min().to_string()),
                (
                    "zk_packets_received",
                    core.stats.packets_received.to_string(),
                ),
                ("zk_packets_sent", core.stats.packets_sent.to_string()),
                ("zk_num_alive_connections", core.conns.len().to_string()),
                (
                    "zk_outstanding_requests",
                    core.outstanding_requests().to_string(),
                ),
                ("zk_znode_count", znode_count(core).to_string()),
                ("zk_watch_count", core.watches.total().to_string()),
                (
                    "zk_ephemerals_count",
                    core.tree.ephemeral_count().to_string(),
                ),
                (
                    "zk_approximate_data_size",
                    core.tree.approximate_data_size().to_string(),
                ),
                ("zk_open_file_descriptor_count", open_fds.to_string()),
                ("zk_max_file_descriptor_count", "1048576".into()),
                ("zk_global_sessions", core.sessions.len().to_string()),
                ("zk_local_sessions", "0".into()),
                ("zk_uptime", uptime.to_string()),
                ("zk_last_zxid", format!("0x{:x}", core.last_zxid())),
            ];
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
