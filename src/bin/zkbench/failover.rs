//! `zkbench failover`: paced setData from every session on an ensemble,
//! the leader killed (by a shell command the caller gives, e.g. `kill -9
//! PID`) part-way, and how long the service was gone, measured from the
//! kill:
//!
//! * until the first write acknowledged by the new leader (a reply whose
//!   zxid carries an epoch above every one seen before the kill: only a new
//!   leader can have numbered it);
//! * until every session has had a write acknowledged by the new leader
//!   (each session reconnected, on the same session, and wrote again);
//! * the longest stretch without any acknowledged write.
//!
//! Sessions must survive: an expired session is counted and reported.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use zkproto::ErrorCode;

use crate::{close_sessions, connect_sessions, key_path, setup, Cli, RunArgs, Workload};

#[derive(Args, Debug, Clone)]
pub struct FailoverArgs {
    /// Shell command that kills the leader (run with `sh -c`)
    #[arg(long)]
    pub kill: String,
    /// Sessions, each writing in turn (one request in flight)
    #[arg(long, default_value_t = 16)]
    pub sessions: usize,
    /// Offered writes per second over all sessions
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds of paced writes before the kill
    #[arg(long, default_value_t = 5.0)]
    pub before: f64,
    /// Seconds of paced writes after the kill
    #[arg(long, default_value_t = 12.0)]
    pub after: f64,
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    #[arg(long, default_value_t = 1000)]
    pub keyspace: usize,
    #[arg(long, default_value = "/zkbench")]
    pub prefix: String,
    /// Session timeout, ms (the sessions must outlive the failover)
    #[arg(long, default_value_t = 20_000)]
    pub session_timeout: u32,
    /// Name of the measurement in the results
    #[arg(long, default_value = "failover")]
    pub name: String,
}

/// One completed request: when (since the start), which session, the
/// epoch of its zxid when it succeeded, or its error.
struct Done {
    at: Duration,
    session: usize,
    outcome: Result<i64, ErrorCode>,
}

pub async fn run(cli: &Cli, a: &FailoverArgs) -> anyhow::Result<Value> {
    if a.sessions == 0 || a.rate <= 0.0 || a.before <= 0.0 || a.after <= 0.0 {
        bail!("--sessions, --rate, --before and --after must be positive");
    }
    let clients = connect_sessions(&cli.server, a.sessions, a.session_timeout, cli.spread).await?;
    let setup_args = RunArgs {
        sessions: a.sessions,
        inflight: 1,
        duration: a.after,
        warmup: 0.0,
        value_size: a.value_size,
        keyspace: a.keyspace,
        read_pct: 0,
        fanout: 0,
        prefix: a.prefix.clone(),
        max_ops: u64::MAX,
        session_timeout: a.session_timeout,
        rate: a.rate,
    };
    setup(Workload::Set, &clients, &setup_args).await?;
    let ids: Vec<i64> = clients.iter().map(|c| c.session_id()).collect();
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let max_epoch = Arc::new(AtomicI64::new(0));
    let value = Arc::new(vec![b'f'; a.value_size]);
    let pace = Duration::from_secs_f64(a.sessions as f64 / a.rate);
    let mut set = tokio::task::JoinSet::new();
    for (i, c) in clients.iter().enumerate() {
        let (c, stop, max_epoch, value, prefix) = (
            c.clone(),
            stop.clone(),
            max_epoch.clone(),
            value.clone(),
            a.prefix.clone(),
        );
        let keyspace = a.keyspace.max(1) as u64;
        let n = a.sessions as f64;
        set.spawn(async move {
            let mut rng = StdRng::seed_from_u64(0xfa11 ^ i as u64);
            let mut next = Instant::now() + pace.mul_f64(i as f64 / n);
            let mut done = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                if next > Instant::now() {
                    tokio::time::sleep_until(next.into()).await;
                }
                next += pace;
                let p = key_path(&prefix, rng.gen_range(0..keyspace));
                let outcome = match c.set_data(&p, Some(&value), -1).await {
                    Ok(st) => {
                        let epoch = st.mzxid >> 32;
                        max_epoch.fetch_max(epoch, Ordering::SeqCst);
                        Ok(epoch)
                    }
                    Err(e) => {
                        if matches!(e, ErrorCode::ConnectionLoss | ErrorCode::RequestTimeout) {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(e)
                    }
                };
                done.push(Done {
                    at: start.elapsed(),
                    session: i,
                    outcome,
                });
            }
            done
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(a.before)).await;
    let epoch_before = max_epoch.load(Ordering::SeqCst);
    let killed_at = start.elapsed();
    let cmd = a.kill.clone();
    let kill = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .status()
    })
    .await
    .map_err(|e| anyhow!("kill command: {e}"))?
    .map_err(|e| anyhow!("kill command: {e}"))?;
    if !kill.success() {
        bail!("the kill command `{}` failed ({kill})", a.kill);
    }
    tokio::time::sleep(Duration::from_secs_f64(a.after)).await;
    stop.store(true, Ordering::SeqCst);
    let mut all = Vec::new();
    while let Some(r) = set.join_next().await {
        all.extend(r.map_err(|e| anyhow!("writer failed: {e}"))?);
    }
    let still: Vec<i64> = clients.iter().map(|c| c.session_id()).collect();
    close_sessions(clients).await;
    all.sort_by_key(|d| d.at);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let after_kill = |d: &Done| d.at.saturating_sub(killed_at);
    let new_leader =
        |d: &&Done| d.at >= killed_at && matches!(d.outcome, Ok(e) if e > epoch_before);
    let first = all.iter().find(new_leader).map(|d| ms(after_kill(d)));
    let mut per_session: BTreeMap<usize, f64> = BTreeMap::new();
    for d in all.iter().filter(new_leader) {
        per_session.entry(d.session).or_insert(ms(after_kill(d)));
    }
    let every = (per_session.len() == a.sessions)
        .then(|| per_session.values().cloned().fold(0.0, f64::max));
    // The longest stretch without an acknowledged write, from the kill on.
    let mut last_ok = killed_at;
    let mut gap = Duration::ZERO;
    for d in all
        .iter()
        .filter(|d| d.at >= killed_at && d.outcome.is_ok())
    {
        gap = gap.max(d.at - last_ok);
        last_ok = d.at;
    }
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for d in &all {
        if let Err(e) = d.outcome {
            *errors.entry(format!("{e:?}")).or_default() += 1;
        }
    }
    let acked = all.iter().filter(|d| d.outcome.is_ok()).count();
    let expired = errors.get("SessionExpired").copied().unwrap_or(0);
    let moved_ids = ids.iter().zip(&still).filter(|(a, b)| a != b).count();
    Ok(json!({
        "kind": "failover",
        "server": cli.label,
        "name": a.name,
        "sessions": a.sessions,
        "rate": a.rate,
        "epoch_before": epoch_before,
        "first_write_new_leader_ms": first,
        "every_session_back_ms": every,
        "sessions_back": per_session.len(),
        "longest_gap_ms": ms(gap),
        "acked": acked,
        "errors": errors,
        "expired_errors": expired,
        "sessions_replaced": moved_ids,
    }))
}
