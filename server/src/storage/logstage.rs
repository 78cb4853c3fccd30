//! The log stage: persists prepared transactions and tells the pipeline when
//! they are durable. It runs on its own thread because fsync blocks; every
//! transaction queued while one fsync runs goes into the next one (group
//! commit), so throughput does not collapse to one write per fsync.

use std::io;
use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::error;
use zkproto::txn::TxnEntry;

use crate::pipeline::msg::CoreMsg;

/// What the log thread is asked to do, in order.
#[derive(Debug)]
pub enum LogCmd {
    /// Append a prepared transaction (standalone, and a leader's own).
    Append(Arc<TxnEntry>),
    /// Append txn bytes exactly as a ZAB core hands them over (a PROPOSAL's
    /// data is the log entry).
    AppendRaw { zxid: i64, txn: Arc<[u8]> },
    /// Cut the log after `zxid` (TRUNC from a new leader).
    Truncate(i64),
    /// A snapshot at `zxid` replaced the tree (SNAP): no older log may be
    /// replayed on top of it, so the log starts afresh after it.
    Restart(i64),
    /// Answered once everything before it is done (and durable).
    Barrier(tokio::sync::oneshot::Sender<()>),
}

impl LogCmd {
    fn zxid(&self) -> Option<i64> {
        match self {
            LogCmd::Append(e) => Some(e.header.zxid),
            LogCmd::AppendRaw { zxid, .. } => Some(*zxid),
            _ => None,
        }
    }
}

/// Where transactions are made durable.
pub trait LogSink: Send + 'static {
    /// Buffers one transaction.
    fn append(&mut self, e: &TxnEntry) -> io::Result<()>;
    /// Buffers one transaction given as its log-entry bytes.
    fn append_raw(&mut self, txn: &[u8]) -> io::Result<()>;
    /// Drops every entry after `zxid` (durably).
    fn truncate_after(&mut self, zxid: i64) -> io::Result<()>;
    /// Removes every log file: the snapshot at `zxid` holds the state.
    fn restart(&mut self, zxid: i64) -> io::Result<()>;
    /// Makes everything appended durable (flush + fsync).
    fn commit(&mut self) -> io::Result<()>;
    /// Whether enough has been logged since the last snapshot that the
    /// pipeline should take one now (asked once after each commit).
    fn take_snapshot_due(&mut self) -> bool {
        false
    }
}

/// Keeps nothing: for servers without a dataDir (tests, `--in-memory`).
pub struct NullSink;

impl LogSink for NullSink {
    fn append(&mut self, _: &TxnEntry) -> io::Result<()> {
        Ok(())
    }
    fn append_raw(&mut self, _: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn truncate_after(&mut self, _: i64) -> io::Result<()> {
        Ok(())
    }
    fn restart(&mut self, _: i64) -> io::Result<()> {
        Ok(())
    }
    fn commit(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Starts the log thread. It stops when the pipeline drops its sender.
pub fn spawn(
    mut sink: Box<dyn LogSink>,
    mut rx: mpsc::UnboundedReceiver<LogCmd>,
    core: mpsc::Sender<CoreMsg>,
    metrics: std::sync::Arc<super::metrics::StorageMetrics>,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("txnlog".into())
        .spawn(move || {
            while let Some(first) = rx.blocking_recv() {
                // Appends queued while the last fsync ran share the next one
                // (group commit); a truncate or restart ends the batch.
                let mut last = None;
                let mut next = Some(first);
                let mut res = Ok(());
                while let Some(cmd) = next.take() {
                    let append = cmd.zxid();
                    res = match &cmd {
                        LogCmd::Append(e) => sink.append(e),
                        LogCmd::AppendRaw { txn, .. } => sink.append_raw(txn),
                        LogCmd::Truncate(z) => sink.commit().and_then(|_| sink.truncate_after(*z)),
                        LogCmd::Restart(z) => sink.commit().and_then(|_| sink.restart(*z)),
                        LogCmd::Barrier(_) => sink.commit(),
                    };
                    if let LogCmd::Barrier(done) = cmd {
                        let _ = done.send(());
                        break;
                    }
                    if res.is_err() {
                        break;
                    }
                    match append {
                        Some(z) => {
                            last = Some(z);
                            next = rx.try_recv().ok();
                        }
                        None => break,
                    }
                }
                let res = res.and_then(|_| {
                    let t0 = std::time::Instant::now();
                    let r = sink.commit();
                    if last.is_some() {
                        metrics.fsync.record(t0.elapsed());
                    }
                    r
                });
                let msg = match (res, last) {
                    (Ok(()), Some(zxid)) => CoreMsg::Logged {
                        zxid,
                        snapshot: sink.take_snapshot_due(),
                    },
                    (Ok(()), None) => continue,
                    (Err(e), _) => {
                        error!("transaction log write failed: {e}");
                        let _ = core.blocking_send(CoreMsg::LogFailed(e.to_string()));
                        return;
                    }
                };
                if core.blocking_send(msg).is_err() {
                    return;
                }
            }
        })
}
