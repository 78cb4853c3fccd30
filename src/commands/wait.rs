//! `wait [timeout_ms]`: blocks until a watch event arrives and prints it, so
//! scripts can follow watch-driven flows deterministically. Events are
//! queued as they arrive, so one that fired before `wait` started is not
//! lost: each `wait` returns the oldest event no earlier `wait` returned.

use std::time::Duration;

use super::{CmdError, CmdResult};
use crate::output;
use crate::shell::Shell;

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let timeout = match args.get(1) {
        None => None,
        Some(t) => Some(Duration::from_millis(t.parse::<u64>().map_err(|_| {
            CmdError::Usage(format!(
                "wait: timeout must be a number of milliseconds: {t}"
            ))
        })?)),
    };
    let hub = sh.hub.clone();
    let ev = hub.next_event(timeout).await?;
    if sh.out.is_json() {
        sh.out.json(output::event_json(&ev));
    } else {
        sh.out.line(&output::event_text(&ev));
    }
    Ok(())
}
