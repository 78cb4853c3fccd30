//! `help`, `printwatches [on|off]`, `version`.

use serde_json::json;

use super::{usage_err, CmdResult, COMMANDS};
use crate::shell::Shell;

/// What `help COMMAND` adds for zkcli's own commands, whose behaviour
/// zkCli's usage line cannot tell.
pub const WAIT_RULE: &str = "wait [timeout_ms]: blocks until a watch event arrives and prints \
it. It returns the oldest event that arrived after the previous command (other than wait) \
was issued, so an event that fired while that command ran is not lost, consecutive waits take \
a burst of events one at a time, and an event from before the previous command (already \
printed and handled) is never returned. Without timeout_ms it waits forever; a timeout or the \
end of the session is a failure (exit status 1, 3 if the session ended).";

const CLUSTER_HELP: &str = "cluster: asks every member of the connect string for srvr and \
mntr and shows, side by side, its mode (leader, follower, observer, standalone, not serving, \
down), zxid, connections, latency and znode count; '*' marks the member this shell's \
session is connected to.";

/// The command list (zkCli has no `help`: it prints this for unknown
/// commands, on stderr). Here it is the answer, so it goes to stdout.
/// `help COMMAND` prints that command's usage, and for zkcli's own
/// commands what they do.
pub fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    if let Some(name) = args.get(1) {
        let Some(info) = super::info(name) else {
            return Err(super::CmdError::Usage(format!("help: no command {name}")));
        };
        let detail = match name.as_str() {
            "wait" => Some(WAIT_RULE),
            "cluster" => Some(CLUSTER_HELP),
            _ => None,
        };
        let usage = format!("{} {}", info.name, info.usage);
        if sh.out.is_json() {
            sh.out
                .json(json!({"command": info.name, "usage": usage, "help": detail}));
        } else {
            sh.out.line(usage.trim_end());
            if let Some(d) = detail {
                sh.out.line(d);
            }
        }
        return Ok(());
    }
    if sh.out.is_json() {
        let cmds: Vec<_> = COMMANDS
            .iter()
            .map(|c| json!({"command": c.name, "usage": format!("{} {}", c.name, c.usage)}))
            .collect();
        sh.out.json(json!({ "commands": cmds }));
    } else {
        sh.out.line(&super::usage_listing());
        sh.out
            .line("help COMMAND shows one command; help wait and help cluster explain them.");
    }
    Ok(())
}

/// `printwatches` alone shows the setting; `on` turns printing on and any
/// other word turns it off (zkCli).
pub fn printwatches(sh: &mut Shell, args: &[String]) -> CmdResult {
    match args.get(1) {
        None => {
            let on = sh.hub.print_watches();
            if sh.out.is_json() {
                sh.out.json(json!({ "printwatches": on }));
            } else {
                sh.out.line(&format!(
                    "printwatches is {}",
                    if on { "on" } else { "off" }
                ));
            }
        }
        Some(v) => sh.hub.set_print_watches(v == "on"),
    }
    Ok(())
}

pub fn version(sh: &mut Shell, args: &[String]) -> CmdResult {
    if args.len() > 1 {
        return Err(usage_err("version"));
    }
    let v = env!("CARGO_PKG_VERSION");
    if sh.out.is_json() {
        sh.out.json(json!({ "version": v }));
    } else {
        sh.out.line(&format!("ZooKeeper CLI version: zkcli {v}"));
    }
    Ok(())
}
