//! `addWatch [-m mode] path`: persistent (recursive) watches.

use zkproto::consts::add_watch_mode;

use super::{check_path, client, usage_err, zk_err, CmdResult, OptSpec};
use crate::shell::Shell;

pub const USAGE: &str = "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE";

const SPEC: OptSpec = OptSpec {
    flags: &[],
    valued: &["m"],
};

/// Completion candidates for `-m`.
pub const MODES: &[&str] = &["PERSISTENT", "PERSISTENT_RECURSIVE"];

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = SPEC.parse(args)?;
    if o.args.len() != 2 {
        return Err(usage_err("addWatch"));
    }
    let mode = match o.value("m").map(|m| m.to_uppercase()) {
        None => add_watch_mode::PERSISTENT_RECURSIVE,
        Some(m) if m == "PERSISTENT" => add_watch_mode::PERSISTENT,
        Some(m) if m == "PERSISTENT_RECURSIVE" => add_watch_mode::PERSISTENT_RECURSIVE,
        Some(_) => return Err(usage_err("addWatch")),
    };
    let path = &o.args[1];
    check_path(path)?;
    let zk = client(sh)?;
    zk.add_watch(path, mode).await.map_err(zk_err(path))
}
