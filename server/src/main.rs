//! `zkserver start-foreground zoo.cfg`: runs a standalone server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use zkserver::Config;

#[derive(Parser)]
#[command(
    name = "zkserver",
    version = zkserver::client_port::fourlw::LONG_VERSION,
    about = "A ZooKeeper-compatible server"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server in the foreground with a zoo.cfg file.
    StartForeground {
        /// Path to zoo.cfg.
        config: PathBuf,
    },
    /// Check a zoo.cfg file and exit.
    CheckConfig { config: PathBuf },
    /// Delete old snapshots and transaction logs, keeping the newest N
    /// snapshots (at least 3) and the logs they need (like zkCleanup.sh).
    Purge {
        config: PathBuf,
        /// Snapshots to keep.
        #[arg(short = 'n', long, default_value_t = 3)]
        count: usize,
    },
}

fn init_logging(cfg: &Config) -> anyhow::Result<()> {
    let level = std::env::var("ZKSERVER_LOG")
        .ok()
        .or_else(|| cfg.log_level.clone())
        .unwrap_or_else(|| "info".into());
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match &cfg.log_file {
        Some(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .init();
        }
        None => {
            use std::io::IsTerminal;
            let ansi = std::io::stderr().is_terminal();
            builder.with_ansi(ansi).with_writer(std::io::stderr).init()
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = match &cli.cmd {
        Cmd::StartForeground { config }
        | Cmd::CheckConfig { config }
        | Cmd::Purge { config, .. } => config.clone(),
    };
    let cfg = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zkserver: invalid configuration {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let serving = matches!(
        cli.cmd,
        Cmd::CheckConfig { .. } | Cmd::StartForeground { .. }
    );
    // An ensemble config must also pass the quorum checks (myid, server
    // lines, limits) before anything starts.
    let ensemble = if serving && zkserver::quorum::peer_config::is_distributed(&cfg) {
        match zkserver::quorum::peer_config::QuorumConfig::from_config(&cfg) {
            Ok(q) => Some(q),
            Err(e) => {
                eprintln!("zkserver: invalid configuration {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    if matches!(cli.cmd, Cmd::CheckConfig { .. }) {
        for w in cfg.ignored_settings() {
            println!("warning: {w}");
        }
        match &ensemble {
            Some(q) => println!(
                "configuration OK: server.{} ({}) of an ensemble of {} voters and {} observers",
                q.my_id,
                if q.my_type == zkserver::quorum::types::LearnerType::Observer {
                    "observer"
                } else {
                    "participant"
                },
                q.voters().len(),
                q.observers().len()
            ),
            None => println!("configuration OK"),
        }
        return ExitCode::SUCCESS;
    }
    if let Cmd::Purge { count, .. } = cli.cmd {
        return match zkserver::storage::purge(&cfg, count) {
            Ok(r) => {
                println!("{r}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("zkserver: purge failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = init_logging(&cfg) {
        eprintln!("zkserver: cannot open log file: {e}");
        return ExitCode::from(2);
    }
    for w in cfg.ignored_settings() {
        tracing::warn!("{w}");
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zkserver: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let handle = match zkserver::start(cfg).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("zkserver: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        tokio::select! {
            _ = handle_signals() => {
                tracing::info!("shutting down");
                handle.shutdown().await;
            }
        }
        ExitCode::SUCCESS
    })
}

/// One thread runs the network tasks and the pipeline; the transaction log and
/// the snapshot writer have their own threads. Every request already passes
/// through the single pipeline task, so extra workers parallelise only the
/// framing, which costs less than the cross-thread wake-ups they add: on a 2-core machine the multi-threaded runtime cost
/// twice the CPU per write (0.018 vs 0.009 s per 1,000 sets at 16x4, fsync on)
/// and 30% of the write throughput (scripts/bench.sh; README, Performance).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

async fn handle_signals() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
