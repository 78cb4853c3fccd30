//! `wait [timeout_ms]`: blocks until a watch event arrives and prints it, so
//! scripts can follow watch-driven flows deterministically. The rule: `wait`
//! returns the oldest event that arrived after the previous command (other
//! than `wait`) was issued and that no earlier `wait` returned. So an event
//! that races the `wait` (it fired while the previous command ran, e.g. the
//! `set` that changed the node) is not lost, consecutive `wait`s take a
//! burst one event at a time, and an event printed and handled minutes ago,
//! before the previous command, is never returned.

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
    let ev = hub.next_event(sh.wait_window, timeout).await?;
    if sh.out.is_json() {
        sh.out.json(output::event_json(&ev));
    } else {
        sh.out.line(&output::event_text(&ev));
    }
    Ok(())
}
