//! `cluster`: asks every server of the connect string for `srvr` and `mntr`
//! (four-letter words, on their own short TCP connections) and shows mode
//! (leader, follower, observer, standalone, or "not serving"), zxid,
//! connections, latency and node count side by side; `*` marks the server
//! this shell's session is connected to.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{CmdError, CmdResult};
use crate::output;
use crate::shell::Shell;

/// Per-server budget for connecting and reading one answer.
const FLW_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest answer read (mntr is a few KB).
const MAX_ANSWER: u64 = 1 << 20;

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let servers = match args.get(1) {
        Some(cs) => hosts(cs),
        None => hosts(&sh.host),
    };
    if servers.is_empty() {
        return Err(CmdError::Usage(format!("no servers in \"{}\"", sh.host)));
    }
    let connected = match &sh.client {
        Some(c) => match c.connected_host() {
            Some(h) => resolve(&h).await,
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let mut rows = Vec::new();
    for s in &servers {
        let mut row = probe(s).await;
        let addrs = resolve(s).await;
        row.connected = !connected.is_empty() && addrs.iter().any(|a| connected.contains(a));
        rows.push(row);
    }
    let down = rows.iter().filter(|r| r.error.is_some()).count();
    if sh.out.is_json() {
        let v: Vec<_> = rows.iter().map(Row::to_json).collect();
        sh.out.json(json!({ "servers": v }));
    } else {
        let mut t = output::new_table(&[
            "",
            "server",
            "mode",
            "zxid",
            "connections",
            "latency min/avg/max",
            "nodes",
            "outstanding",
            "version",
        ]);
        for r in &rows {
            let mark = if r.connected { "*" } else { "" }.to_string();
            match &r.error {
                Some(e) => t.add_row(vec![mark, r.server.clone(), format!("unreachable: {e}")]),
                None => t.add_row(vec![
                    mark,
                    r.server.clone(),
                    r.mode(),
                    r.get("Zxid"),
                    r.get("Connections"),
                    r.get("Latency min/avg/max"),
                    r.get("Node count"),
                    r.get("Outstanding"),
                    r.get("Zookeeper version")
                        .split(',')
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                ]),
            };
        }
        sh.out.table(&t);
    }
    if down > 0 {
        Err(CmdError::Silent(super::exit::FAILED))
    } else {
        Ok(())
    }
}

/// `host:port` of every server of a connect string (chroot dropped, default
/// port 2181).
pub fn hosts(connect: &str) -> Vec<String> {
    let hosts = connect.split('/').next().unwrap_or_default();
    hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            if h.starts_with('[') && h.ends_with(']') || !h.contains(':') {
                format!("{h}:2181")
            } else {
                h.to_string()
            }
        })
        .collect()
}

struct Row {
    server: String,
    /// This shell's session is on this server.
    connected: bool,
    /// srvr said "This ZooKeeper instance is not currently serving requests".
    not_serving: bool,
    srvr: BTreeMap<String, String>,
    mntr: BTreeMap<String, String>,
    error: Option<String>,
}

impl Row {
    fn get(&self, k: &str) -> String {
        self.srvr.get(k).cloned().unwrap_or_else(|| "-".into())
    }

    fn mode(&self) -> String {
        if self.not_serving {
            return "not serving".into();
        }
        self.get("Mode")
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "server": self.server,
            "connected": self.connected,
            "mode": if self.error.is_some() { None } else { Some(self.mode()) },
            "error": self.error,
            "srvr": self.srvr,
            "mntr": self.mntr,
        })
    }
}

async fn probe(server: &str) -> Row {
    let mut row = Row {
        server: server.to_string(),
        connected: false,
        not_serving: false,
        srvr: BTreeMap::new(),
        mntr: BTreeMap::new(),
        error: None,
    };
    match four_letter(server, "srvr").await {
        Ok(text) => {
            row.not_serving = text.contains("not currently serving");
            row.srvr = parse(&text, ':');
        }
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    }
    // mntr may be disabled by the server's whitelist; srvr is enough then.
    if let Ok(text) = four_letter(server, "mntr").await {
        row.mntr = parse(&text, '\t');
    }
    row
}

/// The socket addresses `host:port` names (empty if it does not resolve).
async fn resolve(hostport: &str) -> Vec<std::net::SocketAddr> {
    let lookup = tokio::net::lookup_host(hostport.trim_start_matches('/').to_string());
    match tokio::time::timeout(FLW_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => addrs.collect(),
        _ => Vec::new(),
    }
}

fn parse(text: &str, sep: char) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(sep))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Sends a four-letter word and reads the answer until the server closes.
pub async fn four_letter(server: &str, word: &str) -> Result<String, String> {
    let work = async {
        let mut s = TcpStream::connect(server)
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(word.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.take(MAX_ANSWER)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(String::from_utf8_lossy(&buf).into_owned())
    };
    match tokio::time::timeout(FLW_TIMEOUT, work).await {
        Ok(r) => {
            let text = r?;
            if text.contains("is not executed because it is not in the whitelist") {
                return Err(text.trim().to_string());
            }
            Ok(text)
        }
        Err(_) => Err("timed out".into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_of_connect_string() {
        assert_eq!(super::hosts("a:1, b ,c:3/chroot"), ["a:1", "b:2181", "c:3"]);
    }
}
