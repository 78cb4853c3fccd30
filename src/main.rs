//! `zkcli`: a ZooKeeper shell compatible with zkCli.sh.
//!
//! Mode selection: a command on the command line runs alone; `-f FILE` runs a
//! script; otherwise a terminal on stdin gets the interactive REPL and
//! anything else (a pipe, a file) is run as a script without prompt or
//! banner.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use zkcli::commands::exit;
use zkcli::output::{Format, Out};
use zkcli::shell::{ConnectOptions, EventHub, Shell, Sink};
use zkcli::{batch, repl};

#[derive(Parser, Debug)]
#[command(
    name = "zkcli",
    version = concat!(
        env!("CARGO_PKG_VERSION"),
        " (commit ",
        env!("ZK_BUILD_COMMIT"),
        ", built on ",
        env!("ZK_BUILD_DATE"),
        " UTC)"
    ),
    about = "A ZooKeeper shell compatible with zkCli.sh",
    after_help = "zkCli's single-dash spellings (-server, -timeout, -waitforconnection) are accepted too.\n\
                  Exit status: 0 ok, 1 a command failed, 2 usage error, 3 no connection, 127 unknown command."
)]
struct Args {
    /// Connect string: host:port[,host:port...][/chroot]
    #[arg(long, default_value = "localhost:2181", value_name = "HOSTS")]
    server: String,
    /// Session timeout in ms (also the -waitforconnection limit)
    #[arg(long, default_value_t = 30000, value_name = "MS")]
    timeout: u32,
    /// Allow a read-only connection (to a server cut off from its quorum)
    #[arg(short = 'r', long = "read-only")]
    read_only: bool,
    /// Wait for the session to be established before running commands
    #[arg(long = "waitforconnection", alias = "wait-for-connection")]
    wait_for_connection: bool,
    /// Accepted for zkCli compatibility; client configuration files are not supported
    #[arg(long = "client-configuration", value_name = "FILE", hide = true)]
    client_configuration: Option<PathBuf>,
    /// Run the commands of FILE (one per line) instead of reading stdin
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
    /// Never colour the output (colour is only used on a terminal anyway; NO_COLOR is honoured)
    #[arg(long = "no-color")]
    no_color: bool,
    /// In batch mode, stop at the first command that fails
    #[arg(long = "exit-on-error")]
    exit_on_error: bool,
    /// Start an in-process standalone server on 127.0.0.1 and connect to it
    #[arg(long)]
    embedded: bool,
    /// Data directory of the embedded server (default: a temporary directory)
    #[arg(long = "data-dir", value_name = "DIR", requires = "embedded")]
    data_dir: Option<PathBuf>,
    /// A command and its arguments, run alone (e.g. `ls -R /`)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    command: Vec<String>,
}

/// Rewrites zkCli's single-dash long options (`-server h:p`) to clap's
/// `--server`, up to the first word that is not an option: everything after
/// the command word belongs to the command, as in zkCli.
fn normalize_args(raw: Vec<String>) -> Vec<String> {
    const LONG: &[&str] = &[
        "server",
        "timeout",
        "waitforconnection",
        "client-configuration",
        "output",
        "file",
        "embedded",
        "data-dir",
    ];
    const VALUED: &[&str] = &[
        "server",
        "timeout",
        "client-configuration",
        "output",
        "file",
        "data-dir",
        "f",
    ];
    let mut out = Vec::with_capacity(raw.len());
    let mut it = raw.into_iter();
    if let Some(prog) = it.next() {
        out.push(prog);
    }
    while let Some(a) = it.next() {
        if !a.starts_with('-') || a == "--" {
            out.push(a);
            out.extend(it);
            break;
        }
        let name = a.trim_start_matches('-');
        let name = name.split('=').next().unwrap_or(name);
        let takes_value = VALUED.contains(&name) && !a.contains('=');
        if !a.starts_with("--") && LONG.contains(&name) {
            out.push(format!("-{a}"));
        } else {
            out.push(a);
        }
        if takes_value {
            if let Some(v) = it.next() {
                out.push(v);
            }
        }
    }
    out
}

fn main() -> ExitCode {
    let args = Args::parse_from(normalize_args(std::env::args().collect()));
    ExitCode::from(u8::try_from(run(args)).unwrap_or(1))
}

fn run(args: Args) -> i32 {
    let stdin_tty = std::io::stdin().is_terminal();
    let interactive = args.command.is_empty() && args.file.is_none() && stdin_tty;
    let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let color = interactive
        && std::io::stdout().is_terminal()
        && !no_color_env
        && !args.no_color
        && args.output != Format::Json;
    if !color {
        colored::control::set_override(false);
    }
    let out = Out::new(args.output, color);

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zkcli: cannot start the runtime: {e}");
            return exit::FAILED;
        }
    };

    if args.client_configuration.is_some() {
        eprintln!("zkcli: -client-configuration is not supported and was ignored");
    }

    #[cfg(feature = "embedded")]
    let mut embedded = None;
    #[allow(unused_mut)] // only reassigned with the `embedded` feature
    let mut server = args.server.clone();
    if args.embedded {
        #[cfg(feature = "embedded")]
        {
            match rt.block_on(zkserver::embedded::EmbeddedServer::start(
                args.data_dir.clone(),
            )) {
                Ok(s) => {
                    server = s.client_addr().to_string();
                    if interactive {
                        out.line(&format!(
                            "Started an embedded ZooKeeper-compatible server on {server}"
                        ));
                    }
                    embedded = Some(s);
                }
                Err(e) => {
                    eprintln!("zkcli: cannot start the embedded server: {e:#}");
                    return exit::FAILED;
                }
            }
        }
        #[cfg(not(feature = "embedded"))]
        {
            eprintln!("zkcli: this build has no embedded server (feature `embedded`)");
            return exit::USAGE;
        }
    }

    let hub = EventHub::new(out.clone(), Sink::Batch);
    let opts = ConnectOptions {
        session_timeout_ms: args.timeout,
        read_only: args.read_only,
        // Scripts wait for the session before their first command (zkCli's
        // -waitforconnection), so the first request cannot race the handshake.
        wait: args.wait_for_connection || !interactive,
    };
    let mut sh_out = out.clone();
    if !interactive {
        let h = hub.clone();
        sh_out.set_before_print(std::sync::Arc::new(move || h.drain()));
    }
    let mut sh = Shell::new(sh_out, hub, server.clone(), opts);
    sh.interactive = interactive;

    if interactive {
        out.line(&format!("Connecting to {server}"));
    }
    let connected = rt.block_on(sh.connect(&server));
    if let Err(e) = &connected {
        let code = sh.report(Err(e.clone()));
        if !interactive || args.wait_for_connection {
            return code;
        }
    }

    let code = if !args.command.is_empty() {
        batch::run_args(&rt, &mut sh, args.command.clone())
    } else if let Some(f) = &args.file {
        match std::fs::File::open(f) {
            Ok(file) => batch::run_lines(
                &rt,
                &mut sh,
                std::io::BufReader::new(file),
                args.exit_on_error,
            ),
            Err(e) => {
                eprintln!("zkcli: cannot open {}: {e}", f.display());
                rt.block_on(sh.close_session());
                exit::USAGE
            }
        }
    } else if interactive {
        out.line("Welcome to ZooKeeper!");
        out.line(&format!(
            "zkcli {}: Tab completes commands and paths, `help` lists commands, Ctrl-D quits.",
            env!("CARGO_PKG_VERSION")
        ));
        repl::run(&rt, &mut sh, color)
    } else {
        batch::run_lines(&rt, &mut sh, std::io::stdin().lock(), args.exit_on_error)
    };

    #[cfg(feature = "embedded")]
    if let Some(s) = embedded {
        rt.block_on(s.shutdown());
    }
    // Do not wait for stray tasks (e.g. a reconnect loop) at exit.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

#[cfg(test)]
mod tests {
    use super::normalize_args;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn zkcli_single_dash_options() {
        assert_eq!(
            normalize_args(v(&[
                "zkcli", "-server", "h:1", "-timeout", "5", "ls", "-server"
            ])),
            v(&[
                "zkcli",
                "--server",
                "h:1",
                "--timeout",
                "5",
                "ls",
                "-server"
            ])
        );
        assert_eq!(
            normalize_args(v(&["zkcli", "-r", "-waitforconnection", "get", "/a"])),
            v(&["zkcli", "-r", "--waitforconnection", "get", "/a"])
        );
    }
}
