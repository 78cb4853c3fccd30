//! `ls [-s] [-w] [-R] path`

use serde_json::json;

use super::{check_path, client, usage_err, zk_err, CmdError, CmdResult, OptSpec};
use crate::client::Client;
use crate::output::{self, stat_json};
use crate::shell::Shell;

const SPEC: OptSpec = OptSpec {
    flags: &["?", "s", "w", "R"],
    valued: &[],
};

const HELP: &str = "usage: ls [options] path\n -?   help\n -R   recurse\n -s   stat\n -w   watch";

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let mut o = SPEC.parse(args)?;
    if o.has("?") {
        sh.out.line(HELP);
    }
    if o.args.len() > 2 {
        sh.out
            .err_line("'ls path [watch]' has been deprecated. Please use 'ls [-w] path' instead.");
        o.opts.push(("w".into(), None));
    }
    if o.args.len() < 2 {
        return Err(usage_err("ls"));
    }
    let path = &o.args[1];
    let watch = o.has("w");
    check_path(path)?;
    let zk = client(sh)?;
    if o.has("R") {
        let mut paths = Vec::new();
        let json = sh.out.is_json();
        let out = sh.out.clone();
        visit_dfs(&zk, path, watch, &mut |p| {
            if json {
                paths.push(p.to_string());
            } else {
                out.line(p);
            }
        })
        .await?;
        if json {
            sh.out.json(json!({ "path": path, "paths": paths }));
        }
        return Ok(());
    }
    let (mut children, stat) = zk.get_children(path, watch).await.map_err(zk_err(path))?;
    children.sort();
    if sh.out.is_json() {
        let mut v = json!({ "path": path, "children": children });
        if o.has("s") {
            v["stat"] = stat_json(&stat);
        }
        sh.out.json(v);
        return Ok(());
    }
    if sh.out.is_table() && o.has("s") {
        let mut t = output::new_table(&["children"]);
        for c in &children {
            t.add_row(vec![c.clone()]);
        }
        sh.out.table(&t);
        sh.out.stat_block(&stat);
        return Ok(());
    }
    sh.out.line(&output::java_list(&children));
    if o.has("s") {
        sh.out.stat_block(&stat);
    }
    Ok(())
}

/// `ZKUtil.visitSubTreeDFS`: the root, then for each node all its children
/// (sorted) before descending into them. With `watch`, a data watch on the
/// root and child watches everywhere, as zkCli.
pub async fn visit_dfs(zk: &Client, root: &str, watch: bool, f: &mut dyn FnMut(&str)) -> CmdResult {
    zk.get_data(root, watch).await.map_err(zk_err(root))?;
    f(root);
    let mut stack = vec![root.to_string()];
    // Iterative version of the recursive helper: a node's children are
    // printed together, then visited in order (hence reversed on the stack).
    while let Some(node) = stack.pop() {
        let mut children = match zk.get_children(&node, watch).await {
            Ok((c, _)) => c,
            Err(zkproto::ErrorCode::NoNode) => continue,
            Err(code) => return Err(CmdError::keeper(code, &node)),
        };
        children.sort();
        let paths: Vec<String> = children
            .iter()
            .map(|c| zkproto::path::join(&node, c))
            .collect();
        for p in &paths {
            f(p);
        }
        stack.extend(paths.into_iter().rev());
    }
    Ok(())
}
