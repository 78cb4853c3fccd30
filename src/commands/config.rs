//! `config [-c] [-w] [-s]`: the dynamic configuration (`/zookeeper/config`).

use serde_json::json;

use super::{client, CmdError, CmdResult, OptSpec};
use crate::output::stat_json;
use crate::shell::Shell;

const SPEC: OptSpec = OptSpec {
    flags: &["c", "w", "s"],
    valued: &[],
};

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = SPEC.parse(args)?;
    let zk = client(sh)?;
    let (data, stat) = zk
        .get_config(o.has("w"))
        .await
        .map_err(|code| CmdError::keeper(code, "/zookeeper/config"))?;
    let text = String::from_utf8_lossy(data.as_deref().unwrap_or(b"null")).into_owned();
    let shown = if o.has("c") {
        client_config_str(&text)
    } else {
        text
    };
    if sh.out.is_json() {
        let mut v = json!({ "config": shown });
        if o.has("s") {
            v["stat"] = stat_json(&stat);
        }
        sh.out.json(v);
        return Ok(());
    }
    sh.out.line(&shown);
    if o.has("s") {
        sh.out.stat_block(&stat);
    }
    Ok(())
}

/// `ConfigUtils.getClientConfigStr`: `<version hex> <host:port>,...` from
/// the `server.N=...;clientaddr:port` lines (`version=` line gives the
/// version). A standalone server's empty config gives a single space.
pub fn client_config_str(cfg: &str) -> String {
    let mut version = String::new();
    let mut addrs = Vec::new();
    for line in cfg.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("version=") {
            version = v.to_string();
        } else if line.starts_with("server.") {
            if let Some((_, client)) = line.split_once(';') {
                let client = client.trim();
                // "0.0.0.0:2181" or just "2181"
                let addr = if client.contains(':') {
                    client.to_string()
                } else {
                    let host = line
                        .split_once('=')
                        .and_then(|(_, r)| r.split(':').next())
                        .unwrap_or("");
                    format!("{host}:{client}")
                };
                addrs.push(addr);
            }
        }
    }
    format!("{version} {}", addrs.join(","))
}
