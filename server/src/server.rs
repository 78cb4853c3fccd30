//! Assembles a standalone server: recover state, bind the client port, start
//! the pipeline, the log thread and the clock.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::info;

use crate::config::Config;
use crate::core::{Core, CoreMsg};
use crate::logstage::{self, LogSink};
use crate::session::SessionTracker;
use crate::tree::DataTree;

/// A running server. Dropping it does not stop it; call [`ServerHandle::shutdown`].
pub struct ServerHandle {
    client_addr: SocketAddr,
    core_tx: mpsc::Sender<CoreMsg>,
    tasks: Vec<JoinHandle<()>>,
    log_thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    /// Stops accepting, stops the pipeline and waits for the log thread.
    pub async fn shutdown(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.core_tx.send(CoreMsg::Shutdown).await;
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        if let Some(h) = self.log_thread.take() {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    /// Waits until the server stops by itself (it normally runs forever).
    pub async fn wait(mut self) {
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

/// State recovered from the dataDir (or a fresh one).
pub struct Recovered {
    pub tree: DataTree,
    pub sessions: Vec<(i64, i32)>,
    pub sink: Box<dyn LogSink>,
}

/// Starts a standalone server as configured.
pub async fn start(cfg: Config) -> anyhow::Result<ServerHandle> {
    let recovered = crate::storage::recover(&cfg).context("recovering the dataDir")?;
    start_with(cfg, recovered).await
}

pub async fn start_with(cfg: Config, rec: Recovered) -> anyhow::Result<ServerHandle> {
    let cfg = Arc::new(cfg);
    let ip = cfg
        .client_port_address
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let listener = TcpListener::bind(SocketAddr::new(ip, cfg.client_port))
        .await
        .with_context(|| format!("binding the client port {ip}:{}", cfg.client_port))?;
    let client_addr = listener.local_addr()?;
    let mut sessions = SessionTracker::new(cfg.server_id as i64, cfg.tick_time);
    for (id, to) in &rec.sessions {
        sessions.add(*id, *to);
    }
    let (core_tx, core_rx) = mpsc::channel(16 * 1024);
    let (log_tx, log_rx) = mpsc::unbounded_channel();
    let log_thread =
        logstage::spawn(rec.sink, log_rx, core_tx.clone()).context("starting the log thread")?;
    let core = Core::new(cfg.clone(), rec.tree, sessions, log_tx);
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(core.run(core_rx)));
    let tick_tx = core_tx.clone();
    let tick = Duration::from_millis((cfg.tick_time / 2).clamp(10, 500));
    tasks.push(tokio::spawn(async move {
        let mut iv = tokio::time::interval(tick);
        loop {
            iv.tick().await;
            if tick_tx.send(CoreMsg::Tick).await.is_err() {
                return;
            }
        }
    }));
    if cfg.purge_interval_hours > 0 {
        let pcfg = cfg.clone();
        tasks.push(tokio::spawn(async move {
            let every = Duration::from_secs(u64::from(pcfg.purge_interval_hours) * 3600);
            let mut iv = tokio::time::interval(every);
            loop {
                iv.tick().await;
                let c = pcfg.clone();
                let keep = c.snap_retain_count as usize;
                match tokio::task::spawn_blocking(move || crate::storage::purge(&c, keep)).await {
                    Ok(Ok(r)) => info!("autopurge: {r}"),
                    Ok(Err(e)) => tracing::warn!("autopurge failed: {e}"),
                    Err(e) => tracing::warn!("autopurge task failed: {e}"),
                }
            }
        }));
    }
    tasks.push(tokio::spawn(crate::net::serve(
        listener,
        core_tx.clone(),
        cfg.clone(),
    )));
    info!("serving clients on {client_addr}");
    Ok(ServerHandle {
        client_addr,
        core_tx,
        tasks,
        log_thread: Some(log_thread),
    })
}
