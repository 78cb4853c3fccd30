//! The log stage: persists prepared transactions and tells the pipeline when
//! they are durable. It runs on its own thread because fsync blocks; every
//! transaction queued while one fsync runs goes into the next one (group
//! commit), so throughput does not collapse to one write per fsync.

use std::io;

use tokio::sync::mpsc;
use tracing::error;
use zkproto::txn::TxnEntry;

use crate::core::CoreMsg;

/// Where transactions are made durable.
pub trait LogSink: Send + 'static {
    /// Buffers one transaction.
    fn append(&mut self, e: &TxnEntry) -> io::Result<()>;
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
    fn commit(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Starts the log thread. It stops when the pipeline drops its sender.
pub fn spawn(
    mut sink: Box<dyn LogSink>,
    mut rx: mpsc::UnboundedReceiver<std::sync::Arc<TxnEntry>>,
    core: mpsc::Sender<CoreMsg>,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("txnlog".into())
        .spawn(move || {
            while let Some(first) = rx.blocking_recv() {
                let mut last = first.header.zxid;
                let mut res = sink.append(&first);
                while res.is_ok() {
                    match rx.try_recv() {
                        Ok(e) => {
                            last = e.header.zxid;
                            res = sink.append(&e);
                        }
                        Err(_) => break,
                    }
                }
                let res = res.and_then(|_| sink.commit());
                let msg = match res {
                    Ok(()) => CoreMsg::Logged {
                        zxid: last,
                        snapshot: sink.take_snapshot_due(),
                    },
                    Err(e) => {
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
