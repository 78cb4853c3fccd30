//! `getEphemerals [path]` and `getAllChildrenNumber path`

use serde_json::json;

use super::{check_path, client, usage_err, zk_err, CmdResult, OptSpec};
use crate::output;
use crate::shell::Shell;

const NONE: OptSpec = OptSpec {
    flags: &[],
    valued: &[],
};

pub async fn get_ephemerals(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = NONE.parse(args)?;
    // No argument: all of this session's ephemerals (prefix "/").
    let prefix = o.args.get(1).cloned().unwrap_or_else(|| "/".into());
    check_path(&prefix)?;
    let zk = client(sh)?;
    let list = zk.get_ephemerals(&prefix).await.map_err(zk_err(&prefix))?;
    if sh.out.is_json() {
        sh.out.json(json!({ "prefix": prefix, "ephemerals": list }));
    } else {
        sh.out.line(&output::java_list(&list));
    }
    Ok(())
}

pub async fn all_children_number(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = NONE.parse(args)?;
    if o.args.len() < 2 {
        return Err(usage_err("getAllChildrenNumber"));
    }
    let path = &o.args[1];
    check_path(path)?;
    let zk = client(sh)?;
    let n = zk
        .get_all_children_number(path)
        .await
        .map_err(zk_err(path))?;
    if sh.out.is_json() {
        sh.out.json(json!({ "path": path, "count": n }));
    } else {
        sh.out.line(&n.to_string());
    }
    Ok(())
}
