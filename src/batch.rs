//! Non-interactive modes: commands from a pipe or a `-f` file, or a single
//! command from argv. No prompt and no banner; the session is closed at the
//! end so no ephemeral node outlives the script.

use std::io::BufRead;

use tokio::runtime::Runtime;

use crate::commands::exit;
use crate::shell::Shell;

/// Runs every line of `input`. The exit code is the first failing command's
/// code (0 if all succeeded); with `exit_on_error` the script stops there.
pub fn run_lines(rt: &Runtime, sh: &mut Shell, input: impl BufRead, exit_on_error: bool) -> i32 {
    let mut status = exit::OK;
    for line in input.lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("zkcli: cannot read input: {e}");
                if status == exit::OK {
                    status = exit::FAILED;
                }
                break;
            }
        };
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if let Some(code) = rt.block_on(sh.execute_line(line)) {
            if code != exit::OK {
                if status == exit::OK {
                    status = code;
                }
                if exit_on_error {
                    break;
                }
            }
        }
        if sh.quit {
            break;
        }
    }
    rt.block_on(sh.close_session());
    status
}

/// Runs one command given as argv words (no tokenizing: the OS shell already
/// split and unquoted them, as in zkCli).
pub fn run_args(rt: &Runtime, sh: &mut Shell, args: Vec<String>) -> i32 {
    let code = rt.block_on(sh.execute_args(args));
    rt.block_on(sh.close_session());
    code
}
