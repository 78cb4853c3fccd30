//! `set [-s] [-v version] [-b] path data`

use base64::Engine;
use serde_json::json;

use super::{check_path, client, usage_err, zk_err, CmdError, CmdResult, OptSpec};
use crate::output::stat_json;
use crate::shell::Shell;

pub const USAGE: &str = "[-s] [-v version] [-b] path data";

const SPEC: OptSpec = OptSpec {
    flags: &["s", "b"],
    valued: &["v"],
};

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = SPEC.parse(args)?;
    if o.args.len() < 3 {
        return Err(usage_err("set"));
    }
    let path = &o.args[1];
    let data = if o.has("b") {
        base64::engine::general_purpose::STANDARD
            .decode(o.args[2].as_bytes())
            .map_err(|e| CmdError::Usage(format!("-b: data is not valid base64: {e}")))?
    } else {
        o.args[2].as_bytes().to_vec()
    };
    let version = o.int("v")?.unwrap_or(-1);
    check_path(path)?;
    let zk = client(sh)?;
    let stat = zk
        .set_data(path, Some(&data), version)
        .await
        .map_err(zk_err(path))?;
    if o.has("s") {
        if sh.out.is_json() {
            sh.out
                .json(json!({ "path": path, "stat": stat_json(&stat) }));
        } else {
            sh.out.stat_block(&stat);
        }
    }
    Ok(())
}
