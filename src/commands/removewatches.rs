//! `removewatches path [-c|-d|-a|-p|-r] [-l]`

use zkproto::consts::watcher_type;

use super::{check_path, client, usage_err, zk_err, CmdResult, OptSpec};
use crate::shell::Shell;

pub const USAGE: &str = "path [-c|-d|-a|-p|-r] [-l]";

const SPEC: OptSpec = OptSpec {
    flags: &["c", "d", "p", "r", "a", "l"],
    valued: &[],
};

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = SPEC.parse(args)?;
    if o.args.len() < 2 {
        return Err(usage_err("removewatches"));
    }
    // Same precedence as zkCli: -c, -d, -p, -r, then -a (the default).
    let wtype = if o.has("c") {
        watcher_type::CHILDREN
    } else if o.has("d") {
        watcher_type::DATA
    } else if o.has("p") {
        watcher_type::PERSISTENT
    } else if o.has("r") {
        watcher_type::PERSISTENT_RECURSIVE
    } else {
        watcher_type::ANY
    };
    let path = &o.args[1];
    check_path(path)?;
    let zk = client(sh)?;
    zk.remove_watches(path, wtype, o.has("l"))
        .await
        .map_err(zk_err(path))
}
