//! The command table, zkCli's line tokenizer, a commons-cli compatible option
//! parser, and the error type every command returns.
//!
//! Each command lives in its own file (parse, run and format together, in the
//! style of mini-redis) and exposes `run(sh, args)`, where `args[0]` is the
//! command name, exactly like zkCli's `CliCommand.parse(String[])`.

use std::future::Future;
use std::pin::Pin;

use zkproto::ErrorCode;

use crate::client::Client;
use crate::shell::Shell;

pub mod acl;
pub mod addauth;
pub mod addwatch;
pub mod cluster;
pub mod config;
pub mod connect;
pub mod create;
pub mod delete;
pub mod deleteall;
pub mod ephemerals;
pub mod get;
pub mod help;
pub mod history;
pub mod ls;
pub mod quota;
pub mod reconfig;
pub mod removewatches;
pub mod set;
pub mod stat;
pub mod sync;
pub mod wait;
pub mod whoami;

/// Exit codes (documented in docs/shell-improvements.md).
pub mod exit {
    /// Every command succeeded.
    pub const OK: i32 = 0;
    /// A command failed (the server refused it, or the shell could not do it).
    pub const FAILED: i32 = 1;
    /// Bad invocation: usage error, unknown flag, a number or path that does
    /// not parse, bad ACL syntax.
    pub const USAGE: i32 = 2;
    /// No connection: `Not connected`, connection loss, session expired, or
    /// `-waitforconnection` timed out.
    pub const NO_CONNECTION: i32 = 3;
    /// Unknown command (as zkCli).
    pub const NOT_FOUND: i32 = 127;
    /// Interrupted by Ctrl-C (as a shell).
    pub const INTERRUPTED: i32 = 130;
}

/// Why a command failed. The message is printed by [`Shell::report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// Usage/parse error: the message (often the usage line) goes to stderr.
    Usage(String),
    /// The server (or the client library) answered with an error code.
    /// `path` is `None` where zkCli's exception carries no path (it prints
    /// `null` in the mapped messages then).
    Keeper {
        code: ErrorCode,
        path: Option<String>,
    },
    /// Another failure with a message for stderr.
    Failed(String),
    /// The session is closed or never started: `Not connected` on stdout.
    NotConnected,
    /// Unknown command: zkCli's usage list, then `Command not found: ...`.
    NotFound(String),
    /// The command printed its own message already; only the exit code.
    Silent(i32),
    /// Ctrl-C while a command ran (interactive mode).
    Interrupted,
    /// The session is gone (e.g. expired while `wait` waited).
    Lost(String),
}

pub type CmdResult = Result<(), CmdError>;

impl CmdError {
    pub fn keeper(code: ErrorCode, path: &str) -> CmdError {
        CmdError::Keeper {
            code,
            path: Some(path.to_string()),
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CmdError::Usage(_) => exit::USAGE,
            CmdError::Keeper { code, .. } => match code {
                ErrorCode::ConnectionLoss
                | ErrorCode::SessionExpired
                | ErrorCode::RequestTimeout
                | ErrorCode::OperationTimeout => exit::NO_CONNECTION,
                _ => exit::FAILED,
            },
            CmdError::Failed(_) => exit::FAILED,
            CmdError::NotConnected => exit::NO_CONNECTION,
            CmdError::NotFound(_) => exit::NOT_FOUND,
            CmdError::Silent(c) => *c,
            CmdError::Interrupted => exit::INTERRUPTED,
            CmdError::Lost(_) => exit::NO_CONNECTION,
        }
    }

    /// The text zkCli prints for this error (`CliWrapperException.getMessage`).
    pub fn message(&self) -> String {
        match self {
            CmdError::Usage(m) | CmdError::Failed(m) | CmdError::Lost(m) => m.clone(),
            CmdError::Keeper { code, path } => keeper_message(*code, path.as_deref()),
            CmdError::NotConnected => "Not connected".into(),
            CmdError::NotFound(cmd) => format!("Command not found: Command not found {cmd}"),
            CmdError::Silent(_) => String::new(),
            CmdError::Interrupted => "Interrupted".into(),
        }
    }
}

/// zkCli's mapping from KeeperException to message.
pub fn keeper_message(code: ErrorCode, path: Option<&str>) -> String {
    let p = path.unwrap_or("null");
    match code {
        ErrorCode::NoNode => format!("Node does not exist: {p}"),
        ErrorCode::NoChildrenForEphemerals => format!("Ephemerals cannot have children: {p}"),
        ErrorCode::NodeExists => format!("Node already exists: {p}"),
        ErrorCode::NotEmpty => format!("Node not empty: {p}"),
        ErrorCode::NotReadOnly => format!("Not a read-only call: {p}"),
        ErrorCode::InvalidAcl => format!("Acl is not valid : {p}"),
        ErrorCode::NoAuth => format!("Insufficient permission : {p}"),
        ErrorCode::BadArguments => format!("Arguments are not valid : {p}"),
        ErrorCode::BadVersion => format!("version No is not valid : {p}"),
        ErrorCode::ReconfigInProgress => {
            "Another reconfiguration is in progress -- concurrent reconfigs not supported (yet)"
                .into()
        }
        ErrorCode::NewConfigNoQuorum => "No quorum of new config is connected and up-to-date with the leader of last commmitted config - try invoking reconfiguration after new servers are connected and synced".into(),
        ErrorCode::QuotaExceeded => format!("Quota has exceeded : {p}"),
        other => generic_keeper_message(other, path),
    }
}

/// `KeeperException.getMessage()`: `KeeperErrorCode = X[ for /p]`.
pub fn generic_keeper_message(code: ErrorCode, path: Option<&str>) -> String {
    match path {
        Some(p) => format!("KeeperErrorCode = {} for {p}", code.message()),
        None => format!("KeeperErrorCode = {}", code.message()),
    }
}

/// A boxed command future (needed because `redo` re-enters the dispatcher).
pub type CmdFuture<'a> = Pin<Box<dyn Future<Output = CmdResult> + 'a>>;

/// Static facts about a command: name, zkCli's option string (for usage and
/// `help`), the flags offered by completion, and whether it talks to the
/// server (those print `Not connected` without a live session).
pub struct CommandInfo {
    pub name: &'static str,
    pub usage: &'static str,
    pub flags: &'static [&'static str],
    pub needs_session: bool,
}

const fn cmd(
    name: &'static str,
    usage: &'static str,
    flags: &'static [&'static str],
    needs_session: bool,
) -> CommandInfo {
    CommandInfo {
        name,
        usage,
        flags,
        needs_session,
    }
}

/// Every command, sorted as zkCli's `usage()` sorts them (Java String order).
pub const COMMANDS: &[CommandInfo] = &[
    cmd("addWatch", addwatch::USAGE, &["-m"], true),
    cmd("addauth", "scheme auth", &[], true),
    cmd("close", "", &[], true),
    cmd("cluster", "", &[], false),
    cmd("config", "[-c] [-w] [-s]", &["-c", "-w", "-s"], true),
    cmd("connect", "host:port", &[], false),
    cmd("create", create::USAGE, &["-s", "-e", "-c", "-t"], true),
    cmd("delete", "[-v version] path", &["-v"], true),
    cmd("deleteall", "path [-b batch size]", &["-b"], true),
    cmd(
        "delquota",
        "[-n|-b|-N|-B] path",
        &["-n", "-b", "-N", "-B"],
        true,
    ),
    cmd("exit", "", &[], false),
    cmd("get", get::USAGE, &["-s", "-w", "-b", "-x"], true),
    cmd("getAcl", "[-s] path", &["-s"], true),
    cmd("getAllChildrenNumber", "path", &[], true),
    cmd("getEphemerals", "path", &[], true),
    cmd("help", "[command]", &[], false),
    cmd("history", "", &[], false),
    cmd("listquota", "path", &[], true),
    cmd("ls", "[-s] [-w] [-R] path", &["-s", "-w", "-R"], true),
    cmd("printwatches", "on|off", &[], false),
    cmd("quit", "", &[], false),
    cmd(
        "reconfig",
        reconfig::USAGE,
        &["-s", "-v", "-file", "-members", "-add", "-remove"],
        true,
    ),
    cmd("redo", "cmdno", &[], false),
    cmd(
        "removewatches",
        removewatches::USAGE,
        &["-c", "-d", "-a", "-p", "-r", "-l"],
        true,
    ),
    cmd("set", set::USAGE, &["-s", "-v", "-b"], true),
    cmd(
        "setAcl",
        "[-s] [-v version] [-R] path acl",
        &["-s", "-v", "-R"],
        true,
    ),
    cmd(
        "setquota",
        "-n|-b|-N|-B val path",
        &["-n", "-b", "-N", "-B"],
        true,
    ),
    cmd("stat", "[-w] path", &["-w"], true),
    cmd("sync", "path", &[], true),
    cmd("version", "", &[], false),
    cmd("wait", "[timeout_ms]", &[], false),
    cmd("whoami", "", &[], true),
];

pub fn info(name: &str) -> Option<&'static CommandInfo> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// `name + " " + options`, zkCli's usage string (note the trailing space for
/// commands without options).
pub fn usage_of(name: &str) -> String {
    match info(name) {
        Some(c) => format!("{} {}", c.name, c.usage),
        None => name.to_string(),
    }
}

/// A usage error carrying the command's usage line.
pub fn usage_err(name: &str) -> CmdError {
    CmdError::Usage(usage_of(name))
}

/// zkCli's `usage()` listing, header first.
pub fn usage_listing() -> String {
    let mut s =
        String::from("ZooKeeper -server host:port -client-configuration properties-file cmd args");
    for c in COMMANDS {
        s.push_str(&format!("\n\t{} {}", c.name, c.usage));
    }
    s
}

/// Runs one parsed command line (`args[0]` is the command).
pub fn dispatch<'a>(sh: &'a mut Shell, args: Vec<String>) -> CmdFuture<'a> {
    Box::pin(async move {
        let Some(name) = args.first().cloned() else {
            return Ok(());
        };
        let Some(info) = info(&name) else {
            return Err(CmdError::NotFound(name));
        };
        if info.needs_session && !sh.session_alive() {
            return Err(CmdError::NotConnected);
        }
        match name.as_str() {
            "addWatch" => addwatch::run(sh, &args).await,
            "addauth" => addauth::run(sh, &args).await,
            "close" => connect::close(sh).await,
            "cluster" => cluster::run(sh, &args).await,
            "config" => config::run(sh, &args).await,
            "connect" => connect::run(sh, &args).await,
            "create" => create::run(sh, &args).await,
            "delete" => delete::run(sh, &args).await,
            "deleteall" => deleteall::run(sh, &args).await,
            "delquota" => quota::delquota(sh, &args).await,
            "exit" | "quit" => {
                sh.quit = true;
                Ok(())
            }
            "get" => get::run(sh, &args).await,
            "getAcl" => acl::get_acl(sh, &args).await,
            "getAllChildrenNumber" => ephemerals::all_children_number(sh, &args).await,
            "getEphemerals" => ephemerals::get_ephemerals(sh, &args).await,
            "help" => help::run(sh, &args),
            "history" => history::history(sh),
            "listquota" => quota::listquota(sh, &args).await,
            "ls" => ls::run(sh, &args).await,
            "printwatches" => help::printwatches(sh, &args),
            "reconfig" => reconfig::run(sh, &args).await,
            "redo" => history::redo(sh, &args).await,
            "removewatches" => removewatches::run(sh, &args).await,
            "set" => set::run(sh, &args).await,
            "setAcl" => acl::set_acl(sh, &args).await,
            "setquota" => quota::setquota(sh, &args).await,
            "stat" => stat::run(sh, &args).await,
            "sync" => sync::run(sh, &args).await,
            "version" => help::version(sh, &args),
            "wait" => wait::run(sh, &args).await,
            "whoami" => whoami::run(sh, &args).await,
            _ => Err(CmdError::NotFound(name)),
        }
    })
}

/// The live client, or `Not connected`.
pub fn client(sh: &Shell) -> Result<Client, CmdError> {
    match &sh.client {
        Some(c) if sh.session_alive() => Ok(c.clone()),
        _ => Err(CmdError::NotConnected),
    }
}

/// ZooKeeper's client-side path check (`PathUtils.validatePath`).
pub fn check_path(path: &str) -> CmdResult {
    zkproto::path::validate_path(path).map_err(CmdError::Usage)
}

/// Maps a client error for `path` into a command error.
pub fn zk_err(path: &str) -> impl Fn(ErrorCode) -> CmdError + '_ {
    move |code| CmdError::keeper(code, path)
}

// ---------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------

/// Java's `\s`: the ASCII whitespace zkCli's regex splits on.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// Splits a line the way zkCli does, with shlex-style quoting on top.
///
/// * An unquoted token runs to the next whitespace and is taken literally,
///   backslashes and inner quotes included (zkCli: `{"a":1}` stays as is).
/// * A token starting with `"` or `'` runs to the matching quote; the quotes
///   are removed (zkCli). Inside double quotes `\"` and `\\` are escapes, and a
///   quoted part directly followed by more text joins it (shlex/POSIX rules,
///   where zkCli would split `"x"y` into two tokens).
/// * A quote that is never closed is dropped and the rest is split on
///   whitespace, as zkCli does.
pub fn tokenize(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && is_space(chars[i]) {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        if chars[i] != '"' && chars[i] != '\'' {
            let start = i;
            while i < chars.len() && !is_space(chars[i]) {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
            continue;
        }
        // Quoted token, possibly several joined parts.
        let mut tok = String::new();
        let mut ok = true;
        while i < chars.len() && !is_space(chars[i]) {
            let c = chars[i];
            if c == '"' || c == '\'' {
                match quoted_part(&chars, i) {
                    Some((text, next)) => {
                        tok.push_str(&text);
                        i = next;
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            } else {
                tok.push(c);
                i += 1;
            }
        }
        if ok {
            out.push(tok);
        } else {
            // zkCli: an unmatched quote is skipped; splitting resumes after it.
            i += 1;
            if !tok.is_empty() {
                out.push(tok);
            }
        }
    }
    out
}

/// The text of the quoted part starting at `start` and the index after its
/// closing quote, or `None` if it is never closed.
fn quoted_part(chars: &[char], start: usize) -> Option<(String, usize)> {
    let q = chars[start];
    let mut s = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == q {
            return Some((s, i + 1));
        }
        if q == '"' && c == '\\' && i + 1 < chars.len() && matches!(chars[i + 1], '"' | '\\') {
            s.push(chars[i + 1]);
            i += 2;
            continue;
        }
        s.push(c);
        i += 1;
    }
    None
}

// ---------------------------------------------------------------------------
// Options (commons-cli DefaultParser semantics)
// ---------------------------------------------------------------------------

/// Which options a command takes: single-letter flags, and options with a
/// value (possibly multi-letter, like reconfig's `-members`).
pub struct OptSpec {
    pub flags: &'static [&'static str],
    pub valued: &'static [&'static str],
}

/// Parsed options: `(name, value)` in order of appearance, and positionals
/// (`args[0]` is the command name, as in zkCli's `cl.getArgs()`).
#[derive(Debug, Default)]
pub struct Opts {
    pub opts: Vec<(String, Option<String>)>,
    pub args: Vec<String>,
}

impl Opts {
    pub fn has(&self, name: &str) -> bool {
        self.opts.iter().any(|(n, _)| n == name)
    }

    /// The value of the first occurrence (commons-cli `getOptionValue`).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// An integer option value, with a clear error (zkCli would crash).
    pub fn int(&self, name: &str) -> Result<Option<i32>, CmdError> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => parse_i32(v).map(Some).ok_or_else(|| {
                CmdError::Usage(format!("-{name} argument must be an int value: {v}"))
            }),
        }
    }
}

/// Java `Integer.parseInt` (optional sign, decimal digits).
pub fn parse_i32(s: &str) -> Option<i32> {
    if s.is_empty() || s.starts_with("+-") || s.starts_with("-+") {
        return None;
    }
    s.parse::<i32>().ok()
}

/// Java `Long.parseLong`.
pub fn parse_i64(s: &str) -> Option<i64> {
    if s.is_empty() || s.starts_with("+-") || s.starts_with("-+") {
        return None;
    }
    s.parse::<i64>().ok()
}

const CLI_EX: &str = "org.apache.commons.cli.";

impl OptSpec {
    fn is_known(&self, name: &str) -> bool {
        self.flags.contains(&name) || self.valued.contains(&name)
    }

    /// commons-cli `isShortOption`: looks like a known option.
    fn looks_like_option(&self, tok: &str) -> bool {
        if !tok.starts_with('-') || tok.len() == 1 {
            return false;
        }
        let name = &tok[1..];
        let name = name.split('=').next().unwrap_or(name);
        if self.is_known(name) {
            return true;
        }
        name.chars()
            .next()
            .is_some_and(|c| self.is_known(&c.to_string()))
    }

    /// Parses `args` (the whole command line, `args[0]` being the command).
    pub fn parse(&self, args: &[String]) -> Result<Opts, CmdError> {
        let mut o = Opts::default();
        let mut pending: Option<String> = None;
        let mut iter = args.iter();
        if let Some(cmd) = iter.next() {
            o.args.push(cmd.clone());
        }
        let mut rest_positional = false;
        for tok in iter {
            if rest_positional {
                o.args.push(tok.clone());
                continue;
            }
            if let Some(name) = pending.take() {
                let negative_number = tok.len() > 1 && tok[1..].parse::<f64>().is_ok();
                if !self.looks_like_option(tok) || (tok.starts_with('-') && negative_number) {
                    o.opts.push((name, Some(strip_quotes(tok))));
                    continue;
                }
                return Err(missing_arg(&name));
            }
            if tok == "--" {
                rest_positional = true;
                continue;
            }
            if !tok.starts_with('-') || tok == "-" {
                o.args.push(tok.clone());
                continue;
            }
            let body = tok.trim_start_matches('-');
            if self.flags.contains(&body) {
                o.opts.push((body.to_string(), None));
            } else if self.valued.contains(&body) {
                pending = Some(body.to_string());
            } else if let Some((k, v)) = body
                .split_once('=')
                .filter(|(k, _)| self.valued.contains(k))
            {
                o.opts.push((k.to_string(), Some(v.to_string())));
            } else {
                // -v1 (value attached) or -sw (concatenated flags)
                let mut matched = false;
                for (idx, c) in body.char_indices() {
                    let n = c.to_string();
                    if self.valued.contains(&n.as_str()) {
                        let rest = &body[idx + c.len_utf8()..];
                        if rest.is_empty() {
                            pending = Some(n);
                        } else {
                            o.opts.push((n, Some(rest.to_string())));
                        }
                        matched = true;
                        break;
                    } else if self.flags.contains(&n.as_str()) {
                        o.opts.push((n, None));
                        matched = true;
                    } else {
                        return Err(CmdError::Usage(format!(
                            "{CLI_EX}UnrecognizedOptionException: Unrecognized option: {tok}"
                        )));
                    }
                }
                if !matched {
                    return Err(CmdError::Usage(format!(
                        "{CLI_EX}UnrecognizedOptionException: Unrecognized option: {tok}"
                    )));
                }
            }
        }
        if let Some(name) = pending {
            return Err(missing_arg(&name));
        }
        Ok(o)
    }
}

fn missing_arg(name: &str) -> CmdError {
    CmdError::Usage(format!(
        "{CLI_EX}MissingArgumentException: Missing argument for option: {name}"
    ))
}

/// commons-cli strips one pair of surrounding double quotes from values.
fn strip_quotes(s: &str) -> String {
    let s = s.strip_prefix('"').unwrap_or(s);
    let s = s.strip_suffix('"').unwrap_or(s);
    s.to_string()
}

/// Checks an exclusive option group (setquota/delquota): the commons-cli
/// `AlreadySelectedException` text when two of `group` are given.
pub fn exclusive(o: &Opts, group: &[&str]) -> CmdResult {
    let mut first: Option<&str> = None;
    for (n, _) in &o.opts {
        if group.contains(&n.as_str()) {
            match first {
                None => first = Some(n),
                Some(f) if f != n => {
                    return Err(CmdError::Usage(format!(
                        "{CLI_EX}AlreadySelectedException: The option '{n}' was specified but an option from this group has already been selected: '{f}'"
                    )))
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Vec<String> {
        tokenize(s)
    }

    #[test]
    fn zkcli_tokens() {
        assert_eq!(t("create /a \"a b\""), ["create", "/a", "a b"]);
        assert_eq!(t("'it\"s'"), ["it\"s"]);
        assert_eq!(t("a\"b c\""), ["a\"b", "c\""]);
        assert_eq!(t("\"unterminated value"), ["unterminated", "value"]);
        assert_eq!(t("\"\""), [""]);
        assert_eq!(t("set /p {\"a\":1}"), ["set", "/p", "{\"a\":1}"]);
        assert_eq!(t("set /p C:\\dir"), ["set", "/p", "C:\\dir"]);
        assert!(t("   ").is_empty());
    }

    #[test]
    fn shlex_extensions() {
        assert_eq!(t("\"x\"y"), ["xy"]);
        assert_eq!(t(r#""say \"hi\"""#), [r#"say "hi""#]);
        assert_eq!(t(r"'a\b'"), [r"a\b"]);
    }

    fn spec() -> OptSpec {
        OptSpec {
            flags: &["s", "e", "c"],
            valued: &["t", "v"],
        }
    }

    fn a(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_anywhere() {
        let o = spec()
            .parse(&a(&["create", "/p", "-s", "-t", "100", "d"]))
            .unwrap();
        assert!(o.has("s"));
        assert_eq!(o.value("t"), Some("100"));
        assert_eq!(o.args, ["create", "/p", "d"]);
        let o = spec().parse(&a(&["create", "-se", "-v5", "/p"])).unwrap();
        assert!(o.has("s") && o.has("e"));
        assert_eq!(o.value("v"), Some("5"));
        let o = spec().parse(&a(&["set", "-v", "-1", "/p"])).unwrap();
        assert_eq!(o.int("v").unwrap(), Some(-1));
    }

    #[test]
    fn option_errors() {
        let e = spec().parse(&a(&["create", "-x", "/p"])).unwrap_err();
        assert_eq!(
            e.message(),
            "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x"
        );
        let e = spec().parse(&a(&["create", "/p", "-t"])).unwrap_err();
        assert_eq!(
            e.message(),
            "org.apache.commons.cli.MissingArgumentException: Missing argument for option: t"
        );
        let e = spec().parse(&a(&["create", "-t", "-s", "/p"])).unwrap_err();
        assert_eq!(e.exit_code(), exit::USAGE);
        let o = spec().parse(&a(&["set", "-v", "abc"])).unwrap();
        assert_eq!(o.int("v").unwrap_err().exit_code(), exit::USAGE);
    }

    #[test]
    fn messages() {
        assert_eq!(
            keeper_message(ErrorCode::NoNode, Some("/a")),
            "Node does not exist: /a"
        );
        assert_eq!(
            keeper_message(ErrorCode::Unimplemented, Some("/a")),
            "KeeperErrorCode = Unimplemented for /a"
        );
        assert_eq!(
            keeper_message(ErrorCode::InvalidAcl, None),
            "Acl is not valid : null"
        );
        assert!(usage_listing().contains("\n\tclose \n"));
    }
}
