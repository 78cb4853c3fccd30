//! Recovery of the dataDir at start-up and after a TRUNC, the log stage's
//! file sink, snapshots taken in the background and SNAP bodies.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tracing::{info, warn};
use zkproto::records::{Acl, StatPersisted};
use zkproto::txn::{Txn, TxnEntry};

use crate::config::Config;
use crate::db::tree::DataTree;
use crate::server::Recovered;
use crate::storage::datadir;
use crate::storage::digest::{self, TreeDigest};
use crate::storage::logstage::LogSink;
use crate::storage::snapshot::{self, EncodedNodes, SnapshotTrailer, SnapshotWriter, ZxidDigest};
use crate::storage::txnlog::{self, TxnLogOptions, TxnLogWriter};

/// `dataDir/version-2` and `dataLogDir/version-2`.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub snap: PathBuf,
    pub log: PathBuf,
}

impl Dirs {
    pub fn of(cfg: &Config) -> io::Result<Dirs> {
        Ok(Dirs {
            snap: datadir::ensure_version_dir(&cfg.data_dir)?,
            log: datadir::ensure_version_dir(cfg.log_dir())?,
        })
    }
}

/// Loads the newest valid snapshot and replays the txn log after it, with
/// no writer opened: used at start and when a learner must reload after a
/// TRUNC below what it had applied (Java's `ZKDatabase.loadDataBase`).
pub fn load_state(cfg: &Config) -> anyhow::Result<(DataTree, HashMap<i64, i32>, Dirs)> {
    let started = Instant::now();
    let dirs = Dirs {
        snap: usable_dir(&cfg.data_dir, "dataDir")?,
        log: usable_dir(cfg.log_dir(), "dataLogDir")?,
    };
    let extended = cfg.extended_types;
    let loaded = snapshot::load_newest(&dirs.snap, |r| {
        let sessions = r.sessions()?;
        let mut tree = DataTree::empty(extended);
        for (id, list) in r.acls()? {
            tree.acls.insert_loaded(id, list);
        }
        while let Some(n) = r.next_node()? {
            tree.insert_from_snapshot(&n.path, n.data, n.acl_id, n.stat);
        }
        Ok((tree, sessions))
    })
    .with_context(|| format!("reading snapshots in {}", dirs.snap.display()))?;
    let fresh = loaded.is_none();
    let (mut tree, sessions, snap_zxid) = match loaded {
        Some(l) => {
            info!("loaded snapshot {} (zxid 0x{:x})", l.path.display(), l.zxid);
            (l.value.0, l.value.1, l.zxid)
        }
        None => (DataTree::new(extended), Vec::new(), 0),
    };
    if tree.get("/").is_none() {
        anyhow::bail!("snapshot has no root node");
    }
    tree.last_processed_zxid = snap_zxid;
    tree.refresh_quotas();
    // A newer snapshot that did not load (damaged, or failing the quick
    // check) means the logs must carry the whole way from this older one.
    let fell_back = datadir::list_snapshots(&dirs.snap)?
        .iter()
        .any(|f| f.zxid > snap_zxid);
    let mut sessions: HashMap<i64, i32> = sessions.into_iter().collect();
    let mut prev = snap_zxid;
    let mut gap = None;
    let summary = txnlog::replay(&dirs.log, snap_zxid, |t| {
        let hdr = &t.entry.header;
        if gap.is_none() && !follows(prev, hdr.zxid) {
            gap = Some((prev, hdr.zxid));
        }
        prev = hdr.zxid;
        match &t.entry.txn {
            Txn::CreateSession(c) => {
                sessions.insert(hdr.client_id, c.time_out);
            }
            Txn::CloseSession(_) => {
                sessions.remove(&hdr.client_id);
            }
            _ => {}
        }
        tree.apply(hdr, &t.entry.txn);
        Ok(())
    })
    .with_context(|| format!("replaying the transaction log in {}", dirs.log.display()))?;
    if let Some((a, b)) = gap {
        if fell_back {
            // The txns between a and b were covered only by the snapshot that
            // did not load: replaying across the gap would build a tree that
            // never existed. Refuse; the member can be restored from its peers.
            anyhow::bail!(
                "the newest snapshot in {} did not load, and the transaction log cannot replace \
                 it: it jumps from zxid 0x{a:x} to 0x{b:x}. Refusing to start on a database with \
                 missing transactions. In an ensemble, move {} aside and restart: the member \
                 will get a full copy from the leader",
                dirs.snap.display(),
                dirs.snap.display()
            );
        }
        warn!("the transaction log jumps from zxid 0x{a:x} to 0x{b:x} (transactions missing)");
    }
    if let Some(tear) = &summary.truncated {
        warn!(
            "transaction log {} had a torn tail ({}); truncated at offset {}",
            tear.path.display(),
            tear.damage,
            tear.offset
        );
    }
    if fresh && summary.count == 0 {
        // A new database starts with snapshot.0, as ZooKeeper's does.
        write_snapshot(&dirs.snap, &SnapshotData::of(&tree, &sessions))
            .context("writing the initial snapshot")?;
    }
    info!(
        "recovered zxid 0x{:x}: {} znodes, {} sessions, {} transactions replayed in {} ms",
        tree.last_processed_zxid,
        tree.node_count(),
        sessions.len(),
        summary.count,
        started.elapsed().as_millis()
    );
    Ok((tree, sessions, dirs))
}

/// Whether txn `next` can follow `prev` in one history: the next counter of
/// the same epoch, or the first txn of a later epoch (a new leader numbers
/// from 1; an epoch may have no txns at all).
fn follows(prev: i64, next: i64) -> bool {
    next == prev + 1 || (next & 0xffff_ffff == 1 && (next >> 32) > (prev >> 32))
}

/// Loads the newest valid snapshot and replays the logs after it; a torn
/// log tail is truncated (with a warning), a corrupt snapshot falls back to
/// the one before it.
pub fn recover(cfg: &Config) -> anyhow::Result<Recovered> {
    let (tree, sessions, dirs) = load_state(cfg)?;
    let opts = TxnLogOptions {
        prealloc_size: cfg.pre_alloc_size_kb * 1024,
        force_sync: cfg.force_sync,
        size_limit: None,
    };
    let writer = TxnLogWriter::open(&dirs.log, opts)
        .with_context(|| format!("opening the transaction log in {}", dirs.log.display()))?;
    Ok(Recovered {
        tree,
        sessions: sessions.into_iter().collect(),
        sink: Box::new(FileSink::new(writer, cfg.snap_count)),
    })
}

/// The log stage's sink: ZooKeeper's transaction log files, and the count
/// that decides when a snapshot is due.
pub struct FileSink {
    writer: TxnLogWriter,
    snap_count: u64,
    since_snapshot: u64,
    threshold: u64,
    snapshot_due: bool,
}

/// `snapCount/2 + random[0, snapCount/2)`, as `SyncRequestProcessor` rolls it,
/// so that the servers of an ensemble do not all snapshot at once.
fn snapshot_threshold(snap_count: u64) -> u64 {
    let half = (snap_count / 2).max(1);
    half + rand::random::<u64>() % half
}

impl FileSink {
    /// SyncRequestProcessor's count: once past the randomized threshold,
    /// the next commit rolls the log and a snapshot is taken.
    fn count_for_snapshot(&mut self) {
        self.since_snapshot += 1;
        if self.since_snapshot > self.threshold {
            // The next file starts after this commit; the snapshot is taken
            // of the tree as it is when the pipeline gets the request.
            self.since_snapshot = 0;
            self.threshold = snapshot_threshold(self.snap_count);
            self.snapshot_due = true;
        }
    }

    pub fn new(writer: TxnLogWriter, snap_count: u64) -> FileSink {
        FileSink {
            writer,
            snap_count,
            since_snapshot: 0,
            threshold: snapshot_threshold(snap_count),
            snapshot_due: false,
        }
    }
}

impl LogSink for FileSink {
    fn append(&mut self, e: &TxnEntry) -> io::Result<()> {
        self.writer.append(e)?;
        self.count_for_snapshot();
        Ok(())
    }

    fn append_raw(&mut self, txn: &[u8]) -> io::Result<()> {
        self.writer.append_raw(txn)?;
        self.count_for_snapshot();
        Ok(())
    }

    fn truncate_after(&mut self, zxid: i64) -> io::Result<()> {
        self.writer.truncate_after(zxid)
    }

    fn restart(&mut self, zxid: i64) -> io::Result<()> {
        self.since_snapshot = 0;
        self.writer.restart_after_snapshot(zxid)
    }

    fn commit(&mut self) -> io::Result<()> {
        self.writer.commit()?;
        if self.snapshot_due {
            self.writer.roll()?;
        }
        Ok(())
    }

    fn take_snapshot_due(&mut self) -> bool {
        std::mem::take(&mut self.snapshot_due)
    }
}

/// A consistent copy of what a snapshot holds, taken in the pipeline (so it
/// is exact at `zxid`) and written out on another thread.
pub struct SnapshotData {
    pub zxid: i64,
    pub sessions: Vec<(i64, i32)>,
    pub acls: Vec<(i64, Vec<Acl>)>,
    pub nodes: Vec<(String, Option<Vec<u8>>, i64, StatPersisted)>,
}

impl SnapshotData {
    pub fn of(tree: &DataTree, sessions: &HashMap<i64, i32>) -> SnapshotData {
        let mut nodes = Vec::with_capacity(tree.node_count());
        tree.walk(|p, n| {
            // The root is stored as "".
            let p = if p == "/" {
                String::new()
            } else {
                p.to_string()
            };
            nodes.push((p, n.data_vec(), n.acl_id(), n.stat.persisted()));
        });
        let mut sessions: Vec<(i64, i32)> = sessions.iter().map(|(k, v)| (*k, *v)).collect();
        sessions.sort_unstable();
        SnapshotData {
            zxid: tree.last_processed_zxid,
            sessions,
            acls: tree.acls.entries(),
            nodes,
        }
    }
}

/// Writes `snapshot.<zxid>` (temp file, fsync, rename) with the tree digest.
pub fn write_snapshot(dir: &Path, s: &SnapshotData) -> io::Result<PathBuf> {
    let mut w = SnapshotWriter::create(dir, s.zxid)?;
    w.sessions(s.sessions.iter().copied())?;
    w.acls(s.acls.iter().map(|(id, a)| (*id, a.as_slice())))?;
    let mut td = TreeDigest::new();
    for (p, data, acl, stat) in &s.nodes {
        w.node(p, data.as_deref(), *acl, stat)?;
        td.add(digest::node_digest(
            if p.is_empty() { "/" } else { p },
            data.as_deref(),
            stat,
        ));
    }
    w.finish(SnapshotTrailer {
        digest: Some(ZxidDigest {
            zxid: s.zxid,
            digest_version: digest::DIGEST_VERSION,
            digest: td.value(),
        }),
        last_processed_zxid: Some(s.zxid),
    })
}

/// The body of a quorum SNAP sync (quorum-wire.md section 2.5): sessions,
/// ACLs, nodes in pre-order with the root as "", "/" and "BenWasHere".
pub fn snap_body(s: &SnapshotData) -> io::Result<Vec<u8>> {
    let mut e = snapshot::SnapshotEncoder::new(Vec::with_capacity(64 * 1024));
    e.sessions(s.sessions.iter().copied())?;
    e.acls(s.acls.iter().map(|(id, a)| (*id, a.as_slice())))?;
    for (p, data, acl, stat) in &s.nodes {
        e.node(p, data.as_deref(), *acl, stat)?;
    }
    e.end_nodes()?;
    e.write_string(snapshot::QUORUM_SNAP_SIGNATURE)?;
    Ok(e.into_inner())
}

/// Reads a SNAP body from the leader's stream into a tree at `zxid` and
/// its session table. A node whose parent has not appeared, a bad length
/// or a wrong signature is an error (Java: "Invalid Datatree" /
/// "Missing signature").
pub fn read_snap_body<R: io::Read>(
    r: R,
    zxid: i64,
    extended_types: bool,
) -> io::Result<(DataTree, Vec<(i64, i32)>)> {
    let mut rd = snapshot::SnapshotReader::from_body_stream(r);
    let sessions = rd.sessions()?;
    let mut tree = DataTree::empty(extended_types);
    for (id, list) in rd.acls()? {
        tree.acls.insert_loaded(id, list);
    }
    while let Some(n) = rd.next_node()? {
        tree.insert_from_snapshot(&n.path, n.data, n.acl_id, n.stat);
    }
    rd.finish()?;
    let sig = rd.read_string()?;
    if sig != snapshot::QUORUM_SNAP_SIGNATURE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("SNAP stream ends with {sig:?}, not the signature"),
        ));
    }
    if tree.get("/").is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "SNAP stream has no root node",
        ));
    }
    tree.last_processed_zxid = zxid;
    tree.refresh_quotas();
    Ok((tree, sessions))
}

/// From the pipeline to the snapshot thread.
enum SnapMsg {
    Nodes(EncodedNodes),
    /// All nodes sent; the zxid applied when the copy finished.
    Finish(i64),
}

/// Takes snapshots in the background, one at a time.
#[derive(Clone, Default)]
pub struct Snapshotter {
    busy: Arc<AtomicBool>,
    metrics: Arc<super::metrics::StorageMetrics>,
}

/// The pipeline's end of a snapshot being written: it sends the nodes in
/// slices as it walks the tree between requests, so writes never stall for
/// the whole tree (a fuzzy snapshot, as ZooKeeper's: replaying the log from
/// its zxid fixes whatever changed during the walk).
pub struct SnapshotStream {
    tx: std::sync::mpsc::SyncSender<SnapMsg>,
}

impl SnapshotStream {
    /// Hands a slice to the writer; gives it back if the writer is behind.
    pub fn try_send(&self, nodes: EncodedNodes) -> Result<(), EncodedNodes> {
        match self.tx.try_send(SnapMsg::Nodes(nodes)) {
            Ok(()) => Ok(()),
            Err(std::sync::mpsc::TrySendError::Full(SnapMsg::Nodes(n)))
            | Err(std::sync::mpsc::TrySendError::Disconnected(SnapMsg::Nodes(n))) => Err(n),
            Err(_) => Ok(()),
        }
    }

    /// Whether the writer thread has given up (an I/O error).
    pub fn failed(&self) -> bool {
        matches!(
            self.tx.try_send(SnapMsg::Nodes(EncodedNodes::default())),
            Err(std::sync::mpsc::TrySendError::Disconnected(_))
        )
    }

    /// Ends the node list; the writer seals, fsyncs and renames the file.
    pub fn finish(self, last_zxid: i64) {
        let _ = self.tx.send(SnapMsg::Finish(last_zxid));
    }
}

/// The snapshot writer's scheduling: the idle class first, normal again
/// after [`SNAPSHOT_IDLE_FOR`].
///
/// A snapshot is fuzzy and may take as long as it needs, but while it
/// serializes a big tree it wants a whole core; on a machine whose cores
/// the pipeline, the log thread and the clients already keep busy it would
/// take that core from them, and every write queued meanwhile would wait (on
/// 2 cores: a paced-write p99 of 60-100 ms while snapshots ran). In the
/// `SCHED_IDLE` class it gets the time the others leave, and a waking
/// pipeline or log thread preempts it at once. On a server whose cores are
/// saturated for good it would get almost nothing, so after
/// [`SNAPSHOT_IDLE_FOR`] it goes back to the normal class (at nice 10):
/// the log must not grow without bound behind a snapshot that never ends.
fn set_snapshot_thread_class(idle: bool) {
    // SAFETY: plain syscalls on this thread's id with a valid param.
    let rc = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::pid_t;
        let param = libc::sched_param { sched_priority: 0 };
        let policy = if idle {
            libc::SCHED_IDLE
        } else {
            libc::SCHED_OTHER
        };
        let rc = libc::sched_setscheduler(tid, policy, &param);
        if rc == 0 && !idle {
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10)
        } else {
            rc
        }
    };
    if rc != 0 {
        warn!(
            "cannot set the snapshot thread's scheduling class: {}",
            io::Error::last_os_error()
        );
    }
}

/// How long a snapshot runs in the idle scheduling class before it takes
/// its share of the CPU like any other thread.
const SNAPSHOT_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(5);

impl Snapshotter {
    /// Records each snapshot's duration in `metrics` (mntr's snapshottime).
    pub fn with_metrics(metrics: Arc<super::metrics::StorageMetrics>) -> Snapshotter {
        Snapshotter {
            busy: Arc::default(),
            metrics,
        }
    }

    /// Starts writing `snapshot.<zxid>` with the sessions and ACL map as of
    /// `zxid`; `None` if a snapshot is still being written ("Too busy to
    /// snap", as ZooKeeper says) or the thread cannot start.
    pub fn begin(
        &self,
        dir: PathBuf,
        zxid: i64,
        sessions: Vec<(i64, i32)>,
        acls: Vec<(i64, Vec<Acl>)>,
    ) -> Option<SnapshotStream> {
        if self.busy.swap(true, Ordering::AcqRel) {
            warn!("too busy to snap, skipping");
            return None;
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<SnapMsg>(8);
        let busy = self.busy.clone();
        let metrics = self.metrics.clone();
        let spawned = std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || {
                set_snapshot_thread_class(true);
                let started = Instant::now();
                let mut idle = true;
                let res = (|| -> io::Result<Option<(PathBuf, u64)>> {
                    let mut w = SnapshotWriter::create(&dir, zxid)?;
                    w.sessions(sessions.iter().copied())?;
                    w.acls(acls.iter().map(|(id, a)| (*id, a.as_slice())))?;
                    let mut count = 0u64;
                    for msg in rx {
                        match msg {
                            SnapMsg::Nodes(nodes) => {
                                w.encoded_nodes(&nodes)?;
                                count += nodes.len();
                                if idle && started.elapsed() > SNAPSHOT_IDLE_FOR {
                                    idle = false;
                                    set_snapshot_thread_class(false);
                                    info!(
                                        "snapshot 0x{zxid:x} still running after {} s: \
                                         back to the normal scheduling class",
                                        SNAPSHOT_IDLE_FOR.as_secs()
                                    );
                                }
                            }
                            SnapMsg::Finish(last) => {
                                let p = w.finish(SnapshotTrailer {
                                    // Fuzzy: no single zxid to check a digest against.
                                    digest: None,
                                    last_processed_zxid: Some(last),
                                })?;
                                return Ok(Some((p, count)));
                            }
                        }
                    }
                    // The pipeline dropped the stream: abandon the file.
                    Ok(None)
                })();
                if let Ok(Some(_)) = &res {
                    metrics.snapshot.record(started.elapsed());
                }
                match res {
                    Ok(Some((p, n))) => info!(
                        "wrote snapshot {} ({n} znodes) in {} ms",
                        p.display(),
                        started.elapsed().as_millis()
                    ),
                    Ok(None) => warn!("snapshot 0x{zxid:x} abandoned"),
                    Err(e) => warn!("writing snapshot 0x{zxid:x} failed: {e}"),
                }
                busy.store(false, Ordering::Release);
            });
        match spawned {
            Ok(_) => Some(SnapshotStream { tx }),
            Err(e) => {
                warn!("cannot start the snapshot thread: {e}");
                self.busy.store(false, Ordering::Release);
                None
            }
        }
    }
}

/// Removes old snapshots and logs, keeping the newest `keep` snapshots
/// (at least 3) and the logs they need — `zkCleanup.sh` / autopurge.
pub fn purge(cfg: &Config, keep: usize) -> io::Result<datadir::PurgeReport> {
    let dirs = Dirs::of(cfg)?;
    datadir::purge(&dirs.snap, &dirs.log, keep)
}

/// `base/version-2`, created, and checked writable now rather than at the
/// first write (ZooKeeper's `FileTxnSnapLog` checks `canWrite()` too).
fn usable_dir(base: &Path, key: &str) -> anyhow::Result<PathBuf> {
    let d = datadir::ensure_version_dir(base).with_context(|| {
        format!(
            "{key} {}: cannot create {}",
            base.display(),
            datadir::version_dir(base).display()
        )
    })?;
    let probe = d.join(".zkserver-write-test");
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .and_then(|_| std::fs::remove_file(&probe))
        .with_context(|| format!("{key} {}: cannot write to {}", base.display(), d.display()))?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkproto::consts::op;
    use zkproto::txn::{SetDataTxn, TxnHeader};

    fn set(zxid: i64) -> TxnEntry {
        TxnEntry {
            header: TxnHeader {
                client_id: 1,
                cxid: zxid as i32,
                zxid,
                time: 1000,
                op_type: op::SET_DATA,
            },
            txn: Txn::SetData {
                op_type: op::SET_DATA,
                txn: SetDataTxn {
                    path: "/".into(),
                    data: Some(zxid.to_string().into_bytes()),
                    version: zxid as i32,
                },
            },
            digest: None,
        }
    }

    fn append(dir: &Path, zxids: &[i64]) {
        let mut w = TxnLogWriter::open(
            dir,
            TxnLogOptions {
                prealloc_size: 4096,
                force_sync: false,
                size_limit: None,
            },
        )
        .unwrap();
        w.roll().unwrap();
        for &z in zxids {
            w.append(&set(z)).unwrap();
        }
        w.close().unwrap();
    }

    #[test]
    fn follows_accepts_the_next_counter_or_a_new_epoch() {
        assert!(follows(0, 1));
        assert!(follows(0, (1 << 32) | 1));
        assert!(follows(5, 6));
        assert!(follows((1 << 32) | 9, (3 << 32) | 1));
        assert!(!follows(5, 7));
        assert!(!follows((1 << 32) | 9, (2 << 32) | 2));
        assert!(!follows((2 << 32) | 9, (1 << 32) | 1));
    }

    /// As on a learner that took a SNAP at 0x10: logs up to 3, snapshot.10,
    /// logs from 0x11. With snapshot.10 damaged, snapshot.0 plus the logs
    /// would skip 4..0x10: refused. Undamaged, it loads.
    #[test]
    fn a_fallback_across_a_log_gap_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let cfg = Config::parse(&format!(
            "dataDir={}\nclientPort=2181\n",
            base.path().display()
        ))
        .unwrap();
        let dir = datadir::ensure_version_dir(base.path()).unwrap();
        let tree = DataTree::new(false);
        write_snapshot(&dir, &SnapshotData::of(&tree, &HashMap::new())).unwrap();
        append(&dir, &[1, 2, 3]);
        let mut at_10 = DataTree::new(false);
        at_10.last_processed_zxid = 0x10;
        let snap = write_snapshot(&dir, &SnapshotData::of(&at_10, &HashMap::new())).unwrap();
        append(&dir, &[0x11, 0x12]);
        let (t, _, _) = load_state(&cfg).unwrap();
        assert_eq!(t.last_processed_zxid, 0x12);

        let mut bytes = std::fs::read(&snap).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x5a;
        std::fs::write(&snap, bytes).unwrap();
        let Err(err) = load_state(&cfg) else {
            panic!("loaded across the gap")
        };
        let err = format!("{err:#}");
        assert!(err.contains("jumps from zxid 0x3 to 0x11"), "{err}");
        assert!(err.contains("move"), "{err}");
    }
}
