//! `getAcl [-s] path` and `setAcl [-s] [-v version] [-R] path acl`

use serde_json::json;
use zkproto::ErrorCode;

use super::{check_path, client, usage_err, zk_err, CmdError, CmdResult, OptSpec};
use crate::acl_parse;
use crate::output::{self, acl_json, stat_json};
use crate::shell::Shell;

const GET_SPEC: OptSpec = OptSpec {
    flags: &["s"],
    valued: &[],
};

pub async fn get_acl(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = GET_SPEC.parse(args)?;
    if o.args.len() < 2 {
        return Err(usage_err("getAcl"));
    }
    let path = &o.args[1];
    check_path(path)?;
    let zk = client(sh)?;
    let (acl, stat) = zk.get_acl(path).await.map_err(zk_err(path))?;
    if sh.out.is_json() {
        let mut v = json!({ "path": path, "acl": acl_json(&acl) });
        if o.has("s") {
            v["stat"] = stat_json(&stat);
        }
        sh.out.json(v);
        return Ok(());
    }
    if sh.out.is_table() {
        sh.out.table(&output::acl_table(&acl));
    } else if !acl.is_empty() {
        sh.out.line(&output::acl_text(&acl));
    }
    if o.has("s") {
        sh.out.stat_block(&stat);
    }
    Ok(())
}

const SET_SPEC: OptSpec = OptSpec {
    flags: &["s", "R"],
    valued: &["v"],
};

pub async fn set_acl(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = SET_SPEC.parse(args)?;
    if o.args.len() < 3 {
        return Err(usage_err("setAcl"));
    }
    let path = &o.args[1];
    let parsed = acl_parse::parse(&o.args[2]);
    for w in &parsed.warnings {
        sh.out.err_line(w);
    }
    let acl = parsed.acl;
    let version = o.int("v")?.unwrap_or(-1);
    check_path(path)?;
    if acl.is_empty() {
        // The Java client's validateACL: InvalidACLException without a path.
        return Err(CmdError::Keeper {
            code: ErrorCode::InvalidAcl,
            path: None,
        });
    }
    let zk = client(sh)?;
    if o.has("R") {
        let mut paths = Vec::new();
        super::ls::visit_dfs(&zk, path, false, &mut |p| paths.push(p.to_string())).await?;
        let mut failed = false;
        for p in &paths {
            if let Err(code) = zk.set_acl(p, &acl, version).await {
                failed = true;
                // zkCli prints e.getMessage() with no newline.
                let msg = super::generic_keeper_message(code, Some(p));
                if sh.out.is_json() {
                    eprintln!("{}", json!({"error": msg, "path": p}));
                } else {
                    sh.out.raw(&msg);
                }
            }
        }
        return if failed {
            Err(CmdError::Silent(super::exit::FAILED))
        } else {
            Ok(())
        };
    }
    let stat = zk
        .set_acl(path, &acl, version)
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
