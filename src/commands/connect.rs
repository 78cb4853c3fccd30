//! `connect [host:port,...[/chroot]]` and `close`.

use super::{CmdError, CmdResult};
use crate::shell::Shell;

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    // No argument: reconnect to the last connect string.
    let host = args.get(1).cloned().unwrap_or_else(|| sh.host.clone());
    sh.connect(&host).await
}

pub async fn close(sh: &mut Shell) -> CmdResult {
    if !sh.session_alive() {
        return Err(CmdError::NotConnected);
    }
    sh.close_session().await;
    Ok(())
}
