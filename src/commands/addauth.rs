//! `addauth scheme auth`

use std::time::Duration;

use zkproto::ErrorCode;

use super::{client, usage_err, CmdError, CmdResult};
use crate::client::State;
use crate::shell::Shell;

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = super::OptSpec {
        flags: &[],
        valued: &[],
    }
    .parse(args)?;
    // zkCli accepts `addauth digest` and sends a null credential, which the
    // server answers by failing the whole session; we ask for the credential.
    if o.args.len() < 3 {
        return Err(usage_err("addauth"));
    }
    let zk = client(sh)?;
    match zk.add_auth(&o.args[1], o.args[2].as_bytes()).await {
        Ok(()) => Ok(()),
        Err(ErrorCode::AuthFailed) => {
            // The session is now dead (AUTH_FAILED) and the AuthFailed event
            // says so, as in zkCli. Let the state settle so the next command
            // reports `Not connected` like zkCli does.
            for _ in 0..200 {
                if zk.state() == State::AuthFailed {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if sh.out.is_json() {
                Err(CmdError::Keeper {
                    code: ErrorCode::AuthFailed,
                    path: None,
                })
            } else {
                Err(CmdError::Silent(super::exit::FAILED))
            }
        }
        Err(code) => Err(CmdError::Keeper { code, path: None }),
    }
}
