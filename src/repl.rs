//! The interactive shell (stdin is a terminal): rustyline with zkCli's
//! prompt, live completion of commands, flags and znode paths, persistent
//! history, and watch events printed above the line being typed through
//! rustyline's external printer (the typed text is redrawn intact).

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

use colored::Colorize;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::history::FileHistory;
use rustyline::{ColorMode, CompletionType, Config, Context, Editor};
use rustyline::{Helper, Hinter, Validator};
use tokio::runtime::Runtime;

use crate::client::Client;
use crate::commands::{self, COMMANDS};
use crate::shell::{Shell, Sink};

/// How long completion may wait for the server before giving up silently.
const COMPLETION_TIMEOUT: Duration = Duration::from_secs(2);

/// `$ZKCLI_HISTORY`, else `~/.zkcli_history`.
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ZKCLI_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".zkcli_history"))
}

/// rustyline helper: completion (live znode lookups) and prompt colours.
#[derive(Helper, Hinter, Validator)]
pub struct ZkHelper {
    handle: tokio::runtime::Handle,
    client: Option<Client>,
    color: bool,
}

impl ZkHelper {
    fn complete_path(&self, word: &str) -> Vec<Pair> {
        let Some(client) = &self.client else {
            return Vec::new();
        };
        let idx = word.rfind('/').map(|i| i + 1).unwrap_or(1);
        let prefix = &word[idx..];
        let dir = if idx == 1 { "/" } else { &word[..idx - 1] };
        // Completion runs on the REPL thread, outside the runtime, so it may
        // block on the lookup (the timer must be created inside it).
        let lookup = async {
            tokio::time::timeout(COMPLETION_TIMEOUT, client.get_children(dir, false)).await
        };
        let Ok(Ok((mut children, _))) = self.handle.block_on(lookup) else {
            return Vec::new();
        };
        children.sort();
        children
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .map(|c| Pair {
                replacement: zkproto::path::join(dir, &c),
                display: c,
            })
            .collect()
    }
}

fn pairs<'a>(items: impl IntoIterator<Item = &'a str>, word: &str) -> Vec<Pair> {
    items
        .into_iter()
        .filter(|c| c.starts_with(word))
        .map(|c| Pair {
            display: c.to_string(),
            replacement: c.to_string(),
        })
        .collect()
}

impl Completer for ZkHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| c.is_ascii_whitespace())
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &before[start..];
        let earlier: Vec<&str> = before[..start].split_ascii_whitespace().collect();
        let Some(cmd) = earlier.first() else {
            return Ok((start, pairs(COMMANDS.iter().map(|c| c.name), word)));
        };
        let cands = if word.starts_with('/') {
            self.complete_path(word)
        } else if word.starts_with('-') {
            let flags = commands::info(cmd).map(|c| c.flags).unwrap_or_default();
            pairs(flags.iter().copied(), word)
        } else if *cmd == "addWatch" && earlier.last() == Some(&"-m") {
            pairs(
                commands::addwatch::MODES.iter().copied(),
                &word.to_uppercase(),
            )
        } else if *cmd == "printwatches" {
            pairs(["on", "off"], word)
        } else {
            Vec::new()
        };
        Ok((start, cands))
    }
}

impl Highlighter for ZkHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        if !self.color {
            return Cow::Borrowed(prompt);
        }
        // Colour the state in "(STATE)"; the width is unchanged.
        let (Some(open), Some(close)) = (prompt.rfind('('), prompt.rfind(')')) else {
            return Cow::Borrowed(prompt);
        };
        if close < open {
            return Cow::Borrowed(prompt);
        }
        let state = &prompt[open + 1..close];
        let painted = match state {
            "CONNECTED" => state.green().bold(),
            "CONNECTING" | "ASSOCIATING" | "CONNECTEDREADONLY" => state.yellow().bold(),
            _ => state.red().bold(),
        };
        Cow::Owned(format!(
            "{}{}{}{}",
            &prompt[..=open].blue(),
            painted,
            &prompt[close..close + 1].blue(),
            &prompt[close + 1..].blue()
        ))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        false
    }
}

/// Runs the REPL until `quit`/`exit` or Ctrl-D; returns the last command's
/// exit code (as zkCli). The session is closed on the way out.
pub fn run(rt: &Runtime, sh: &mut Shell, color: bool) -> i32 {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .color_mode(if color {
            ColorMode::Enabled
        } else {
            ColorMode::Disabled
        })
        .max_history_size(10_000)
        .and_then(|b| b.history_ignore_dups(true))
        .map(|b| b.auto_add_history(false).build());
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zkcli: line editor: {e}");
            return commands::exit::FAILED;
        }
    };
    let mut ed: Editor<ZkHelper, FileHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("zkcli: line editor: {e}");
            return commands::exit::FAILED;
        }
    };
    ed.set_helper(Some(ZkHelper {
        handle: rt.handle().clone(),
        client: None,
        color,
    }));
    let hist = history_path();
    if let Some(h) = &hist {
        let _ = ed.load_history(h);
    }
    if let Ok(p) = ed.create_external_printer() {
        sh.hub.set_sink(Sink::Printer(Box::new(p)));
    }
    let mut code = commands::exit::OK;
    loop {
        if let Some(h) = ed.helper_mut() {
            h.client = sh.client.clone();
        }
        // Set before the prompt is computed: an event arriving in between
        // redraws it with the state it brought.
        sh.hub.set_prompt(Some(sh.prompt_source()));
        let prompt = sh.prompt();
        let read = ed.readline(&prompt);
        sh.hub.set_prompt(None);
        match read {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = ed.add_history_entry(line.as_str());
                    if let Some(h) = &hist {
                        // Appending after every line keeps the history even
                        // if the shell is killed.
                        if ed.append_history(h).is_err() {
                            let _ = ed.save_history(h);
                        }
                    }
                }
                if let Some(c) = rt.block_on(sh.execute_line(&line)) {
                    code = c;
                }
                if sh.quit {
                    break;
                }
            }
            // Ctrl-C: drop the line, new prompt.
            Err(ReadlineError::Interrupted) => continue,
            // Ctrl-D: leave (and close the session).
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("zkcli: {e}");
                code = commands::exit::FAILED;
                break;
            }
        }
    }
    rt.block_on(sh.close_session());
    code
}
