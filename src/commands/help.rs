//! `help`, `printwatches [on|off]`, `version`.

use serde_json::json;

use super::{usage_err, CmdResult, COMMANDS};
use crate::shell::Shell;

/// The command list (zkCli has no `help`: it prints this for unknown
/// commands, on stderr). Here it is the answer, so it goes to stdout.
pub fn run(sh: &mut Shell, _args: &[String]) -> CmdResult {
    if sh.out.is_json() {
        let cmds: Vec<_> = COMMANDS
            .iter()
            .map(|c| json!({"command": c.name, "usage": format!("{} {}", c.name, c.usage)}))
            .collect();
        sh.out.json(json!({ "commands": cmds }));
    } else {
        sh.out.line(&super::usage_listing());
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
