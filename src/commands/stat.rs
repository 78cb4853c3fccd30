//! `stat [-w] path`

use serde_json::json;
use zkproto::ErrorCode;

use super::{check_path, client, usage_err, zk_err, CmdError, CmdResult, OptSpec};
use crate::output::stat_json;
use crate::shell::Shell;

const SPEC: OptSpec = OptSpec {
    flags: &["w"],
    valued: &[],
};

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let mut o = SPEC.parse(args)?;
    if o.args.len() < 2 {
        return Err(usage_err("stat"));
    }
    if o.args.len() > 2 {
        sh.out.err_line(
            "'stat path [watch]' has been deprecated. Please use 'stat [-w] path' instead.",
        );
        o.opts.push(("w".into(), None));
    }
    let path = &o.args[1];
    check_path(path)?;
    let zk = client(sh)?;
    // exists() sets the watch even when the node is missing.
    let stat = zk
        .exists(path, o.has("w"))
        .await
        .map_err(zk_err(path))?
        .ok_or_else(|| CmdError::keeper(ErrorCode::NoNode, path))?;
    if sh.out.is_json() {
        sh.out
            .json(json!({ "path": path, "stat": stat_json(&stat) }));
    } else {
        sh.out.stat_block(&stat);
    }
    Ok(())
}
