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
use crate::db::session::SessionTracker;
use crate::db::tree::DataTree;
use crate::pipeline::core::{Core, CoreMsg};
use crate::quorum::peer_config::QuorumConfig;
use crate::storage::logstage::{self, LogSink};

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

/// Starts a server as configured: standalone, or an ensemble member when
/// the config describes a replicated ensemble
/// (`QuorumPeerConfig.isDistributed`).
pub async fn start(mut cfg: Config) -> anyhow::Result<ServerHandle> {
    let member = if crate::quorum::peer_config::is_distributed(&cfg) {
        let q = QuorumConfig::from_config(&cfg).map_err(|e| anyhow::anyhow!(e))?;
        // Session ids carry myid in their high byte.
        cfg.server_id = q.my_id as u64;
        Some(q)
    } else {
        None
    };
    let recovered = crate::storage::recover(&cfg).context("recovering the dataDir")?;
    start_parts(cfg, recovered, member).await
}

/// Starts a standalone server from already recovered state.
pub async fn start_with(cfg: Config, rec: Recovered) -> anyhow::Result<ServerHandle> {
    start_parts(cfg, rec, None).await
}

/// Binds the election and quorum ports of a member, retrying the election
/// port `electionPortBindRetry` times (0: forever) as ZooKeeper does.
async fn bind_member_ports(
    q: &QuorumConfig,
) -> anyhow::Result<(TcpListener, std::net::TcpListener)> {
    let me = q.me();
    let eaddr = q
        .listen_socket(me.election_port)
        .map_err(|e| anyhow::anyhow!(e))?;
    let qaddr = q
        .listen_socket(me.quorum_port)
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut attempt = 0u32;
    let election = loop {
        match TcpListener::bind(eaddr).await {
            Ok(l) => break l,
            Err(e) => {
                attempt += 1;
                if q.election_port_bind_retry != 0 && attempt >= q.election_port_bind_retry {
                    anyhow::bail!("binding the election port {eaddr}: {e}");
                }
                tracing::warn!("binding the election port {eaddr} (attempt {attempt}): {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let quorum = std::net::TcpListener::bind(qaddr)
        .with_context(|| format!("binding the quorum port {qaddr}"))?;
    Ok((election, quorum))
}

async fn start_parts(
    cfg: Config,
    rec: Recovered,
    member: Option<QuorumConfig>,
) -> anyhow::Result<ServerHandle> {
    let ports = match &member {
        Some(q) => Some(bind_member_ports(q).await?),
        None => None,
    };
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
    let storage_metrics = Arc::new(crate::storage::metrics::StorageMetrics::default());
    let log_thread = logstage::spawn(rec.sink, log_rx, core_tx.clone(), storage_metrics.clone())
        .context("starting the log thread")?;
    let mut core = Core::new(cfg.clone(), rec.tree, sessions, log_tx);
    core.use_storage_metrics(storage_metrics);
    let mut tasks = Vec::new();
    if let (Some(q), Some((election_listener, quorum_listener))) = (member, ports) {
        let (peer_tx, from_core) = mpsc::unbounded_channel();
        let me = q.me();
        let conf = format!(
            "initLimit={}\nsyncLimit={}\nelectionAlg=3\nelectionPort={}\nquorumPort={}\npeerType={}\nmembership: \n{}",
            q.init_limit,
            q.sync_limit,
            me.election_port,
            me.quorum_port,
            if me.observer { 1 } else { 0 },
            crate::quorum::wire::config_text::config_text(
                q.servers.values(),
                crate::quorum::types::STATIC_CONFIG_VERSION
            )
        );
        let text = crate::quorum::wire::config_text::config_text(
            q.servers.values(),
            crate::quorum::types::STATIC_CONFIG_VERSION,
        )
        .into_bytes();
        core.attach_peer(peer_tx, q.leader_serves, conf, text);
        info!(
            "starting as server.{} of an ensemble of {} voters and {} observers",
            q.my_id,
            q.voters().len(),
            q.observers().len()
        );
        tasks.push(tokio::spawn(crate::quorum::peer::run(
            crate::quorum::peer::PeerSetup {
                q,
                cfg: cfg.clone(),
                core: core_tx.clone(),
                from_core,
                election_listener,
                quorum_listener,
            },
        )));
    }
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
    tasks.push(tokio::spawn(crate::client_port::net::serve(
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
