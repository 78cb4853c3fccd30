//! `deleteall path [-b batch size]`: lists the tree breadth-first and deletes
//! it leaves first in `multi` batches, as zkCli's `ZKUtil.deleteRecursive`.

use super::{client, usage_err, zk_err, CmdError, CmdResult, OptSpec};
use crate::client::Client;
use crate::shell::Shell;
use zkproto::multi::MultiOp;
use zkproto::records::DeleteRequest;

const SPEC: OptSpec = OptSpec {
    flags: &[],
    valued: &["b"],
};

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = SPEC.parse(args)?;
    if o.args.len() < 2 {
        return Err(usage_err("deleteall"));
    }
    let batch = match o.value("b") {
        None => 1000,
        Some(v) => super::parse_i32(v)
            .ok_or_else(|| CmdError::Usage("-b argument must be an int value".into()))?,
    };
    let path = &o.args[1];
    super::check_path(path)?;
    let zk = client(sh)?;
    let tree = list_subtree_bfs(&zk, path).await?;
    if batch <= 0 {
        for p in tree.iter().rev() {
            zk.delete(p, -1).await.map_err(zk_err(p))?;
        }
        return Ok(());
    }
    let mut ok = true;
    for chunk in tree.rchunks(batch as usize) {
        let ops = chunk
            .iter()
            .rev()
            .map(|p| {
                MultiOp::Delete(DeleteRequest {
                    path: p.clone(),
                    version: -1,
                })
            })
            .collect();
        // A rejected transaction is not an Err: its results carry the error.
        match zk.multi(ops).await {
            Ok(results) if crate::client::first_error(&results).is_none() => {}
            _ => {
                ok = false;
                break;
            }
        }
    }
    if !ok {
        sh.out
            .err_line("Failed to delete some node(s) in the subtree!");
        return Err(CmdError::Silent(super::exit::FAILED));
    }
    Ok(())
}

/// `ZKUtil.listSubTreeBFS`: the root, then every node level by level.
pub async fn list_subtree_bfs(zk: &Client, root: &str) -> Result<Vec<String>, CmdError> {
    let mut tree = vec![root.to_string()];
    let mut i = 0;
    while i < tree.len() {
        let node = tree[i].clone();
        let (children, _) = zk.get_children(&node, false).await.map_err(zk_err(&node))?;
        for c in children {
            tree.push(zkproto::path::join(&node, &c));
        }
        i += 1;
    }
    Ok(tree)
}
