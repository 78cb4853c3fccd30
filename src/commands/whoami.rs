//! `whoami`

use serde_json::json;

use super::{client, CmdError, CmdResult};
use crate::shell::Shell;

pub async fn run(sh: &mut Shell, _args: &[String]) -> CmdResult {
    let zk = client(sh)?;
    let infos = zk
        .who_am_i()
        .await
        .map_err(|code| CmdError::Keeper { code, path: None })?;
    if sh.out.is_json() {
        let ids: Vec<_> = infos
            .iter()
            .map(|i| json!({"scheme": i.auth_scheme, "user": i.user}))
            .collect();
        sh.out.json(json!({ "identities": ids }));
        return Ok(());
    }
    let mut s = String::from("Auth scheme: User");
    for i in &infos {
        s.push_str(&format!("\n{}: {}", i.auth_scheme, i.user));
    }
    sh.out.line(&s);
    Ok(())
}
