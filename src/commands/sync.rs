//! `sync path`

use std::time::Duration;

use serde_json::json;

use super::{check_path, client, usage_err, CmdError, CmdResult};
use crate::shell::Shell;

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = super::OptSpec {
        flags: &[],
        valued: &[],
    }
    .parse(args)?;
    if o.args.len() < 2 {
        return Err(usage_err("sync"));
    }
    let path = &o.args[1];
    check_path(path)?;
    let zk = client(sh)?;
    // zkCli waits at most 30 s for the sync callback.
    let r = tokio::time::timeout(Duration::from_secs(30), zk.sync(path)).await;
    match r {
        Ok(Ok(_)) => {
            if sh.out.is_json() {
                sh.out.json(json!({ "path": path, "sync": "ok" }));
            } else {
                sh.out.line("Sync is OK");
            }
            Ok(())
        }
        Ok(Err(code)) => {
            // zkCli prints this on stdout (exit 0); we keep the text and fail.
            if sh.out.is_json() {
                Err(CmdError::keeper(code, path))
            } else {
                sh.out.line(&format!("Sync has failed. rc={}", code.code()));
                Err(CmdError::Silent(super::exit::FAILED))
            }
        }
        Err(_) => Err(CmdError::Failed(
            "java.util.concurrent.TimeoutException".into(),
        )),
    }
}
