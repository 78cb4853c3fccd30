//! `delete [-v version] path`

use super::{client, usage_err, zk_err, CmdError, CmdResult, OptSpec};
use crate::shell::Shell;

const SPEC: OptSpec = OptSpec {
    flags: &[],
    valued: &["v"],
};

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = SPEC.parse(args)?;
    if o.args.len() < 2 {
        return Err(usage_err("delete"));
    }
    let mut version = o.int("v")?.unwrap_or(-1);
    if o.args.len() > 2 {
        sh.out.err_line(
            "'delete path [version]' has been deprecated. Please use 'delete [-v version] path' instead.",
        );
        // zkCli ignores the old-style version (and deletes unconditionally);
        // we honour it.
        if !o.has("v") {
            version = super::parse_i32(&o.args[2]).ok_or_else(|| {
                CmdError::Usage(format!("version must be an int value: {}", o.args[2]))
            })?;
        }
    }
    let path = &o.args[1];
    super::check_path(path)?;
    let zk = client(sh)?;
    zk.delete(path, version).await.map_err(zk_err(path))
}
