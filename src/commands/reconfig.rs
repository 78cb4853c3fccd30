//! `reconfig [-s] [-v version] [[-file path] | [-members ...]] | [-add ...]* [-remove ...]`

use serde_json::json;

use super::{client, usage_err, CmdError, CmdResult, OptSpec};
use crate::output::stat_json;
use crate::shell::Shell;

pub const USAGE: &str = "[-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]";

const SPEC: OptSpec = OptSpec {
    flags: &["s"],
    valued: &["v", "file", "members", "add", "remove"],
};

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = SPEC.parse(args)?;
    let (file, members, add, remove) = (
        o.has("file"),
        o.has("members"),
        o.has("add"),
        o.has("remove"),
    );
    if !(file || members || add || remove) {
        return Err(usage_err("reconfig"));
    }
    let version = match o.value("v") {
        None => -1,
        Some(v) => i64::from_str_radix(v, 16).map_err(|_| {
            CmdError::Usage("-v must be followed by a long (configuration version)".into())
        })?,
    };
    if (file || members) && (add || remove) {
        return Err(CmdError::Usage("Can't use -file or -members together with -add or -remove (mixing incremental and non-incremental modes is not allowed)".into()));
    }
    if file && members {
        return Err(CmdError::Usage(
            "Can't use -file and -members together (conflicting non-incremental modes)".into(),
        ));
    }
    let lower = |n: &str| o.value(n).map(|v| v.to_lowercase()).unwrap_or_default();
    let joining = lower("add");
    let leaving = lower("remove");
    let mut new_members = lower("members");
    if let Some(f) = o.value("file") {
        new_members = read_members_file(f)?;
    }
    let zk = client(sh)?;
    let (data, stat) = zk
        .reconfig(&joining, &leaving, &new_members, version)
        .await
        .map_err(|code| CmdError::Keeper { code, path: None })?;
    let cfg = String::from_utf8_lossy(data.as_deref().unwrap_or_default()).into_owned();
    if sh.out.is_json() {
        let mut v = json!({ "config": cfg });
        if o.has("s") {
            v["stat"] = stat_json(&stat);
        }
        sh.out.json(v);
        return Ok(());
    }
    sh.out.line(&format!("Committed new configuration:\n{cfg}"));
    if o.has("s") {
        sh.out.stat_block(&stat);
    }
    Ok(())
}

/// The `server.N=...` lines of a dynamic config file, joined by commas.
fn read_members_file(f: &str) -> Result<String, CmdError> {
    // zkCli concatenates the file name and Java's FileNotFoundException
    // message ("<file> (No such file or directory)").
    let text = std::fs::read_to_string(f).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
            _ => e.to_string(),
        };
        CmdError::Usage(format!("Error processing {f}{f} ({why})"))
    })?;
    let members: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("server."))
        .collect();
    if members.is_empty() {
        return Err(CmdError::Usage(format!(
            "Error processing {f}: no server.N lines"
        )));
    }
    Ok(members.join(","))
}
